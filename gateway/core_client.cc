#include "gateway/core_client.h"

#include <vector>

#include "common/strings.h"

namespace tchatator::gateway {

std::shared_ptr<grpc::Channel> OpenCoreChannel(const std::string& target) {
  grpc::ChannelArguments args;
  // Find a restarted core within a second instead of gRPC's default two minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // Despite its name, the time a connection attempt may take (gRPC 1.51; 20 s by
  // default). At 100 ms, a first handshake slower than that on a loaded machine failed
  // every call waiting for it with 503; 20 s would hold calls to an address that drops
  // packets (a core's pod gone) for their whole deadline.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 2000);
  args.SetLoadBalancingPolicyName("round_robin");
  // gRPC's client-side health checking: each core's health service streams its status
  // (it watches its database every second), and round_robin skips the cores that are not
  // SERVING. The resolver's own service config (DNS TXT records) is not looked up, so
  // this one is always in force.
  args.SetServiceConfigJSON(StrCat(
      R"({"loadBalancingConfig":[{"round_robin":{}}],"healthCheckConfig":{"serviceName":")",
      v1::ChatService::service_full_name(), R"("}})"));
  args.SetInt(GRPC_ARG_SERVICE_CONFIG_DISABLE_RESOLUTION, 1);
  // GET_UNREAD answers every unread message, however many (contract): gRPC's default
  // 4 MiB would fail such an answer after the core marked its messages read.
  args.SetMaxReceiveMessageSize(-1);
  // A stream takes in only its read-ahead (64 KiB) that the gateway has not read: with
  // BDP probing, gRPC lets a Subscribe stream whose client stopped reading take
  // megabytes from the core, every message of them marked read.
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

void AddCallMetadata(const CallContext& call, grpc::ClientContext& context) {
  if (!call.token.empty()) context.AddMetadata("authorization", "Bearer " + call.token);
  if (!call.client_ip.empty()) context.AddMetadata("x-client-ip", call.client_ip);
  if (!call.request_id.empty()) context.AddMetadata("x-request-id", call.request_id);
}

CoreClient::CoreClient(const SettingsHolder& settings, ChannelFactory make_channel)
    : settings_(&settings),
      make_channel_(std::move(make_channel)),
      fixed_timeout_(0),
      target_(settings.Get()->core_address),
      channel_(make_channel_(target_)),
      stub_(v1::ChatService::NewStub(channel_)) {}

CoreClient::CoreClient(std::shared_ptr<grpc::Channel> channel, std::chrono::milliseconds timeout)
    : settings_(nullptr),
      fixed_timeout_(timeout),
      channel_(std::move(channel)),
      stub_(v1::ChatService::NewStub(channel_)) {}

std::vector<CoreClient::Channel> CoreClient::TakeUnusedLocked() {
  std::vector<Channel> unused;
  // Retired stubs are never handed out again: once only we hold one, it stays so. The
  // channel is referenced by its stub and by the contexts of calls still on it.
  for (auto it = retired_.begin(); it != retired_.end();) {
    if (it->stub.use_count() == 1 && it->channel.use_count() == 2) {
      unused.push_back(std::move(*it));
      it = retired_.erase(it);
    } else {
      ++it;
    }
  }
  return unused;
}

std::shared_ptr<CoreClient::Stub> CoreClient::stub() {
  std::vector<Channel> unused;  // closed after the lock is released
  std::lock_guard lock(mu_);
  if (!retired_.empty()) unused = TakeUnusedLocked();
  return stub_;
}

std::string CoreClient::target() const {
  std::lock_guard lock(mu_);
  return target_;
}

std::chrono::system_clock::time_point CoreClient::Deadline(
    std::chrono::system_clock::time_point now) const {
  if (settings_ == nullptr) return now + fixed_timeout_;
  return now + std::chrono::milliseconds(settings_->Get()->core_timeout_ms);
}

bool CoreClient::ApplySettings() {
  if (settings_ == nullptr) return false;
  const std::string wanted = settings_->Get()->core_address;
  if (target() == wanted) return false;
  // Opened outside the lock: calls keep starting on the current channel meanwhile.
  Channel next;
  next.channel = make_channel_(wanted);
  next.stub = v1::ChatService::NewStub(next.channel);
  std::vector<std::function<void()>> listeners;
  std::vector<Channel> unused;
  {
    std::lock_guard lock(mu_);
    if (target_ == wanted) return false;  // another ApplySettings got there first
    // The previous channel lives on for the calls and streams still on it: the last of
    // them may end on a gRPC thread, which must not be the one to close it.
    retired_.push_back(Channel{std::move(channel_), std::move(stub_)});
    unused = TakeUnusedLocked();
    channel_ = std::move(next.channel);
    stub_ = std::move(next.stub);
    target_ = wanted;
    for (const auto& [id, listener] : listeners_) listeners.push_back(listener);
  }
  // Outside the lock: a listener may start a call, which takes the new stub.
  for (const std::function<void()>& listener : listeners) listener();
  return true;
}

uint64_t CoreClient::AddSwitchListener(std::function<void()> listener) {
  std::lock_guard lock(mu_);
  const uint64_t id = next_listener_++;
  listeners_.emplace(id, std::move(listener));
  return id;
}

void CoreClient::RemoveSwitchListener(uint64_t id) {
  std::lock_guard lock(mu_);
  listeners_.erase(id);
}

}  // namespace tchatator::gateway
