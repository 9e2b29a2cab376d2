#ifndef TCHATATOR_GATEWAY_DISPATCHER_H_
#define TCHATATOR_GATEWAY_DISPATCHER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <asio/awaitable.hpp>

#include "gateway/core_client.h"
#include "gateway/send_batcher.h"
#include "gateway/event_stream.h"
#include "gateway/request_parser.h"
#include "gateway/wire_status.h"

namespace tchatator::gateway {

// LOGINs on one connection whose API key stands for their token (the oldest goes first).
inline constexpr size_t kMaxLoginAliases = 8;

// What the gateway remembers about one connection between requests.
struct ConnectionState {
  std::string client_ip;
  std::string user_id;        // set by LOGIN on this connection, for logs
  // The API key and session token of each LOGIN on this connection, latest last, each
  // key once, at most kMaxLoginAliases: legacy clients resend the key as their token.
  std::vector<std::pair<std::string, std::string>> login_aliases;
  std::string last_token;     // the session the core accepted last here: DISCONNECTED ends it
  bool authenticated = false; // a LOGIN succeeded, or the core accepted a token
  uint64_t requests = 0;
  std::string request_id;     // of the request served last, for the log
  // Writes an event frame on the connection (set by the session), then calls `more` once
  // the connection can take the next one, or drops it if the connection closes.
  std::function<void(std::string frame, std::function<void()> more)> push_event;
  std::shared_ptr<EventStream> events;  // after SUBSCRIBE
  // The latest change written as an event here: when a SUBSCRIBE again moves the events
  // to another stream, both streams' changes (the user's, in order) pass through it, so
  // none is written twice or out of order. Shared with the streams' deliveries, which
  // run on the connection's executor.
  std::shared_ptr<int64_t> written_change_id = std::make_shared<int64_t>(0);
};

// What to send back for one request.
struct Reply {
  std::string bytes;
  bool close = false;      // close the connection once `bytes` are written
  std::string log;         // status and refusal reason, for the log line
};

// A reply that answers with `status`, error:`token` and message:`message`.
Reply ErrorReply(WireStatus status, std::string_view token, std::string_view message,
                 bool close = false);

// Turns each request into gRPC calls to the core and their answers into wire bytes. No
// business rule lives here: only value syntax, the legacy token rule and formatting.
class Dispatcher {
 public:
  // With `sends`, SEND_MSG's calls go through it (gathered with other connections');
  // without, each is a SendMessage call of its own.
  explicit Dispatcher(CoreClient& core, SendBatcher* sends = nullptr)
      : core_(core), sends_(sends) {}

  // Serves one request of the connection described by `state`. Never throws.
  asio::awaitable<Reply> Dispatch(Request request, ConnectionState& state);

 private:
  // One command each, run by Dispatch once the request's session token is resolved.
  asio::awaitable<Reply> Login(const Request& request, CallContext& call,
                               ConnectionState& state);
  asio::awaitable<Reply> SendMsg(const Request& request, CallContext& call,
                                 ConnectionState& state);
  asio::awaitable<Reply> UpdateMsg(const Request& request, CallContext& call,
                                   ConnectionState& state);
  asio::awaitable<Reply> DeleteMsg(const Request& request, CallContext& call,
                                   ConnectionState& state);
  asio::awaitable<Reply> GetUnread(const Request& request, CallContext& call,
                                   ConnectionState& state);
  asio::awaitable<Reply> GetHistory(const Request& request, CallContext& call,
                                    ConnectionState& state);
  asio::awaitable<Reply> GetConversations(const Request& request, CallContext& call,
                                          ConnectionState& state);
  asio::awaitable<Reply> UserInfo(const Request& request, CallContext& call,
                                  ConnectionState& state);
  asio::awaitable<Reply> Restrict(const Request& request, CallContext& call,
                                  ConnectionState& state);
  asio::awaitable<Reply> Lift(const Request& request, CallContext& call,
                              ConnectionState& state);
  asio::awaitable<Reply> Disconnect(const Request& request, CallContext& call,
                                    ConnectionState& state);
  asio::awaitable<Reply> PollChanges(const Request& request, CallContext& call,
                                     ConnectionState& state);
  asio::awaitable<Reply> Subscribe(const Request& request, CallContext& call,
                                   ConnectionState& state);

  CoreClient& core_;
  SendBatcher* const sends_;
};

}  // namespace tchatator::gateway

#endif  // TCHATATOR_GATEWAY_DISPATCHER_H_
