#include "gateway/session.h"

#include <array>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/dispatch.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "common/log.h"
#include "common/strings.h"
#include "gateway/response.h"

namespace tchatator::gateway {
namespace {

// Most writes gathered into one system call.
constexpr size_t kMaxGather = 64;

// Bytes are read into one buffer per thread and copied only when a request is kept
// waiting: an idle connection holds no read buffer.
thread_local std::array<char, 65536> read_buffer;

ParserLimits LimitsOf(const Settings& settings) {
  return ParserLimits{static_cast<size_t>(settings.max_line_bytes),
                      static_cast<size_t>(settings.max_line_bytes)};
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
      write_signal_(socket_.get_executor()),
      watchdog_timer_(socket_.get_executor()),
      connected_at_(Clock::now()),
      last_read_(connected_at_) {
  state_.client_ip = std::move(client_ip);
  write_signal_.expires_at(Clock::time_point::max());
}

Session::~Session() {
  if (on_close_) on_close_();
}

void Session::PushEvent(std::string frame) {
  asio::dispatch(socket_.get_executor(),
                 [self = shared_from_this(), frame = std::move(frame)]() mutable {
                   self->Send(std::move(frame));
                 });
}

void Session::Start() {
  std::weak_ptr<Session> weak = weak_from_this();
  state_.push_event = [weak](std::string frame) {
    if (auto self = weak.lock()) self->PushEvent(std::move(frame));
  };
  asio::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  socket_.non_blocking(true, ignored);
  auto self = shared_from_this();
  asio::co_spawn(socket_.get_executor(), [self] { return self->ReadLoop(); }, LogException);
  asio::co_spawn(socket_.get_executor(), [self] { return self->WriteLoop(); }, LogException);
  asio::co_spawn(socket_.get_executor(), [self] { return self->Watchdog(); }, LogException);
}

void Session::Drain() {
  asio::dispatch(socket_.get_executor(), [self = shared_from_this()] {
    self->draining_ = true;
    if (self->reading_) self->CloseAfterFlush();
  });
}

asio::awaitable<void> Session::ReadLoop() {
  while (!closed_ && !close_after_flush_) {
    asio::error_code ec;
    reading_ = true;
    co_await socket_.async_wait(asio::ip::tcp::socket::wait_read,
                                asio::redirect_error(asio::use_awaitable, ec));
    reading_ = false;
    if (ec || closed_ || close_after_flush_) break;
    const size_t n = socket_.read_some(asio::buffer(read_buffer), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) continue;
    if (ec == asio::error::eof || (!ec && n == 0)) {
      // The client ended its side (nc -N): what it asked for is still answered.
      CloseAfterFlush();
      break;
    }
    if (ec) break;
    last_read_ = Clock::now();
    if (!co_await Consume(std::string_view(read_buffer.data(), n))) break;
    if (parser_.InRequest() != in_request_) {
      in_request_ = !in_request_;
      request_started_ = Clock::now();
      watchdog_timer_.cancel();  // a request deadline to watch, or none any more
    }
    if (draining_) CloseAfterFlush();
  }
  if (!close_after_flush_) Close();
}

asio::awaitable<bool> Session::Consume(std::string_view input) {
  std::string owned;  // what is left of `input` while a request is served
  for (;;) {
    ParseOutcome outcome = parser_.Next(input);
    if (std::holds_alternative<NeedMore>(outcome)) co_return true;
    if (auto* error = std::get_if<ParseError>(&outcome)) {
      Answer(ErrorReply(kMisformatted, error->error, error->message, error->close), "-");
      if (error->close) co_return false;
      continue;
    }
    Request request = std::get<Request>(std::move(outcome));
    const std::string_view command = SpecOf(request.command).name;
    // The read buffer is shared by every connection of this thread.
    std::string rest(input);
    owned.swap(rest);
    input = owned;
    Reply reply = co_await dispatcher_.Dispatch(std::move(request), state_);
    if (closed_) co_return false;
    Answer(reply, command);
    if (reply.close || draining_) co_return false;
  }
}

void Session::Answer(const Reply& reply, std::string_view command) {
  std::string line = StrCat(command, " ", reply.log);
  if (command != "-" && !state_.request_id.empty()) StrAppend(&line, " request=", state_.request_id);
  Log::Write(state_.user_id, state_.client_ip, line);
  Send(reply.bytes);
  if (reply.close) CloseAfterFlush();
}

void Session::Send(std::string bytes) {
  if (closed_ || close_after_flush_) return;
  queued_bytes_ += bytes.size();
  if (queued_bytes_ > static_cast<size_t>(settings_.Get()->max_output_bytes)) {
    // The client does not read what it asks for: it cannot grow our memory.
    Log::Write(state_.user_id, state_.client_ip, "closed: output queue over its limit");
    Close();
    return;
  }
  queue_.push_back(std::move(bytes));
  write_signal_.cancel_one();
}

void Session::CloseAfterFlush() {
  if (closed_) return;
  close_after_flush_ = true;
  write_signal_.cancel_one();
}

void Session::Close() {
  if (closed_) return;
  closed_ = true;
  if (state_.events) state_.events->Cancel();
  asio::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  write_signal_.cancel();
  watchdog_timer_.cancel();
}

asio::awaitable<void> Session::WriteLoop() {
  std::vector<asio::const_buffer> buffers;
  while (!closed_) {
    if (queue_.empty()) {
      if (close_after_flush_) break;
      asio::error_code ec;
      co_await write_signal_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    const size_t count = std::min(queue_.size(), kMaxGather);
    buffers.clear();
    for (size_t i = 0; i < count; ++i) buffers.push_back(asio::buffer(queue_[i]));
    asio::error_code ec;
    co_await asio::async_write(socket_, buffers, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    for (size_t i = 0; i < count; ++i) {
      queued_bytes_ -= queue_.front().size();
      queue_.pop_front();
    }
  }
  Close();
}

asio::awaitable<void> Session::Watchdog() {
  while (!closed_) {
    const std::shared_ptr<const Settings> settings = settings_.Get();
    const Clock::time_point now = Clock::now();
    const Clock::time_point idle_deadline =
        last_read_ + std::chrono::seconds(settings->idle_timeout_seconds);
    const Clock::time_point login_deadline =
        state_.authenticated ? Clock::time_point::max()
                             : connected_at_ + std::chrono::seconds(settings->login_timeout_seconds);
    const Clock::time_point request_deadline =
        in_request_ ? request_started_ + std::chrono::seconds(settings->request_timeout_seconds)
                    : Clock::time_point::max();
    if (now >= idle_deadline || now >= login_deadline) {
      Log::Write(state_.user_id, state_.client_ip,
                 now >= idle_deadline ? "closed: idle timeout" : "closed: no login in time");
      Close();
      break;
    }
    if (now >= request_deadline && reading_) {
      parser_.Reset();
      in_request_ = false;
      Answer(ErrorReply(kMisformatted, "incomplete-request", "request not finished in time"),
             "-");
      continue;
    }
    watchdog_timer_.expires_at(std::min({idle_deadline, login_deadline, request_deadline}));
    asio::error_code ec;
    co_await watchdog_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace tchatator::gateway
