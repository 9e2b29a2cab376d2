#include "gateway/dispatcher.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <optional>
#include <random>

#include <asio/this_coro.hpp>

#include "common/crypto.h"
#include "common/numbers.h"
#include "common/strings.h"
#include "gateway/response.h"
#include "gateway/wire_status.h"

namespace tchatator::gateway {
namespace {

using Async = v1::ChatService::StubInterface::async_interface;
using Callback = std::function<void(grpc::Status)>;

// A positive decimal id, as every id and count of the protocol is: at most 2^63 - 1
// (PostgreSQL's bigint), leading zeros allowed (the line's length bounds them).
std::optional<int64_t> ParseId(const std::string* text) {
  if (text == nullptr) return std::nullopt;
  return ParsePositive(*text);
}

// The 416 of an id (or count) that ParseId refused.
Reply BadValue(std::string_view key) {
  return ErrorReply(kMisformatted, "bad-value", StrCat(key, " must be a positive whole number"));
}

// The stub call of RPC `method`, in the shape CoreClient::Call takes.
#define TCHATATOR_RPC(method)                                                    \
  [](Async* a, grpc::ClientContext* c, const auto* q, auto* r, Callback cb) { \
    a->method(c, q, r, std::move(cb));                                         \
  }

std::string_view RoleName(v1::Role role) {
  switch (role) {
    case v1::ROLE_PRO:
      return "pro";
    case v1::ROLE_ADMIN:
      return "admin";
    default:
      return "member";
  }
}

// An optional id parameter: absent is 0, present must be valid.
std::optional<int64_t> OptionalId(const Request& request, std::string_view key) {
  const std::string* text = request.Find(key);
  if (text == nullptr) return 0;
  return ParseId(text);
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
  std::string log = StrCat(wire.status.code, " ", token);
  // The client hears only "retry later"; the log keeps why (gRPC's or the core's words).
  if (wire.status.code == kUnavailable.code) {
    StrAppend(&log, " (", result.status.error_message().substr(0, 300), ")");
  }
  return Reply{std::move(out).Finish(), false, std::move(log)};
}

// Whether `token` can name a session. It travels in a gRPC header, which admits only
// visible ASCII (gRPC aborts the process on anything else) and at most 8 KiB of
// metadata (beyond, a call fails RESOURCE_EXHAUSTED, which the wire would answer as a
// rate limit); no session token has other characters, nor more than kMaxSecretBytes.
bool CanBeSessionToken(std::string_view token) {
  if (token.size() > kMaxSecretBytes) return false;
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

// The session token a request names: legacy clients resend their API key as `token` on
// the connection where they logged in with it.
std::string ResolveToken(const Request& request, const ConnectionState& state) {
  const std::string* token = request.Find("token");
  if (token == nullptr) return "";
  std::string resolved = *token;
  for (const auto& [api_key, session_token] : state.login_aliases) {
    if (ConstantTimeEquals(*token, api_key)) resolved = session_token;
  }
  return resolved;
}

// "<process tag>-<counter>": unique across gateway processes and restarts, shared by
// the gateway's and the core's log lines of one request.
std::string NextRequestId() {
  static const std::string tag = [] {
    std::random_device rd;
    char buffer[9];
    std::snprintf(buffer, sizeof buffer, "%08x", static_cast<unsigned>(rd()));
    return std::string(buffer);
  }();
  static std::atomic<uint64_t> counter{0};
  return StrCat(tag, "-", ++counter);
}

// Any answer of the core but 401, 500 or 503 proves the session of `call` valid (the
// core answers nothing else before it has authenticated the request): the login
// deadline no longer applies, and it is the session DISCONNECTED ends. A 500 or 503 (a
// failure, the core unreachable) proves nothing.
template <typename Response>
void Settle(const CallResult<Response>& result, const CallContext& call,
            ConnectionState& state) {
  const int code = FromGrpc(result.status.error_code()).status.code;
  if (code != kUnauthenticated.code && code != kError.code && code != kUnavailable.code) {
    state.authenticated = true;
    if (!call.token.empty()) state.last_token = call.token;
  }
}

}  // namespace

Reply ErrorReply(WireStatus status, std::string_view token, std::string_view message,
                 bool close) {
  return Reply{ErrorResponse(status, token, message), close, StrCat(status.code, " ", token)};
}

asio::awaitable<Reply> Dispatcher::Dispatch(Request request, ConnectionState& state) {
  ++state.requests;
  CallContext call{ResolveToken(request, state), state.client_ip, NextRequestId()};
  state.request_id = call.request_id;
  if (!CanBeSessionToken(call.token)) {
    co_return ErrorReply(kUnauthenticated, "not-authenticated", "no valid session: LOGIN first");
  }
  // One coroutine per command: with every command's locals in it, this frame took 6 KB,
  // too big for asio's recycled frames, and each request paid a large allocation.
  switch (request.command) {
    case Command::kPing:
      co_return Ok(ResponseWriter(kOk));
    case Command::kLogin:
      co_return co_await Login(request, call, state);
    case Command::kSendMsg:
      co_return co_await SendMsg(request, call, state);
    case Command::kUpdtMsg:
      co_return co_await UpdateMsg(request, call, state);
    case Command::kDelMsg:
      co_return co_await DeleteMsg(request, call, state);
    case Command::kGetUnread:
      co_return co_await GetUnread(request, call, state);
    case Command::kGetHistory:
      co_return co_await GetHistory(request, call, state);
    case Command::kGetConversations:
      co_return co_await GetConversations(request, call, state);
    case Command::kUserInfo:
      co_return co_await UserInfo(request, call, state);
    case Command::kBlockUser:
    case Command::kBanUser:
      co_return co_await Restrict(request, call, state);
    case Command::kUnblockUser:
    case Command::kUnbanUser:
      co_return co_await Lift(request, call, state);
    case Command::kDisconnected:
      co_return co_await Disconnect(request, call, state);
    case Command::kNewChgAvailable:
      co_return co_await PollChanges(request, call, state);
    case Command::kSubscribe:
      co_return co_await Subscribe(request, call, state);
  }
  co_return ErrorReply(kError, "internal", "unhandled command");
}

asio::awaitable<Reply> Dispatcher::Login(const Request& request, CallContext& call,
                                         ConnectionState& state) {
  v1::LoginRequest rpc;
  rpc.set_api_key(*request.Find("api-token"));
  auto result = co_await core_.Call<v1::LoginResponse>(TCHATATOR_RPC(Login), std::move(rpc), call);
  if (!result.status.ok()) co_return Failure(result);
  const v1::LoginResponse& r = result.response;
  const std::string& api_key = *request.Find("api-token");
  std::erase_if(state.login_aliases, [&](const auto& alias) { return alias.first == api_key; });
  if (state.login_aliases.size() == kMaxLoginAliases) {
    state.login_aliases.erase(state.login_aliases.begin());
  }
  state.login_aliases.emplace_back(api_key, r.token());
  state.last_token = r.token();
  state.user_id = std::to_string(r.user_id());
  state.authenticated = true;
  co_return Ok(std::move(ResponseWriter(kOk)
                             .Field("token", r.token())
                             .Field("user-id", r.user_id())
                             .Field("role", RoleName(r.role()))));
}

asio::awaitable<Reply> Dispatcher::SendMsg(const Request& request, CallContext& call,
                                           ConnectionState& state) {
  std::optional<int64_t> recipient = ParseId(request.Find("recipient-id"));
  if (!recipient) co_return BadValue("recipient-id");
  v1::SendMessageRequest rpc;
  rpc.set_recipient_id(*recipient);
  rpc.set_content(*request.Find("content"));
  CallResult<v1::SendMessageResponse> result;
  // Not one conditional expression: GCC 12 miscompiles co_await inside `?:`.
  if (sends_ != nullptr) {
    result = co_await sends_->Send(std::move(rpc), call);
  } else {
    result = co_await core_.Call<v1::SendMessageResponse>(TCHATATOR_RPC(SendMessage),
                                                         std::move(rpc), call);
  }
  Settle(result, call, state);
  if (!result.status.ok()) co_return Failure(result);
  co_return Ok(std::move(ResponseWriter(kOk)
                             .Field("message-id", result.response.message_id())
                             .Time("sent-at", result.response.sent_at())));
}

asio::awaitable<Reply> Dispatcher::UpdateMsg(const Request& request, CallContext& call,
                                             ConnectionState& state) {
  std::optional<int64_t> id = ParseId(request.Find("message-id"));
  if (!id) co_return BadValue("message-id");
  v1::UpdateMessageRequest rpc;
  rpc.set_message_id(*id);
  rpc.set_content(*request.Find("content"));
  auto result = co_await core_.Call<v1::UpdateMessageResponse>(TCHATATOR_RPC(UpdateMessage),
                                                               std::move(rpc), call);
  Settle(result, call, state);
  if (!result.status.ok()) co_return Failure(result);
  co_return Ok(std::move(ResponseWriter(kOk)
                             .Field("message-id", result.response.message_id())
                             .Time("modified-at", result.response.modified_at())));
}

asio::awaitable<Reply> Dispatcher::DeleteMsg(const Request& request, CallContext& call,
                                             ConnectionState& state) {
  std::optional<int64_t> id = ParseId(request.Find("message-id"));
  if (!id) co_return BadValue("message-id");
  v1::DeleteMessageRequest rpc;
  rpc.set_message_id(*id);
  auto result = co_await core_.Call<v1::DeleteMessageResponse>(TCHATATOR_RPC(DeleteMessage),
                                                               std::move(rpc), call);
  Settle(result, call, state);
  if (!result.status.ok()) co_return Failure(result);
  co_return Ok(
      std::move(ResponseWriter(kOk).Field("message-id", result.response.message_id())));
}

asio::awaitable<Reply> Dispatcher::GetUnread(const Request& /*request*/, CallContext& call,
                                             ConnectionState& state) {
  auto result = co_await core_.Call<v1::ListUnreadResponse>(
      TCHATATOR_RPC(ListUnread), v1::ListUnreadRequest(), call);
  Settle(result, call, state);
  if (!result.status.ok()) co_return Failure(result);
  ResponseWriter out(kOk);
  out.Field("count", static_cast<int64_t>(result.response.messages_size()));
  for (const v1::Message& m : result.response.messages()) out.Record(m);
  co_return Ok(std::move(out));
}

asio::awaitable<Reply> Dispatcher::GetHistory(const Request& request, CallContext& call,
                                              ConnectionState& state) {
  std::optional<int64_t> peer = OptionalId(request, "user-id");
  if (!peer) co_return BadValue("user-id");
  std::optional<int64_t> before = OptionalId(request, "before-id");
  if (!before) co_return BadValue("before-id");
  v1::ListHistoryRequest rpc;
  rpc.set_user_id(*peer);
  rpc.set_before_id(*before);
  auto result = co_await core_.Call<v1::ListHistoryResponse>(TCHATATOR_RPC(ListHistory),
                                                             std::move(rpc), call);
  Settle(result, call, state);
  if (!result.status.ok()) co_return Failure(result);
  ResponseWriter out(kOk);
  out.Field("count", static_cast<int64_t>(result.response.messages_size()));
  out.Field("has-more", result.response.has_more() ? "yes" : "no");
  for (const v1::Message& m : result.response.messages()) out.Record(m);
  co_return Ok(std::move(out));
}

asio::awaitable<Reply> Dispatcher::GetConversations(const Request& /*request*/, CallContext& call,
                                                    ConnectionState& state) {
  auto result = co_await core_.Call<v1::ListConversationsResponse>(
      TCHATATOR_RPC(ListConversations), v1::ListConversationsRequest(), call);
  Settle(result, call, state);
  if (!result.status.ok()) co_return Failure(result);
  ResponseWriter out(kOk);
  out.Field("count", static_cast<int64_t>(result.response.conversations_size()));
  for (const v1::Conversation& c : result.response.conversations()) {
    out.Field("peer-id", c.peer_id())
        .Field("peer-name", c.peer_name())
        .Field("peer-role", RoleName(c.peer_role()))
        .Field("last-message-id", c.last_message_id())
        .Time("last-at", c.last_at())
        .Field("unread", c.unread());
  }
  co_return Ok(std::move(out));
}

asio::awaitable<Reply> Dispatcher::UserInfo(const Request& request, CallContext& call,
                                            ConnectionState& state) {
  std::optional<int64_t> id = ParseId(request.Find("user-id"));
  if (!id) co_return BadValue("user-id");
  v1::GetUserRequest rpc;
  rpc.set_user_id(*id);
  auto result = co_await core_.Call<v1::User>(TCHATATOR_RPC(GetUser), std::move(rpc), call);
  Settle(result, call, state);
  if (!result.status.ok()) co_return Failure(result);
  co_return Ok(std::move(ResponseWriter(kOk)
                             .Field("user-id", result.response.user_id())
                             .Field("name", result.response.name())
                             .Field("role", RoleName(result.response.role()))));
}

asio::awaitable<Reply> Dispatcher::Restrict(const Request& request, CallContext& call,
                                            ConnectionState& state) {
  std::optional<int64_t> id = ParseId(request.Find("user-id"));
  if (!id) co_return BadValue("user-id");
  std::optional<int64_t> hours = OptionalId(request, "duration-hours");
  if (!hours) co_return BadValue("duration-hours");
  v1::RestrictRequest rpc;
  rpc.set_user_id(*id);
  rpc.set_duration_hours(*hours);
  // Not `cond ? co_await a : co_await b`: GCC 12 destroys such temporaries twice.
  CallResult<v1::RestrictResponse> result;
  if (request.command == Command::kBlockUser) {
    result = co_await core_.Call<v1::RestrictResponse>(TCHATATOR_RPC(Block), std::move(rpc),
                                                       call);
  } else {
    result = co_await core_.Call<v1::RestrictResponse>(TCHATATOR_RPC(Ban), std::move(rpc),
                                                       call);
  }
  Settle(result, call, state);
  if (!result.status.ok()) co_return Failure(result);
  ResponseWriter out(kOk);
  out.Field("user-id", result.response.user_id());
  if (result.response.has_until()) out.Time("until", result.response.until());
  co_return Ok(std::move(out));
}

asio::awaitable<Reply> Dispatcher::Lift(const Request& request, CallContext& call,
                                        ConnectionState& state) {
  std::optional<int64_t> id = ParseId(request.Find("user-id"));
  if (!id) co_return BadValue("user-id");
  v1::LiftRequest rpc;
  rpc.set_user_id(*id);
  CallResult<v1::LiftResponse> result;
  if (request.command == Command::kUnblockUser) {
    result = co_await core_.Call<v1::LiftResponse>(TCHATATOR_RPC(Unblock), std::move(rpc),
                                                   call);
  } else {
    result = co_await core_.Call<v1::LiftResponse>(TCHATATOR_RPC(Unban), std::move(rpc),
                                                   call);
  }
  Settle(result, call, state);
  if (!result.status.ok()) co_return Failure(result);
  co_return Ok(std::move(ResponseWriter(kOk).Field("user-id", result.response.user_id())));
}

asio::awaitable<Reply> Dispatcher::Disconnect(const Request& /*request*/, CallContext& call,
                                              ConnectionState& state) {
  // The session used on this connection ends; without one there is nothing to end.
  if (!state.last_token.empty() && CanBeSessionToken(state.last_token)) {
    call.token = state.last_token;
    auto result = co_await core_.Call<v1::LogoutResponse>(TCHATATOR_RPC(Logout),
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

asio::awaitable<Reply> Dispatcher::PollChanges(const Request& /*request*/, CallContext& call,
                                               ConnectionState& state) {
  auto result = co_await core_.Call<v1::PollChangesResponse>(
      TCHATATOR_RPC(PollChanges), v1::PollChangesRequest(), call);
  Settle(result, call, state);
  if (!result.status.ok()) co_return Failure(result);
  ResponseWriter out(kOk);
  out.Field("count", static_cast<int64_t>(result.response.changes_size()));
  out.Field("has-more", result.response.has_more() ? "yes" : "no");
  for (const v1::Change& c : result.response.changes()) out.ChangeRecord(c);
  co_return Ok(std::move(out));
}

asio::awaitable<Reply> Dispatcher::Subscribe(const Request& /*request*/, CallContext& call,
                                             ConnectionState& state) {
  // No co_await among the arguments: GCC 12 mishandles temporaries around it.
  asio::any_io_executor executor = co_await asio::this_coro::executor;
  std::optional<int64_t> after_change_id;
  if (state.events) {
    // Subscribed already: the session is checked as on a fresh connection (a stream
    // that only checks, taking no change), then the answer says whether its events are
    // the ones this connection receives.
    auto probe = std::make_shared<EventStream>(core_, executor, call, nullptr);
    CallResult<bool> probed = co_await probe->Open();
    probe->Cancel();
    Settle(probed, call, state);
    if (!probed.status.ok()) co_return Failure(probed);
    const int64_t theirs = probe->user_id(), ours = state.events->user_id();
    if (theirs != 0 && ours != 0 && theirs != ours) {
      co_return ErrorReply(kDenied, "forbidden",
                           "this connection receives another user's events");
    }
    const bool same_session = state.events->token() == call.token;
    // 0: a core of the previous release, which does not say whose; then only the same
    // session can be followed.
    const bool same_user = theirs != 0 && ours != 0;
    if ((same_session && !state.events->ended()) || (!same_session && !same_user)) {
      co_return Ok(ResponseWriter(kOk));
    }
    // Another session of the same user (the stream's may have ended, or end without a
    // word at the next change), or a stream that ended for good (session over, user
    // banned): the events follow this session from the last one written.
    after_change_id =
        std::max(*state.written_change_id, state.events->started_after_change_id());
  }
  EventStream::Deliver deliver = [push = state.push_event, written = state.written_change_id](
                                     const v1::Change& change, std::function<void()> more) {
    // Until the old stream is cancelled, both may bring the same changes.
    if (change.change_id() <= *written || !push) {
      more();
      return;
    }
    *written = change.change_id();
    push(std::move(ResponseWriter::Event().ChangeRecord(change)).Finish(), std::move(more));
  };
  auto stream = std::make_shared<EventStream>(core_, executor, call, std::move(deliver),
                                              after_change_id);
  CallResult<bool> result = co_await stream->Open();
  Settle(result, call, state);
  if (!result.status.ok()) {
    // The connection keeps the stream it had, if any.
    stream->Cancel();
    co_return Failure(result);
  }
  if (state.events) state.events->Cancel();
  state.events = std::move(stream);
  co_return Ok(ResponseWriter(kOk));
}

#undef TCHATATOR_RPC

}  // namespace tchatator::gateway
