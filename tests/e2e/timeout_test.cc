// The gateway's clocks: an unfinished request is answered 416 incomplete-request, an
// idle connection is closed, PING keeps a connection alive.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/e2e/stack.h"

namespace tchatator::e2e {
namespace {

using Clock = std::chrono::steady_clock;

long long MillisSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

TEST(TimeoutTest, UnfinishedRequestIs416IncompleteRequest) {
  StackOptions options;
  options.gateway_env["TCHATATOR_REQUEST_TIMEOUT_SECONDS"] = "1";
  Stack stack(options);
  Client c = stack.Connect();
  Clock::time_point start = Clock::now();
  ASSERT_TRUE(c.Send("SEND_MSG\ntoken:abc\nrecipient-id:2\n"));
  EXPECT_TRUE(IsError(c.Read(4s), "416/MISFMT", "incomplete-request"));
  EXPECT_GE(MillisSince(start), 900);
  EXPECT_LE(MillisSince(start), 3000);
  EXPECT_TRUE(Alive(c)) << "the connection stays usable";

  // A line left half-sent counts too, and it is dropped: it does not prefix the next.
  start = Clock::now();
  ASSERT_TRUE(c.Send("PIN"));
  EXPECT_TRUE(IsError(c.Read(4s), "416/MISFMT", "incomplete-request"));
  EXPECT_GE(MillisSince(start), 900);
  EXPECT_TRUE(Alive(c));

  // A content cut short too.
  start = Clock::now();
  ASSERT_TRUE(c.Send("SEND_MSG\ntoken:abc\nrecipient-id:2\nmessage-length:10\ncontent:abc\n"));
  EXPECT_TRUE(IsError(c.Read(4s), "416/MISFMT", "incomplete-request"));
  EXPECT_TRUE(Alive(c));
  EXPECT_EQ(c.ReadFor(100ms), "");
}

TEST(TimeoutTest, IdleConnectionClosedPingKeepsAlive) {
  StackOptions options;
  options.gateway_env["TCHATATOR_IDLE_TIMEOUT_SECONDS"] = "1";
  Stack stack(options);
  Client idle = stack.Connect();
  Client busy = stack.Connect();
  const Clock::time_point start = Clock::now();
  // 2.4 s of PING every 300 ms on one connection, silence on the other.
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(Alive(busy)) << "after " << MillisSince(start) << " ms";
    std::this_thread::sleep_for(300ms);
  }
  std::string received;
  EXPECT_TRUE(idle.WaitClosed(1s, &received)) << "idle connection still open after 3 s";
  EXPECT_EQ(received, "");
  EXPECT_TRUE(Alive(busy));
  // Idleness ends the connection, not only the lack of a session.
  Client late = stack.Connect();
  const Clock::time_point opened = Clock::now();
  EXPECT_TRUE(late.WaitClosed(3s));
  EXPECT_GE(MillisSince(opened), 800);
}

}  // namespace
}  // namespace tchatator::e2e
