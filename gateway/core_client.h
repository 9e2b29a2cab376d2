#ifndef TCHATATOR_GATEWAY_CORE_CLIENT_H_
#define TCHATATOR_GATEWAY_CORE_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "common/settings.h"
#include "grpcpp/grpcpp.h"
#include "tchatator/v1/chat.grpc.pb.h"

namespace tchatator::gateway {

// What the gateway tells the core about a call, besides the request.
struct CallContext {
  std::string token;       // session token, sent as "authorization: Bearer <token>"
  std::string client_ip;   // for the core's logs
  std::string request_id;  // shared by the gateway's and the core's log lines
};

// The outcome of one RPC: the status and what the core said about a failure.
template <typename Response>
struct CallResult {
  grpc::Status status;
  std::string error_token;  // trailing `tchatator-error`, empty when none
  std::string retry_after;  // trailing `retry-after`
  std::string until;        // trailing `until`
  Response response;
};

// Opens the gateway's channel to the core-service at `target` (core-address). Calls are
// spread round-robin over every address the target resolves to (the replicas of a
// headless Service), and only over cores whose health service says the ChatService is
// SERVING: a core that lost its database gets no calls until it has it again. A core
// without a health service counts as serving. A restarted core is found within a second.
std::shared_ptr<grpc::Channel> OpenCoreChannel(const std::string& target);

// Adds the metadata of `call` to `context`: authorization, x-client-ip, x-request-id.
void AddCallMetadata(const CallContext& call, grpc::ClientContext& context);

// The result of an ended call: `status`, the core's trailing metadata in `context`, and
// `response`.
template <typename Response>
CallResult<Response> ResultOf(grpc::Status status, const grpc::ClientContext& context,
                              Response response) {
  CallResult<Response> result{std::move(status), "", "", "", std::move(response)};
  const auto& trailers = context.GetServerTrailingMetadata();
  auto get = [&trailers](const char* key) {
    auto it = trailers.find(key);
    return it == trailers.end() ? std::string() : std::string(it->second.data(), it->second.size());
  };
  result.error_token = get("tchatator-error");
  result.retry_after = get("retry-after");
  result.until = get("until");
  return result;
}

// Asynchronous calls to the core's ChatService, as Asio awaitables: the calling
// coroutine is suspended, never blocked, and resumed on its own executor. Every call has
// a deadline. Thread-safe.
//
// Built on a SettingsHolder, it follows the configuration in force: each call's deadline
// is core-timeout-ms as it is when the call starts, and ApplySettings (after a SIGHUP
// reload) moves to a new channel when core-address changed. A call or stream keeps the
// channel it started on until it ends; the old channel closes after its last call.
class CoreClient {
 public:
  using Stub = v1::ChatService::Stub;
  // Opens a channel to a gRPC target (core-address).
  using ChannelFactory = std::function<std::shared_ptr<grpc::Channel>(const std::string& target)>;

  // Follows `settings` (which must outlive the client); `make_channel` opens each channel,
  // the first one now, to the core-address in force.
  CoreClient(const SettingsHolder& settings, ChannelFactory make_channel);
  // A fixed channel and deadline (tests): ApplySettings does nothing.
  CoreClient(std::shared_ptr<grpc::Channel> channel, std::chrono::milliseconds timeout);

  template <typename Response, typename Request, typename Method>
  asio::awaitable<CallResult<Response>> Call(Method method, Request request,
                                             const CallContext& call);
  // As Call, without a coroutine: `done` runs once with the result, on a gRPC thread.
  template <typename Response, typename Request, typename Method>
  void Start(Method method, Request request, const CallContext& call,
             std::function<void(CallResult<Response>)> done);

  // The stub of the channel in force; holding it keeps that channel open (streams). Call
  // it on the gateway's event-loop threads: it also closes replaced channels that no call
  // uses any more (never on a gRPC thread, where closing a channel breaks gRPC).
  std::shared_ptr<Stub> stub();
  // The gRPC target of the channel in force.
  std::string target() const;

  // The deadline of a call that starts at `now`: now + core-timeout-ms in force.
  std::chrono::system_clock::time_point Deadline(std::chrono::system_clock::time_point now) const;

  // Opens a channel to the core-address in force when it differs from the current
  // channel's, then calls every switch listener (on the calling thread). Returns whether
  // it switched.
  bool ApplySettings();

  // `listener` is called after each channel switch, until removed by the returned id.
  uint64_t AddSwitchListener(std::function<void()> listener);
  void RemoveSwitchListener(uint64_t id);

 private:
  const SettingsHolder* const settings_;  // null: fixed channel and timeout
  const ChannelFactory make_channel_;
  const std::chrono::milliseconds fixed_timeout_;

  // A channel and its stub, kept here (after a switch) until no call or stream uses them.
  struct Channel {
    std::shared_ptr<grpc::Channel> channel;
    std::shared_ptr<Stub> stub;
  };
  // Takes out of retired_ the channels that only retired_ holds.
  std::vector<Channel> TakeUnusedLocked();

  mutable std::mutex mu_;
  std::string target_;
  std::shared_ptr<grpc::Channel> channel_;
  std::shared_ptr<Stub> stub_;
  std::vector<Channel> retired_;
  std::map<uint64_t, std::function<void()>> listeners_;
  uint64_t next_listener_ = 1;
};

// Runs `start(done)`, which must call `done(result)` once, from any thread, and resumes
// the calling coroutine with that result on its own executor (never on a gRPC thread).
template <typename Result, typename StartFn>
asio::awaitable<Result> AwaitCallback(StartFn start) {
  asio::any_io_executor executor = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(Result)>(
      [&](auto handler) {
        // std::function wants a copyable callback; Asio handlers are move-only.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        auto work = std::make_shared<asio::executor_work_guard<asio::any_io_executor>>(executor);
        start(std::function<void(Result)>([shared, work](Result result) {
          asio::post(work->get_executor(), [shared, result = std::move(result)]() mutable {
            (*shared)(std::move(result));
          });
        }));
      },
      asio::use_awaitable);
}

// `method(async_interface*, ClientContext*, const Request*, Response*, callback)` starts
// one RPC of the stub's async interface.
template <typename Response, typename Request, typename Method>
void CoreClient::Start(Method method, Request request, const CallContext& call,
                       std::function<void(CallResult<Response>)> done) {
  struct State {
    std::shared_ptr<Stub> stub;  // the channel this call runs on, open until it ends
    grpc::ClientContext context;
    Request request;
    Response response;
    std::function<void(CallResult<Response>)> done;
  };
  auto state = std::make_shared<State>();
  state->stub = stub();
  state->request = std::move(request);
  state->done = std::move(done);
  state->context.set_deadline(Deadline(std::chrono::system_clock::now()));
  AddCallMetadata(call, state->context);
  method(state->stub->async(), &state->context, &state->request, &state->response,
         [state](grpc::Status status) {
           state->done(ResultOf(std::move(status), state->context, std::move(state->response)));
         });
}

template <typename Response, typename Request, typename Method>
asio::awaitable<CallResult<Response>> CoreClient::Call(Method method, Request request,
                                                       const CallContext& call) {
  co_return co_await AwaitCallback<CallResult<Response>>(
      [&](std::function<void(CallResult<Response>)> done) {
        Start<Response>(method, std::move(request), call, std::move(done));
      });
}

}  // namespace tchatator::gateway

#endif  // TCHATATOR_GATEWAY_CORE_CLIENT_H_
