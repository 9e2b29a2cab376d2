#ifndef TCHATATOR_GATEWAY_CLIENT_CHAT_CLIENT_H_
#define TCHATATOR_GATEWAY_CLIENT_CHAT_CLIENT_H_

// A logged-in user's conversation with a gateway: one method per command of the text
// protocol. It keeps the session token, reconnects when the gateway dropped an idle
// connection (the token stays valid on any connection), logs in again once when the
// session has expired (401), and subscribes again after a reconnection.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/client/command_line.h"
#include "gateway/client/connection.h"
#include "gateway/client/frame_reader.h"

namespace tchatator::client {

// The outcome of one request: a response, or why none came.
struct Reply {
  Frame frame;
  std::string transport_error;  // non-empty: no response (unreachable, lost, timed out)

  bool ok() const { return transport_error.empty() && frame.code == 200; }
  bool transport_failed() const { return !transport_error.empty(); }
};

// Who LOGIN said we are.
struct Identity {
  int64_t user_id = 0;
  std::string role;   // member, pro, admin
  std::string token;  // the session token
};

class ChatClient {
 public:
  ChatClient(Endpoint endpoint, std::string api_key,
             std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Connects and sends LOGIN.
  Reply Login();
  const Identity& identity() const { return identity_; }
  const Endpoint& endpoint() const { return endpoint_; }

  Reply SendMessage(int64_t recipient, std::string_view text);
  Reply UpdateMessage(int64_t message_id, std::string_view text);
  Reply DeleteMessage(int64_t message_id);
  Reply GetUnread();
  Reply GetHistory(int64_t peer, int64_t before_id);  // 0: not given
  Reply GetConversations();
  Reply UserInfo(int64_t user_id);
  Reply Block(int64_t user_id, int64_t hours);  // hours 0: the server's default
  Reply Unblock(int64_t user_id);
  Reply Ban(int64_t user_id);
  Reply Unban(int64_t user_id);
  // On 200 the client remembers to subscribe again after a reconnection.
  Reply Subscribe();
  Reply PollChanges();
  Reply Ping();
  // DISCONNECTED (ends the session), then closes the connection.
  void Disconnect();

  // The socket to watch for events (-1 when not connected).
  int fd() const { return connection_.fd(); }
  bool subscribed() const { return subscribed_; }
  // Reads the bytes that have arrived; false with `*error` when the connection dropped.
  bool Pump(std::string* error) { return connection_.Pump(error); }
  // The events received so far (while waiting for responses too), oldest first.
  std::vector<Frame> TakeEvents() { return connection_.TakeEvents(); }
  // Reconnects now if the connection dropped (subscribing again if needed).
  bool Reconnect(std::string* error);
  // True once after each silent reconnection.
  bool TakeReconnected();

 private:
  // Sends the request `build(token)` makes and reads its response; handles reconnection
  // and one new LOGIN after a 401.
  Reply Call(const std::function<std::string(const std::string& token)>& build);
  Reply Exchange(const std::string& request);
  bool EnsureConnected(std::string* error);

  Endpoint endpoint_;
  std::string api_key_;
  std::chrono::milliseconds timeout_;
  Identity identity_;
  Connection connection_;
  bool subscribed_ = false;
  bool reconnected_ = false;
};

}  // namespace tchatator::client

#endif  // TCHATATOR_GATEWAY_CLIENT_CHAT_CLIENT_H_
