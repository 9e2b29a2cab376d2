#ifndef TCHATATOR_GATEWAY_SESSION_H_
#define TCHATATOR_GATEWAY_SESSION_H_

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "common/settings.h"
#include "gateway/dispatcher.h"
#include "gateway/request_parser.h"

namespace tchatator::gateway {

// One client connection: reads bytes, frames requests with the parser, serves them one
// at a time in order through the dispatcher, and writes the answers through a bounded
// queue. Enforces the idle, login and request timeouts. Lives as long as its coroutines.
class Session : public std::enable_shared_from_this<Session> {
 public:
  // `on_close` runs once, when the connection is closed.
  Session(asio::ip::tcp::socket socket, std::string client_ip, Dispatcher& dispatcher,
          const SettingsHolder& settings, std::function<void()> on_close);
  ~Session();

  // Starts the reader, the writer and the watchdog on the socket's executor.
  void Start();

  // Queues an event frame (from any thread); dropped once the connection closes.
  void PushEvent(std::string frame);

  // Graceful stop: the request in flight is answered, no new one is read, then the
  // connection closes. Safe from any thread.
  void Drain();

 private:
  using Clock = std::chrono::steady_clock;

  asio::awaitable<void> ReadLoop();
  asio::awaitable<void> WriteLoop();
  asio::awaitable<void> Watchdog();
  // Frames and serves the requests in `input`; false once the connection must stop
  // reading.
  asio::awaitable<bool> Consume(std::string_view input);
  // Queues bytes for the writer; closes the connection when the queue is over its bound.
  void Send(std::string bytes);
  // Answers with `reply` and logs it.
  void Answer(const Reply& reply, std::string_view command);
  void CloseAfterFlush();
  void Close();

  asio::ip::tcp::socket socket_;
  Dispatcher& dispatcher_;
  const SettingsHolder& settings_;
  std::function<void()> on_close_;
  RequestParser parser_;
  ConnectionState state_;
  asio::steady_timer write_signal_;
  asio::steady_timer watchdog_timer_;
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;
  bool close_after_flush_ = false;
  bool closed_ = false;
  bool draining_ = false;
  bool reading_ = false;  // waiting for bytes, not serving a request
  Clock::time_point connected_at_;
  Clock::time_point last_read_;
  Clock::time_point request_started_;
  bool in_request_ = false;
};

}  // namespace tchatator::gateway

#endif  // TCHATATOR_GATEWAY_SESSION_H_
