// Interactive mode in a pseudo-terminal: typed like a person would, the screen read
// back (escape sequences removed).

#include <regex>
#include <thread>

#include <gtest/gtest.h>

#include "gateway/client/chat_client.h"
#include "tests/client/e2e/client_stack.h"

namespace tchatator::client_test {
namespace {

class InteractiveTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stack_ = new ClientStack({{"TCHATATOR_MAX_MESSAGES_PER_MINUTE", "0"},
                              {"TCHATATOR_MAX_MESSAGES_PER_HOUR", "0"}});
  }
  static void TearDownTestSuite() {
    delete stack_;
    stack_ = nullptr;
  }
  void TearDown() override {
    if (HasFailure()) {
      if (session_) std::fprintf(stderr, "---- screen\n%s\n", session_->Screen().c_str());
      std::fprintf(stderr, "%s", stack_->Logs().c_str());
    }
    session_.reset();
  }

  User NewUser(std::string_view role, std::string name) {
    static int counter = 0;
    return stack_->AddUser(role, name + " " + std::to_string(++counter));
  }

  client::ChatClient Login(const User& user) {
    client::ChatClient c({"127.0.0.1", stack_->gateway_port()}, user.api_key);
    EXPECT_TRUE(c.Login().ok());
    return c;
  }

  // Starts the client in a terminal as `user` (or asking for the key when null).
  PtySession& Start(const User* user, Env env = {}) {
    if (user != nullptr) env["TCHATATOR_API_KEY"] = user->api_key;
    session_ = std::make_unique<PtySession>(std::vector<std::string>{"--server", stack_->server()},
                                            env);
    return *session_;
  }

  static ClientStack* stack_;
  std::unique_ptr<PtySession> session_;
};

ClientStack* InteractiveTest::stack_ = nullptr;

// The id of the message shown as "#ID  TIME  moi : TEXT".
int64_t ShownId(const std::string& screen, const std::string& text) {
  std::smatch match;
  const std::regex pattern("#(\\d+)  [^\\n]*moi : " + text);
  if (!std::regex_search(screen, match, pattern)) return 0;
  return std::stoll(match[1]);
}

