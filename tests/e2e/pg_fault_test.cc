// PostgreSQL stopped under a running core (issue #3 item 5, issue #6): meanwhile the
// gateway answers 503 to what needs the database and keeps its connections, the core's
// gRPC health (grpc.health.v1, as `tchatator-admin health` prints it) says NOT_SERVING;
// once PostgreSQL is back, the same core process serves again and says SERVING, without
// a restart. The database lives on a private cluster that the test stops and starts.
// And PostgreSQL slower than the gateway waits: a take answered 503 takes nothing.
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/e2e/stack.h"
#include "tests/support/private_cluster.h"

namespace tchatator::e2e {
namespace {

using Clock = std::chrono::steady_clock;

// What `tchatator-admin health` printed, and its exit code.
struct Health {
  std::string output;
  int exit_code = -1;
};

Health AdminHealth(const Stack& stack) {
  int status = 0;
  Health health;
  health.output = testing::RunCommand(stack.AdminCommand() + " health 2>/dev/null", &status);
  health.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return health;
}

// Polls `done(value)` on `probe()` until true or `within` passed; the last value.
template <typename Probe, typename Done>
auto PollUntil(Probe probe, Done done, std::chrono::milliseconds within) {
  const Clock::time_point deadline = Clock::now() + within;
  for (;;) {
    auto value = probe();
    if (done(value) || Clock::now() >= deadline) return value;
    std::this_thread::sleep_for(100ms);
  }
}

long long MillisSince(Clock::time_point start) {
  return static_cast<long long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
}

class PgFaultTest : public ::testing::Test {
 protected:
  void TearDown() override {
    // The next test (and the database's removal) needs the cluster up.
    if (!cluster_.Ready()) cluster_.Start();
  }
  testing::PrivateCluster& cluster_ = testing::SharedPrivateCluster();
};

TEST_F(PgFaultTest, DatabaseDownAnswers503AndHealthFlipsThenRecoversWithoutRestart) {
  StackOptions options;
  options.pg_admin_url = cluster_.admin_url();
  Stack stack(options);
  Session m = LoginNew(stack, "member");
  const User pro = stack.AddUser("pro");
  const User late = stack.AddUser("member");
  ASSERT_TRUE(IsOk(SendMsg(m.conn, m.token, pro.id, "avant"), {"message-id", "sent-at"}));
  const Health up = PollUntil([&] { return AdminHealth(stack); },
                              [](const Health& h) { return h.exit_code == 0; }, 5s);
  ASSERT_EQ(up.output, "status:SERVING\n");
  ASSERT_EQ(up.exit_code, 0);
  const pid_t core_pid = stack.core_process()->pid();

  cluster_.Stop();
  const Clock::time_point down = Clock::now();
  // The first request after the stop finds its pooled connection broken: it must not
  // hang nor be answered anything but 503.
  EXPECT_TRUE(IsError(SendMsg(m.conn, m.token, pro.id, "pendant"), "503/UNAVAIL", "unavailable"));
  EXPECT_TRUE(IsError(SendMsg(m.conn, m.token, pro.id, "pendant"), "503/UNAVAIL", "unavailable"));
  EXPECT_TRUE(IsError(m.conn.Request("GET_UNREAD", {{"token", m.token}}), "503/UNAVAIL",
                      "unavailable"));
  Client fresh = stack.Connect();
  EXPECT_TRUE(IsError(fresh.Request("LOGIN", {{"api-token", late.api_key}}), "503/UNAVAIL",
                      "unavailable"));
  EXPECT_TRUE(Alive(m.conn)) << "the gateway keeps the connection";
  EXPECT_TRUE(Alive(fresh));
  const Health not_serving = PollUntil([&] { return AdminHealth(stack); },
                                       [](const Health& h) { return h.exit_code == 1; }, 5s);
  EXPECT_EQ(not_serving.output, "status:NOT_SERVING\n")
      << "health must say NOT_SERVING within 5 s of the database's stop";
  EXPECT_EQ(not_serving.exit_code, 1);
  std::fprintf(stderr, "[e2e] NOT_SERVING %lld ms after the database stopped\n",
               MillisSince(down));
  // Still down: still 503, not a stale success.
  EXPECT_TRUE(IsError(SendMsg(m.conn, m.token, pro.id, "pendant"), "503/UNAVAIL", "unavailable"));

  cluster_.Start();
  const Clock::time_point back = Clock::now();
  const Response again = PollUntil([&] { return SendMsg(m.conn, m.token, pro.id, "après"); },
                                   [](const Response& r) { return r.status != "503/UNAVAIL"; },
                                   5s);
  EXPECT_TRUE(IsOk(again, {"message-id", "sent-at"}))
      << "not served again within 5 s of the database's restart";
  std::fprintf(stderr, "[e2e] served again %lld ms after the database restarted\n",
               MillisSince(back));
  const Health serving = PollUntil([&] { return AdminHealth(stack); },
                                   [](const Health& h) { return h.exit_code == 0; }, 5s);
  EXPECT_EQ(serving.output, "status:SERVING\n")
      << "health must say SERVING again within 5 s of the database's restart";
  EXPECT_EQ(serving.exit_code, 0);
  std::fprintf(stderr, "[e2e] SERVING %lld ms after the database restarted\n", MillisSince(back));

  EXPECT_TRUE(IsOk(fresh.Request("LOGIN", {{"api-token", late.api_key}}),
                   {"token", "user-id", "role"}));
  ASSERT_TRUE(stack.CoreRunning());
  EXPECT_EQ(stack.core_process()->pid(), core_pid) << "the core must not have restarted";
  EXPECT_TRUE(Alive(m.conn));
  // Nothing answered 503 was stored; what was answered 200 is, once.
  EXPECT_EQ(stack.db().Query("SELECT string_agg(content, ',' ORDER BY id) FROM messages "
                             "WHERE sender_id = " + std::to_string(m.user.id)),
            "avant,après");
}

// Health reports the database, not only the process: a core that started while its
// database was up says NOT_SERVING while it is down even when no request comes.
TEST_F(PgFaultTest, HealthFlipsWithoutTraffic) {
  StackOptions options;
  options.pg_admin_url = cluster_.admin_url();
  Stack stack(options);
  ASSERT_EQ(PollUntil([&] { return AdminHealth(stack); },
                      [](const Health& h) { return h.exit_code == 0; }, 5s)
                .output,
            "status:SERVING\n");
  cluster_.Stop();
  const Health down = PollUntil([&] { return AdminHealth(stack); },
                                [](const Health& h) { return h.exit_code != 0; }, 5s);
  EXPECT_EQ(down.output, "status:NOT_SERVING\n");
  EXPECT_EQ(down.exit_code, 1);
  cluster_.Start();
  const Health up = PollUntil([&] { return AdminHealth(stack); },
                              [](const Health& h) { return h.exit_code == 0; }, 5s);
  EXPECT_EQ(up.output, "status:SERVING\n");
  EXPECT_EQ(up.exit_code, 0);
}

// A database slower than the gateway's core-timeout-ms: GET_UNREAD and NEW_CHG_AVAILABLE
// are answered 503 when the gateway stops waiting, and the core, finding its caller's
// deadline passed when its take is done, commits nothing. The next try gets the message
// and its change (contract 2.2: 503 means retry later, and the retry finds what the
// first try missed).
TEST(SlowDatabaseTest, TakesAndDeletionsAnswered503CommitNothing) {
  StackOptions options;
  options.gateway_env["TCHATATOR_CORE_TIMEOUT_MS"] = "1000";
  Stack stack(options);
  Session member = LoginNew(stack, "member");
  Session pro = LoginNew(stack, "pro");
  const Response sent = SendMsg(member.conn, member.token, pro.user.id, "à ne pas perdre");
  ASSERT_TRUE(IsOk(sent, {"message-id", "sent-at"}));
  for (const std::string command : {"GET_UNREAD", "NEW_CHG_AVAILABLE"}) {
    SCOPED_TRACE(command);
    testing::TableLock lock(stack.db(), "messages");
    ASSERT_TRUE(pro.conn.Send(Build(command, {{"token", pro.token}})));
    ASSERT_TRUE(testing::WaitForLockWaiter(stack.db())) << "the take never reached the database";
    EXPECT_TRUE(IsError(pro.conn.Read(5s), "503/UNAVAIL", "unavailable"));
    // The take goes on, past its caller's deadline.
    lock.Release();
  }
  const Response unread = pro.conn.Request("GET_UNREAD", {{"token", pro.token}});
  EXPECT_EQ(unread.Get("count"), "1") << unread;
  ASSERT_EQ(unread.records.size(), 1u) << unread;
  EXPECT_EQ(unread.records[0].at("message-id"), sent.Get("message-id"));
  EXPECT_EQ(unread.records[0].at("content"), "à ne pas perdre");
  const Response changes = pro.conn.Request("NEW_CHG_AVAILABLE", {{"token", pro.token}});
  EXPECT_EQ(changes.Get("count"), "1") << changes;
  ASSERT_EQ(changes.records.size(), 1u) << changes;
  EXPECT_EQ(changes.records[0].at("change"), "new_message");
  EXPECT_EQ(changes.records[0].at("message-id"), sent.Get("message-id"));

  // A DEL_MSG answered 503 deleted nothing: asking again deletes it (not 404).
  const std::vector<Field> deletion = {{"token", member.token},
                                       {"message-id", sent.Get("message-id")}};
  {
    testing::TableLock lock(stack.db(), "messages");
    ASSERT_TRUE(member.conn.Send(Build("DEL_MSG", deletion)));
    ASSERT_TRUE(testing::WaitForLockWaiter(stack.db())) << "DEL_MSG never reached the database";
    EXPECT_TRUE(IsError(member.conn.Read(5s), "503/UNAVAIL", "unavailable"));
  }
  EXPECT_TRUE(IsOk(member.conn.Request("DEL_MSG", deletion), {"message-id"}));
  EXPECT_EQ(stack.db().Query("SELECT count(*) FROM changes WHERE kind = 'message_deleted'"
                             " AND message_id = " + sent.Get("message-id")),
            "1");
}

}  // namespace
}  // namespace tchatator::e2e
