#include "core-service/core_server.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <future>
#include <utility>
#include <vector>

#include "common/strings.h"
#include "common/log.h"
#include "grpc/grpc.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/support/server_interceptor.h"

namespace tchatator::core {
namespace {

// Keeps the registry of open streams: a stream is registered when its call starts and
// removed when it sends its status (the call is still alive then, so the registry never
// holds a context being destroyed).
class StreamInterceptor final : public grpc::experimental::Interceptor {
 public:
  StreamInterceptor(grpc::experimental::ServerRpcInfo* info, CoreServer::OpenStreams& streams)
      : streams_(streams), context_(info->server_context()) {
    streams_.Add(context_);
  }
  ~StreamInterceptor() override { streams_.Remove(context_); }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      streams_.Remove(context_);
    }
    methods->Proceed();
  }

 private:
  CoreServer::OpenStreams& streams_;
  grpc::ServerContextBase* const context_;
};

class StreamInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit StreamInterceptorFactory(CoreServer::OpenStreams& streams) : streams_(streams) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    if (info->type() != grpc::experimental::ServerRpcInfo::Type::SERVER_STREAMING &&
        info->type() != grpc::experimental::ServerRpcInfo::Type::BIDI_STREAMING) {
      return nullptr;  // unary calls end by themselves
    }
    return new StreamInterceptor(info, streams_);
  }

 private:
  CoreServer::OpenStreams& streams_;
};

constexpr char kShuttingDown[] = "tchatator-core is shutting down";

// Ends a stream with UNAVAILABLE, not the CANCELLED of TryCancel(): a gateway reopens a
// stream that ended UNAVAILABLE (on another core, or this one once restarted) but takes
// CANCELLED as final.
void Cancel(grpc::ServerContextBase* context, const char* why) {
  if (context->c_call() == nullptr) {
    context->TryCancel();  // not bound to its call yet (not seen in practice)
    return;
  }
  grpc_call_cancel_with_status(context->c_call(), GRPC_STATUS_UNAVAILABLE, why, nullptr);
}

}  // namespace

void CoreServer::OpenStreams::Add(grpc::ServerContextBase* context) {
  std::lock_guard lock(mu_);
  if (cancelling_) {
    Cancel(context, kShuttingDown);
    return;
  }
  contexts_.insert(context);
}

void CoreServer::OpenStreams::Remove(grpc::ServerContextBase* context) {
  std::lock_guard lock(mu_);
  contexts_.erase(context);
}

void CoreServer::OpenStreams::CancelAll() {
  std::lock_guard lock(mu_);
  cancelling_ = true;
  EndOpen(kShuttingDown);
}

void CoreServer::OpenStreams::EndOpen(const char* why) {
  // Held throughout: a registered context stays alive until Remove() returns.
  std::lock_guard lock(mu_);
  const std::set<grpc::ServerContextBase*> open = contexts_;
  for (grpc::ServerContextBase* context : open) {
    if (contexts_.contains(context)) Cancel(context, why);
  }
}

CoreServer::CoreServer(storage::Store& store, const Clock& clock,
                       const SettingsHolder& settings, ChangeFeed* feed)
    : store_(store),
      settings_(settings),
      logic_(store, clock, settings),
      // Several request bodies per database connection, so that batches can fill.
      runner_(static_cast<size_t>(settings.Get()->database_pool_size)),
      chat_(logic_, runner_, feed),
      accounts_(logic_, runner_) {
  // The asynchronous calls' batches run on the workers too.
  store_.SetExecutor([this](std::function<void()> task) { runner_.Post(std::move(task)); });
  database_up_gauge_ = Metrics::Global().AddGauge(
      "tchatator_core_database_up",
      "1 while the core's last check (every second) found its database answering, else 0.",
      [this] {
        std::lock_guard lock(health_mu_);
        return serving_.value_or(false) ? 1.0 : 0.0;
      });
}

CoreServer::~CoreServer() {
  Shutdown(absl::Seconds(5));
  store_.SetExecutor(nullptr);
}

namespace {

// gRPC binds with SO_REUSEPORT, so it would share, silently, a port that another
// process (a core left running) listens on with it too. A socket without it cannot
// bind there: AlreadyExists if one cannot; OK otherwise, and when `host` does not
// resolve (gRPC reports that).
absl::Status CheckPortFree(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), StrCat(port).c_str(), &hints, &found) != 0) {
    return absl::OkStatus();
  }
  bool in_use = false;
  for (addrinfo* a = found; a != nullptr && !in_use; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int on = 1;
    // Connections of an earlier run in TIME_WAIT are no listener.
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    in_use = bind(fd, a->ai_addr, a->ai_addrlen) != 0 && errno == EADDRINUSE;
    close(fd);
  }
  freeaddrinfo(found);
  if (in_use) {
    return absl::AlreadyExistsError(
        StrCat("cannot listen on ", HostPort(host, port), ": address already in use"));
  }
  return absl::OkStatus();
}

