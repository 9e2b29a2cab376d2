// The core dies: the gateway answers 503 and keeps its connections; the core comes
// back on the same port: the same connections are served again, without restarting
// the gateway. Also while clients send concurrently: every request gets an answer
// (200 or 503, never a hang) throughout.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/stack.h"

namespace tchatator::e2e {
namespace {

using Clock = std::chrono::steady_clock;

// Polls `request` on `conn` until it answers 200, up to `within`; the last answer.
template <typename Fn>
Response UntilOk(Fn request, std::chrono::milliseconds within) {
  const Clock::time_point deadline = Clock::now() + within;
  for (;;) {
    Response r = request();
    if (r.status == "200/OK" || !r.ok() || Clock::now() >= deadline) return r;
    std::this_thread::sleep_for(50ms);
  }
}

TEST(FaultTest, CoreKilledAnswers503ThenRecoversOnRestart) {
  Stack stack;
  Session m = LoginNew(stack, "member");
  const User pro = stack.AddUser("pro");
  const User late = stack.AddUser("member");
  ASSERT_TRUE(IsOk(SendMsg(m.conn, m.token, pro.id, "avant"), {"message-id", "sent-at"}));

  stack.KillCore();
  ASSERT_FALSE(stack.CoreRunning());
  EXPECT_TRUE(IsError(SendMsg(m.conn, m.token, pro.id, "pendant"), "503/UNAVAIL", "unavailable"));
  EXPECT_TRUE(Alive(m.conn)) << "the gateway keeps the connection";
  // Its log line says why, in gRPC's words (the client is told only to retry): the
  // connection refused, or the health stream that ended with it.
  const std::optional<std::string> logged =
      WaitForLogLine(stack.gateway_log_path(), "SEND_MSG 503 unavailable (", 0, 5s);
  ASSERT_TRUE(logged.has_value());
  EXPECT_NE(logged->find("unavailable (connections to all backends failing; last error: "),
            std::string::npos)
      << *logged;
  EXPECT_TRUE(IsError(m.conn.Request("GET_UNREAD", {{"token", m.token}}), "503/UNAVAIL",
                      "unavailable"));
  Client fresh = stack.Connect();
  EXPECT_TRUE(IsError(fresh.Request("LOGIN", {{"api-token", late.api_key}}), "503/UNAVAIL",
                      "unavailable"));
  EXPECT_TRUE(Alive(fresh));
  EXPECT_EQ(stack.db().Query("SELECT count(*) FROM messages WHERE content = 'pendant'"), "0");

  stack.StartCore();  // same port, same database
  ASSERT_TRUE(stack.GatewayRunning()) << "the gateway must not be restarted";
  const Clock::time_point back = Clock::now();
  const Response again = UntilOk([&] { return SendMsg(m.conn, m.token, pro.id, "après"); }, 10s);
  EXPECT_TRUE(IsOk(again, {"message-id", "sent-at"}))
      << "not served again within 3 s of the core's restart";
  std::fprintf(stderr, "[e2e] served again %lld ms after the core listened\n",
               static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          Clock::now() - back)
                                          .count()));
  // The session outlived the core (it is in the database); other connections work too.
  EXPECT_TRUE(IsOk(fresh.Request("LOGIN", {{"api-token", late.api_key}}),
                   {"token", "user-id", "role"}));
  Session p = LoginNew(stack, "pro");
  EXPECT_TRUE(Alive(m.conn));
  EXPECT_EQ(stack.db().Query("SELECT string_agg(content, ',' ORDER BY id) FROM messages "
                             "WHERE sender_id = " + std::to_string(m.user.id)),
            "avant,après");
}

// The gateway's first connection to the core is made at its first call: requests that
// arrive while the core is slow to answer it (a loaded machine) wait for it, up to
// core-timeout-ms, and are served. With a 100 ms limit on a connection attempt, 64
// LOGINs got 503 at once (CI, 2026-11-29; helper report 503, reproduced by freezing the
// core).
TEST(FaultTest, RequestsWaitForTheGatewaysFirstConnectionToASlowCore) {
  Stack stack;
  const User member = stack.AddUser("member");
  ASSERT_NE(stack.core_process(), nullptr);
  Client conn = stack.Connect();
  stack.SignalCore(SIGSTOP);
  ASSERT_TRUE(conn.Send(Build("LOGIN", {{"api-token", member.api_key}})));
  std::this_thread::sleep_for(700ms);
  stack.SignalCore(SIGCONT);
  EXPECT_TRUE(IsOk(conn.Read(5s), {"token", "user-id", "role"}));
}

