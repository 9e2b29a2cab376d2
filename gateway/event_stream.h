#ifndef TCHATATOR_GATEWAY_EVENT_STREAM_H_
#define TCHATATOR_GATEWAY_EVENT_STREAM_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include "gateway/core_client.h"
#include "tchatator/v1/chat.grpc.pb.h"

namespace tchatator::gateway {

// A connection's live events: a ChatService.Subscribe stream whose changes are handed,
// in order, to `deliver` on `executor`. If the stream breaks after it was accepted
// (core restart), it is reopened after a second from the last change received, so no
// committed change is skipped. Thread-safe; Cancel before dropping the last reference.
class EventStream : public std::enable_shared_from_this<EventStream> {
 public:
  EventStream(v1::ChatService::Stub& stub, asio::any_io_executor executor, CallContext call,
              std::function<void(const v1::Change&)> deliver);

  // Opens the stream; completes with OK once the core accepted the session, or with the
  // refusal (its token in `error_token`).
  asio::awaitable<CallResult<bool>> Open();

  // Ends the stream for good.
  void Cancel();

 private:
  class Reactor;
  void Attempt();
  void OnAccepted();
  void OnChange(const v1::Change& change);
  void OnEnded(const grpc::Status& status, std::string error_token);

  v1::ChatService::Stub& stub_;
  asio::any_io_executor executor_;
  const CallContext call_;
  const std::function<void(const v1::Change&)> deliver_;
  asio::steady_timer retry_timer_;

  std::mutex mu_;
  Reactor* reactor_ = nullptr;  // the attempt under way, if any
  int64_t last_change_id_ = 0;
  bool accepted_ = false;
  std::atomic<bool> cancelled_ = false;
  std::function<void(CallResult<bool>)> on_open_;  // until the first attempt settles
};

}  // namespace tchatator::gateway

#endif  // TCHATATOR_GATEWAY_EVENT_STREAM_H_