TEST_F(InteractiveTest, AConversationFromStartToEnd) {
  const User member = NewUser("member", "Alice");
  const User pro = NewUser("pro", "Boulangerie");
  client::ChatClient p = Login(pro);
  ASSERT_TRUE(p.SendMessage(member.id, "Bienvenue chez nous !").ok());
  ASSERT_TRUE(p.SendMessage(member.id, "Des questions ?\nN'hésitez pas.").ok());

  PtySession& s = Start(&member);
  ASSERT_TRUE(s.WaitFor("Bienvenue " + member.name));
  // The conversation list, with its unread count.
  ASSERT_TRUE(s.WaitFor("Conversations :"));
  ASSERT_TRUE(s.WaitFor(pro.name + " (pro)  2 non lus"));

  s.Mark();
  s.TypeLine("/ouvrir " + std::to_string(pro.id));
  ASSERT_TRUE(s.WaitFor("── Conversation avec " + pro.name));
  ASSERT_TRUE(s.WaitFor("── nouveaux messages ──"));
  ASSERT_TRUE(s.WaitFor(pro.name + " : Bienvenue chez nous !"));
  ASSERT_TRUE(s.WaitFor(pro.name + " : Des questions ?"));
  ASSERT_TRUE(s.WaitFor("N'hésitez pas."));

  // One line: sent as typed.
  s.Mark();
  s.TypeLine("Salut, vous ouvrez à quelle heure ?");
  ASSERT_TRUE(s.WaitFor("moi : Salut, vous ouvrez à quelle heure ?"));
  const int64_t first = ShownId(s.Screen(), "Salut, vous ouvrez");
  ASSERT_GT(first, 0);

  // Several lines, ended by ".".
  s.Mark();
  s.TypeLine("/ecrire");
  ASSERT_TRUE(s.WaitFor("Terminez par une ligne contenant seulement « . »"));
  s.TypeLine("Première ligne");
  s.TypeLine("Deuxième ligne");
  s.TypeLine(".");
  ASSERT_TRUE(s.WaitFor("moi : Première ligne"));
  ASSERT_TRUE(s.WaitFor("Deuxième ligne"));

  // The pro received both, the second one with its line break.
  const client::Reply unread = p.GetUnread();
  ASSERT_TRUE(unread.ok());
  ASSERT_EQ(unread.frame.records.size(), 2u);
  EXPECT_EQ(unread.frame.records[1].Get("content"), "Première ligne\nDeuxième ligne");

  // Edit, then see the server's "modifié il y a" on refresh.
  s.Mark();
  s.TypeLine("/modifier " + std::to_string(first) + " Bonjour, à quelle heure ouvrez-vous ?");
  ASSERT_TRUE(s.WaitFor("moi : Bonjour, à quelle heure ouvrez-vous ?  (modifié il y a quelques secondes)"));
  s.Mark();
  s.TypeLine("/actualiser");
  ASSERT_TRUE(s.WaitFor("moi : Bonjour, à quelle heure ouvrez-vous ?  (modifié il y a quelques secondes)"));

  // Delete, after a confirmation.
  s.Mark();
  s.TypeLine("/supprimer " + std::to_string(first));
  ASSERT_TRUE(s.WaitFor("(o/N)"));
  s.TypeLine("o");
  ASSERT_TRUE(s.WaitFor("Message #" + std::to_string(first) + " supprimé."));

  // Someone else's message cannot be edited.
  const client::Reply mine = p.SendMessage(member.id, "Nous ouvrons à 7 h.");
  ASSERT_TRUE(mine.ok());
  s.Mark();
  s.TypeLine("/modifier " + mine.frame.Get("message-id") + " piraté");
  ASSERT_TRUE(s.WaitFor("n'est pas le vôtre"));

  // A member may not block.
  s.Mark();
  s.TypeLine("/bloquer");
  ASSERT_TRUE(s.WaitFor("réservés aux professionnels"));

  s.Mark();
  s.TypeLine("/quitter");
  ASSERT_TRUE(s.WaitFor("À bientôt !"));
  EXPECT_EQ(s.WaitExit(), 0);
}

TEST_F(InteractiveTest, NewMessagesShowUpWhileTheConversationIsOpen) {
  const User member = NewUser("member", "Bruno");
  const User pro = NewUser("pro", "Fromagerie");
  const User other = NewUser("pro", "Poissonnerie");
  client::ChatClient p = Login(pro);
  client::ChatClient o = Login(other);
  ASSERT_TRUE(p.SendMessage(member.id, "Bonjour").ok());

  // Live events when the server has them; polling every second otherwise.
  PtySession& s = Start(&member, {{"TCHATATOR_POLL_SECONDS", "1"}});
  ASSERT_TRUE(s.WaitFor("Conversations :"));
  s.TypeLine("/o " + std::to_string(pro.id));
  ASSERT_TRUE(s.WaitFor(pro.name + " : Bonjour"));

  s.Mark();
  ASSERT_TRUE(p.SendMessage(member.id, "Le comté est arrivé.").ok());
  ASSERT_TRUE(s.WaitFor(pro.name + " : Le comté est arrivé."));

  // Another conversation: a notice, and the message kept for when it is opened.
  s.Mark();
  ASSERT_TRUE(o.SendMessage(member.id, "Arrivage de bar").ok());
  ASSERT_TRUE(s.WaitFor("ouveau message de " + other.name));
  s.Mark();
  s.TypeLine("/ouvrir " + std::to_string(other.id));
  ASSERT_TRUE(s.WaitFor("── nouveaux messages ──"));
  ASSERT_TRUE(s.WaitFor(other.name + " : Arrivage de bar"));
  s.TypeLine("/q");
  EXPECT_EQ(s.WaitExit(), 0);
}

