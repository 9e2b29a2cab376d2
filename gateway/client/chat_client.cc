#include "gateway/client/chat_client.h"

#include <utility>

#include "gateway/client/request_builder.h"

namespace tchatator::client {
namespace {

constexpr std::chrono::seconds kConnectTimeout(10);

// A request with only a token and, optionally, one id parameter.
std::function<std::string(const std::string&)> Simple(std::string_view command,
                                                       std::string_view key = "",
                                                       int64_t value = 0) {
  return [command, key, value](const std::string& token) {
    RequestBuilder request(command);
    request.Param("token", token);
    if (!key.empty()) request.Param(key, value);
    return request.Finish();
  };
}

}  // namespace

ChatClient::ChatClient(Endpoint endpoint, std::string api_key, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), api_key_(std::move(api_key)), timeout_(timeout) {}

bool ChatClient::EnsureConnected(std::string* error) {
  if (connection_.is_open() && !connection_.PeerClosed()) return true;
  const bool had_session = !identity_.token.empty();
  if (!connection_.Open(endpoint_, kConnectTimeout, error)) return false;
  if (had_session) reconnected_ = true;
  if (subscribed_) {
    // Events resume on the new connection; a refusal only means no live events.
    Reply reply = Exchange(Simple("SUBSCRIBE")(identity_.token));
    if (reply.transport_failed()) {
      *error = reply.transport_error;
      return false;
    }
    subscribed_ = reply.ok();
  }
  return true;
}

bool ChatClient::Reconnect(std::string* error) { return EnsureConnected(error); }

bool ChatClient::TakeReconnected() { return std::exchange(reconnected_, false); }

Reply ChatClient::Exchange(const std::string& request) {
  Reply reply;
  if (!connection_.Send(request, &reply.transport_error)) return reply;
  connection_.ReadResponse(timeout_, &reply.frame, &reply.transport_error);
  return reply;
}

Reply ChatClient::Login() {
  Reply reply;
  if (!EnsureConnected(&reply.transport_error)) return reply;
  reply = Exchange(RequestBuilder("LOGIN").Param("api-token", api_key_).Finish());
  if (reply.ok()) {
    identity_.token = reply.frame.Get("token");
    identity_.user_id = reply.frame.GetInt("user-id").value_or(0);
    identity_.role = reply.frame.Get("role");
  }
  return reply;
}

Reply ChatClient::Call(const std::function<std::string(const std::string& token)>& build) {
  for (int attempt = 0;; ++attempt) {
    Reply reply;
    if (!EnsureConnected(&reply.transport_error)) return reply;
    reply = Exchange(build(identity_.token));
    // An expired session: log in again once, then retry (a 401 changed nothing).
    if (attempt == 0 && !reply.transport_failed() && reply.frame.code == 401 &&
        !api_key_.empty()) {
      const bool was_subscribed = subscribed_;
      Reply login = Login();
      if (!login.ok()) return reply;
      if (was_subscribed) Subscribe();
      continue;
    }
    return reply;
  }
}

Reply ChatClient::SendMessage(int64_t recipient, std::string_view text) {
  const std::string content(text);
  return Call([recipient, &content](const std::string& token) {
    return RequestBuilder("SEND_MSG")
        .Param("token", token)
        .Param("recipient-id", recipient)
        .Content(content)
        .Finish();
  });
}

Reply ChatClient::UpdateMessage(int64_t message_id, std::string_view text) {
  const std::string content(text);
  return Call([message_id, &content](const std::string& token) {
    return RequestBuilder("UPDT_MSG")
        .Param("token", token)
        .Param("message-id", message_id)
        .Content(content)
        .Finish();
  });
}

Reply ChatClient::DeleteMessage(int64_t message_id) {
  return Call(Simple("DEL_MSG", "message-id", message_id));
}

Reply ChatClient::GetUnread() { return Call(Simple("GET_UNREAD")); }

Reply ChatClient::GetHistory(int64_t peer, int64_t before_id) {
  return Call([peer, before_id](const std::string& token) {
    RequestBuilder request("GET_HISTORY");
    request.Param("token", token);
    if (peer > 0) request.Param("user-id", peer);
    if (before_id > 0) request.Param("before-id", before_id);
    return request.Finish();
  });
}

Reply ChatClient::GetConversations() { return Call(Simple("GET_CONVERSATIONS")); }

Reply ChatClient::UserInfo(int64_t user_id) { return Call(Simple("USER_INFO", "user-id", user_id)); }

Reply ChatClient::Block(int64_t user_id, int64_t hours) {
  return Call([user_id, hours](const std::string& token) {
    RequestBuilder request("BLOCK_USER");
    request.Param("token", token).Param("user-id", user_id);
    if (hours > 0) request.Param("duration-hours", hours);
    return request.Finish();
  });
}

Reply ChatClient::Unblock(int64_t user_id) {
  return Call(Simple("UNBLOCK_USER", "user-id", user_id));
}

Reply ChatClient::Ban(int64_t user_id) { return Call(Simple("BAN_USER", "user-id", user_id)); }

Reply ChatClient::Unban(int64_t user_id) { return Call(Simple("UNBAN_USER", "user-id", user_id)); }

Reply ChatClient::Subscribe() {
  Reply reply = Call(Simple("SUBSCRIBE"));
  subscribed_ = reply.ok();
  return reply;
}

Reply ChatClient::PollChanges() { return Call(Simple("NEW_CHG_AVAILABLE")); }

Reply ChatClient::Ping() {
  return Call([](const std::string&) { return RequestBuilder("PING").Finish(); });
}

void ChatClient::Disconnect() {
  if (connection_.is_open() && !connection_.PeerClosed()) {
    std::string error;
    if (connection_.Send(RequestBuilder("DISCONNECTED").Finish(), &error)) {
      Frame ignored;
      connection_.ReadResponse(std::chrono::seconds(3), &ignored, &error);
    }
  }
  connection_.Close();
  identity_.token.clear();
  subscribed_ = false;
}

}  // namespace tchatator::client
