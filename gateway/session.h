#ifndef TCHATATOR_GATEWAY_SESSION_H_
#define TCHATATOR_GATEWAY_SESSION_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "common/settings.h"
#include "gateway/dispatcher.h"
#include "gateway/request_parser.h"

namespace tchatator::gateway {

// One client connection: reads bytes, frames requests with the parser, serves them one
// at a time in order through the dispatcher, and writes the answers through a bounded
// queue. Enforces the idle, login and request timeouts. Lives as long as its pending
// operations. An idle connection holds no coroutine: a wait for input and a timer, each
// with a completion handler; a coroutine exists only while a request is served, and
// answers are written at once, waiting only when the socket's buffer is full.
class Session : public std::enable_shared_from_this<Session> {
 public:
  // `on_close` runs once, when the connection is closed.
  Session(asio::ip::tcp::socket socket, std::string client_ip, Dispatcher& dispatcher,
          const SettingsHolder& settings, std::function<void()> on_close);
  ~Session();

  // Starts reading and the watchdog on the socket's executor.
  void Start();

  // Queues an event frame (from any thread); dropped once the connection closes. Calls
  // `more` on the connection's executor once fewer than kEventBacklogBytes wait to be
  // written (at once, usually), or never if the connection closes first.
  void PushEvent(std::string frame, std::function<void()> more);

  // Events wait in the core rather than here once this many bytes of answers and
  // events wait to be written: there they are not yet marked read, so a client that
  // stops reading and goes away finds them with GET_UNREAD.
  static constexpr size_t kEventBacklogBytes = 64 * 1024;

  // Graceful stop: the request in flight is answered, no new one is read (one being
  // read is answered 416 incomplete-request), then the connection closes. Safe from any
  // thread.
  void Drain();

  // Checks its deadlines again under the settings now in force (after a reload: a
  // shorter idle-timeout-seconds applies at once, not at the old deadline). Safe from
  // any thread.
  void Rewatch();

 private:
  using Clock = std::chrono::steady_clock;

  // Waits for input (unless the connection stops reading), then reads it.
  void WaitForInput();
  void OnReadable(const asio::error_code& error);
  // Serves the complete requests in `input`, in order; then waits for more input.
  void Consume(std::string_view input);
  // Answers the parse errors at the front of `input` and returns the first complete
  // request (`input` is then what follows it). Without one, all of `input` is taken,
  // and the session waits for more input (or closes, if it must).
  std::optional<Request> Frame(std::string_view& input);
  // Serves `request`, then each complete request of `input`, the input that followed it.
  asio::awaitable<void> Serve(std::shared_ptr<Session> self, Request request, std::string input);
  // Checks the deadlines (idle, login, request) and arms the timer for the next one.
  void Watch();
  // Answers the request being read 416 incomplete-request (`why`), then closes.
  void AnswerUnfinished(std::string_view why);
  // When the connection must have logged in by (never, once it has).
  Clock::time_point LoginDeadline(const Settings& settings) const;
  // The connection has no session and its login-timeout-seconds are over.
  bool LoginOverdue() const;
  // Queues bytes and writes what the socket takes.
  void Send(std::string bytes);
  // More than max-output-bytes wait to be written: no further request is read or
  // served until the client has taken enough of them.
  bool OverOutputLimit() const;
  // Serves the requests read before the pause, then reads on.
  void ResumeInput();
  // How many bytes may wait before the next event waits in the core instead:
  // kEventBacklogBytes, or half of max-output-bytes when that is smaller.
  size_t EventBacklogBytes() const;
  // Writes queued bytes until the queue is empty or the socket is full (then resumes
  // when it is writable).
  void Flush();
  // Answers with `reply` and logs it, under `command` ("-" when unknown). `served`: the
  // request went through the dispatcher, which gave it state_.request_id (a request
  // refused while being framed has none).
  void Answer(const Reply& reply, std::string_view command, bool served = false);
  // Stops serving requests; closes once every queued answer is written (see FinishClose),
  // or kClosingTimeout after it was called or after the client last took some of them,
  // whichever is later.
  void CloseAfterFlush();
  // Everything is written: closes at once if the client has ended its side, else ends
  // ours and waits (at most kLinger) for the client to end its own.
  void FinishClose();
  void Close();

  asio::ip::tcp::socket socket_;
  Dispatcher& dispatcher_;
  const SettingsHolder& settings_;
  std::function<void()> on_close_;
  RequestParser parser_;
  // max-output-bytes, as the parser's limits, as they were when the connection began:
  // read once, not on each answer.
  const size_t max_output_bytes_;
  ConnectionState state_;
  asio::steady_timer watchdog_timer_;
  // Answers and events not yet written: queue_[queue_head_] onwards (a vector, which
  // allocates nothing while empty, unlike a deque).
  std::vector<std::string> queue_;
  size_t queue_head_ = 0;
  size_t queued_bytes_ = 0;
  size_t written_of_front_ = 0;  // bytes of queue_[queue_head_] already written
  // The `more` of each event delivery waiting for the backlog to drain.
  std::vector<std::function<void()>> event_waiters_;
  bool waiting_writable_ = false;
  bool close_after_flush_ = false;
  bool closed_ = false;
  bool draining_ = false;
  bool reading_ = false;  // waiting for bytes, not serving a request
  // Not reading (nor serving what was read) while OverOutputLimit(): Flush resumes, with
  // pending_input_, the requests read but not yet served.
  bool input_paused_ = false;
  std::string pending_input_;
  bool waiting_readable_ = false;  // an async_wait for input is pending
  bool peer_ended_ = false;        // the client ended its side
  bool fin_sent_ = false;          // every answer written, our side ended
  // When a closing connection closes regardless: kClosingTimeout after CloseAfterFlush
  // (or after the last write, see Watch), brought forward to kLinger after FinishClose.
  Clock::time_point closing_until_;
  Clock::time_point closing_began_;  // when CloseAfterFlush was first called
  Clock::time_point connected_at_;
  Clock::time_point last_read_;
  Clock::time_point last_written_;  // the last write that took some bytes
  Clock::time_point request_started_;
  bool in_request_ = false;
};

}  // namespace tchatator::gateway

#endif  // TCHATATOR_GATEWAY_SESSION_H_
