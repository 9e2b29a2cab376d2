#include "gateway/session.h"

#include <netinet/tcp.h>

#include <algorithm>
#include <array>

#include <span>

#include <asio/co_spawn.hpp>
#include <asio/dispatch.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include "common/log.h"
#include "common/metrics.h"
#include "common/strings.h"
#include "gateway/response.h"

namespace tchatator::gateway {
namespace {

// Most writes gathered into one system call.
constexpr size_t kMaxGather = 64;

// Pipelined requests served in a row before the other connections of the thread run.
constexpr size_t kServedBeforeYield = 64;

// How long a closing connection waits for the client's end of stream once every answer
// is written.
constexpr std::chrono::seconds kLinger(2);

// How long a closing connection waits for its client to take some of its last answers:
// a client that writes on and never reads cannot hold it longer, one that reads a long
// answer slowly keeps it while it reads.
constexpr std::chrono::seconds kClosingTimeout(10);

// Bytes are read into one buffer per thread and copied only when a request is kept
// waiting: an idle connection holds no read buffer.
thread_local std::array<char, 65536> read_buffer;

ParserLimits LimitsOf(const Settings& settings) {
  return ParserLimits{static_cast<size_t>(settings.max_line_bytes),
                      static_cast<size_t>(settings.max_line_bytes)};
}

// Requests answered, by command name ("-" before one was recognised) and status code.
Metrics::Counter& RequestsAnswered() {
  static Metrics::Counter& counter = Metrics::Global().GetCounter(
      "tchatator_gateway_requests_total", "Requests answered, by command and status code.",
      {"command", "status"});
  return counter;
}

// From a request's dispatch to its answer: the core's part and the gateway's.
Metrics::Histogram& RequestSeconds() {
  static Metrics::Histogram& histogram = Metrics::Global().GetHistogram(
      "tchatator_gateway_request_seconds",
      "Time from a complete request to its answer (queued for the client), by command.",
      {"command"}, LatencyBounds());
  return histogram;
}

void LogException(std::exception_ptr error) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    Log::Info(StrCat("session failure: ", e.what()));
  }
}

}  // namespace

Session::Session(asio::ip::tcp::socket socket, std::string client_ip, Dispatcher& dispatcher,
                 const SettingsHolder& settings, std::function<void()> on_close)
    : socket_(std::move(socket)),
      dispatcher_(dispatcher),
      settings_(settings),
      on_close_(std::move(on_close)),
      parser_(LimitsOf(*settings.Get())),
      max_output_bytes_(static_cast<size_t>(settings.Get()->max_output_bytes)),
      watchdog_timer_(socket_.get_executor()),
      connected_at_(Clock::now()),
      last_read_(connected_at_),
      last_written_(connected_at_) {
  state_.client_ip = std::move(client_ip);
}

Session::~Session() {
  // Not closed means the io_context is going away: a stream is not cancelled then, as its
  // end would run on a gRPC thread after the io_context it belongs to.
  if (on_close_) on_close_();
}

void Session::PushEvent(std::string frame, std::function<void()> more) {
  asio::dispatch(socket_.get_executor(), [self = shared_from_this(), frame = std::move(frame),
                                          more = std::move(more)]() mutable {
    self->Send(std::move(frame));
    // Closing: no more events (the stream is cancelled with the connection).
    if (self->closed_ || self->close_after_flush_) return;
    if (self->queued_bytes_ < self->EventBacklogBytes()) {
      more();
    } else {
      self->event_waiters_.push_back(std::move(more));
    }
  });
}

void Session::Start() {
  std::weak_ptr<Session> weak = weak_from_this();
  state_.push_event = [weak](std::string frame, std::function<void()> more) {
    if (auto self = weak.lock()) self->PushEvent(std::move(frame), std::move(more));
  };
  asio::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  // The kernel takes at most this much not yet sent for a client that stops reading
  // (its send buffer otherwise grows to megabytes): what waits beyond waits here, where
  // it is counted, or in the core, not yet marked read.
  socket_.set_option(
      asio::detail::socket_option::integer<IPPROTO_TCP, TCP_NOTSENT_LOWAT>(kEventBacklogBytes),
      ignored);
  socket_.non_blocking(true, ignored);
  asio::dispatch(socket_.get_executor(), [self = shared_from_this()] {
    self->WaitForInput();
    self->Watch();
  });
}

void Session::Drain() {
  asio::dispatch(socket_.get_executor(), [self = shared_from_this()] {
    self->draining_ = true;
    if (!self->reading_) return;  // serving: Serve closes after the answer
    if (self->in_request_) {
      self->AnswerUnfinished("the server is shutting down");
    } else {
      self->CloseAfterFlush();
    }
  });
}

