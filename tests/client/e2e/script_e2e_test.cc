// The scriptable commands against real daemons: output, --json, exit statuses and the
// explanations on standard error.

#include <fstream>
#include <memory>
#include <regex>

#include <gtest/gtest.h>

#include "gateway/client/chat_client.h"
#include "tests/client/e2e/client_stack.h"

namespace tchatator::client_test {
namespace {

class ScriptTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // No rate limit here: the rate-limit test has its own stack.
    stack_ = new ClientStack({{"TCHATATOR_MAX_MESSAGES_PER_MINUTE", "0"},
                              {"TCHATATOR_MAX_MESSAGES_PER_HOUR", "0"}});
  }
  static void TearDownTestSuite() {
    delete stack_;
    stack_ = nullptr;
  }
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "%s", stack_->Logs().c_str());
  }

  // Runs the client as `user` on the suite's stack.
  RunResult Run(const User& user, std::vector<std::string> args, std::string_view input = "") {
    args.insert(args.begin(), {"--server", stack_->server()});
    return RunClient(args, {{"TCHATATOR_API_KEY", user.api_key}}, input);
  }

  User NewUser(std::string_view role) {
    static int counter = 0;
    return stack_->AddUser(role, std::string(role == "pro" ? "Boulangerie " : "Client ") +
                                     std::to_string(++counter));
  }

  client::ChatClient Login(const User& user) {
    client::ChatClient c({"127.0.0.1", stack_->gateway_port()}, user.api_key);
    EXPECT_TRUE(c.Login().ok());
    return c;
  }

  static ClientStack* stack_;
};

ClientStack* ScriptTest::stack_ = nullptr;

