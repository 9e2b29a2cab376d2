#ifndef TCHATATOR_GATEWAY_CLIENT_CONNECTION_H_
#define TCHATATOR_GATEWAY_CLIENT_CONNECTION_H_

// One TCP connection to a gateway: sends requests, reads frames. Event frames (contract
// 2.7) that arrive while a response is awaited are kept aside for the caller; they
// never take a response's place.

#include <chrono>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/client/command_line.h"
#include "gateway/client/frame_reader.h"

namespace tchatator::client {

class Connection {
 public:
  Connection() = default;
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;

  // Connects to `endpoint` within `timeout`. On failure returns false and sets `*error`
  // to a French sentence naming the server and the cause (refused, unreachable...).
  bool Open(const Endpoint& endpoint, std::chrono::milliseconds timeout, std::string* error);
  bool is_open() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void Close();

  // Writes all of `bytes`; false (and closed) when the connection broke.
  bool Send(std::string_view bytes, std::string* error);

  // Reads until a response is complete, keeping the events read on the way. False
  // with `*error` on timeout, close or garbage; the connection is then closed.
  bool ReadResponse(std::chrono::milliseconds timeout, Frame* response, std::string* error);

  // Reads whatever has arrived, without waiting, keeping the events. False with
  // `*error` when the connection closed or broke (it is then closed).
  bool Pump(std::string* error);

  // The events received so far, oldest first; the queue is emptied.
  std::vector<Frame> TakeEvents();
  bool has_events() const { return !events_.empty(); }

  // True when the server has closed the connection (checked without waiting): an idle
  // connection the gateway dropped must not eat the next request.
  bool PeerClosed();

 private:
  // Moves the frames the reader holds into `events_` / `responses_`; false on garbage.
  // Requests go one at a time, so Send() drops responses that answer none of ours.
  bool Drain(std::string* error);
  // One recv() into the reader. 1: data, 0: closed, -1: error, -2: would block.
  int ReceiveOnce();

  int fd_ = -1;
  int last_errno_ = 0;  // of the last failed recv()
  FrameReader reader_;
  std::deque<Frame> events_;
  std::deque<Frame> responses_;
};

}  // namespace tchatator::client

#endif  // TCHATATOR_GATEWAY_CLIENT_CONNECTION_H_
