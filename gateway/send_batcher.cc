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
  co_return co_await AwaitCallback<CallResult<v1::SendMessageResponse>>([&](Done done) {
    Enqueue(Pending{call, std::move(request), std::move(done)});
  });
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
  if (BatchesOff()) {
    for (Pending& p : gathered) SendOne(std::move(p));
    return;
  }
  std::vector<Pending> batch;
  size_t bytes = 0;
  auto send = [&] {
    if (batch.size() == 1) {
      SendOne(std::move(batch.front()));
    } else if (!batch.empty()) {
      SendBatch(std::move(batch));
    }
    batch.clear();
    bytes = 0;
  };
  for (Pending& p : gathered) {
    const size_t size = p.request.ByteSizeLong() + p.call.token.size() +
                        p.call.client_ip.size() + p.call.request_id.size();
    if (batch.size() == kMaxCalls || (!batch.empty() && bytes + size > kMaxBatchBytes)) send();
    bytes += size;
    batch.push_back(std::move(p));
  }
  send();
}

void SendBatcher::SendOne(Pending pending) {
  core_.Start<v1::SendMessageResponse>(
      [](auto* async, grpc::ClientContext* context, const v1::SendMessageRequest* request,
         v1::SendMessageResponse* response, std::function<void(grpc::Status)> callback) {
        async->SendMessage(context, request, response, std::move(callback));
      },
      std::move(pending.request), pending.call, std::move(pending.done));
}

void SendBatcher::SendBatch(std::vector<Pending> batch) {
  v1::SendMessagesRequest request;
  for (const Pending& p : batch) {
    v1::SendMessageCall* call = request.add_calls();
    call->set_token(p.call.token);
    call->set_client_ip(p.call.client_ip);
    call->set_request_id(p.call.request_id);
    // A copy: should the core not know SendMessages, each is sent again on its own.
    *call->mutable_request() = p.request;
  }
  batches_sent_.fetch_add(1);
  auto gathered = std::make_shared<std::vector<Pending>>(std::move(batch));
  // No metadata: each call carries its own.
  core_.Start<v1::SendMessagesResponse>(
      [](auto* async, grpc::ClientContext* context, const v1::SendMessagesRequest* r,
         v1::SendMessagesResponse* response, std::function<void(grpc::Status)> callback) {
        async->SendMessages(context, r, response, std::move(callback));
      },
      std::move(request), CallContext{},
      [this, gathered](CallResult<v1::SendMessagesResponse> result) {
        Answer(std::move(*gathered), std::move(result));
      });
}

void SendBatcher::Answer(std::vector<Pending> gathered,
                         CallResult<v1::SendMessagesResponse> result) {
  if (result.status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    if (batches_off_until_.exchange(SteadyNanos() +
                                    std::chrono::nanoseconds(kRetryBatchesAfter).count()) == 0) {
      Log::Info("the core does not know SendMessages: SEND_MSG calls go one by one");
    }
    // Sent again from the event loop, where channels are picked up (CoreClient::stub).
    asio::post(executor_, [this, gathered = std::make_shared<std::vector<Pending>>(
                                     std::move(gathered))] {
      for (Pending& p : *gathered) SendOne(std::move(p));
    });
    return;
  }
  if (result.status.ok() && result.response.outcomes_size() != static_cast<int>(gathered.size())) {
    result.status = grpc::Status(grpc::StatusCode::INTERNAL,
                                 StrCat("the core answered ", result.response.outcomes_size(),
                                        " outcomes for ", gathered.size(), " calls"));
  }
  if (!result.status.ok()) {
    // The whole call failed (core unreachable, deadline): so does each send in it.
    for (Pending& p : gathered) {
      p.done({result.status, result.error_token, result.retry_after, result.until, {}});
    }
    return;
  }
  for (size_t i = 0; i < gathered.size(); ++i) {
    v1::SendMessageOutcome& outcome = *result.response.mutable_outcomes(static_cast<int>(i));
    // A code gRPC does not define is no answer we can trust.
    const int code = outcome.code();
    gathered[i].done({grpc::Status(code >= 0 && code <= grpc::StatusCode::UNAUTHENTICATED
                                       ? static_cast<grpc::StatusCode>(code)
                                       : grpc::StatusCode::UNKNOWN,
                                   outcome.message()),
                      std::move(*outcome.mutable_error()), std::move(*outcome.mutable_retry_after()),
                      std::move(*outcome.mutable_until()), std::move(*outcome.mutable_response())});
  }
}

}  // namespace tchatator::gateway
