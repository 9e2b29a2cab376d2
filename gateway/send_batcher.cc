#include "gateway/send_batcher.h"

#include <algorithm>
#include <string>
#include <utility>

#include "common/log.h"
#include "common/strings.h"

namespace tchatator::gateway {
namespace {

int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

asio::awaitable<CallResult<v1::SendMessageResponse>> SendBatcher::Send(
    v1::SendMessageRequest request, const CallContext& call) {
  asio::any_io_executor executor = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable),
                                          void(CallResult<v1::SendMessageResponse>)>(
      [&](auto handler) {
        // std::function wants a copyable callback; Asio handlers are move-only.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        auto work = std::make_shared<asio::executor_work_guard<asio::any_io_executor>>(executor);
        Enqueue(Pending{call, std::move(request),
                        [shared, work](CallResult<v1::SendMessageResponse> result) {
                          // Back to the caller's executor: never resume on a gRPC thread.
                          asio::post(work->get_executor(),
                                     [shared, result = std::move(result)]() mutable {
                                       (*shared)(std::move(result));
                                     });
                        }});
      },
      asio::use_awaitable);
}

void SendBatcher::Enqueue(Pending pending) {
  std::lock_guard lock(mu_);
  queue_.push_back(std::move(pending));
  if (flush_posted_) return;
  flush_posted_ = true;
  // Posted, not run: the other connections made ready by the same poll send first.
  asio::post(executor_, [this] { Flush(); });
}

bool SendBatcher::BatchesOff() const { return SteadyNanos() < batches_off_until_.load(); }

void SendBatcher::Flush() {
  std::vector<Pending> gathered;
  {
    std::lock_guard lock(mu_);
    gathered.swap(queue_);
    flush_posted_ = false;
  }
  const bool one_by_one = BatchesOff();
  for (size_t begin = 0; begin < gathered.size(); begin += kMaxCalls) {
    const size_t end = std::min(gathered.size(), begin + kMaxCalls);
    if (end - begin == 1 || one_by_one) {
      for (size_t i = begin; i < end; ++i) SendOne(std::move(gathered[i]));
      continue;
    }
    std::vector<Pending> batch;
    batch.reserve(end - begin);
    for (size_t i = begin; i < end; ++i) batch.push_back(std::move(gathered[i]));
    SendBatch(std::move(batch));
  }
}

void SendBatcher::SendOne(Pending pending) {
  struct State {
    std::shared_ptr<CoreClient::Stub> stub;  // its channel stays open until the call ends
    grpc::ClientContext context;
    v1::SendMessageRequest request;
    v1::SendMessageResponse response;
    Done done;
  };
  auto state = std::make_shared<State>();
  state->stub = core_.stub();
  state->request = std::move(pending.request);
  state->done = std::move(pending.done);
  state->context.set_deadline(core_.Deadline(std::chrono::system_clock::now()));
  AddCallMetadata(pending.call, state->context);
  state->stub->async()->SendMessage(&state->context, &state->request, &state->response,
                                    [state](grpc::Status status) {
                                      state->done(ResultOf(std::move(status), state->context,
                                                           std::move(state->response)));
                                    });
}

void SendBatcher::SendBatch(std::vector<Pending> batch) {
  struct State {
    std::shared_ptr<CoreClient::Stub> stub;
    grpc::ClientContext context;
    v1::SendMessagesRequest request;
    v1::SendMessagesResponse response;
    std::vector<Pending> batch;  // the requests moved into `request`
  };
  auto state = std::make_shared<State>();
  state->stub = core_.stub();
  state->context.set_deadline(core_.Deadline(std::chrono::system_clock::now()));
  for (Pending& p : batch) {
    v1::SendMessageCall* call = state->request.add_calls();
    call->set_token(p.call.token);
    call->set_client_ip(p.call.client_ip);
    call->set_request_id(p.call.request_id);
    *call->mutable_request() = std::move(p.request);
  }
  state->batch = std::move(batch);
  batches_sent_.fetch_add(1);
  state->stub->async()->SendMessages(
      &state->context, &state->request, &state->response, [this, state](grpc::Status status) {
        std::vector<Pending>& gathered = state->batch;
        if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
          if (batches_off_until_.exchange(SteadyNanos() +
                                          std::chrono::nanoseconds(kRetryBatchesAfter).count()) == 0) {
            Log::Info("the core does not know SendMessages: SEND_MSG calls go one by one");
          }
          // Sent again from the event loop, where channels are picked up (CoreClient::stub).
          asio::post(executor_, [this, state] {
            for (int i = 0; i < state->request.calls_size(); ++i) {
              Pending& p = state->batch[static_cast<size_t>(i)];
              p.request = std::move(*state->request.mutable_calls(i)->mutable_request());
              SendOne(std::move(p));
            }
          });
          return;
        }
        if (status.ok() && state->response.outcomes_size() != static_cast<int>(gathered.size())) {
          status = grpc::Status(grpc::StatusCode::INTERNAL,
                                StrCat("the core answered ", state->response.outcomes_size(),
                                       " outcomes for ", gathered.size(), " calls"));
        }
        if (!status.ok()) {
          // The whole call failed (core unreachable, deadline): so does each send in it.
          for (Pending& p : gathered) {
            p.done(ResultOf(status, state->context, v1::SendMessageResponse()));
          }
          return;
        }
        for (size_t i = 0; i < gathered.size(); ++i) {
          v1::SendMessageOutcome& outcome = *state->response.mutable_outcomes(static_cast<int>(i));
          // A code gRPC does not define is no answer we can trust.
          const int code = outcome.code();
          CallResult<v1::SendMessageResponse> result{
              grpc::Status(code >= 0 && code <= grpc::StatusCode::UNAUTHENTICATED
                               ? static_cast<grpc::StatusCode>(code)
                               : grpc::StatusCode::UNKNOWN,
                           outcome.message()),
              std::move(*outcome.mutable_error()), std::move(*outcome.mutable_retry_after()),
              std::move(*outcome.mutable_until()), std::move(*outcome.mutable_response())};
          gathered[i].done(std::move(result));
        }
      });
}

}  // namespace tchatator::gateway
