// Unit tests of what core-service/rpc_runner.h takes from a caller's metadata for the
// logs: the end client's IP and the request id, kept only when well formed.

#include "core-service/rpc_runner.h"

#include <gtest/gtest.h>

#include <string>

#include "grpcpp/test/server_context_test_spouse.h"

namespace tchatator::core {
namespace {

TEST(IpAddressIn, KeepsIpAddressesOnly) {
  for (const char* ip : {"203.0.113.7", "::1", "2001:db8::8a2e:370:7334", "::ffff:127.0.0.1",
                         "fe80::1%eth0", "fe80::1%2", "fe80::1%br-lan", "fe80::1%eth0.100"}) {
    EXPECT_EQ(IpAddressIn(ip), ip);
  }
  for (const char* forged :
       {"", "198.51.100.9 user=admin FAKE", "203.0.113.7 ", "localhost", "1.2.3", "1.2.3.4:80",
        "[::1]", "fe80::1%", "fe80::1%eth 0", "::1%a%b", "256.1.1.1", "1.2.3.4%eth0"}) {
    EXPECT_EQ(IpAddressIn(forged), "") << forged;
  }
  // inet_pton stops at a NUL; the log would show what follows it.
  EXPECT_EQ(IpAddressIn(std::string("1.2.3.4\0 user=admin", 19)), "");
}

TEST(RequestIdIn, KeepsLettersDigitsAndDotUnderscoreColonDashOnly) {
  EXPECT_EQ(RequestIdIn("e6f75e96-4"), "e6f75e96-4");
  EXPECT_EQ(RequestIdIn("batch_test.v1:2"), "batch_test.v1:2");
  EXPECT_EQ(RequestIdIn(std::string(128, 'a')), std::string(128, 'a'));
  for (const std::string& forged :
       {std::string(), std::string(129, 'a'), std::string("abc user=admin"),
        std::string("a\tb"), std::string("a=b"), std::string("caf\xC3\xA9")}) {
    EXPECT_EQ(RequestIdIn(forged), "") << forged;
  }
}

// A forged x-client-ip is not the client's IP: the caller's own address stands (none
// here, with no call behind the context).
TEST(ClientIp, TakesXClientIpOnlyWhenItIsAnIpAddress) {
  // The spouses hold the metadata the contexts point into: they outlive the checks.
  grpc::ServerContext honest;
  grpc::testing::ServerContextTestSpouse honest_spouse(&honest);
  honest_spouse.AddClientMetadata(kClientIpKey, "203.0.113.7");
  EXPECT_EQ(ClientIp(honest), "203.0.113.7");
  grpc::ServerContext forged;
  grpc::testing::ServerContextTestSpouse forged_spouse(&forged);
  forged_spouse.AddClientMetadata(kClientIpKey, "198.51.100.9 user=admin FAKE");
  EXPECT_EQ(ClientIp(forged), "");
}

}  // namespace
}  // namespace tchatator::core