void Session::Rewatch() {
  asio::dispatch(socket_.get_executor(), [self = shared_from_this()] {
    // Watch() runs when its wait is cancelled.
    if (!self->closed_) self->watchdog_timer_.cancel();
  });
}

void Session::WaitForInput() {
  if (closed_) return;
  if (draining_ && !close_after_flush_) {
    CloseAfterFlush();
    return;
  }
  reading_ = !close_after_flush_;
  if (!close_after_flush_ && OverOutputLimit()) {
    input_paused_ = true;  // Flush reads on once the client has taken enough
    return;
  }
  if (waiting_readable_ || peer_ended_) return;
  waiting_readable_ = true;
  socket_.async_wait(asio::ip::tcp::socket::wait_read,
                     [self = shared_from_this()](const asio::error_code& error) {
                       self->waiting_readable_ = false;
                       self->OnReadable(error);
                     });
}

void Session::OnReadable(const asio::error_code& error) {
  reading_ = false;
  if (closed_) return;
  if (error) {
    Close();
    return;
  }
  asio::error_code ec;
  const size_t n = socket_.read_some(asio::buffer(read_buffer), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    WaitForInput();
    return;
  }
  if (ec == asio::error::eof || (!ec && n == 0)) {
    // The client ended its side (nc -N): what it asked for is still answered, and a
    // request it began and can no longer finish is answered too.
    peer_ended_ = true;
    if (in_request_ && !close_after_flush_) {
      AnswerUnfinished("the stream ended inside a request");
    }
    if (fin_sent_) {
      Close();
    } else {
      CloseAfterFlush();
    }
    return;
  }
  if (ec) {
    Close();
    return;
  }
  if (close_after_flush_) {
    // Closing: what the client still sends is dropped (see CloseAfterFlush).
    WaitForInput();
    return;
  }
  last_read_ = Clock::now();
  Consume(std::string_view(read_buffer.data(), n));
}

void Session::ResumeInput() {
  if (closed_ || input_paused_) return;
  std::string input = std::exchange(pending_input_, {});
  if (input.empty() || close_after_flush_) {
    WaitForInput();
    return;
  }
  reading_ = false;
  Consume(input);
}

void Session::Consume(std::string_view input) {
  std::optional<Request> request = Frame(input);
  if (!request) return;
  // Serving may wait for the core: what is left of the input is kept, as the read
  // buffer is shared by every connection of this thread.
  asio::co_spawn(socket_.get_executor(),
                 Serve(shared_from_this(), *std::move(request), std::string(input)),
                 LogException);
}

std::optional<Request> Session::Frame(std::string_view& input) {
  for (;;) {
    ParseOutcome outcome = parser_.Next(input);
    if (std::holds_alternative<NeedMore>(outcome)) break;
    if (auto* error = std::get_if<ParseError>(&outcome)) {
      Answer(ErrorReply(kMisformatted, error->error, error->message, error->close),
             error->command);
      if (error->close) return std::nullopt;
      continue;
    }
    // The request is complete: no request deadline runs while it is served (the next
    // Frame sets it again for what follows).
    in_request_ = false;
    return std::get<Request>(std::move(outcome));
  }
  if (parser_.InRequest() != in_request_) {
    in_request_ = !in_request_;
    request_started_ = Clock::now();
    watchdog_timer_.cancel();  // a request deadline to watch, or none any more
  }
  if (!draining_) {
    WaitForInput();
  } else if (in_request_) {
    AnswerUnfinished("the server is shutting down");
  } else {
    CloseAfterFlush();
  }
  return std::nullopt;
}

// `self` keeps the session alive while the requests are served. A loop, not a call
// back into Consume: thousands of pipelined requests answered without waiting (PING)
// would otherwise nest as deep and overflow the stack.
asio::awaitable<void> Session::Serve([[maybe_unused]] std::shared_ptr<Session> self,
                                     Request request, std::string input) {
  std::string_view rest(input);
  for (size_t served = 1;; ++served) {
    const std::string_view command = SpecOf(request.command).name;
    const auto dispatched = std::chrono::steady_clock::now();
    Reply reply = co_await dispatcher_.Dispatch(std::move(request), state_);
    if (closed_) {
      // Close() cancelled the stream it found; a SUBSCRIBE under way may have opened one.
      if (state_.events) state_.events->Cancel();
      co_return;
    }
    Answer(reply, command, /*served=*/true);
    RequestSeconds().Observe(
        {command},
        std::chrono::duration<double>(std::chrono::steady_clock::now() - dispatched).count());
    if (reply.close || draining_) {
      CloseAfterFlush();
      co_return;
    }
    // The login deadline passed while this request was served (Watch left it to us),
    // and it did not log the connection in.
    if (LoginOverdue()) {
      Log::Write(state_.user_id, state_.client_ip, "closed: no login in time");
      CloseAfterFlush();
      co_return;
    }
    if (OverOutputLimit()) {
      // The client does not take its answers: the next request waits, unread, until it
      // does (Flush). No answer made is ever dropped: it may have marked messages read.
      reading_ = true;
      input_paused_ = true;
      pending_input_ = std::string(rest);
      co_return;
    }
    std::optional<Request> next = Frame(rest);
    if (!next) co_return;
    request = *std::move(next);
    if (served % kServedBeforeYield == 0) {
      // The other connections of this thread get their turn.
      co_await asio::post(socket_.get_executor(), asio::use_awaitable);
      if (closed_) co_return;
      if (draining_) {
        CloseAfterFlush();  // as if the next request had not been read
        co_return;
      }
    }
  }
}

