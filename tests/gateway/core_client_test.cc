// CoreClient's following of the settings in force (issue #6, SIGHUP reload): the
// deadline of each call is core-timeout-ms as it is when the call starts, and
// ApplySettings opens a new channel only when core-address changed, keeps the old one
// alive for whoever holds it (closing it later from a stub() call, not from whichever
// thread drops it last), and tells the switch listeners once per switch.
#include "gateway/core_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/settings.h"

namespace tchatator::gateway {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

Settings Defaults() {
  absl::StatusOr<Settings> settings = LoadSettings("", {});
  EXPECT_TRUE(settings.ok());
  return *settings;
}

Settings With(std::string address, int64_t timeout_ms) {
  Settings s = Defaults();
  s.core_address = std::move(address);
  s.core_timeout_ms = timeout_ms;
  return s;
}

// Opens real (lazily connecting) channels and records the targets asked for.
CoreClient::ChannelFactory Recording(std::vector<std::string>& targets) {
  return [&targets](const std::string& target) {
    targets.push_back(target);
    return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  };
}

TEST(CoreClientTest, DeadlineIsCoreTimeoutInForceWhenTheCallStarts) {
  SettingsHolder holder(With("127.0.0.1:1", 5000));
  std::vector<std::string> targets;
  CoreClient client(holder, Recording(targets));
  const system_clock::time_point t0 = system_clock::now();
  EXPECT_EQ(client.Deadline(t0), t0 + milliseconds(5000));
  holder.Set(With("127.0.0.1:1", 250));
  EXPECT_EQ(client.Deadline(t0), t0 + milliseconds(250));
  EXPECT_EQ(client.Deadline(t0 + milliseconds(7)), t0 + milliseconds(257));
}

TEST(CoreClientTest, ApplySettingsSwitchesChannelOnlyWhenTheAddressChanges) {
  SettingsHolder holder(With("127.0.0.1:1", 5000));
  std::vector<std::string> targets;
  CoreClient client(holder, Recording(targets));
  int switches = 0;
  client.AddSwitchListener([&switches] { ++switches; });
  EXPECT_EQ(targets, std::vector<std::string>{"127.0.0.1:1"});
  EXPECT_EQ(client.target(), "127.0.0.1:1");
  const std::shared_ptr<CoreClient::Stub> first = client.stub();

  // Another key changed: same channel.
  holder.Set(With("127.0.0.1:1", 300));
  EXPECT_FALSE(client.ApplySettings());
  EXPECT_EQ(client.stub(), first);
  EXPECT_EQ(switches, 0);

  holder.Set(With("127.0.0.1:2", 300));
  EXPECT_TRUE(client.ApplySettings());
  EXPECT_EQ(targets, (std::vector<std::string>{"127.0.0.1:1", "127.0.0.1:2"}));
  EXPECT_EQ(client.target(), "127.0.0.1:2");
  EXPECT_NE(client.stub(), first);
  EXPECT_EQ(switches, 1);

  EXPECT_FALSE(client.ApplySettings()) << "nothing changed since";
  EXPECT_EQ(targets.size(), 2u);
  EXPECT_EQ(switches, 1);
}

TEST(CoreClientTest, ReplacedChannelIsClosedByTheNextStubCallOnceUnused) {
  SettingsHolder holder(With("127.0.0.1:1", 5000));
  std::vector<std::string> targets;
  CoreClient client(holder, Recording(targets));
  std::shared_ptr<CoreClient::Stub> in_use = client.stub();  // a call or stream under way
  const std::weak_ptr<CoreClient::Stub> old = in_use;
  holder.Set(With("127.0.0.1:2", 5000));
  ASSERT_TRUE(client.ApplySettings());
  client.stub();
  EXPECT_FALSE(old.expired()) << "still used: kept open";
  in_use.reset();  // the call ended (possibly on a gRPC thread): not closed there
  EXPECT_FALSE(old.expired());
  client.stub();
  EXPECT_TRUE(old.expired()) << "closed by the next stub() call";
}

TEST(CoreClientTest, RemovedListenerIsNotCalled) {
  SettingsHolder holder(With("127.0.0.1:1", 5000));
  std::vector<std::string> targets;
  CoreClient client(holder, Recording(targets));
  int kept = 0;
  int removed = 0;
  client.AddSwitchListener([&kept] { ++kept; });
  const uint64_t id = client.AddSwitchListener([&removed] { ++removed; });
  client.RemoveSwitchListener(id);
  holder.Set(With("127.0.0.1:3", 5000));
  EXPECT_TRUE(client.ApplySettings());
  EXPECT_EQ(kept, 1);
  EXPECT_EQ(removed, 0);
}

TEST(CoreClientTest, FixedClientKeepsItsChannelAndTimeout) {
  CoreClient client(grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials()),
                    milliseconds(1234));
  const system_clock::time_point t0 = system_clock::now();
  EXPECT_EQ(client.Deadline(t0), t0 + milliseconds(1234));
  const std::shared_ptr<CoreClient::Stub> stub = client.stub();
  EXPECT_FALSE(client.ApplySettings());
  EXPECT_EQ(client.stub(), stub);
}

}  // namespace
}  // namespace tchatator::gateway
