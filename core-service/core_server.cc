#include "core-service/core_server.h"

#include "common/strings.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"

namespace tchatator::core {

CoreServer::CoreServer(storage::Store& store, const Clock& clock,
                       const SettingsHolder& settings, ChangeFeed* feed)
    : settings_(settings),
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
  return port;
}

void CoreServer::Shutdown(absl::Duration grace) {
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoSeconds(grace));
  server_->Wait();
  runner_.Join();
  server_.reset();
}

}  // namespace tchatator::core