void Session::Answer(const Reply& reply, std::string_view command, bool served) {
  std::string line = StrCat(command, " ", reply.log);
  if (served && !state_.request_id.empty()) StrAppend(&line, " request=", state_.request_id);
  Log::Write(state_.user_id, state_.client_ip, line);
  RequestsAnswered().Add({command, std::string_view(reply.log).substr(0, 3)});
  Send(reply.bytes);
  if (reply.close) CloseAfterFlush();
}

size_t Session::EventBacklogBytes() const {
  // Under a small max-output-bytes, events alone must leave room for answers.
  return std::min(kEventBacklogBytes, max_output_bytes_ / 2);
}

bool Session::OverOutputLimit() const {
  return queued_bytes_ > max_output_bytes_;
}

void Session::Send(std::string bytes) {
  if (closed_ || close_after_flush_) return;
  queued_bytes_ += bytes.size();
  queue_.push_back(std::move(bytes));
  if (!waiting_writable_) Flush();
}

void Session::Flush() {
  std::array<asio::const_buffer, kMaxGather> buffers;
  while (!closed_ && queue_head_ < queue_.size()) {
    size_t count = 0;
    for (size_t i = queue_head_; i < queue_.size() && count < buffers.size(); ++i) {
      const size_t skip = count == 0 ? written_of_front_ : 0;
      buffers[count++] = asio::buffer(queue_[i].data() + skip, queue_[i].size() - skip);
    }
    asio::error_code ec;
    size_t n = socket_.write_some(std::span(buffers.data(), count), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      waiting_writable_ = true;
      socket_.async_wait(asio::ip::tcp::socket::wait_write,
                         [self = shared_from_this()](const asio::error_code& error) {
                           self->waiting_writable_ = false;
                           if (error) {
                             self->Close();
                             return;
                           }
                           self->Flush();
                         });
      break;
    }
    if (ec) {
      Close();
      return;
    }
    queued_bytes_ -= n;
    if (n > 0) last_written_ = Clock::now();
    while (n > 0) {
      const size_t left = queue_[queue_head_].size() - written_of_front_;
      if (n < left) {
        written_of_front_ += n;
        break;
      }
      n -= left;
      written_of_front_ = 0;
      std::string().swap(queue_[queue_head_++]);
    }
    // A reader that never quite catches up must not keep the written slots either.
    if (queue_head_ >= kMaxGather && queue_head_ * 2 >= queue_.size()) {
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(queue_head_));
      queue_head_ = 0;
    }
  }
  if (closed_) return;
  // Closing: no event follows (the stream is cancelled, the waiters dropped).
  if (!event_waiters_.empty() && !close_after_flush_ && queued_bytes_ < EventBacklogBytes()) {
    for (std::function<void()>& more : std::exchange(event_waiters_, {})) more();
  }
  if (input_paused_ && !OverOutputLimit()) {
    input_paused_ = false;
    // The request being read (if any) was not the client's to finish meanwhile.
    if (in_request_) request_started_ = Clock::now();
    watchdog_timer_.cancel();
    // Not from here: serving may answer, and so call Flush, at once.
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->ResumeInput(); });
  }
  if (waiting_writable_) return;
  if (queue_head_ == queue_.size()) {
    // Everything written: the vector's memory goes too.
    std::vector<std::string>().swap(queue_);
    queue_head_ = 0;
  }
  if (queue_.empty() && close_after_flush_) FinishClose();
}

