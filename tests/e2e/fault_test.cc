// The core dies: the gateway answers 503 and keeps its connections; the core comes
// back on the same port: the same connections are served again, without restarting
// the gateway.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

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
  const Response again = UntilOk([&] { return SendMsg(m.conn, m.token, pro.id, "après"); }, 3s);
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

TEST(FaultTest, CoreStoppedAnswers503ThenRecovers) {
  Stack stack;
  Session m = LoginNew(stack, "member");
  stack.StopCore();  // SIGTERM: a clean shutdown
  EXPECT_TRUE(IsError(m.conn.Request("GET_UNREAD", {{"token", m.token}}), "503/UNAVAIL",
                      "unavailable"));
  EXPECT_TRUE(Alive(m.conn));
  stack.StartCore();
  const Response again =
      UntilOk([&] { return m.conn.Request("GET_UNREAD", {{"token", m.token}}); }, 3s);
  EXPECT_TRUE(IsOk(again, {"count"}));
  EXPECT_EQ(again.Get("count"), "0");
}

}  // namespace
}  // namespace tchatator::e2e
