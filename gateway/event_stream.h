#ifndef TCHATATOR_GATEWAY_EVENT_STREAM_H_
#define TCHATATOR_GATEWAY_EVENT_STREAM_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include "gateway/core_client.h"
#include "tchatator/v1/chat.grpc.pb.h"

namespace tchatator::gateway {

// A connection's live events: a ChatService.Subscribe stream whose changes are handed,
// in order, to `deliver` on `executor`, one at a time: `deliver` calls its `more` once it
// can take the next change (at once, or once the connection's backlog has drained), and
// until then the stream reads nothing more, so the rest stays in the core, unread. If the stream breaks after it was accepted
// (core restart), it is reopened after a second from the last change received (before
// any, from the change the core started after, sent in its initial metadata), so no
// committed change is skipped. Each attempt runs on the channel `core` has in force when
// it starts; when `core` switches channel (core-address reloaded), an accepted stream is
// reopened at once on the new one, from the last change received. Without `deliver`,
// the stream only checks the session (SubscribeRequest.check_only): Open says whether
// the core accepts it and user_id() whose it is, and the core takes no change (a core
// of an earlier release, which ignores check_only, streams changes until Cancel; they
// are dropped). Thread-safe; Cancel before dropping the last reference, and when
// `deliver` drops a `more` without calling it (the stream waits for it until then).
class EventStream : public std::enable_shared_from_this<EventStream> {
 public:
  using Deliver = std::function<void(const v1::Change& change, std::function<void()> more)>;

  // `core` must outlive the stream's Cancel. With `after_change_id`, the stream starts
  // after that change, as one resumed (SubscribeRequest.after_change_id), instead of from
  // now on.
  EventStream(CoreClient& core, asio::any_io_executor executor, CallContext call,
              Deliver deliver, std::optional<int64_t> after_change_id = std::nullopt);

  // Opens the stream; completes with OK once the core accepted the session, or with the
  // refusal (its token in `error_token`).
  asio::awaitable<CallResult<bool>> Open();

  // Ends the stream for good.
  void Cancel();

  // The user whose events these are, as the core said when it accepted the stream (0
  // before, or if it did not say).
  int64_t user_id() const { return user_id_.load(); }

  // Whether the stream has ended for good after it was accepted: any end but the core
  // going away (the session ended, the user was banned, Cancel...). It delivers nothing
  // more and is not reopened.
  bool ended() const { return ended_.load(); }

  // The session whose token the stream carries.
  const std::string& token() const { return call_.token; }

  // The change the stream started after (the core's initial metadata, or
  // `after_change_id`): a stream opened after it, or after a later change this one
  // delivered, misses nothing this one would have delivered.
  int64_t started_after_change_id();

 private:
  class Reactor;
  void Attempt();
  // The core accepted an attempt that starts after change `start_change_id`.
  void OnAccepted(int64_t start_change_id, int64_t user_id);
  // `reactor` read `change` and holds its call open until Resume or Cancel.
  void OnChange(const v1::Change& change, Reactor* reactor);
  // The delivery of the change read in pause `pause` is done: read the next one.
  void Resume(uint64_t pause);
  void OnEnded(const grpc::Status& status, std::string error_token);
  // The core client moved to another channel: end the attempt on the old one.
  void OnChannelSwitched();

  CoreClient& core_;
  asio::any_io_executor executor_;
  const CallContext call_;
  const Deliver deliver_;
  asio::steady_timer retry_timer_;

  std::mutex mu_;
  Reactor* reactor_ = nullptr;  // the attempt under way, if any
  Reactor* paused_ = nullptr;   // the attempt waiting for a delivery to read on, if any
  uint64_t pauses_ = 0;         // pauses so far: tells a late `more` from the current one
  int64_t last_change_id_ = 0;
  int64_t started_after_change_id_ = 0;
  bool resume_ = false;  // the first attempt resumes after last_change_id_
  bool accepted_ = false;
  bool switching_ = false;    // reactor_ is being cancelled to move to a new channel
  uint64_t listener_id_ = 0;  // of the switch listener, once accepted
  std::atomic<bool> cancelled_ = false;
  std::atomic<bool> ended_ = false;
  std::atomic<int64_t> user_id_ = 0;
  std::function<void(CallResult<bool>)> on_open_;  // until the first attempt settles
};

}  // namespace tchatator::gateway

#endif  // TCHATATOR_GATEWAY_EVENT_STREAM_H_
