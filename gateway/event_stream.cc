#include "gateway/event_stream.h"

#include <asio/async_result.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

namespace tchatator::gateway {

// One attempt: lives from StartCall to OnDone.
class EventStream::Reactor : public grpc::ClientReadReactor<v1::Change> {
 public:
  Reactor(std::shared_ptr<EventStream> owner, int64_t after_change_id)
      : owner_(std::move(owner)) {
    request_.set_after_change_id(after_change_id);
    if (!owner_->call_.token.empty()) {
      context_.AddMetadata("authorization", "Bearer " + owner_->call_.token);
    }
    if (!owner_->call_.client_ip.empty()) {
      context_.AddMetadata("x-client-ip", owner_->call_.client_ip);
    }
  }

  void Start() {
    owner_->stub_.async()->Subscribe(&context_, &request_, this);
    StartRead(&change_);
    StartCall();
  }

  void Cancel() { context_.TryCancel(); }

  void OnReadInitialMetadataDone(bool ok) override {
    if (ok && context_.GetServerInitialMetadata().count("tchatator-subscribed") > 0) {
      owner_->OnAccepted();
    }
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    owner_->OnChange(change_);
    StartRead(&change_);
  }

  void OnDone(const grpc::Status& status) override {
    const auto& trailers = context_.GetServerTrailingMetadata();
    auto it = trailers.find("tchatator-error");
    std::string token =
        it == trailers.end() ? std::string() : std::string(it->second.data(), it->second.size());
    owner_->OnEnded(status, std::move(token));
    delete this;
  }

 private:
  std::shared_ptr<EventStream> owner_;
  grpc::ClientContext context_;
  v1::SubscribeRequest request_;
  v1::Change change_;
};

EventStream::EventStream(v1::ChatService::Stub& stub, asio::any_io_executor executor,
                         CallContext call, std::function<void(const v1::Change&)> deliver)
    : stub_(stub),
      executor_(executor),
      call_(std::move(call)),
      deliver_(std::move(deliver)),
      retry_timer_(executor) {}

asio::awaitable<CallResult<bool>> EventStream::Open() {
  auto self = shared_from_this();
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(CallResult<bool>)>(
      [self](auto handler) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        {
          std::lock_guard lock(self->mu_);
          self->on_open_ = [shared, executor = self->executor_](CallResult<bool> result) {
            asio::post(executor, [shared, result = std::move(result)]() mutable {
              (*shared)(std::move(result));
            });
          };
        }
        self->Attempt();
      },
      asio::use_awaitable);
}

void EventStream::Attempt() {
  Reactor* reactor;
  {
    std::lock_guard lock(mu_);
    if (cancelled_) return;
    reactor_ = reactor = new Reactor(shared_from_this(), last_change_id_);
  }
  // Outside the lock: gRPC may call the reactor back before Start returns.
  reactor->Start();
}

void EventStream::OnAccepted() {
  std::function<void(CallResult<bool>)> done;
  {
    std::lock_guard lock(mu_);
    accepted_ = true;
    done = std::move(on_open_);
    on_open_ = nullptr;
  }
  if (done) done(CallResult<bool>{grpc::Status::OK, "", "", "", true});
}

void EventStream::OnChange(const v1::Change& change) {
  {
    std::lock_guard lock(mu_);
    if (cancelled_) return;
    last_change_id_ = change.change_id();
  }
  asio::post(executor_, [self = shared_from_this(), change] {
    if (!self->cancelled_) self->deliver_(change);
  });
}

void EventStream::OnEnded(const grpc::Status& status, std::string error_token) {
  std::function<void(CallResult<bool>)> refused;
  bool retry = false;
  {
    std::lock_guard lock(mu_);
    reactor_ = nullptr;
    if (on_open_) {
      refused = std::move(on_open_);
      on_open_ = nullptr;
    } else {
      // Only a core that went away is worth another try; a refused session is final.
      retry = accepted_ && !cancelled_ &&
              (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
               status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
    }
  }
  if (refused) {
    grpc::Status failure = status.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream ended")
                                       : status;
    refused(CallResult<bool>{failure, std::move(error_token), "", "", false});
    return;
  }
  if (!retry) return;
  // The core went away: try again from the last change we delivered.
  asio::post(executor_, [self = shared_from_this()] {
    self->retry_timer_.expires_after(std::chrono::seconds(1));
    self->retry_timer_.async_wait([self](const asio::error_code& ec) {
      if (!ec) self->Attempt();
    });
  });
}

void EventStream::Cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  if (reactor_ != nullptr) reactor_->Cancel();
  asio::post(executor_, [self = shared_from_this()] { self->retry_timer_.cancel(); });
}

}  // namespace tchatator::gateway
