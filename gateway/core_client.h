#ifndef TCHATATOR_GATEWAY_CORE_CLIENT_H_
#define TCHATATOR_GATEWAY_CORE_CLIENT_H_

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

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

// Asynchronous calls to the core's ChatService, as Asio awaitables: the calling
// coroutine is suspended, never blocked, and resumed on its own executor. Every call has
// a deadline. Thread-safe.
class CoreClient {
 public:
  CoreClient(std::shared_ptr<grpc::Channel> channel, std::chrono::milliseconds timeout)
      : stub_(v1::ChatService::NewStub(std::move(channel))), timeout_(timeout) {}

  template <typename Response, typename Request, typename Method>
  asio::awaitable<CallResult<Response>> Call(Method method, Request request,
                                             const CallContext& call);

  // For streams (EventStream).
  v1::ChatService::Stub& stub() { return *stub_; }

 private:
  std::unique_ptr<v1::ChatService::Stub> stub_;
  std::chrono::milliseconds timeout_;
};

// Calls `method(async_interface*, ClientContext*, const Request*, Response*, callback)`,
// which starts one RPC of the stub's async interface.
template <typename Response, typename Request, typename Method>
asio::awaitable<CallResult<Response>> CoreClient::Call(Method method, Request request,
                                                       const CallContext& call) {
  struct State {
    grpc::ClientContext context;
    Request request;
    Response response;
  };
  auto state = std::make_shared<State>();
  state->request = std::move(request);
  state->context.set_deadline(std::chrono::system_clock::now() + timeout_);
  if (!call.token.empty()) state->context.AddMetadata("authorization", "Bearer " + call.token);
  if (!call.client_ip.empty()) state->context.AddMetadata("x-client-ip", call.client_ip);
  if (!call.request_id.empty()) state->context.AddMetadata("x-request-id", call.request_id);

  asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto* async = stub_->async();
  grpc::Status status = co_await asio::async_initiate<decltype(asio::use_awaitable),
                                                      void(grpc::Status)>(
      [&](auto handler) {
        // gRPC wants a copyable callback; Asio handlers are move-only.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        auto work = std::make_shared<asio::executor_work_guard<asio::any_io_executor>>(executor);
        method(async, &state->context, &state->request, &state->response,
               [shared, work, state](grpc::Status s) {
                           // Back to the coroutine's executor: never resume on a gRPC thread.
                           asio::post(work->get_executor(), [shared, s]() mutable {
                             (*shared)(std::move(s));
                           });
                         });
      },
      asio::use_awaitable);

  CallResult<Response> result{std::move(status), "", "", "", std::move(state->response)};
  const auto& trailers = state->context.GetServerTrailingMetadata();
  auto get = [&trailers](const char* key) {
    auto it = trailers.find(key);
    return it == trailers.end() ? std::string() : std::string(it->second.data(), it->second.size());
  };
  result.error_token = get("tchatator-error");
  result.retry_after = get("retry-after");
  result.until = get("until");
  co_return result;
}

}  // namespace tchatator::gateway

#endif  // TCHATATOR_GATEWAY_CORE_CLIENT_H_
