// Connection limits: max-connections-per-ip, max-connections, and the open-file limit,
// each answered 503 too-many-connections while the connections already open go on.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/stack.h"

namespace tchatator::e2e {
namespace {

// Opens `count` connections, each alive (PING); then one more, refused.
void ExpectRefusedAfter(Stack& stack, int count) {
  std::vector<Client> open;
  for (int i = 0; i < count; ++i) {
    open.push_back(stack.Connect());
    ASSERT_TRUE(Alive(open.back())) << "connection " << i + 1;
  }
  Client refused = stack.Connect();
  EXPECT_TRUE(IsError(refused.Read(5s), "503/UNAVAIL", "too-many-connections"))
      << "connection " << count + 1;
  EXPECT_TRUE(refused.WaitClosed());
  EXPECT_TRUE(Alive(open.front()));
  EXPECT_TRUE(Alive(open.back()));
  // A connection closed makes room for one.
  open.pop_back();
  for (int attempt = 0;; ++attempt) {
    Client again = stack.Connect();
    const Response r = again.Request("PING");
    if (r.status == "200/OK") break;
    ASSERT_LT(attempt, 50) << "no room after a close: " << r;
    std::this_thread::sleep_for(20ms);  // the gateway sees the close a moment later
  }
}

TEST(LimitsTest, AConnectionBeyondMaxConnectionsPerIpIs503) {
  StackOptions options;
  options.gateway_env["TCHATATOR_MAX_CONNECTIONS_PER_IP"] = "5";
  Stack stack(options);
  ExpectRefusedAfter(stack, 5);
}

TEST(LimitsTest, AConnectionBeyondMaxConnectionsIs503) {
  StackOptions options;
  options.gateway_env["TCHATATOR_MAX_CONNECTIONS"] = "7";
  Stack stack(options);
  ExpectRefusedAfter(stack, 7);
}

// Probe 22b: under an open-file limit lower than max-connections, the connections past
// it waited in the listen backlog, unanswered. The gateway now raises its soft limit to
// the hard one, counts that (less 64 files of its own) as a connection limit, and says
// so when it starts.
TEST(LimitsTest, BeyondWhatTheOpenFileLimitLeavesRoomForAConnectionIs503) {
  StackOptions options;
  options.gateway_env["TCHATATOR_MAX_CONNECTIONS_PER_IP"] = "1000";
  options.gateway_open_files = 200;
  options.gateway_open_files_soft = 100;
  Stack stack(options);
  EXPECT_EQ(LogLinesWith(stack.gateway_log_path(), "open files: limit raised from 100 to 200")
                .size(),
            1u);
  EXPECT_EQ(LogLinesWith(stack.gateway_log_path(),
                         "warning: max-connections is 20000 but the open-file limit (200) "
                         "leaves room for 136 connections")
                .size(),
            1u);
  ExpectRefusedAfter(stack, 136);
}

}  // namespace
}  // namespace tchatator::e2e