TEST(FaultTest, CoreStoppedAnswers503ThenRecovers) {
  Stack stack;
  Session m = LoginNew(stack, "member");
  stack.StopCore();  // SIGTERM: a clean shutdown
  EXPECT_TRUE(IsError(m.conn.Request("GET_UNREAD", {{"token", m.token}}), "503/UNAVAIL",
                      "unavailable"));
  EXPECT_TRUE(Alive(m.conn));
  stack.StartCore();
  const Response again =
      UntilOk([&] { return m.conn.Request("GET_UNREAD", {{"token", m.token}}); }, 10s);
  EXPECT_TRUE(IsOk(again, {"count"}));
  EXPECT_EQ(again.Get("count"), "0");
}

// Polls `done()` until true (then true) or `within` passed (then false).
template <typename Done>
bool WaitFor(Done done, std::chrono::milliseconds within) {
  const Clock::time_point deadline = Clock::now() + within;
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

TEST(FaultTest, CoreKilledWhileClientsSendAnswers503NeverHangsThenRecovers) {
  constexpr int kConnections = 8;
  StackOptions options;
  options.core_env = kNoSendLimits;
  Stack stack(options);
  const User pro = stack.AddUser("pro");
  std::vector<Session> sessions;
  for (int k = 0; k < kConnections; ++k) sessions.push_back(LoginNew(stack, "member"));

  // Phases seen by the senders: 0 core up, 1 core being killed or dead, 2 core restarting.
  std::atomic<int> phase{0};
  std::atomic<bool> stop{false};
  std::vector<std::atomic<int>> ok_before(kConnections), unavailable(kConnections),
      ok_after(kConnections);
  std::mutex mu;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int k = 0; k < kConnections; ++k) {
    threads.emplace_back([&, k] {
      for (int i = 0; !stop.load(); ++i) {
        const int sent_in = phase.load();
        const Response r = SendMsg(sessions[k].conn, sessions[k].token, pro.id,
                                   "k" + std::to_string(k) + "-" + std::to_string(i));
        const int answered_in = phase.load();
        if (IsOk(r, {"message-id", "sent-at"})) {
          if (answered_in == 0) {
            ++ok_before[k];
          } else if (sent_in == 2) {
            ++ok_after[k];
          } else if (unavailable[k] > 0 && answered_in == 1) {
            std::lock_guard lock(mu);
            failures.push_back("connection " + std::to_string(k) +
                               ": 200 while the core was dead");
          }
        } else if (IsError(r, "503/UNAVAIL", "unavailable") && answered_in > 0) {
          ++unavailable[k];
          std::this_thread::sleep_for(5ms);  // pacing: a 503 comes back at once
        } else {
          std::lock_guard lock(mu);
          failures.push_back("connection " + std::to_string(k) + " in phase " +
                             std::to_string(answered_in) + ": " + ::testing::PrintToString(r));
          return;
        }
      }
    });
  }
  auto all = [&](std::vector<std::atomic<int>>& counts) {
    return [&counts] {
      for (const std::atomic<int>& c : counts) {
        if (c.load() == 0) return false;
      }
      return true;
    };
  };
  const bool loaded = WaitFor(all(ok_before), 5s);
  phase = 1;  // before the kill: a 503 may come as soon as the core is gone
  stack.KillCore();
  const bool refused = WaitFor(all(unavailable), 5s);
  phase = 2;
  stack.StartCore();
  const bool served_again = WaitFor(all(ok_after), 10s);
  stop = true;
  for (std::thread& t : threads) t.join();

  EXPECT_TRUE(loaded) << "every connection is served before the kill";
  EXPECT_TRUE(refused) << "every connection gets 503 while the core is dead";
  EXPECT_TRUE(served_again) << "every connection is served again within 5 s of the restart";
  EXPECT_TRUE(failures.empty()) << ::testing::PrintToString(failures);
  ASSERT_TRUE(stack.GatewayRunning()) << "the gateway must not be restarted";
  for (int k = 0; k < kConnections; ++k) EXPECT_TRUE(Alive(sessions[k].conn)) << k;
}

}  // namespace
}  // namespace tchatator::e2e
