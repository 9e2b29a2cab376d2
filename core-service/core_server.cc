#include "core-service/core_server.h"

#include "common/strings.h"
#include "common/log.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"

namespace tchatator::core {

CoreServer::CoreServer(storage::Store& store, const Clock& clock,
                       const SettingsHolder& settings, ChangeFeed* feed)
    : store_(store),
      settings_(settings),
      logic_(store, clock, settings),
      // One worker per database connection: a worker never waits for a connection.
      runner_(static_cast<size_t>(settings.Get()->database_pool_size)),
      chat_(logic_, runner_, feed),
      accounts_(logic_, runner_) {}

CoreServer::~CoreServer() { Shutdown(absl::Seconds(5)); }

absl::StatusOr<int> CoreServer::Start(const std::string& address) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&chat_);
  builder.RegisterService(&accounts_);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    return absl::UnavailableError(StrCat("cannot listen on ", address));
  }
  health_thread_ = std::thread([this] { WatchHealth(); });
  return port;
}

void CoreServer::WatchHealth() {
  std::optional<bool> was_serving;
  std::unique_lock lock(health_mu_);
  while (!stopping_) {
    lock.unlock();
    const absl::Status ping = store_.Ping();
    lock.lock();
    if (stopping_) break;
    const bool serving = ping.ok();
    if (was_serving != serving) {
      server_->GetHealthCheckService()->SetServingStatus(serving);
      Log::Info(serving ? std::string("health: SERVING")
                        : StrCat("health: NOT_SERVING: ", ping.message()));
      was_serving = serving;
    }
    health_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
  }
}

void CoreServer::Shutdown(absl::Duration grace) {
  if (server_ == nullptr) return;
  {
    std::lock_guard lock(health_mu_);
    stopping_ = true;
  }
  health_cv_.notify_all();
  if (health_thread_.joinable()) health_thread_.join();
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoSeconds(grace));
  server_->Wait();
  runner_.Join();
  server_.reset();
}

}  // namespace tchatator::core