void Session::CloseAfterFlush() {
  if (closed_) return;
  if (!close_after_flush_) {
    close_after_flush_ = true;
    closing_began_ = Clock::now();
    closing_until_ = closing_began_ + kClosingTimeout;
    watchdog_timer_.cancel();  // a closing deadline to watch
    // No event follows the last answer: none more is taken (and marked read).
    if (state_.events) state_.events->Cancel();
    event_waiters_.clear();
  }
  // Input is still read, and dropped, until the close: a client that writes all its
  // requests before it reads is never left blocked while the last answers wait for it
  // to read, and closing with unread input (a reset, which can destroy the answers not
  // yet read by the client) is avoided.
  WaitForInput();
  if (!waiting_writable_) Flush();
}

void Session::FinishClose() {
  if (peer_ended_) {
    Close();
    return;
  }
  if (fin_sent_) return;
  // Everything is written: end our side and give the client a moment to end its own.
  fin_sent_ = true;
  asio::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  closing_until_ = std::min(closing_until_, Clock::now() + kLinger);
  watchdog_timer_.cancel();
}

void Session::Close() {
  if (closed_) return;
  closed_ = true;
  if (state_.events) state_.events->Cancel();
  asio::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  watchdog_timer_.cancel();
  queue_.clear();
  queue_head_ = 0;
  written_of_front_ = 0;
  queued_bytes_ = 0;
  event_waiters_.clear();
  pending_input_.clear();
}

void Session::Watch() {
  while (!closed_) {
    const std::shared_ptr<const Settings> settings = settings_.Get();
    const Clock::time_point now = Clock::now();
    // A client still taking what it was sent is not idle: a long answer read slowly
    // arrives whole.
    const Clock::time_point idle_deadline =
        std::max(last_read_, last_written_) + std::chrono::seconds(settings->idle_timeout_seconds);
    // Once closing, the closing deadline alone applies.
    Clock::time_point login_deadline =
        close_after_flush_ ? Clock::time_point::max() : LoginDeadline(*settings);
    // Past it while a request is being served: the request is answered first, and Serve
    // closes after it if it did not log the connection in.
    if (now >= login_deadline && !reading_) login_deadline = Clock::time_point::max();
    // Only while waiting for the rest of a request: a deadline that could not be acted
    // on would fire the timer again and again.
    const Clock::time_point request_deadline =
        in_request_ && reading_ && !input_paused_
            ? request_started_ + std::chrono::seconds(settings->request_timeout_seconds)
            : Clock::time_point::max();
    // Until all is written, each write the client takes gives it kClosingTimeout more,
    // up to the idle timeout (a minute at least) after the close began.
    const Clock::time_point closing_deadline =
        !close_after_flush_ ? Clock::time_point::max()
        : fin_sent_         ? closing_until_
                            : std::min(std::max(closing_until_, last_written_ + kClosingTimeout),
                                       closing_began_ + std::max<Clock::duration>(
                                                            std::chrono::minutes(1),
                                                            std::chrono::seconds(
                                                                settings->idle_timeout_seconds)));
    if (now >= closing_deadline) {
      if (!fin_sent_) {
        Log::Write(state_.user_id, state_.client_ip, "closed: last answers not read in time");
      }
      Close();
      return;
    }
    if (now >= login_deadline && in_request_ && now < idle_deadline) {
      // Answered, as every request is, before the close.
      Log::Write(state_.user_id, state_.client_ip, "closed: no login in time");
      AnswerUnfinished("no login in time: the connection closes");
      continue;
    }
    if (now >= idle_deadline || now >= login_deadline) {
      Log::Write(state_.user_id, state_.client_ip,
                 now >= idle_deadline ? "closed: idle timeout" : "closed: no login in time");
      Close();
      return;
    }
    if (now >= request_deadline) {
      // Then closed: the rest of the request may still come, and no line of it can be
      // told from a request of its own (a content's lines least of all).
      AnswerUnfinished("request not finished in time");
      continue;
    }
    watchdog_timer_.expires_at(std::min({idle_deadline, login_deadline, request_deadline, closing_deadline}));
    // Also runs when the timer is cancelled: the deadlines are then checked again.
    watchdog_timer_.async_wait(
        [self = shared_from_this()](const asio::error_code&) { self->Watch(); });
    return;
  }
}

void Session::AnswerUnfinished(std::string_view why) {
  const std::string_view command = parser_.CurrentCommand();
  parser_.Reset();
  in_request_ = false;
  Answer(ErrorReply(kMisformatted, "incomplete-request", why, /*close=*/true), command);
}

Session::Clock::time_point Session::LoginDeadline(const Settings& settings) const {
  return state_.authenticated
             ? Clock::time_point::max()
             : connected_at_ + std::chrono::seconds(settings.login_timeout_seconds);
}

bool Session::LoginOverdue() const {
  // Logged-in connections, nearly all requests, read neither settings nor clock.
  return !state_.authenticated && Clock::now() >= LoginDeadline(*settings_.Get());
}

}  // namespace tchatator::gateway
