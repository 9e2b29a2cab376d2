// Live delivery as the contract describes it (section 2.7), against a scripted gateway
// whose SUBSCRIBE answers 200: events are shown as they arrive, in the open
// conversation or as a notice.

#include <algorithm>
#include <memory>

#include <gtest/gtest.h>

#include "tests/client/e2e/client_stack.h"
#include "tests/client/e2e/fake_gateway.h"

namespace tchatator::client_test {
namespace {

std::string Message(int id, int sender, int recipient, const std::string& content) {
  size_t characters = 0;
  for (char c : content) characters += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return "message-id:" + std::to_string(id) + "\nsender-id:" + std::to_string(sender) +
         "\nrecipient-id:" + std::to_string(recipient) + "\ndirection:" +
         (sender == 1 ? "sent" : "received") +
         "\nsent-at:2026-11-26T10:15:00Z\nread:yes\nmessage-length:" +
         std::to_string(characters) + "\ncontent:" + content + "\n";
}

std::string Answer(const std::string& command, const std::map<std::string, std::string>& params) {
  if (command == "LOGIN") return "200/OK\ntoken:session\nuser-id:1\nrole:member\n\n";
  if (command == "USER_INFO") {
    const std::string id = params.contains("user-id") ? params.at("user-id") : "0";
    const std::string name = id == "1" ? "Moi" : id == "2" ? "Bob" : "Carol";
    return "200/OK\nuser-id:" + id + "\nname:" + name + "\nrole:pro\n\n";
  }
  if (command == "SUBSCRIBE" || command == "PING" || command == "DISCONNECTED") {
    return "200/OK\n\n";
  }
  if (command == "GET_CONVERSATIONS") {
    return "200/OK\ncount:1\npeer-id:2\npeer-name:Bob\npeer-role:pro\nlast-message-id:10\n"
           "last-at:2026-11-26T10:15:00Z\nunread:0\n\n";
  }
  if (command == "GET_HISTORY") {
    return "200/OK\ncount:1\nhas-more:no\n" + Message(10, 2, 1, "ancien message") + "\n";
  }
  return "500/ERROR\nerror:internal\nmessage:not scripted\n\n";
}

TEST(LiveEventsTest, EventsAreShownAsTheyArrive) {
  FakeGateway gateway(Answer);
  PtySession s({"--server", "127.0.0.1:" + std::to_string(gateway.port())},
               {{"TCHATATOR_API_KEY", "key"}});
  ASSERT_TRUE(s.WaitFor("tchatator> ")) << s.Screen();
  EXPECT_EQ(s.Screen().find("pas d'événements en direct"), std::string::npos) << s.Screen();
  s.TypeLine("/ouvrir 2");
  ASSERT_TRUE(s.WaitFor("Bob : ancien message")) << s.Screen();

  // While the person is typing: the event goes above the line being typed.
  s.Type("en cours");
  s.Mark();
  gateway.Push("EVENT\nchange:new_message\n" + Message(11, 2, 1, "Nouveau en direct") + "\n");
  ASSERT_TRUE(s.WaitFor("Bob : Nouveau en direct")) << s.Screen();
  ASSERT_TRUE(s.WaitFor("Bob> en cours")) << s.Screen();  // the line is drawn again
  s.Type("\x15");  // Ctrl-U

  s.Mark();
  gateway.Push("EVENT\nchange:message_updated\n" + Message(11, 2, 1, "Corrigé") +
               "\n");
  ASSERT_TRUE(s.WaitFor("message modifié :")) << s.Screen();
  ASSERT_TRUE(s.WaitFor("Bob : Corrigé")) << s.Screen();

  s.Mark();
  gateway.Push("EVENT\nchange:message_deleted\nmessage-id:11\n\n");
  ASSERT_TRUE(s.WaitFor("message #11 supprimé par son auteur")) << s.Screen();

  // From someone else: a notice.
  s.Mark();
  gateway.Push("EVENT\nchange:new_message\n" + Message(12, 3, 1, "Coucou") + "\n");
  ASSERT_TRUE(s.WaitFor("Nouveau message de Carol (#3) : « Coucou » — /ouvrir 3")) << s.Screen();

  s.TypeLine("/q");
  EXPECT_EQ(s.WaitExit(), 0);
  const std::vector<std::string> commands = gateway.Commands();
  EXPECT_NE(std::find(commands.begin(), commands.end(), "SUBSCRIBE"), commands.end());
  EXPECT_EQ(std::find(commands.begin(), commands.end(), "NEW_CHG_AVAILABLE"), commands.end());
  EXPECT_EQ(commands.back(), "DISCONNECTED");
}

TEST(LiveEventsTest, TellsWhenTheServerGoesAway) {
  auto gateway = std::make_unique<FakeGateway>(Answer);
  const std::string server = "127.0.0.1:" + std::to_string(gateway->port());
  PtySession s({"--server", server}, {{"TCHATATOR_API_KEY", "key"}});
  ASSERT_TRUE(s.WaitFor("tchatator> ")) << s.Screen();
  s.Mark();
  gateway.reset();  // the connection closes and nothing listens any more
  ASSERT_TRUE(s.WaitFor("Connexion perdue : impossible de joindre " + server +
                        " : connexion refusée"))
      << s.Screen();
  s.Mark();
  s.TypeLine("/conversations");
  ASSERT_TRUE(s.WaitFor("Pas de réponse : impossible de joindre " + server)) << s.Screen();
  s.TypeLine("/q");
  EXPECT_EQ(s.WaitExit(), 0);
}

}  // namespace
}  // namespace tchatator::client_test
