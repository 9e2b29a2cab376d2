#include "gateway/event_stream.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include <asio/async_result.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

namespace tchatator::gateway {

// One attempt: lives from StartCall to OnDone.
class EventStream::Reactor : public grpc::ClientReadReactor<v1::Change> {
 public:
  Reactor(std::shared_ptr<EventStream> owner, int64_t after_change_id, bool resume)
      : owner_(std::move(owner)), stub_(owner_->core_.stub()) {
    request_.set_after_change_id(after_change_id);
    request_.set_check_only(!owner_->deliver_);
    // Tells the core that after_change_id 0 means "after change 0", not "from now on".
    if (resume) context_.AddMetadata("tchatator-resume", "1");
    if (!owner_->call_.token.empty()) {
      context_.AddMetadata("authorization", "Bearer " + owner_->call_.token);
    }
    if (!owner_->call_.client_ip.empty()) {
      context_.AddMetadata("x-client-ip", owner_->call_.client_ip);
    }
  }

  void Start() {
    stub_->async()->Subscribe(&context_, &request_, this);
    // The reads after a pause start outside the reactions (ReadOn): one hold for the
    // flow of reads, as gRPC asks, before StartCall; released when no read will follow.
    AddHold();
    StartRead(&change_);
    StartCall();
  }

  void Cancel() { context_.TryCancel(); }

  // After a pause: reads on, or (Release) reads no more and lets the call finish.
  void ReadOn() { StartRead(&change_); }
  void Release() { RemoveHold(); }

