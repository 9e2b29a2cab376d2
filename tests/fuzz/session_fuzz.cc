// libFuzzer target for a whole gateway session (contract section 2): the input is what
// a client sends on one connection. It drives a real gateway::Session (parser, output
// queue, write loop, dispatcher, CoreClient, EventStream) over a socketpair, against an
// in-process fake core (fake_core.h) whose answers are deterministic functions of each
// call, and checks that:
//   - every complete request is answered exactly once, in order: the responses are
//     compared one by one with what an oracle predicts from the requests (the outcomes
//     of a separate RequestParser over the whole input, each served by a model of the
//     dispatcher's rules against the fake core's answer functions), down to each field;
//   - nothing is answered after a closing answer (DISCONNECTED, request-too-large), and
//     the connection is then closed;
//   - every response is well formed: a CODE/LABEL line, key:value lines, an empty line;
//     non-200 ones carry error: and message:; content is preceded by message-length:N
//     and is exactly N code points; no other value holds a CR or LF;
//   - event frames (after SUBSCRIBE) are well formed, never inside a response, and are
//     a prefix, in order, of the changes the fake core streamed;
//   - the fake core received exactly the calls the requests imply, in order (no call
//     replayed, lost or added);
//   - the session ends once the client has closed its side, and its event stream too;
//   - and, under the sanitizers, nothing crashes, leaks or misbehaves.
// Any violation aborts, which libFuzzer reports as a crash.
//
// An input holding two NUL bytes in a row is cut there and sent on two connections
// served at once (sharing the io_context, the dispatcher, the core client and the
// gateway's per-thread read buffer; each connection is checked on its own); any other
// input is sent on one connection. Derived from a hash of each part: where it is cut
// into the chunks written one after the other (each is read by the session before the
// next is written; the two connections' chunks alternate); whether the client ends its
// side of the stream right after its last chunk (one in four) or only once answered;
// and whether its session runs with the smallest max-line-bytes (256) or the default.
//
// The gateway's side runs as in the gateway: one thread in io_context::run() for the
// sessions, gRPC's threads for the calls; the target plays the clients from the calling
// thread. That thread, the io_context and the fake core live as long as the process
// (as they outlive connections in the gateway): each input runs until its sessions and
// event streams are gone.
//
// Built with -DTCHATATOR_FUZZ_REPLAY it is a plain program whose main() runs each file
// given (or each file in each directory given) through the target, so CTest can replay
// the corpus with any compiler.

#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>

#include "absl/time/time.h"
#include "common/log.h"
#include "common/settings.h"
#include "gateway/core_client.h"
#include "gateway/dispatcher.h"
#include "gateway/request_parser.h"
#include "gateway/session.h"
#include "tests/fuzz/fake_core.h"