::testing::AssertionResult Succeeded(const RunResult& r) {
  if (r.exit_code == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "exit " << r.exit_code << "\nstdout: " << r.out
                                       << "\nstderr: " << r.err;
}

TEST_F(ScriptTest, SendsAndReadsUnreadAndHistory) {
  const User member = NewUser("member");
  const User pro = NewUser("pro");
  const std::string to = std::to_string(pro.id);

  RunResult r = Run(member, {"send", "--to", to, "Bonjour, comment ça va ?"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_TRUE(std::regex_match(r.out, std::regex(R"(\d+\n)"))) << r.out;
  EXPECT_EQ(r.err, "");
  // Several lines from standard input.
  r = Run(member, {"send", "--to", to}, "ligne 1\nligne 2\n");
  ASSERT_TRUE(Succeeded(r));

  r = Run(pro, {"unread"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_NE(r.out.find(member.name + " : Bonjour, comment ça va ?\n"), std::string::npos) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(" : ligne 1\n +ligne 2\n"))) << r.out;
  EXPECT_EQ(r.out.find("\x1b"), std::string::npos);  // no colours into a pipe

  // They are read now.
  r = Run(pro, {"unread", "--json"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "{\"count\":0,\"messages\":[]}\n");

  r = Run(member, {"history", "--with", to});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_NE(r.out.find("moi : Bonjour, comment ça va ?"), std::string::npos) << r.out;

  r = Run(pro, {"history", "--with", std::to_string(member.id), "--json"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_NE(r.out.find("\"count\":2,\"has_more\":false"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"direction\":\"received\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"content\":\"ligne 1\\nligne 2\""), std::string::npos) << r.out;

  // Without --with: every conversation, with who wrote to whom.
  r = Run(member, {"history"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_NE(r.out.find("moi → " + pro.name + " : Bonjour"), std::string::npos) << r.out;
}

TEST_F(ScriptTest, SendPrintsJson) {
  const User member = NewUser("member");
  const User pro = NewUser("pro");
  const RunResult r = Run(member, {"--json", "send", "--to", std::to_string(pro.id), "salut"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_TRUE(std::regex_match(
      r.out, std::regex(R"(\{"message_id":\d+,"sent_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\}\n)")))
      << r.out;
}

TEST_F(ScriptTest, PagesBackThroughHistory) {
  const User member = NewUser("member");
  const User pro = NewUser("pro");
  client::ChatClient c = Login(member);
  for (int i = 1; i <= 22; ++i) {
    ASSERT_TRUE(c.SendMessage(pro.id, "message " + std::to_string(i)).ok());
  }
  RunResult r = Run(member, {"history", "--with", std::to_string(pro.id), "--json"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_NE(r.out.find("\"count\":20,\"has_more\":true"), std::string::npos) << r.out;
  std::smatch first;
  ASSERT_TRUE(std::regex_search(r.out, first, std::regex(R"(\"id\":(\d+))")));
  EXPECT_NE(r.out.find("\"content\":\"message 3\""), std::string::npos);

  r = Run(member, {"history", "--with", std::to_string(pro.id), "--before", first[1], "--json"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_NE(r.out.find("\"count\":2,\"has_more\":false"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"content\":\"message 1\""), std::string::npos) << r.out;
}

TEST_F(ScriptTest, KeyFromAFile) {
  const User member = NewUser("member");
  const std::string path = ::testing::TempDir() + "/tchatator-key-" + std::to_string(member.id);
  std::ofstream(path) << member.api_key << "\n";
  RunResult r = RunClient({"--server", stack_->server(), "--key-file", path, "unread"}, {});
  EXPECT_TRUE(Succeeded(r));
  r = RunClient({"--server", stack_->server(), "--key-file", path + ".missing", "unread"}, {});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("impossible de lire la clé API"), std::string::npos) << r.err;
}

TEST_F(ScriptTest, NoKeyAndNoTerminalIsAUsageError) {
  const RunResult r = RunClient({"--server", stack_->server(), "unread"}, {});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("aucune clé API"), std::string::npos) << r.err;
}

TEST_F(ScriptTest, WrongKeyIsRefused) {
  const RunResult r = RunClient({"--server", stack_->server(), "unread"},
                                {{"TCHATATOR_API_KEY", "not-a-key"}});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_TRUE(r.err.starts_with("403/DENIED\n")) << r.err;
  EXPECT_NE(r.err.find("clé API refusée"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("TCHATATOR_API_KEY"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_F(ScriptTest, ServerDownIsUnavailable) {
  const int port = testing::FreePort();
  const RunResult r = RunClient({"--server", "127.0.0.1:" + std::to_string(port), "unread"},
                                {{"TCHATATOR_API_KEY", "k"}});
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_NE(r.err.find("connexion refusée"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << r.err;
}

TEST_F(ScriptTest, UsageErrors) {
  RunResult r = RunClient({"send", "hello"}, {});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--to"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("usage"), std::string::npos) << r.err;
  r = RunClient({"frobnicate"}, {});
  EXPECT_EQ(r.exit_code, 2);
  r = RunClient({"--help"}, {});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("Codes de sortie"), std::string::npos);
  // An empty message is refused before anything is sent.
  const User member = NewUser("member");
  r = Run(member, {"send", "--to", "1"}, "\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("vide"), std::string::npos) << r.err;
}

TEST_F(ScriptTest, StatusClassesHaveTheirExitCodes) {
  const User member = NewUser("member");
  const User other_member = NewUser("member");
  const User pro = NewUser("pro");

  RunResult r = Run(member, {"send", "--to", "999999", "allô ?"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_TRUE(r.err.starts_with("404/NOTFND\n")) << r.err;

  r = Run(member, {"send", "--to", std::to_string(other_member.id), "entre membres"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("destinataire non autorisé"), std::string::npos) << r.err;

  r = Run(member, {"send", "--to", std::to_string(pro.id), std::string(1001, 'x')});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_TRUE(r.err.starts_with("416/MISFMT\n")) << r.err;
  EXPECT_NE(r.err.find("trop long"), std::string::npos) << r.err;
}

TEST_F(ScriptTest, BlockedSenderIsToldUntilWhen) {
  const User member = NewUser("member");
  const User pro = NewUser("pro");
  client::ChatClient p = Login(pro);
  ASSERT_TRUE(p.Block(member.id, 2).ok());
  const RunResult r = Run(member, {"send", "--to", std::to_string(pro.id), "coucou"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(r.err.starts_with("403/DENIED\n")) << r.err;
  EXPECT_TRUE(std::regex_search(
      r.err, std::regex(R"(bloqué jusqu'au \d\d/\d\d/\d{4} à \d\d:\d\d \(dans (1 h 59|2 h 00) min\))")))
      << r.err;
}

TEST(ScriptLimitsTest, RateLimitSaysWhenToRetry) {
  ClientStack stack(Env{{"TCHATATOR_MAX_MESSAGES_PER_MINUTE", "2"}});
  const User member = stack.AddUser("member", "Pressé");
  const User pro = stack.AddUser("pro", "Calme");
  auto send = [&](const std::string& text) {
    return RunClient({"--server", stack.server(), "send", "--to", std::to_string(pro.id), text},
                     {{"TCHATATOR_API_KEY", member.api_key}});
  };
  EXPECT_EQ(send("un").exit_code, 0);
  EXPECT_EQ(send("deux").exit_code, 0);
  const RunResult r = send("trois");
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_TRUE(r.err.starts_with("426/TOOMRQ\n")) << r.err;
  EXPECT_TRUE(std::regex_search(r.err, std::regex(R"(réessayez dans (\d+ s|1 min \d\d s) \(à \d\d:\d\d:\d\d\))")))
      << r.err;
}

TEST(ScriptLimitsTest, CoreDownIsUnavailable) {
  ClientStack stack;
  const User member = stack.AddUser("member", "Patient");
  stack.StopCore();
  const RunResult r = RunClient({"--server", stack.server(), "unread"},
                                {{"TCHATATOR_API_KEY", member.api_key}});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_TRUE(r.err.starts_with("503/UNAVAIL\n")) << r.err;
  EXPECT_NE(r.err.find("indisponible"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tchatator::client_test