  void OnReadInitialMetadataDone(bool ok) override {
    if (!ok) return;
    const auto& metadata = context_.GetServerInitialMetadata();
    if (metadata.count("tchatator-subscribed") == 0) return;
    auto number = [&metadata](const char* key) {
      int64_t n = 0;
      if (auto it = metadata.find(key); it != metadata.end()) {
        std::from_chars(it->second.data(), it->second.data() + it->second.size(), n);
      }
      return n;
    };
    owner_->OnAccepted(number("tchatator-after-change-id"), number("tchatator-user-id"));
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      RemoveHold();  // no read follows: OnDone comes
      return;
    }
    // The next read waits for the delivery (ReadOn), or for Cancel (Release).
    owner_->OnChange(change_, this);
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
  std::shared_ptr<CoreClient::Stub> stub_;  // the channel of this attempt
  grpc::ClientContext context_;
  v1::SubscribeRequest request_;
  v1::Change change_;
};

EventStream::EventStream(CoreClient& core, asio::any_io_executor executor, CallContext call,
                         Deliver deliver, std::optional<int64_t> after_change_id)
    : core_(core),
      executor_(executor),
      call_(std::move(call)),
      deliver_(std::move(deliver)),
      retry_timer_(executor),
      last_change_id_(after_change_id.value_or(0)),
      started_after_change_id_(last_change_id_),
      resume_(after_change_id.has_value()) {}

int64_t EventStream::started_after_change_id() {
  std::lock_guard lock(mu_);
  return started_after_change_id_;
}

asio::awaitable<CallResult<bool>> EventStream::Open() {
  // `self` keeps the stream alive across the wait. The initiation captures a raw
  // pointer only: GCC 12 may destroy the temporaries of a co_await expression twice
  // (a captured shared_ptr was released twice, freeing the stream under its owner).
  const std::shared_ptr<EventStream> self = shared_from_this();
  EventStream* stream = this;
  CallResult<bool> result =
      co_await asio::async_initiate<decltype(asio::use_awaitable), void(CallResult<bool>)>(
          [stream](auto handler) {
            auto shared = std::make_shared<decltype(handler)>(std::move(handler));
            {
              std::lock_guard lock(stream->mu_);
              stream->on_open_ = [shared, executor = stream->executor_](CallResult<bool> r) {
                asio::post(executor, [shared, r = std::move(r)]() mutable {
                  (*shared)(std::move(r));
                });
              };
            }
            stream->Attempt();
          },
          asio::use_awaitable);
  co_return result;
}

void EventStream::Attempt() {
  Reactor* reactor;
  {
    std::lock_guard lock(mu_);
    if (cancelled_) return;
    reactor_ = reactor = new Reactor(shared_from_this(), last_change_id_, accepted_ || resume_);
  }
  // Outside the lock: gRPC may call the reactor back before Start returns.
  reactor->Start();
}

void EventStream::OnAccepted(int64_t start_change_id, int64_t user_id) {
  if (user_id != 0) user_id_.store(user_id);
  std::function<void(CallResult<bool>)> done;
  bool listen = false;
  {
    std::lock_guard lock(mu_);
    listen = !accepted_ && !cancelled_;
    accepted_ = true;
    // Changes already received are after the start; keep the later of the two.
    last_change_id_ = std::max(last_change_id_, start_change_id);
    started_after_change_id_ = std::max(started_after_change_id_, start_change_id);
    done = std::move(on_open_);
    on_open_ = nullptr;
  }
  if (listen) {
    // Outside mu_: ApplySettings calls listeners under no lock of ours.
    std::weak_ptr<EventStream> weak = weak_from_this();
    const uint64_t id = core_.AddSwitchListener([weak] {
      if (auto self = weak.lock()) self->OnChannelSwitched();
    });
    bool cancelled;
    {
      std::lock_guard lock(mu_);
      cancelled = cancelled_;
      if (!cancelled) listener_id_ = id;
    }
    if (cancelled) core_.RemoveSwitchListener(id);
  }
  if (done) done(CallResult<bool>{grpc::Status::OK, "", "", "", true});
}

void EventStream::OnChannelSwitched() {
  std::lock_guard lock(mu_);
  // Without an attempt under way, the next one (retry timer) takes the new channel.
  if (cancelled_ || reactor_ == nullptr) return;
  switching_ = true;
  reactor_->Cancel();
}

void EventStream::OnChange(const v1::Change& change, Reactor* reactor) {
  uint64_t pause = 0;
  {
    std::lock_guard lock(mu_);
    if (!cancelled_) {
      last_change_id_ = change.change_id();
      paused_ = reactor;
      pause = ++pauses_;
    }
  }
  if (pause == 0) {
    reactor->Release();
    return;
  }
  asio::post(executor_, [self = shared_from_this(), change, pause] {
    if (self->cancelled_) return;  // Cancel released the pause
    // A core of an earlier release streams changes even to a check.
    if (!self->deliver_) {
      self->Resume(pause);
      return;
    }
    self->deliver_(change, [weak = self->weak_from_this(), pause] {
      if (auto stream = weak.lock()) stream->Resume(pause);
    });
  });
}

void EventStream::Resume(uint64_t pause) {
  Reactor* reactor = nullptr;
  {
    std::lock_guard lock(mu_);
    if (paused_ == nullptr || pauses_ != pause) return;
    reactor = std::exchange(paused_, nullptr);
  }
  // Outside the lock: gRPC may call the reactor back before ReadOn returns.
  reactor->ReadOn();
}

void EventStream::OnEnded(const grpc::Status& status, std::string error_token) {
  std::function<void(CallResult<bool>)> refused;
  bool retry = false;
  bool switched = false;
  {
    std::lock_guard lock(mu_);
    reactor_ = nullptr;
    switched = switching_;
    switching_ = false;
    if (on_open_) {
      refused = std::move(on_open_);
      on_open_ = nullptr;
    } else {
      // Only a core that went away is worth another try; a refused session is final.
      retry = accepted_ && !cancelled_ &&
              (switched || status.error_code() == grpc::StatusCode::UNAVAILABLE ||
               status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
      if (!retry) ended_ = true;
    }
  }
  if (refused) {
    grpc::Status failure = status.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream ended")
                                       : status;
    refused(CallResult<bool>{failure, std::move(error_token), "", "", false});
    return;
  }
  if (!retry) return;
  if (switched) {
    // Not a failure: reopen on the new channel without waiting.
    asio::post(executor_, [self = shared_from_this()] { self->Attempt(); });
    return;
  }
  // The core went away: try again from the last change we delivered.
  asio::post(executor_, [self = shared_from_this()] {
    self->retry_timer_.expires_after(std::chrono::seconds(1));
    self->retry_timer_.async_wait([self](const asio::error_code& ec) {
      if (!ec) self->Attempt();
    });
  });
}

void EventStream::Cancel() {
  uint64_t listener_id = 0;
  Reactor* paused = nullptr;
  {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    ended_ = true;
    if (reactor_ != nullptr) reactor_->Cancel();
    paused = std::exchange(paused_, nullptr);
    listener_id = listener_id_;
    listener_id_ = 0;
    asio::post(executor_, [self = shared_from_this()] { self->retry_timer_.cancel(); });
  }
  if (paused != nullptr) paused->Release();
  if (listener_id != 0) core_.RemoveSwitchListener(listener_id);
}

}  // namespace tchatator::gateway