namespace tchatator::fuzz {
namespace {

using gateway::Command;
using gateway::ParseError;
using gateway::ParseOutcome;
using gateway::Request;
using gateway::RequestParser;

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------
// Failure reports.

std::string Printable(std::string_view text, size_t max = 4000) {
  std::string out;
  for (unsigned char c : text.substr(0, max)) {
    if (c == '\n') {
      out += "\\n\n    ";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > max) out += "...";
  return out;
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "session_fuzz: invariant violated: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// ---------------------------------------------------------------------------------
// Independent formatting helpers (the oracle does not reuse the gateway's).

uint64_t Hash(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325u;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3u;
  // splitmix64's finaliser: every bit depends on every input byte.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9u;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebu;
  return h ^ (h >> 31);
}

// Code points of valid UTF-8 text.
size_t CodePoints(std::string_view text) {
  size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

// RFC 3339 UTC, whole seconds, as absl writes it (the gateway's own formatter is
// checked against absl in tests/common/time_text_test.cc).
std::string Rfc3339(int64_t seconds) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(seconds),
                          absl::UTCTimeZone());
}

std::string Rfc3339(const google::protobuf::Timestamp& t) { return Rfc3339(t.seconds()); }

// What a non-content value must become on the wire.
std::string OneLine(std::string_view value) {
  std::string out(value);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

std::string RoleName(v1::Role role) {
  switch (role) {
    case v1::ROLE_PRO:
      return "pro";
    case v1::ROLE_ADMIN:
      return "admin";
    default:
      return "member";
  }
}

// A positive decimal id: digits only (leading zeros allowed), 1 to 2^63 - 1.
std::optional<int64_t> Id(const std::string* text) {
  if (text == nullptr || text->empty()) return std::nullopt;
  int64_t value = 0;
  for (char c : *text) {
    if (c < '0' || c > '9') return std::nullopt;
    const int digit = c - '0';
    if (value > (std::numeric_limits<int64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  if (value == 0) return std::nullopt;
  return value;
}

// Whether a token can be a session token, and travel in a gRPC header: at most 256
// bytes (the longest secret, common/crypto.h) of visible ASCII (gRPC aborts the process
// on a header value outside printable ASCII, and refuses more than 8 KiB of metadata).
bool LegalBearer(std::string_view token) {
  if (token.size() > 256) return false;
  for (unsigned char c : token) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------
// Expected responses.

using Field = std::pair<std::string, std::string>;
using Group = std::vector<Field>;

// A message value we cannot predict: any non-empty one line.
const std::string kAnyText = "\x01<any text>";

struct Expected {
  std::string status;             // "200/OK", or "EVENT" for an event frame
  std::string record_key;         // the key that starts each record; empty: none
  std::vector<Group> groups{{}};  // the fields before the first record, then each record
  std::string what;               // what was asked, for reports
  bool closes = false;            // the connection must close after it

  Expected& Add(std::string key, std::string value) {
    groups.back().emplace_back(std::move(key), std::move(value));
    return *this;
  }
  Expected& Add(std::string key, int64_t value) { return Add(std::move(key), std::to_string(value)); }
  Expected& Record() {
    groups.emplace_back();
    return *this;
  }
};

void AddContent(Expected& e, const std::string& content) {
  e.Add("message-length", static_cast<int64_t>(CodePoints(content)));
  e.Add("content", content);
}

void AddMessage(Expected& e, const v1::Message& m) {
  e.Add("message-id", m.message_id());
  e.Add("sender-id", m.sender_id());
  e.Add("recipient-id", m.recipient_id());
  e.Add("direction", m.direction() == v1::DIRECTION_SENT ? "sent" : "received");
  e.Add("sent-at", Rfc3339(m.sent_at()));
  if (m.has_modified_at()) {
    e.Add("modified-at", Rfc3339(m.modified_at()));
    e.Add("modified-ago", OneLine(m.modified_ago()));
  }
  e.Add("read", m.read() ? "yes" : "no");
  AddContent(e, m.content());
}

void AddChange(Expected& e, const v1::Change& c) {
  switch (c.kind()) {
    case v1::CHANGE_KIND_MESSAGE_DELETED:
      e.Add("change", "message_deleted");
      e.Add("message-id", c.message().message_id());
      return;
    case v1::CHANGE_KIND_MESSAGE_UPDATED:
      e.Add("change", "message_updated");
      break;
    default:
      e.Add("change", "new_message");
      break;
  }
  AddMessage(e, c.message());
}

Expected Ok(std::string what) { return Expected{"200/OK", "", {{}}, std::move(what)}; }

Expected Error(std::string status, std::string token, std::string message, std::string what) {
  Expected e{std::move(status), "", {{}}, std::move(what)};
  e.Add("error", std::move(token));
  e.Add("message", std::move(message));
  return e;
}

// The wire answer to a failed call (contract 2.2's mapping; the tokens the gateway uses
// when the core sends none).
Expected Failure(const FakeAnswer& a, std::string what) {
  std::string status, token;
  switch (a.code) {
    case grpc::StatusCode::UNAUTHENTICATED:
      status = "401/UNAUTH", token = "not-authenticated";
      break;
    case grpc::StatusCode::PERMISSION_DENIED:
      status = "403/DENIED", token = "forbidden";
      break;
    case grpc::StatusCode::NOT_FOUND:
      status = "404/NOTFND", token = "not-found";
      break;
    case grpc::StatusCode::INVALID_ARGUMENT:
      status = "416/MISFMT", token = "bad-value";
      break;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      status = "426/TOOMRQ", token = "rate-limited";
      break;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      status = "503/UNAVAIL", token = "unavailable";
      break;
    default:
      status = "500/ERROR", token = "internal";
      break;
  }
  if (!a.error_token.empty()) token = a.error_token;
  const bool unavailable = status == "503/UNAVAIL";
  Expected e = Error(status, token, unavailable ? kAnyText : OneLine(a.message), std::move(what));
  if (!a.retry_after.empty()) e.Add("retry-after", a.retry_after);
  if (!a.until.empty()) e.Add("until", a.until);
  return e;
}

Expected BadValue(std::string what) {
  return Error("416/MISFMT", "bad-value", kAnyText, std::move(what));
}

// ---------------------------------------------------------------------------------
// The oracle: what the session must answer to each outcome of the parser, and which
// calls the core must receive.

struct Model {
  // (API key, token) of each successful LOGIN on this connection, latest last, each key
  // once, the oldest dropped beyond kMaxLoginAliases.
  std::vector<std::pair<std::string, std::string>> login_aliases;
  std::string last_token;     // the session the core accepted last: DISCONNECTED ends it
  bool subscribed = false;
  std::string stream_token;  // the session the subscription follows
};

struct Plan {
  std::vector<Expected> responses;
  std::vector<std::string> calls;  // FakeKeys, in order
  std::vector<Expected> events;    // frames the accepted subscription may deliver
  bool closes = false;             // the last response closes the connection
  // The input ends inside a request: its answer (the last response) comes only once
  // the client ends its side.
  bool last_after_end_of_stream = false;
};

class Oracle {
 public:
  explicit Oracle(Plan& plan) : plan_(plan) {}

  void Serve(const Request& r) {
    const std::string what = "request #" + std::to_string(plan_.responses.size() + 1) + " " +
                             std::string(gateway::SpecOf(r.command).name);
    token_.clear();
    const size_t calls = plan_.calls.size();
    Expected e = Answer(r, what);
    // A call with the request's token that the core answered with anything but 401, 500
    // or 503 proves its session: the one DISCONNECTED ends from then on.
    if (!token_.empty() && plan_.calls.size() > calls && e.status != "401/UNAUTH" &&
        e.status != "500/ERROR" && e.status != "503/UNAVAIL") {
      m_.last_token = token_;
    }
    e.what = what;
    plan_.responses.push_back(std::move(e));
  }

 private:
  // `decided_by`: the key the fake decides the call by, when not its own.
  FakeAnswer Call(Method method, std::string_view token, std::vector<std::string> fields,
                  std::optional<std::string> decided_by = std::nullopt) {
    if (!LegalBearer(token)) {
      // Only DISCONNECTED gets here (Answer refuses such a token before anything else):
      // the session to end is one no token can name. The gateway must not call the
      // core (gRPC aborts the process on such metadata); as a 401 from the core would,
      // that ends nothing.
      FakeAnswer a;
      a.code = grpc::StatusCode::UNAUTHENTICATED;
      a.error_token = "not-authenticated";
      a.message = kAnyText;
      return a;
    }
    std::string key = FakeKey(method, token, fields);
    FakeAnswer a = Decide(method, token, decided_by.value_or(key));
    plan_.calls.push_back(std::move(key));
    return a;
  }

  Expected Answer(const Request& r, const std::string& what) {
    // The legacy rule: the API key of this connection's LOGIN stands for its token.
    std::string token;
    if (const std::string* t = r.Find("token")) {
      token = *t;
      for (const auto& [key, alias_token] : m_.login_aliases) {
        if (*t == key) token = alias_token;
      }
      token_ = token;
    }
    // Before anything else: a token no session can have (and no gRPC header can carry).
    if (!LegalBearer(token)) return Error("401/UNAUTH", "not-authenticated", kAnyText, what);
    auto str = [](int64_t v) { return std::to_string(v); };

    switch (r.command) {
      case Command::kPing:
        return Ok(what);

      case Command::kLogin: {
        const std::string& key = *r.Find("api-token");
        FakeAnswer a = Call(Method::kLogin, "", {key});
        if (a.code != grpc::StatusCode::OK) return Failure(a, what);
        const v1::LoginResponse p = LoginPayload(a.seed);
        std::erase_if(m_.login_aliases, [&](const auto& alias) { return alias.first == key; });
        if (m_.login_aliases.size() == gateway::kMaxLoginAliases) {
          m_.login_aliases.erase(m_.login_aliases.begin());
        }
        m_.login_aliases.emplace_back(key, p.token());
        m_.last_token = p.token();
        return Ok(what).Add("token", p.token()).Add("user-id", p.user_id()).Add("role", RoleName(p.role()));
      }

      case Command::kSendMsg: {
        const std::optional<int64_t> to = Id(r.Find("recipient-id"));
        if (!to) return BadValue(what);
        FakeAnswer a = Call(Method::kSendMessage, token, {str(*to), *r.Find("content")});
        if (a.code != grpc::StatusCode::OK) return Failure(a, what);
        const v1::SendMessageResponse p = SendPayload(a.seed);
        return Ok(what).Add("message-id", p.message_id()).Add("sent-at", Rfc3339(p.sent_at()));
      }

      case Command::kUpdtMsg: {
        const std::optional<int64_t> id = Id(r.Find("message-id"));
        if (!id) return BadValue(what);
        FakeAnswer a = Call(Method::kUpdateMessage, token, {str(*id), *r.Find("content")});
        if (a.code != grpc::StatusCode::OK) return Failure(a, what);
        const v1::UpdateMessageResponse p = UpdatePayload(a.seed, *id);
        return Ok(what).Add("message-id", *id).Add("modified-at", Rfc3339(p.modified_at()));
      }

      case Command::kDelMsg: {
        const std::optional<int64_t> id = Id(r.Find("message-id"));
        if (!id) return BadValue(what);
        FakeAnswer a = Call(Method::kDeleteMessage, token, {str(*id)});
        if (a.code != grpc::StatusCode::OK) return Failure(a, what);
        return Ok(what).Add("message-id", *id);
      }

      case Command::kGetUnread: {
        FakeAnswer a = Call(Method::kListUnread, token, {});
        if (a.code != grpc::StatusCode::OK) return Failure(a, what);
        const std::vector<v1::Message> messages = MessagesPayload(a.seed);
        Expected e = Ok(what);
        e.record_key = "message-id";
        e.Add("count", static_cast<int64_t>(messages.size()));
        for (const v1::Message& m : messages) AddMessage(e.Record(), m);
        return e;
      }

      case Command::kGetHistory: {
        const std::string* peer_text = r.Find("user-id");
        const std::string* before_text = r.Find("before-id");
        const std::optional<int64_t> peer = peer_text ? Id(peer_text) : 0;
        const std::optional<int64_t> before = before_text ? Id(before_text) : 0;
        if (!peer || !before) return BadValue(what);
        FakeAnswer a = Call(Method::kListHistory, token, {str(*peer), str(*before)});
        if (a.code != grpc::StatusCode::OK) return Failure(a, what);
        const std::vector<v1::Message> messages = MessagesPayload(a.seed);
        Expected e = Ok(what);
        e.record_key = "message-id";
        e.Add("count", static_cast<int64_t>(messages.size()));
        e.Add("has-more", HasMorePayload(a.seed) ? "yes" : "no");
        for (const v1::Message& m : messages) AddMessage(e.Record(), m);
        return e;
      }

      case Command::kGetConversations: {
        FakeAnswer a = Call(Method::kListConversations, token, {});
        if (a.code != grpc::StatusCode::OK) return Failure(a, what);
        const std::vector<v1::Conversation> conversations = ConversationsPayload(a.seed);
        Expected e = Ok(what);
        e.record_key = "peer-id";
        e.Add("count", static_cast<int64_t>(conversations.size()));
        for (const v1::Conversation& c : conversations) {
          e.Record()
              .Add("peer-id", c.peer_id())
              .Add("peer-name", OneLine(c.peer_name()))
              .Add("peer-role", RoleName(c.peer_role()))
              .Add("last-message-id", c.last_message_id())
              .Add("last-at", Rfc3339(c.last_at()))
              .Add("unread", c.unread());
        }
        return e;
      }

      case Command::kUserInfo: {
        const std::optional<int64_t> id = Id(r.Find("user-id"));
        if (!id) return BadValue(what);
        FakeAnswer a = Call(Method::kGetUser, token, {str(*id)});
        if (a.code != grpc::StatusCode::OK) return Failure(a, what);
        const v1::User u = UserPayload(a.seed, *id);
        return Ok(what).Add("user-id", *id).Add("name", OneLine(u.name())).Add("role", RoleName(u.role()));
      }

      case Command::kBlockUser:
      case Command::kBanUser: {
        const bool block = r.command == Command::kBlockUser;
        const std::optional<int64_t> id = Id(r.Find("user-id"));
        if (!id) return BadValue(what);
        const std::string* hours_text = r.Find("duration-hours");
        const std::optional<int64_t> hours = hours_text ? Id(hours_text) : 0;
        if (!hours) return BadValue(what);
        FakeAnswer a = Call(block ? Method::kBlock : Method::kBan, token, {str(*id), str(*hours)});
        if (a.code != grpc::StatusCode::OK) return Failure(a, what);
        const v1::RestrictResponse p = RestrictPayload(a.seed, *id, block);
        Expected e = Ok(what).Add("user-id", *id);
        if (p.has_until()) e.Add("until", Rfc3339(p.until()));
        return e;
      }

      case Command::kUnblockUser:
      case Command::kUnbanUser: {
        const std::optional<int64_t> id = Id(r.Find("user-id"));
        if (!id) return BadValue(what);
        FakeAnswer a = Call(r.command == Command::kUnblockUser ? Method::kUnblock : Method::kUnban,
                            token, {str(*id)});
        if (a.code != grpc::StatusCode::OK) return Failure(a, what);
        return Ok(what).Add("user-id", *id);
      }

      case Command::kDisconnected: {
        Expected e = Ok(what);
        if (!m_.last_token.empty()) {
          FakeAnswer a = Call(Method::kLogout, m_.last_token, {});
          if (a.code != grpc::StatusCode::OK && a.code != grpc::StatusCode::UNAUTHENTICATED) {
            e = Failure(a, what);
          }
        }
        e.closes = true;
        return e;
      }

      case Command::kNewChgAvailable: {
        FakeAnswer a = Call(Method::kPollChanges, token, {});
        if (a.code != grpc::StatusCode::OK) return Failure(a, what);
        const std::vector<v1::Change> changes = ChangesPayload(a.seed);
        Expected e = Ok(what);
        e.record_key = "change";
        e.Add("count", static_cast<int64_t>(changes.size()));
        e.Add("has-more", HasMorePayload(a.seed) ? "yes" : "no");
        for (const v1::Change& c : changes) AddChange(e.Record(), c);
        return e;
      }

      case Command::kSubscribe: {
        // Subscribed already: a stream that only checks the session comes first (the
        // fake core names one user for every session, so it is the same user's).
        const std::string mode =
            m_.subscribed ? SubscribeModeName(SubscribeMode::kCheck) : std::string("0");
        FakeAnswer a = Call(Method::kSubscribe, token, {mode}, SubscribeDecisionKey(token));
        if (a.code == grpc::StatusCode::OK && SubscribeEndsAtOnce(a.seed)) {
          // The stream ended without being accepted.
          a.code = grpc::StatusCode::UNAVAILABLE;
        }
        if (a.code != grpc::StatusCode::OK) return Failure(a, what);
        if (m_.subscribed) {
          // Another session of the user: the subscription follows it, on a stream that
          // resumes where the other is (nothing new in the fake: no events). Refused,
          // the connection keeps the stream it had.
          if (token != m_.stream_token) {
            m_.last_token = token;  // the check proved the session
            FakeAnswer resumed =
                Call(Method::kSubscribe, token, {SubscribeModeName(SubscribeMode::kResume)});
            if (resumed.code == grpc::StatusCode::OK && SubscribeEndsAtOnce(resumed.seed)) {
              resumed.code = grpc::StatusCode::UNAVAILABLE;
            }
            if (resumed.code != grpc::StatusCode::OK) return Failure(resumed, what);
            m_.stream_token = token;
          }
          return Ok(what);
        }
        m_.subscribed = true;
        m_.stream_token = token;
        for (const v1::Change& c : ChangesPayload(a.seed)) {
          Expected event{"EVENT", "change", {{}}, "event of " + what};
          AddChange(event.Record(), c);
          plan_.events.push_back(std::move(event));
        }
        return Ok(what);
      }
    }
    Fail("oracle: unhandled command");
  }

  Plan& plan_;
  Model m_;
  std::string token_;  // the session token the request being answered names, if any
};

Plan MakePlan(std::string_view data, const gateway::ParserLimits& limits) {
  Plan plan;
  Oracle oracle(plan);
  RequestParser parser(limits);
  while (!plan.closes) {
    ParseOutcome outcome = parser.Next(data);
    if (std::holds_alternative<gateway::NeedMore>(outcome)) break;
    if (const auto* error = std::get_if<ParseError>(&outcome)) {
      Expected e = Error("416/MISFMT", std::string(error->error), kAnyText,
                         "parse error #" + std::to_string(plan.responses.size() + 1));
      e.closes = error->close;
      plan.responses.push_back(std::move(e));
    } else {
      oracle.Serve(std::get<Request>(outcome));
    }
    plan.closes = plan.responses.back().closes;
  }
  if (!plan.closes && parser.InRequest()) {
    Expected e = Error("416/MISFMT", "incomplete-request", "the stream ended inside a request",
                       "the request the end of stream cut");
    e.closes = true;
    plan.responses.push_back(std::move(e));
    plan.closes = true;
    plan.last_after_end_of_stream = true;
  }
  return plan;
}

// ---------------------------------------------------------------------------------
// Reading frames off the wire, independently of the gateway's writer.

struct Frame {
  std::string first;
  std::vector<Field> fields;
};

bool IsStatusLine(std::string_view line) {
  static constexpr std::string_view kLines[] = {"200/OK",     "401/UNAUTH", "403/DENIED",
                                                "404/NOTFND", "416/MISFMT", "426/TOOMRQ",
                                                "500/ERROR",  "503/UNAVAIL"};
  return std::find(std::begin(kLines), std::end(kLines), line) != std::end(kLines);
}

bool IsErrorToken(std::string_view token) {
  static constexpr std::string_view kTokens[] = {
      "not-authenticated", "invalid-api-key", "banned", "blocked", "not-owner",
      "recipient-not-allowed", "forbidden", "unknown-message", "unknown-user", "not-found",
      "unknown-command", "missing-parameter", "unknown-parameter", "duplicate-parameter",
      "bad-value", "length-mismatch", "content-too-long", "empty-content",
      "request-too-large", "incomplete-request", "rate-limited", "internal", "unavailable"};
  return std::find(std::begin(kTokens), std::end(kTokens), token) != std::end(kTokens);
}

bool IsKey(std::string_view key) {
  if (key.empty() || key.front() < 'a' || key.front() > 'z') return false;
  for (char c : key) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

// Reads one frame from `in` at `pos`: true and `pos` past it when complete, false when
// more bytes are needed. Aborts on a malformed frame.
bool ReadFrame(std::string_view in, size_t& pos, Frame& frame) {
  size_t p = pos;
  auto line = [&](std::string_view& out) {
    const size_t nl = in.find('\n', p);
    if (nl == std::string_view::npos) return false;
    out = in.substr(p, nl - p);
    p = nl + 1;
    return true;
  };
  auto bad = [&](const std::string& why) {
    Fail("malformed frame (" + why + ") at byte " + std::to_string(pos) + ":\n    " +
         Printable(in.substr(pos, 2000)));
  };
  std::string_view first;
  if (!line(first)) return false;
  if (first != "EVENT" && !IsStatusLine(first)) bad("first line is not CODE/LABEL nor EVENT");
  frame = Frame{std::string(first), {}};
  while (true) {
    std::string_view text;
    if (!line(text)) return false;
    if (text.empty()) break;
    const size_t colon = text.find(':');
    if (colon == std::string_view::npos) bad("a line without ':'");
    const std::string_view key = text.substr(0, colon);
    const std::string_view value = text.substr(colon + 1);
    if (!IsKey(key)) bad("bad key");
    if (key == "content") bad("content without message-length before it");
    if (value.find('\r') != std::string_view::npos) bad("CR in a value");
    frame.fields.emplace_back(std::string(key), std::string(value));
    if (key != "message-length") continue;
    // content:, then exactly N code points (a line break counts one), then '\n'.
    if (value.empty() || value.size() > 9 ||
        value.find_first_not_of("0123456789") != std::string_view::npos) {
      bad("message-length is not a count");
    }
    const size_t n = std::stoul(std::string(value));
    constexpr std::string_view kContent = "content:";
    if (in.size() - p < kContent.size()) return false;
    if (in.substr(p, kContent.size()) != kContent) bad("message-length not followed by content");
    p += kContent.size();
    const size_t start = p;
    for (size_t chars = 0; chars < n; ++chars) {
      if (p >= in.size()) return false;
      ++p;
      while (p < in.size() && (static_cast<unsigned char>(in[p]) & 0xC0) == 0x80) ++p;
    }
    if (p >= in.size()) return false;
    if (in[p] != '\n') bad("content longer than its message-length");
    frame.fields.emplace_back("content", std::string(in.substr(start, p - start)));
    ++p;
  }
  // Shape rules of contract 2.2.
  if (first != "200/OK" && first != "EVENT") {
    bool error = false, message = false;
    for (const auto& [key, value] : frame.fields) {
      if (key == "error") {
        error = true;
        if (!IsErrorToken(value)) bad("unknown error token");
      }
      if (key == "message") message = !value.empty();
    }
    if (!error || !message) bad("non-200 response without error: and message:");
  }
  pos = p;
  return true;
}

std::string Show(const std::vector<Group>& groups) {
  std::string out;
  for (size_t i = 0; i < groups.size(); ++i) {
    out += i == 0 ? "\n      header:" : "\n      record:";
    for (const auto& [key, value] : groups[i]) out += " [" + key + ":" + Printable(value, 200) + "]";
  }
  return out;
}

std::vector<Group> Split(const Frame& frame, const std::string& record_key) {
  std::vector<Group> groups{{}};
  for (const Field& f : frame.fields) {
    if (!record_key.empty() && f.first == record_key) groups.emplace_back();
    groups.back().push_back(f);
  }
  return groups;
}

bool SameGroup(Group actual, Group expected) {
  if (actual.size() != expected.size()) return false;
  std::sort(actual.begin(), actual.end());
  // Wildcards match any non-empty value of their key.
  for (Field& f : expected) {
    if (f.second != kAnyText) continue;
    auto it = std::find_if(actual.begin(), actual.end(),
                           [&](const Field& a) { return a.first == f.first; });
    if (it == actual.end() || it->second.empty()) return false;
    f.second = it->second;
  }
  std::sort(expected.begin(), expected.end());
  return actual == expected;
}

void Compare(const Frame& frame, const Expected& expected, size_t index) {
  const std::vector<Group> groups = Split(frame, expected.record_key);
  bool same = frame.first == expected.status && groups.size() == expected.groups.size();
  for (size_t i = 0; same && i < groups.size(); ++i) same = SameGroup(groups[i], expected.groups[i]);
  if (!same) {
    Fail("frame #" + std::to_string(index + 1) + " does not answer " + expected.what +
         "\n    expected: " + expected.status + Show(expected.groups) +
         "\n    actual:   " + frame.first + Show(groups));
  }
}

// ---------------------------------------------------------------------------------
// The harness: one process-wide io_context and core client; per input, one session.

Settings DefaultSettings() {
  absl::StatusOr<Settings> settings = LoadSettings("", {});
  if (!settings.ok()) Fail("cannot load the default settings");
  return *settings;
}

Settings SmallSettings() {
  Settings s = DefaultSettings();
  s.max_line_bytes = 256;  // the smallest allowed
  return s;
}

// The gateway's side runs as in the gateway: one thread in io_context::run(), fed by
// gRPC's threads; the fuzz target plays the clients from the calling thread.
struct Harness {
  Harness()
      : core(FakeCore::Instance().channel(), std::chrono::milliseconds(5000)),
        normal(DefaultSettings()),
        small(SmallSettings()),
        work(asio::make_work_guard(io)),
        thread([this] { io.run(); }) {
    Log::Configure("/dev/null", false);
  }
  asio::io_context io;
  gateway::CoreClient core;
  gateway::Dispatcher dispatcher{core};  // shared by the sessions, as in the gateway
  SettingsHolder normal;
  SettingsHolder small;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::thread thread;

  // Runs `f` on the gateway's thread and waits for it.
  template <typename F>
  void OnGatewayThread(F f) {
    std::promise<void> done;
    asio::post(io, [&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }
};

Harness& TheHarness() {
  static Harness* harness = new Harness;  // never destroyed: its threads outlive main
  return *harness;
}

constexpr auto kPatience = std::chrono::seconds(10);

std::vector<std::string_view> Chunks(std::string_view data, uint64_t seed) {
  std::vector<std::string_view> chunks;
  if (seed % 4 == 1) {
    if (!data.empty()) chunks.push_back(data);
    return chunks;
  }
  uint64_t state = seed;
  for (size_t pos = 0; pos < data.size();) {
    state = state * 6364136223846793005u + 1442695040888963407u;
    const size_t size = 1 + static_cast<size_t>((state >> 33) % 97);
    chunks.push_back(data.substr(pos, size));
    pos += chunks.back().size();
  }
  return chunks;
}

// One client connection, the gateway session serving it, and what it must answer.
class Connection {
 public:
  Connection(Harness& h, std::string_view data, int index)
      : seed_(Hash(data) ^ (0x9e3779b97f4a7c15u * static_cast<uint64_t>(index + 1))),
        small_((seed_ >> 8) % 4 == 0),
        half_close_early_((seed_ >> 16) % 4 == 0),
        client_ip_("10.0.0." + std::to_string(index + 1)),
        chunks_(Chunks(data, seed_)) {
    const SettingsHolder& settings = small_ ? h.small : h.normal;
    const size_t line_limit = static_cast<size_t>(settings.Get()->max_line_bytes);
    // The session's parser limits (gateway/session.cc, LimitsOf).
    plan_ = MakePlan(data, gateway::ParserLimits{line_limit, line_limit});

    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) Fail("socketpair");
    fd_ = fds[0];
    if (half_close_early_) {
      // The gateway cannot write much ahead of such a client (see Holding).
      const int size = 4096;
      ::setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    }
    h.OnGatewayThread([&] {
      asio::ip::tcp::socket socket(h.io);
      socket.assign(asio::ip::tcp::v4(), fds[1]);
      auto session = std::make_shared<gateway::Session>(std::move(socket), client_ip_,
                                                        h.dispatcher, settings,
                                                        [this] { gone_ = true; });
      session->Start();
    });
  }
  ~Connection() { ::close(fd_); }

  const Plan& plan() const { return plan_; }
  const std::string& client_ip() const { return client_ip_; }
  bool gone() const { return gone_.load(); }
  int fd() const { return fd_; }
  bool eof() const { return eof_; }
  const std::vector<Frame>& responses() const { return responses_; }
  const std::vector<Frame>& events() const { return events_; }

  // Writes what it can of the next chunk once the gateway has read the previous one.
  // True while there is more to write; false once everything is written or the gateway
  // has closed the connection.
  bool WriteSome(bool& progressed) {
    if (next_ == chunks_.size() && half_close_early_ && !shut_) {
      // A client that ends its side as soon as it has sent everything (nc -N): every
      // complete request must still be answered.
      ShutdownWrite();
    }
    if (eof_ || next_ == chunks_.size()) return false;
    struct AfterLastChunk {
      Connection* c;
      ~AfterLastChunk() {
        if (c->next_ == c->chunks_.size() && c->half_close_early_) c->ShutdownWrite();
      }
    } after_last_chunk{this};
    if (Unread() > 0) return true;  // the previous chunk is not read yet
    std::string_view rest = chunks_[next_].substr(offset_);
    const ssize_t n = ::send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      progressed = true;
      offset_ += static_cast<size_t>(n);
      if (offset_ == chunks_[next_].size()) {
        ++next_;
        offset_ = 0;
      }
    } else if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
      next_ = chunks_.size();  // closed by the gateway: the rest is never read
      return false;
    } else if (!(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) {
      Fail(std::string("send: ") + std::strerror(errno));
    }
    return next_ < chunks_.size();
  }

  bool Answered() const {
    return responses_.size() + (plan_.last_after_end_of_stream ? 1 : 0) >=
               plan_.responses.size() ||
           eof_;
  }

  void ShutdownWrite() {
    if (!shut_) ::shutdown(fd_, SHUT_WR);
    shut_ = true;
  }

  void Read() {
    if (half_close_early_ && Holding()) return;
    char buf[65536];
    while (!eof_) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        in_.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno == ECONNRESET) {
        eof_ = true;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        break;
      } else {
        Fail(std::string("recv: ") + std::strerror(errno));
      }
    }
    Frame frame;
    while (ReadFrame(in_, parsed_, frame)) {
      (frame.first == "EVENT" ? events_ : responses_).push_back(std::move(frame));
    }
  }

  std::string Summary() const {
    return "\n    connection " + client_ip_ + ": " + std::to_string(chunks_.size()) +
           " chunk(s)" + (half_close_early_ ? " then end of stream" : "") + ", " +
           (small_ ? "max-line-bytes 256" : "default limits") + "; expected " +
           std::to_string(plan_.responses.size()) + " response(s)" +
           (plan_.closes ? ", then the close" : "") + "; received " +
           std::to_string(responses_.size()) + " response(s) and " +
           std::to_string(events_.size()) + " of " + std::to_string(plan_.events.size()) +
           " event(s)" + (eof_ ? ", then EOF" : "");
  }

  // Every check, once the connection is closed and its session gone.
  void Check(const std::vector<Received>& received) const {
    if (parsed_ != in_.size()) {
      Fail("the stream ends inside a frame:\n    " +
           Printable(std::string_view(in_).substr(parsed_)) + Summary());
    }
    const size_t common = std::min(responses_.size(), plan_.responses.size());
    for (size_t i = 0; i < common; ++i) Compare(responses_[i], plan_.responses[i], i);
    if (responses_.size() != plan_.responses.size()) {
      Fail(std::string(responses_.size() < plan_.responses.size() ? "requests left unanswered"
                                                                 : "more responses than requests") +
           Summary());
    }
    if (events_.size() > plan_.events.size()) Fail("more events than the core streamed" + Summary());
    for (size_t i = 0; i < events_.size(); ++i) Compare(events_[i], plan_.events[i], i);
    std::vector<std::string> calls;
    for (const Received& r : received) {
      if (r.client_ip == client_ip_) calls.push_back(r.key);
    }
    for (size_t i = 0; i < std::max(calls.size(), plan_.calls.size()); ++i) {
      const std::string actual = i < calls.size() ? calls[i] : "(none)";
      const std::string expected = i < plan_.calls.size() ? plan_.calls[i] : "(none)";
      if (actual != expected) {
        Fail("call #" + std::to_string(i + 1) + " to the core differs:\n    expected: " +
             Printable(expected, 400) + "\n    received: " + Printable(actual, 400) + Summary());
      }
    }
    if (std::getenv("TCHATATOR_FUZZ_VERBOSE") != nullptr) {
      std::fprintf(stderr, "%s\n  received:\n    %s\n", Summary().c_str(), Printable(in_).c_str());
    }
  }

 private:
  // A client that ends its side early reads nothing until the gateway has read all it
  // sent, then gives the gateway up to 20 ms to close the connection first: a gateway
  // that closes on the end of stream without writing out its answers (its send buffer
  // is kept small) is caught.
  bool Holding() {
    if (hold_until_ == Clock::time_point()) {
      if (!shut_ || Unread() > 0) return true;
      hold_until_ = Clock::now() + std::chrono::milliseconds(20);
    }
    if (Clock::now() >= hold_until_) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 0) == 1 && (p.revents & POLLHUP) != 0) {
      hold_until_ = Clock::now();  // closed by the gateway
      return false;
    }
    return true;
  }

  // Bytes written and not yet read by the gateway.
  int Unread() const {
    int queued = 0;
    if (::ioctl(fd_, SIOCOUTQ, &queued) != 0) Fail("ioctl SIOCOUTQ");
    return queued;
  }

  uint64_t seed_;
  bool small_;
  bool half_close_early_;  // end the client's side right after the last chunk
  bool shut_ = false;      // the client's side is ended
  Clock::time_point hold_until_;  // see Holding
  std::string client_ip_;
  std::vector<std::string_view> chunks_;
  Plan plan_;
  int fd_ = -1;
  std::atomic<bool> gone_ = false;  // set on the gateway's thread
  size_t next_ = 0;    // chunk being written
  size_t offset_ = 0;  // bytes of it written
  std::string in_;
  size_t parsed_ = 0;
  bool eof_ = false;
  std::vector<Frame> responses_;
  std::vector<Frame> events_;
};

// Waits a little for the gateway: yields at first, then sleeps in poll() (woken by data
// from the gateway); then reads what came.
void Breathe(const std::vector<std::unique_ptr<Connection>>& connections, int& idle) {
  std::vector<pollfd> fds;
  for (const auto& c : connections) {
    if (!c->eof()) fds.push_back(pollfd{c->fd(), POLLIN, 0});
  }
  if (++idle < 64) {
    sched_yield();
  } else {
    ::poll(fds.data(), fds.size(), 1);
  }
  for (const auto& c : connections) c->Read();
}

void RunInput(std::string_view data) {
  Harness& h = TheHarness();
  FakeCore& fake = FakeCore::Instance();
  fake.Take();
  // One connection, or two at once when the input holds two NUL bytes in a row: what
  // comes before them goes on the first, what comes after on the second.
  std::vector<std::string_view> parts{data};
  constexpr std::string_view kSeparator("\0\0", 2);
  if (const size_t cut = data.find(kSeparator); cut != std::string_view::npos) {
    parts = {data.substr(0, cut), data.substr(cut + kSeparator.size())};
  }
  std::vector<std::unique_ptr<Connection>> connections;
  for (size_t i = 0; i < parts.size(); ++i) {
    connections.push_back(std::make_unique<Connection>(h, parts[i], static_cast<int>(i)));
  }

  auto summary = [&] {
    std::string out;
    for (const auto& c : connections) out += c->Summary();
    return out;
  };
  auto wait_until = [&](auto done) {
    const Clock::time_point deadline = Clock::now() + kPatience;
    int idle = 0;
    while (!done()) {
      if (Clock::now() > deadline) return false;
      Breathe(connections, idle);
    }
    return true;
  };
  auto all = [&](auto predicate) {
    return std::all_of(connections.begin(), connections.end(),
                       [&](const auto& c) { return predicate(*c); });
  };

  // 1. The inputs, chunk by chunk, each read by the gateway before the next is sent.
  Clock::time_point deadline = Clock::now() + kPatience;
  int idle = 0;
  for (;;) {
    bool more = false, progressed = false;
    for (const auto& c : connections) more = c->WriteSome(progressed) || more;
    if (!more) break;
    if (progressed) {
      deadline = Clock::now() + kPatience;
      idle = 0;
    } else if (Clock::now() > deadline) {
      Fail("the gateway stopped reading a connection it keeps open" + summary());
    }
    Breathe(connections, idle);
  }
  // 2. Every answer (or the close).
  if (!wait_until([&] { return all([](const Connection& c) { return c.Answered(); }); })) {
    Fail("requests left unanswered (hang)" + summary());
  }
  // 3. The clients end their side: the gateway must close the connections.
  for (const auto& c : connections) c->ShutdownWrite();
  if (!wait_until([&] { return all([](const Connection& c) { return c.eof(); }); })) {
    Fail("a connection stays open after the client's end of stream" + summary());
  }
  // 4. The sessions and their event streams must go away.
  if (!wait_until([&] {
        return all([](const Connection& c) { return c.gone(); }) && fake.open_streams() == 0;
      })) {
    Fail(std::string(all([](const Connection& c) { return c.gone(); }) ? "an event stream"
                                                                        : "a session") +
         " outlives its closed connection" + summary());
  }
  // What the gateway's thread still has to run for them (a cancelled stream's last
  // callbacks) runs before the next input.
  h.OnGatewayThread([] {});

  const std::vector<Received> received = fake.Take();
  for (const auto& c : connections) c->Check(received);
}

}  // namespace
}  // namespace tchatator::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tchatator::fuzz::RunInput(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}

#ifdef TCHATATOR_FUZZ_REPLAY

#include <filesystem>
#include <fstream>
#include <iterator>

namespace {

int ReplayFile(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return 1;
  }
  const std::string data((std::istreambuf_iterator<char>(file)),
                         std::istreambuf_iterator<char>());
  std::fprintf(stderr, "replaying %s\n", path.c_str());
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  return 0;
}

}  // namespace

// Usage: session_replay FILE_OR_DIR...
// Runs every file (directories: every regular file in them, in name order) through
// the target. Fails if a file cannot be read or if no file was found.
int main(int argc, char** argv) {
  int files = 0;
  int errors = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      std::vector<std::filesystem::path> paths;
      for (const auto& entry : std::filesystem::directory_iterator(arg, ec)) {
        if (entry.is_regular_file()) paths.push_back(entry.path());
      }
      if (ec) {
        std::fprintf(stderr, "cannot list %s\n", arg.c_str());
        ++errors;
      }
      std::sort(paths.begin(), paths.end());
      for (const auto& path : paths) {
        errors += ReplayFile(path);
        ++files;
      }
    } else {
      errors += ReplayFile(arg);
      ++files;
    }
  }
  std::printf("replayed %d file(s), %d unreadable\n", files, errors);
  std::fflush(stdout);
  // gRPC's threads are still running: leave without destructors.
  std::_Exit((files == 0 || errors != 0) ? 1 : 0);
}

#endif  // TCHATATOR_FUZZ_REPLAY
