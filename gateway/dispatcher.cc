#include "gateway/dispatcher.h"

#include <charconv>
#include <optional>

#include "common/crypto.h"
#include "common/strings.h"
#include "gateway/response.h"
#include "gateway/wire_status.h"

namespace tchatator::gateway {
namespace {

using Async = v1::ChatService::StubInterface::async_interface;
using Callback = std::function<void(grpc::Status)>;

// A positive decimal id, as every id and count of the protocol is.
std::optional<int64_t> ParseId(const std::string* text) {
  if (text == nullptr || text->empty() || text->size() > 18) return std::nullopt;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size() || value <= 0) return std::nullopt;
  return value;
}

Reply BadValue(std::string_view key) {
  return ErrorReply(kMisformatted, "bad-value", StrCat(key, " must be a positive whole number"));
}

Reply Ok(ResponseWriter&& writer) { return Reply{std::move(writer).Finish(), false, "200"}; }

// The wire answer to a failed call.
template <typename Response>
Reply Failure(const CallResult<Response>& result) {
  const WireError wire = FromGrpc(result.status.error_code());
  const std::string token =
      result.error_token.empty() ? std::string(wire.default_token) : result.error_token;
  const std::string message = wire.status.code == kUnavailable.code
                                  ? std::string("service unavailable, retry later")
                                  : result.status.error_message();
  ResponseWriter out(wire.status);
  out.Field("error", token).Field("message", message);
  if (!result.retry_after.empty()) out.Field("retry-after", result.retry_after);
  if (!result.until.empty()) out.Field("until", result.until);
  return Reply{std::move(out).Finish(), false, StrCat(wire.status.code, " ", token)};
}

// The session token a request names: legacy clients resend their API key as `token` on
// the connection where they logged in with it.
std::string ResolveToken(const Request& request, ConnectionState& state) {
  const std::string* token = request.Find("token");
  if (token == nullptr) return "";
  std::string resolved = *token;
  if (!state.login_api_key.empty() && ConstantTimeEquals(*token, state.login_api_key)) {
    resolved = state.login_token;
  }
  state.last_token = resolved;
  return resolved;
}

}  // namespace

Reply ErrorReply(WireStatus status, std::string_view token, std::string_view message,
                 bool close) {
  return Reply{ErrorResponse(status, token, message), close, StrCat(status.code, " ", token)};
}