TEST_F(InteractiveTest, PagesBackThroughALongConversation) {
  const User member = NewUser("member", "Fanny");
  const User pro = NewUser("pro", "Librairie");
  client::ChatClient p = Login(pro);
  for (int i = 1; i <= 22; ++i) {
    ASSERT_TRUE(p.SendMessage(member.id, "nouvelle " + std::to_string(i)).ok());
  }
  PtySession& s = Start(&member);
  ASSERT_TRUE(s.WaitFor("22 non lus"));
  s.TypeLine("/ouvrir Librairie");  // by name
  ASSERT_TRUE(s.WaitFor("(/plus pour les messages plus anciens)"));
  ASSERT_TRUE(s.WaitFor(pro.name + " : nouvelle 22"));
  EXPECT_EQ(s.Screen().find(" : nouvelle 2\n"), std::string::npos);
  s.Mark();
  s.TypeLine("/plus");
  ASSERT_TRUE(s.WaitFor("── messages plus anciens ──"));
  ASSERT_TRUE(s.WaitFor(pro.name + " : nouvelle 1\n"));
  ASSERT_TRUE(s.WaitFor(pro.name + " : nouvelle 2\n"));
  ASSERT_TRUE(s.WaitFor("(début de la conversation)"));
  s.Mark();
  s.TypeLine("/plus");
  ASSERT_TRUE(s.WaitFor("C'est le début de la conversation."));
  s.TypeLine("/q");
  EXPECT_EQ(s.WaitExit(), 0);
}

TEST_F(InteractiveTest, AsksForTheKeyWithoutEchoingIt) {
  const User member = NewUser("member", "Chloé");
  PtySession& s = Start(nullptr);
  ASSERT_TRUE(s.WaitFor("Clé API : "));
  s.TypeLine(member.api_key);
  ASSERT_TRUE(s.WaitFor("Bienvenue " + member.name));
  ASSERT_TRUE(s.WaitFor("tchatator> "));
  EXPECT_EQ(s.Screen().find(member.api_key), std::string::npos);
  s.Type("\x04");  // Ctrl-D
  ASSERT_TRUE(s.WaitFor("À bientôt !"));
  EXPECT_EQ(s.WaitExit(), 0);
}

TEST_F(InteractiveTest, AWrongKeyIsExplained) {
  PtySession& s = Start(nullptr, {{"TCHATATOR_API_KEY", "mauvaise-clé"}});
  ASSERT_TRUE(s.WaitFor("403/DENIED"));
  ASSERT_TRUE(s.WaitFor("clé API refusée"));
  EXPECT_EQ(s.WaitExit(), 3);
}

TEST_F(InteractiveTest, LineEditingAndHistory) {
  const User member = NewUser("member", "Denis");
  const User pro = NewUser("pro", "Primeur");
  PtySession& s = Start(&member);
  ASSERT_TRUE(s.WaitFor("Aucune conversation pour l'instant."));
  ASSERT_TRUE(s.WaitFor("tchatator> "));
  // "/ouvrXr": fix the typo with Left, Backspace, then type the rest at the end.
  s.Type("/ouvrXr");
  s.Type("\x1b[D");  // Left
  s.Type("\x7f");    // Backspace
  s.Type("i");
  s.Type("\x05");    // Ctrl-E: end of line
  s.Type(" " + std::to_string(pro.id) + "\r");
  ASSERT_TRUE(s.WaitFor("── Conversation avec " + pro.name));

  s.Mark();
  s.Type("des pommes\r");
  ASSERT_TRUE(s.WaitFor("moi : des pommes"));
  // Ctrl-A then typing inserts at the start; Ctrl-K cuts the rest.
  s.Mark();
  s.Type("poires");
  s.Type("\x01");  // Ctrl-A
  s.Type("des ");
  s.Type("\r");
  ASSERT_TRUE(s.WaitFor("moi : des poires"));
  // Up twice brings back "des pommes"; accented input is edited by characters.
  s.Mark();
  s.Type("\x1b[A\x1b[A");
  s.Type(" à cidre\r");
  ASSERT_TRUE(s.WaitFor("moi : des pommes à cidre"));
  s.Mark();
  s.Type("crème brûlée");
  s.Type("\x7f\x7f");  // two characters, not two bytes
  s.Type("ee\r");
  ASSERT_TRUE(s.WaitFor("moi : crème brûlee"));
  s.Type("\x04");
  EXPECT_EQ(s.WaitExit(), 0);
}

