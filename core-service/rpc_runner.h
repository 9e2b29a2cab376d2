#ifndef TCHATATOR_CORE_SERVICE_RPC_RUNNER_H_
#define TCHATATOR_CORE_SERVICE_RPC_RUNNER_H_

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include <asio/post.hpp>
#include <asio/thread_pool.hpp>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/strings.h"
#include "common/log.h"
#include "core-service/errors.h"
#include "grpcpp/grpcpp.h"

namespace tchatator::core {

// Metadata the gateway adds so that the core's logs name the end client.
inline constexpr char kClientIpKey[] = "x-client-ip";
inline constexpr char kRequestIdKey[] = "x-request-id";

// `value` made one short printable line for the logs: at most 128 bytes, control
// characters as '?'.
std::string PrintableLine(std::string_view value);

// `value` if it is an IP address (IPv4, or IPv6 with an optional %zone of letters,
// digits and . _ -), else empty. What a caller claims reaches the logs, where a space could
// forge a field ("ip=1.2.3.4 user=admin").
std::string IpAddressIn(std::string_view value);

// `value` if it is a request id (1 to 128 letters, digits and . _ : -), else empty.
std::string RequestIdIn(std::string_view value);

// The value of metadata `key` sent by the client (PrintableLine), or empty.
std::string ClientMetadata(const grpc::ServerContextBase& context, std::string_view key);

// The end client's IP: what the gateway says (x-client-ip, when an IP address), else
// PeerIp. The gRPC port is for trusted backends only: it is not published.
std::string ClientIp(const grpc::ServerContextBase& context);

// The caller's own address, without its port, whatever metadata it sends.
std::string PeerIp(const grpc::ServerContextBase& context);

// The secret of an "authorization: Bearer <secret>" header, or empty.
std::string BearerToken(const grpc::ServerContextBase& context);

// `t` as an absl::Time; the far future for "no deadline" (time_point::max()).
absl::Time FromSystemTime(std::chrono::system_clock::time_point t);

// When a call's transaction must have committed (a take, a deletion, a new key):
// shortly before the caller's deadline (a tenth of the time left, 100 ms at most), so
// that a caller that gives up at its deadline has, as a rule, not been answered
// DEADLINE_EXCEEDED for something that then commits. The far future without deadline.
absl::Time CommitBy(const grpc::ServerContextBase& context);

// Runs unary RPC bodies on a worker pool, so that database work never blocks gRPC's
// callback threads, then finishes the call and logs one line for it. The workers also
// lead the database batches of asynchronous calls (storage::Store::SetExecutor).
class RpcRunner {
 public:
  // Bodies that may run at once per database connection: a body mostly waits, for a
  // connection or for a look-up batch that carries the calls of other bodies too
  // (storage::PgStore); with one body per connection, such batches would stay small.
  // Sends take no worker while they wait (asynchronous), so few are needed: with 2 (16
  // workers for the default pool) rather than 8, each task more often finds a thread
  // still warm, and the bench's 64-connection SEND_MSG ran 4 to 11 % faster with 10 to
  // 15 % less core CPU per send, the mix 7 to 20 % faster (tests/bench/ab, 3 rounds).
  static constexpr size_t kBodiesPerConnection = 2;
  static constexpr size_t kMaxWorkers = 512;

  // `connections`: the database connections the bodies share.
  explicit RpcRunner(size_t connections)
      : pool_(std::min(kMaxWorkers, std::max<size_t>(1, connections) * kBodiesPerConnection)) {}
  ~RpcRunner() { pool_.join(); }

  // Posts `body` (returning absl::Status; it fills the response) and returns the
  // reactor that gRPC expects. `user` is filled by the body once it knows the caller.
  template <typename Body>
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* context, std::string_view method,
                                Body body) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    asio::post(pool_, [context, reactor, method, body = std::move(body)]() mutable {
      std::string user;
      const absl::Status status = body(user);
      Finish(context, reactor, method, user, status);
    });
    return reactor;
  }

  // Ends a call whose body never blocks: `body(finish)` runs on this (gRPC) thread and
  // arranges for `finish(user, status)` to be called once, from any thread, when the
  // response is filled.
  using Finisher = std::function<void(const std::string& user, const absl::Status& status)>;
  template <typename Body>
  grpc::ServerUnaryReactor* RunAsync(grpc::CallbackServerContext* context,
                                     std::string_view method, Body body) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    body(Finisher([context, reactor, method](const std::string& user, const absl::Status& status) {
      Finish(context, reactor, method, user, status);
    }));
    return reactor;
  }

  // Runs `task` on a worker.
  void Post(std::function<void()> task) { asio::post(pool_, std::move(task)); }

  // The workers, for timers whose handlers run there.
  asio::thread_pool::executor_type Executor() { return pool_.get_executor(); }

  // Waits for every posted body to finish.
  void Join() { pool_.join(); }

  // Logs the one line of a call: method, status, token and message of a failure, request.
  static void LogCall(std::string_view method, const std::string& user, const std::string& ip,
                      const std::string& request_id, const absl::Status& status);

 private:
  // Logs one line for the call and finishes it with `status`.
  static void Finish(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
                     std::string_view method, const std::string& user,
                     const absl::Status& status);

  asio::thread_pool pool_;
};

}  // namespace tchatator::core

#endif  // TCHATATOR_CORE_SERVICE_RPC_RUNNER_H_