asio::awaitable<Reply> Dispatcher::Dispatch(Request request, ConnectionState& state) {
  CallContext call{ResolveToken(request, state), state.client_ip,
                   StrCat(state.client_ip, "#", ++state.requests)};
  auto session_ok = [&state](const auto& result) {
    if (result.status.ok()) state.authenticated = true;
  };

  switch (request.command) {
    case Command::kPing:
      co_return Ok(ResponseWriter(kOk));

    case Command::kLogin: {
      v1::LoginRequest rpc;
      rpc.set_api_key(*request.Find("api-token"));
      auto result = co_await core_.Call<v1::LoginResponse>(
          [](Async* a, grpc::ClientContext* c, const v1::LoginRequest* q, v1::LoginResponse* r,
             Callback cb) { a->Login(c, q, r, std::move(cb)); },
          std::move(rpc), call);
      if (!result.status.ok()) co_return Failure(result);
      const v1::LoginResponse& r = result.response;
      state.login_api_key = *request.Find("api-token");
      state.login_token = r.token();
      state.last_token = r.token();
      state.user_id = std::to_string(r.user_id());
      state.authenticated = true;
      std::string_view role = r.role() == v1::ROLE_PRO     ? "pro"
                              : r.role() == v1::ROLE_ADMIN ? "admin"
                                                           : "member";
      co_return Ok(std::move(ResponseWriter(kOk)
                                 .Field("token", r.token())
                                 .Field("user-id", r.user_id())
                                 .Field("role", role)));
    }

    case Command::kSendMsg: {
      std::optional<int64_t> recipient = ParseId(request.Find("recipient-id"));
      if (!recipient) co_return BadValue("recipient-id");
      v1::SendMessageRequest rpc;
      rpc.set_recipient_id(*recipient);
      rpc.set_content(*request.Find("content"));
      auto result = co_await core_.Call<v1::SendMessageResponse>(
          [](Async* a, grpc::ClientContext* c, const v1::SendMessageRequest* q,
             v1::SendMessageResponse* r, Callback cb) { a->SendMessage(c, q, r, std::move(cb)); },
          std::move(rpc), call);
      session_ok(result);
      if (!result.status.ok()) co_return Failure(result);
      co_return Ok(std::move(ResponseWriter(kOk)
                                 .Field("message-id", result.response.message_id())
                                 .Time("sent-at", result.response.sent_at())));
    }

    case Command::kUpdtMsg: {
      std::optional<int64_t> id = ParseId(request.Find("message-id"));
      if (!id) co_return BadValue("message-id");
      v1::UpdateMessageRequest rpc;
      rpc.set_message_id(*id);
      rpc.set_content(*request.Find("content"));
      auto result = co_await core_.Call<v1::UpdateMessageResponse>(
          [](Async* a, grpc::ClientContext* c, const v1::UpdateMessageRequest* q,
             v1::UpdateMessageResponse* r,
             Callback cb) { a->UpdateMessage(c, q, r, std::move(cb)); },
          std::move(rpc), call);
      session_ok(result);
      if (!result.status.ok()) co_return Failure(result);
      co_return Ok(std::move(ResponseWriter(kOk)
                                 .Field("message-id", result.response.message_id())
                                 .Time("modified-at", result.response.modified_at())));
    }

    case Command::kDelMsg: {
      std::optional<int64_t> id = ParseId(request.Find("message-id"));
      if (!id) co_return BadValue("message-id");
      v1::DeleteMessageRequest rpc;
      rpc.set_message_id(*id);
      auto result = co_await core_.Call<v1::DeleteMessageResponse>(
          [](Async* a, grpc::ClientContext* c, const v1::DeleteMessageRequest* q,
             v1::DeleteMessageResponse* r,
             Callback cb) { a->DeleteMessage(c, q, r, std::move(cb)); },
          std::move(rpc), call);
      session_ok(result);
      if (!result.status.ok()) co_return Failure(result);
      co_return Ok(
          std::move(ResponseWriter(kOk).Field("message-id", result.response.message_id())));
    }

    case Command::kGetUnread: {
      auto result = co_await core_.Call<v1::ListUnreadResponse>(
          [](Async* a, grpc::ClientContext* c, const v1::ListUnreadRequest* q,
             v1::ListUnreadResponse* r, Callback cb) { a->ListUnread(c, q, r, std::move(cb)); },
          v1::ListUnreadRequest(), call);
      session_ok(result);
      if (!result.status.ok()) co_return Failure(result);
      ResponseWriter out(kOk);
      out.Field("count", static_cast<int64_t>(result.response.messages_size()));
      for (const v1::Message& m : result.response.messages()) out.Record(m);
      co_return Ok(std::move(out));
    }

    case Command::kDisconnected: {
      // The session used on this connection ends; without one there is nothing to end.
      if (!state.last_token.empty()) {
        call.token = state.last_token;
        auto result = co_await core_.Call<v1::LogoutResponse>(
            [](Async* a, grpc::ClientContext* c, const v1::LogoutRequest* q,
               v1::LogoutResponse* r, Callback cb) { a->Logout(c, q, r, std::move(cb)); },
            v1::LogoutRequest(), call);
        if (!result.status.ok() &&
            result.status.error_code() != grpc::StatusCode::UNAUTHENTICATED) {
          Reply failed = Failure(result);
          failed.close = true;
          co_return failed;
        }
      }
      Reply bye = Ok(ResponseWriter(kOk));
      bye.close = true;
      co_return bye;
    }

    case Command::kGetHistory:
    case Command::kGetConversations:
    case Command::kUserInfo:
    case Command::kBlockUser:
    case Command::kUnblockUser:
    case Command::kBanUser:
    case Command::kUnbanUser:
    case Command::kSubscribe:
    case Command::kNewChgAvailable:
      co_return ErrorReply(kError, "not-implemented", "this command is not available yet");
  }
  co_return ErrorReply(kError, "internal", "unhandled command");
}

}  // namespace tchatator::gateway