TEST_F(InteractiveTest, AProBlocksAndUnblocks) {
  const User member = NewUser("member", "Émile");
  const User pro = NewUser("pro", "Caviste");
  PtySession& s = Start(&pro);
  ASSERT_TRUE(s.WaitFor("Aucune conversation pour l'instant."));
  ASSERT_TRUE(s.WaitFor("tchatator> "));
  s.TypeLine("/aide");
  ASSERT_TRUE(s.WaitFor("/bloquer [ID] [HEURES]"));
  s.Mark();
  s.TypeLine("/bloquer " + std::to_string(member.id) + " 3");
  ASSERT_TRUE(s.WaitFor(member.name + " (#" + std::to_string(member.id) + ") est bloqué jusqu'au"));

  const RunResult refused = RunClient(
      {"--server", stack_->server(), "send", "--to", std::to_string(pro.id), "un verre ?"},
      {{"TCHATATOR_API_KEY", member.api_key}});
  EXPECT_EQ(refused.exit_code, 3) << refused.err;

  s.Mark();
  s.TypeLine("/debloquer " + std::to_string(member.id));
  ASSERT_TRUE(s.WaitFor("n'est plus bloqué."));
  const RunResult accepted = RunClient(
      {"--server", stack_->server(), "send", "--to", std::to_string(pro.id), "un verre ?"},
      {{"TCHATATOR_API_KEY", member.api_key}});
  EXPECT_EQ(accepted.exit_code, 0) << accepted.err;

  // The pro sees it arrive live, then in the list. Whether the list still counts it
  // unread races with the client's own fetch of the new message (it showed "1 non lu"
  // in 13 runs of 15, nothing in 2), so only the conversation itself is checked.
  ASSERT_TRUE(s.WaitFor("Nouveau message de " + member.name));
  s.Mark();
  s.TypeLine("/c");
  ASSERT_TRUE(s.WaitFor("#" + std::to_string(member.id) + "  " + member.name + " (member)  "));
  s.TypeLine("/q");
  EXPECT_EQ(s.WaitExit(), 0);
}

TEST(InteractiveConnectionTest, ReconnectsWhenTheGatewayDropsAnIdleConnection) {
  ClientStack stack(Env{{"TCHATATOR_IDLE_TIMEOUT_SECONDS", "1"}});
  const User member = stack.AddUser("member", "Gaël");
  const User pro = stack.AddUser("pro", "Épicerie");
  {
    client::ChatClient p({"127.0.0.1", stack.gateway_port()}, pro.api_key);
    ASSERT_TRUE(p.Login().ok());
    ASSERT_TRUE(p.SendMessage(member.id, "Votre commande est prête.").ok());
  }
  PtySession s({"--server", stack.server()},
               {{"TCHATATOR_API_KEY", member.api_key}, {"TCHATATOR_POLL_SECONDS", "600"}});
  ASSERT_TRUE(s.WaitFor("tchatator> ")) << s.Screen();
  std::this_thread::sleep_for(2500ms);  // the gateway closes the idle connection
  s.Mark();
  s.TypeLine("/ouvrir " + std::to_string(pro.id));
  EXPECT_TRUE(s.WaitFor(pro.name + " : Votre commande est prête.")) << s.Screen();
  EXPECT_EQ(s.SinceMark().find("Connexion perdue"), std::string::npos) << s.Screen();
  s.TypeLine("/q");
  EXPECT_EQ(s.WaitExit(), 0);
}

}  // namespace
}  // namespace tchatator::client_test
