#ifndef TCHATATOR_CORE_SERVICE_CORE_SERVER_H_
#define TCHATATOR_CORE_SERVICE_CORE_SERVER_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/settings.h"
#include "core-service/account_service.h"
#include "core-service/change_feed.h"
#include "core-service/chat_logic.h"
#include "core-service/chat_service.h"
#include "core-service/rpc_runner.h"
#include "grpcpp/grpcpp.h"
#include "storage/store.h"

namespace tchatator::core {

// The core's gRPC server: ChatService, AccountService, health checking and reflection,
// over a store, a clock and the settings (all owned by the caller, outliving it).
class CoreServer {
 public:
  // `feed` (may be null: no live delivery) must be started by the caller.
  CoreServer(storage::Store& store, const Clock& clock, const SettingsHolder& settings,
             ChangeFeed* feed = nullptr);
  ~CoreServer();

  // Listens on `host`:`port` (port 0 picks one) and returns the bound port. AlreadyExists
  // when another process listens on that port (gRPC alone would share it).
  absl::StatusOr<int> Start(const std::string& host, int port);

  // Listens on `host` instead, on the same port (listen-address on SIGHUP): a server on
  // the new address starts first, then the old one stops as Shutdown() does (its calls
  // in flight end, its streams end UNAVAILABLE and reopen on the new address). On
  // failure, nothing changes. Not concurrently with Start() or Shutdown().
  absl::Status Rebind(const std::string& host);

  // Ends the built-in administrator's sessions if admin-api-key was replaced or removed
  // (ChatLogic::FollowAdminKey). Start does it before serving, then the server checks
  // every second by itself; a caller that has just changed the settings may do it now.
  absl::Status FollowAdminKey() { return logic_.FollowAdminKey(); }

  // Stops accepting calls, lets unary calls in flight finish (up to `grace`), ends the
  // streams (Subscribe) at once since they never end by themselves, then returns.
  void Shutdown(absl::Duration grace);

  // The streams open now, to cancel at shutdown (used by the server's interceptor).
  class OpenStreams {
   public:
    void Add(grpc::ServerContextBase* context);
    void Remove(grpc::ServerContextBase* context);
    // Ends every stream open now with UNAVAILABLE; a stream added later at once.
    void CancelAll();
    // Ends every stream open now with UNAVAILABLE and the message `why`; later ones live.
    void EndOpen(const char* why);

   private:
    // Recursive: cancelling a stream may run its OnCancel, hence Remove(), inline.
    std::recursive_mutex mu_;
    bool cancelling_ = false;
    std::set<grpc::ServerContextBase*> contexts_;
  };

 private:
  // One listening gRPC server and the streams it serves.
  struct Listener {
    std::unique_ptr<OpenStreams> streams;
    std::unique_ptr<grpc::Server> server;
    int port = 0;
  };
  absl::StatusOr<Listener> Listen(const std::string& address);
  // Stops accepting calls on `listener`, ends its streams, lets its unary calls finish
  // (up to `grace`), then returns.
  static void Stop(Listener& listener, absl::Duration grace);

  // Every second, reports SERVING through grpc.health.v1 while the database answers and
  // NOT_SERVING while it does not, and follows admin-api-key (FollowAdminKey).
  void WatchHealth();

  storage::Store& store_;
  std::thread health_thread_;
  std::mutex health_mu_;
  std::condition_variable health_cv_;
  bool stopping_ = false;
  std::optional<bool> serving_;  // guarded by health_mu_, as is listener_
  const SettingsHolder& settings_;
  ChatLogic logic_;
  RpcRunner runner_;
  ChatService chat_;
  AccountService accounts_;
  Listener listener_;
  std::string host_;
  // serving_, as tchatator_core_database_up.
  Metrics::GaugeHandle database_up_gauge_;
};

}  // namespace tchatator::core

#endif  // TCHATATOR_CORE_SERVICE_CORE_SERVER_H_