// The health of the whole server ("") and of each of its services by name.
void SetHealth(grpc::Server& server, bool serving) {
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  health->SetServingStatus(serving);
  for (const char* service :
       {v1::ChatService::service_full_name(), v1::AccountService::service_full_name()}) {
    health->SetServingStatus(service, serving);
  }
}

}  // namespace

absl::StatusOr<CoreServer::Listener> CoreServer::Listen(const std::string& address) {
  Listener listener;
  listener.streams = std::make_unique<OpenStreams>();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &listener.port);
  builder.RegisterService(&chat_);
  builder.RegisterService(&accounts_);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(std::make_unique<StreamInterceptorFactory>(*listener.streams));
  builder.experimental().SetInterceptorCreators(std::move(creators));
  listener.server = builder.BuildAndStart();
  if (listener.server == nullptr || listener.port == 0) {
    return absl::UnavailableError(StrCat("cannot listen on ", address));
  }
  return listener;
}

absl::StatusOr<int> CoreServer::Start(const std::string& host, int port) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  if (port != 0) {
    if (absl::Status free = CheckPortFree(host, port); !free.ok()) return free;
  }
  // Sessions opened under a key replaced while no core ran end before any call is served.
  if (absl::Status followed = FollowAdminKey(); !followed.ok()) {
    Log::Info(StrCat("admin-api-key: cannot check the built-in administrator yet: ",
                     followed.message()));
  }
  absl::StatusOr<Listener> listener = Listen(HostPort(host, port));
  if (!listener.ok()) return listener.status();
  listener_ = *std::move(listener);
  // Until the database has answered, as the whole server is by default.
  SetHealth(*listener_.server, true);
  host_ = host;
  health_thread_ = std::thread([this] { WatchHealth(); });
  return listener_.port;
}

absl::Status CoreServer::Rebind(const std::string& host) {
  if (listener_.server == nullptr || host == host_) return absl::OkStatus();
  // The old server still listens: gRPC binds with SO_REUSEPORT, so the new address may
  // cover the old one (0.0.0.0 and 127.0.0.1) on the same port.
  absl::StatusOr<Listener> next = Listen(HostPort(host, listener_.port));
  if (!next.ok()) return next.status();
  Listener old;
  {
    std::lock_guard lock(health_mu_);
    if (serving_.has_value()) SetHealth(*next->server, *serving_);
    old = std::exchange(listener_, *std::move(next));
  }
  host_ = host;
  Log::Info(StrCat("listening on ", HostPort(host_, listener_.port),
                   "; the previous address closes once its calls have ended"));
  Stop(old, absl::Seconds(10));
  return absl::OkStatus();
}

void CoreServer::WatchHealth() {
  std::unique_lock lock(health_mu_);
  while (!stopping_) {
    lock.unlock();
    const absl::Status ping = store_.Ping();
    lock.lock();
    if (stopping_) break;
    const bool serving = ping.ok();
    if (serving_ != serving) {
      SetHealth(*listener_.server, serving);
      Log::Info(serving ? std::string("health: SERVING")
                        : StrCat("health: NOT_SERVING: ", ping.message()));
      // Its live streams could deliver nothing until the database is back: ended
      // UNAVAILABLE, they reopen (from where they were) on a core that has its database,
      // or here once this one has it again.
      if (!serving) listener_.streams->EndOpen("tchatator-core lost its database");
      serving_ = serving;
    }
    if (serving) {
      // After the health, which must not wait on this: a reload's new admin-api-key, a
      // row moved back by a LOGIN with the old key, a check that failed meanwhile.
      lock.unlock();
      FollowAdminKey().IgnoreError();
      lock.lock();
      if (stopping_) break;
    }
    health_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
  }
}

void CoreServer::Stop(Listener& listener, absl::Duration grace) {
  // Shutdown() returns once every call has ended: unary calls end once answered, but a
  // stream only when cancelled, which Shutdown() does only at the deadline. So the
  // streams are cancelled now (a gateway reopens its stream a second later, when the
  // port is closed), and any accepted meanwhile as soon as it starts.
  const auto deadline = std::chrono::system_clock::now() + absl::ToChronoSeconds(grace);
  grpc::Server* server = listener.server.get();
  std::future<void> shut =
      std::async(std::launch::async, [server, deadline] { server->Shutdown(deadline); });
  listener.streams->CancelAll();
  shut.get();
  server->Wait();
  listener.server.reset();
}

void CoreServer::Shutdown(absl::Duration grace) {
  if (listener_.server == nullptr) return;
  {
    std::lock_guard lock(health_mu_);
    stopping_ = true;
  }
  health_cv_.notify_all();
  if (health_thread_.joinable()) health_thread_.join();
  Stop(listener_, grace);
  runner_.Join();
}

}  // namespace tchatator::core
