#include "tests/fuzz/fake_core.h"

#include <cstdio>
#include <cstdlib>
#include <initializer_list>

namespace tchatator::fuzz {
namespace {

uint64_t Mix(uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9u;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebu;
  x ^= x >> 31;
  return x;
}

uint64_t Hash(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325u;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3u;
  return Mix(h);
}

// Contents of the messages the fake returns: line breaks, empty lines, lines that look
// like frames or fields, multi-byte characters, a lone CR.
constexpr std::string_view kContents[] = {
    "Bonjour, comment ça va ?",
    "a\nb",
    "\n",
    "ligne 1\n\nEVENT\n200/OK\n",
    "x:y",
    "😀 émoji ç",
    "fin\n",
    "a\rb",
    "message-length:3",
    "\n\n\n",
    "",
    "content:\ncontent:",
};

// Names: some hold line breaks, which must not reach the wire as such.
constexpr std::string_view kNames[] = {"Zoé", "Le Bistrot", "a\r\nb", "x:y", "", "ligne\nEVENT"};

// Ages of an edit, one with a line break.
constexpr std::string_view kAges[] = {"quelques secondes", "15 min", "3 h", "2 j", "deux\nlignes"};

template <size_t N>
std::string_view Pick(const std::string_view (&table)[N], uint64_t seed) {
  return table[seed % N];
}

google::protobuf::Timestamp Time(uint64_t seed) {
  google::protobuf::Timestamp t;
  // 1970 to 2100, with nanoseconds that the wire drops.
  t.set_seconds(static_cast<int64_t>(seed % 4102444800u));
  t.set_nanos(static_cast<int32_t>((seed >> 40) % 1000000000u));
  return t;
}

v1::Role RoleOf(uint64_t seed) {
  switch (seed % 4) {
    case 0:
      return v1::ROLE_UNSPECIFIED;
    case 1:
      return v1::ROLE_MEMBER;
    case 2:
      return v1::ROLE_PRO;
    default:
      return v1::ROLE_ADMIN;
  }
}

v1::Message MessageOf(uint64_t seed) {
  v1::Message m;
  m.set_message_id(1 + static_cast<int64_t>(seed % 1000000007u));
  seed = Mix(seed);
  m.set_sender_id(1 + static_cast<int64_t>(seed % 5000));
  m.set_recipient_id(1 + static_cast<int64_t>((seed >> 16) % 5000));
  m.set_direction((seed >> 32) % 2 ? v1::DIRECTION_SENT : v1::DIRECTION_RECEIVED);
  *m.mutable_sent_at() = Time(Mix(seed + 1));
  if ((seed >> 34) % 3 == 0) {
    *m.mutable_modified_at() = Time(Mix(seed + 2));
    m.set_modified_ago(std::string(Pick(kAges, seed >> 36)));
  }
  m.set_read((seed >> 35) % 2 == 1);
  m.set_content(std::string(Pick(kContents, seed >> 40)));
  return m;
}

}  // namespace

std::string_view MethodName(Method method) {
  switch (method) {
    case Method::kLogin:
      return "Login";
    case Method::kLogout:
      return "Logout";
    case Method::kSendMessage:
      return "SendMessage";
    case Method::kUpdateMessage:
      return "UpdateMessage";
    case Method::kDeleteMessage:
      return "DeleteMessage";
    case Method::kListUnread:
      return "ListUnread";
    case Method::kListHistory:
      return "ListHistory";
    case Method::kListConversations:
      return "ListConversations";
    case Method::kGetUser:
      return "GetUser";
    case Method::kBlock:
      return "Block";
    case Method::kUnblock:
      return "Unblock";
    case Method::kBan:
      return "Ban";
    case Method::kUnban:
      return "Unban";
    case Method::kSubscribe:
      return "Subscribe";
    case Method::kPollChanges:
      return "PollChanges";
  }
  return "?";
}

std::string FakeKey(Method method, std::string_view token, const std::vector<std::string>& fields) {
  // Lengths first: unambiguous whatever bytes the fields hold.
  std::string key(MethodName(method));
  key += " token[" + std::to_string(token.size()) + "]=";
  key += token;
  for (const std::string& f : fields) {
    key += " [" + std::to_string(f.size()) + "]=";
    key += f;
  }
  return key;
}

std::string SubscribeModeName(SubscribeMode mode) {
  switch (mode) {
    case SubscribeMode::kFirst:
      return "first";
    case SubscribeMode::kCheck:
      return "check";
    case SubscribeMode::kResume:
      return "resume";
  }
  return "";
}

std::string SubscribeDecisionKey(std::string_view token) {
  return FakeKey(Method::kSubscribe, token, {"0"});
}

FakeAnswer Decide(Method method, std::string_view token, std::string_view key) {
  FakeAnswer a;
  const uint64_t h = Hash(key);
  a.seed = Mix(h ^ 0x5eed);
  if (method != Method::kLogin && token.empty()) {
    a.code = grpc::StatusCode::UNAUTHENTICATED;
    a.error_token = "not-authenticated";
    a.message = "fake: no session";
    return a;
  }
  const bool content = method == Method::kSendMessage || method == Method::kUpdateMessage;
  const bool message = content || method == Method::kDeleteMessage;
  using grpc::StatusCode;
  // About one call in five fails: codes 50 to 63 of 64 pick a failure.
  const uint64_t r = h % 64;
  switch (r < 50 ? 0 : r - 50 + 18) {
    case 18:
      a = {StatusCode::UNAUTHENTICATED, "not-authenticated", "fake: session expired", "", "", 0};
      break;
    case 19:
      a.code = StatusCode::PERMISSION_DENIED;
      a.error_token = method == Method::kLogin          ? "invalid-api-key"
                      : method == Method::kSendMessage ? "recipient-not-allowed"
                      : message                        ? "not-owner"
                                                       : "forbidden";
      a.message = "fake: denied";
      break;
    case 20:
      a.code = StatusCode::PERMISSION_DENIED;
      a.error_token = method == Method::kSendMessage ? "blocked" : "banned";
      a.message = "fake: restricted";
      if (method == Method::kSendMessage) a.until = "2026-11-27T10:15:00Z";
      break;
    case 21:
      a = {StatusCode::NOT_FOUND, message ? "unknown-message" : "unknown-user", "fake: not found",
           "", "", 0};
      break;
    case 22:
      a = {StatusCode::INVALID_ARGUMENT, content ? "content-too-long" : "bad-value",
           "fake: invalid\r\nvalue", "", "", 0};
      break;
    case 23:
      a = {StatusCode::INVALID_ARGUMENT, content ? "empty-content" : "bad-value",
           "fake: empty", "", "", 0};
      break;
    case 24:
      a = {StatusCode::RESOURCE_EXHAUSTED, "rate-limited", "fake: slow down", "42", "", 0};
      break;
    case 25:
      a = {StatusCode::UNAVAILABLE, "unavailable", "fake: database down", "", "", 0};
      break;
    case 26:
      a = {StatusCode::DEADLINE_EXCEEDED, "", "fake: too slow", "", "", 0};
      break;
    case 27:
      a = {StatusCode::INTERNAL, "internal", "fake: broken", "", "", 0};
      break;
    case 28:
      a = {StatusCode::UNKNOWN, "", "fake: unknown", "", "", 0};
      break;
    case 29:
      a = {StatusCode::PERMISSION_DENIED, "", "fake: denied without token", "", "", 0};
      break;
    case 30:
      a = {StatusCode::NOT_FOUND, "", "fake: not found without token", "", "", 0};
      break;
    case 31:
      a = {StatusCode::ABORTED, "", "fake: aborted", "", "", 0};
      break;
    default:
      break;  // OK
  }
  a.seed = Mix(h ^ 0x5eed);
  if (method == Method::kSubscribe) {
    // A stream's refusal carries only its error token.
    a.retry_after.clear();
    a.until.clear();
  }
  return a;
}

v1::LoginResponse LoginPayload(uint64_t seed) {
  v1::LoginResponse r;
  char token[32];
  std::snprintf(token, sizeof token, "tok-%012llx",
                static_cast<unsigned long long>(seed & 0xffffffffffffu));
  r.set_token(token);
  r.set_user_id(1 + static_cast<int64_t>((seed >> 20) % 9999));
  r.set_role(RoleOf(seed >> 40));
  *r.mutable_expires_at() = Time(Mix(seed));
  return r;
}

v1::SendMessageResponse SendPayload(uint64_t seed) {
  v1::SendMessageResponse r;
  r.set_message_id(1 + static_cast<int64_t>(seed % 1000000007u));
  *r.mutable_sent_at() = Time(Mix(seed));
  return r;
}

v1::UpdateMessageResponse UpdatePayload(uint64_t seed, int64_t message_id) {
  v1::UpdateMessageResponse r;
  r.set_message_id(message_id);
  *r.mutable_modified_at() = Time(Mix(seed));
  return r;
}

std::vector<v1::Message> MessagesPayload(uint64_t seed) {
  std::vector<v1::Message> out;
  const uint64_t n = seed % 5;
  for (uint64_t i = 0; i < n; ++i) out.push_back(MessageOf(Mix(seed + 17 * (i + 1))));
  return out;
}

bool HasMorePayload(uint64_t seed) { return (seed >> 50) % 2 == 1; }

std::vector<v1::Conversation> ConversationsPayload(uint64_t seed) {
  std::vector<v1::Conversation> out;
  const uint64_t n = seed % 4;
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t s = Mix(seed + 31 * (i + 1));
    v1::Conversation c;
    c.set_peer_id(1 + static_cast<int64_t>(s % 5000));
    c.set_peer_name(std::string(Pick(kNames, s >> 13)));
    c.set_peer_role(RoleOf(s >> 17));
    c.set_last_message_id(1 + static_cast<int64_t>((s >> 20) % 100000));
    *c.mutable_last_at() = Time(Mix(s));
    c.set_unread(static_cast<int64_t>((s >> 40) % 7));
    out.push_back(std::move(c));
  }
  return out;
}

v1::User UserPayload(uint64_t seed, int64_t user_id) {
  v1::User u;
  u.set_user_id(user_id);
  u.set_name(std::string(Pick(kNames, seed >> 7)));
  u.set_role(RoleOf(seed >> 11));
  return u;
}

v1::RestrictResponse RestrictPayload(uint64_t seed, int64_t user_id, bool block) {
  v1::RestrictResponse r;
  r.set_user_id(user_id);
  if (block) *r.mutable_until() = Time(Mix(seed));
  return r;
}

std::vector<v1::Change> ChangesPayload(uint64_t seed) {
  std::vector<v1::Change> out;
  const uint64_t n = seed % 4;
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t s = Mix(seed + 43 * (i + 1));
    v1::Change c;
    c.set_change_id(static_cast<int64_t>(1000 * (seed % 1000) + i + 1));
    *c.mutable_message() = MessageOf(s);
    switch (s % 3) {
      case 0:
        c.set_kind(v1::CHANGE_KIND_NEW_MESSAGE);
        break;
      case 1:
        c.set_kind(v1::CHANGE_KIND_MESSAGE_UPDATED);
        break;
      default: {
        c.set_kind(v1::CHANGE_KIND_MESSAGE_DELETED);
        const int64_t id = c.message().message_id();
        c.mutable_message()->Clear();
        c.mutable_message()->set_message_id(id);
        break;
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

bool SubscribeEndsAtOnce(uint64_t seed) { return (seed >> 55) % 8 == 0; }

// ---------------------------------------------------------------------------------
// The service.

class FakeCore::Service final : public v1::ChatService::CallbackService {
 public:
  explicit Service(FakeCore& core) : core_(core) {}

  grpc::ServerUnaryReactor* Login(grpc::CallbackServerContext* c, const v1::LoginRequest* q,
                                  v1::LoginResponse* r) override {
    return Unary(c, Method::kLogin, {q->api_key()}, [&](const FakeAnswer& a) {
      *r = LoginPayload(a.seed);
    });
  }
  grpc::ServerUnaryReactor* Logout(grpc::CallbackServerContext* c, const v1::LogoutRequest*,
                                   v1::LogoutResponse*) override {
    return Unary(c, Method::kLogout, {}, [](const FakeAnswer&) {});
  }
  grpc::ServerUnaryReactor* SendMessage(grpc::CallbackServerContext* c,
                                        const v1::SendMessageRequest* q,
                                        v1::SendMessageResponse* r) override {
    return Unary(c, Method::kSendMessage, {std::to_string(q->recipient_id()), q->content()},
                 [&](const FakeAnswer& a) { *r = SendPayload(a.seed); });
  }
  grpc::ServerUnaryReactor* UpdateMessage(grpc::CallbackServerContext* c,
                                          const v1::UpdateMessageRequest* q,
                                          v1::UpdateMessageResponse* r) override {
    return Unary(c, Method::kUpdateMessage, {std::to_string(q->message_id()), q->content()},
                 [&](const FakeAnswer& a) { *r = UpdatePayload(a.seed, q->message_id()); });
  }
  grpc::ServerUnaryReactor* DeleteMessage(grpc::CallbackServerContext* c,
                                          const v1::DeleteMessageRequest* q,
                                          v1::DeleteMessageResponse* r) override {
    return Unary(c, Method::kDeleteMessage, {std::to_string(q->message_id())},
                 [&](const FakeAnswer&) { r->set_message_id(q->message_id()); });
  }
  grpc::ServerUnaryReactor* ListUnread(grpc::CallbackServerContext* c,
                                       const v1::ListUnreadRequest*,
                                       v1::ListUnreadResponse* r) override {
    return Unary(c, Method::kListUnread, {}, [&](const FakeAnswer& a) {
      for (v1::Message& m : MessagesPayload(a.seed)) *r->add_messages() = std::move(m);
    });
  }
  grpc::ServerUnaryReactor* ListHistory(grpc::CallbackServerContext* c,
                                        const v1::ListHistoryRequest* q,
                                        v1::ListHistoryResponse* r) override {
    return Unary(c, Method::kListHistory,
                 {std::to_string(q->user_id()), std::to_string(q->before_id())},
                 [&](const FakeAnswer& a) {
                   for (v1::Message& m : MessagesPayload(a.seed)) *r->add_messages() = std::move(m);
                   r->set_has_more(HasMorePayload(a.seed));
                 });
  }
  grpc::ServerUnaryReactor* ListConversations(grpc::CallbackServerContext* c,
                                              const v1::ListConversationsRequest*,
                                              v1::ListConversationsResponse* r) override {
    return Unary(c, Method::kListConversations, {}, [&](const FakeAnswer& a) {
      for (v1::Conversation& x : ConversationsPayload(a.seed)) {
        *r->add_conversations() = std::move(x);
      }
    });
  }
  grpc::ServerUnaryReactor* GetUser(grpc::CallbackServerContext* c, const v1::GetUserRequest* q,
                                    v1::User* r) override {
    return Unary(c, Method::kGetUser, {std::to_string(q->user_id())},
                 [&](const FakeAnswer& a) { *r = UserPayload(a.seed, q->user_id()); });
  }
  grpc::ServerUnaryReactor* Block(grpc::CallbackServerContext* c, const v1::RestrictRequest* q,
                                  v1::RestrictResponse* r) override {
    return Unary(c, Method::kBlock,
                 {std::to_string(q->user_id()), std::to_string(q->duration_hours())},
                 [&](const FakeAnswer& a) { *r = RestrictPayload(a.seed, q->user_id(), true); });
  }
  grpc::ServerUnaryReactor* Unblock(grpc::CallbackServerContext* c, const v1::LiftRequest* q,
                                    v1::LiftResponse* r) override {
    return Unary(c, Method::kUnblock, {std::to_string(q->user_id())},
                 [&](const FakeAnswer&) { r->set_user_id(q->user_id()); });
  }
  grpc::ServerUnaryReactor* Ban(grpc::CallbackServerContext* c, const v1::RestrictRequest* q,
                                v1::RestrictResponse* r) override {
    return Unary(c, Method::kBan,
                 {std::to_string(q->user_id()), std::to_string(q->duration_hours())},
                 [&](const FakeAnswer& a) { *r = RestrictPayload(a.seed, q->user_id(), false); });
  }
  grpc::ServerUnaryReactor* Unban(grpc::CallbackServerContext* c, const v1::LiftRequest* q,
                                  v1::LiftResponse* r) override {
    return Unary(c, Method::kUnban, {std::to_string(q->user_id())},
                 [&](const FakeAnswer&) { r->set_user_id(q->user_id()); });
  }
  grpc::ServerUnaryReactor* PollChanges(grpc::CallbackServerContext* c,
                                        const v1::PollChangesRequest*,
                                        v1::PollChangesResponse* r) override {
    return Unary(c, Method::kPollChanges, {}, [&](const FakeAnswer& a) {
      for (v1::Change& x : ChangesPayload(a.seed)) *r->add_changes() = std::move(x);
      r->set_has_more(HasMorePayload(a.seed));
    });
  }

  grpc::ServerWriteReactor<v1::Change>* Subscribe(grpc::CallbackServerContext* c,
                                                  const v1::SubscribeRequest* q) override;

 private:
  class Stream;

  static std::string MetadataOf(grpc::CallbackServerContext* c, const char* key) {
    const auto& metadata = c->client_metadata();
    auto it = metadata.find(key);
    return it == metadata.end() ? std::string() : std::string(it->second.data(), it->second.size());
  }

  static std::string TokenOf(grpc::CallbackServerContext* c) {
    std::string value = MetadataOf(c, "authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (value.compare(0, kBearer.size(), kBearer) == 0) value.erase(0, kBearer.size());
    return value;
  }

  static void AddTrailers(grpc::CallbackServerContext* c, const FakeAnswer& a) {
    if (!a.error_token.empty()) c->AddTrailingMetadata("tchatator-error", a.error_token);
    if (!a.retry_after.empty()) c->AddTrailingMetadata("retry-after", a.retry_after);
    if (!a.until.empty()) c->AddTrailingMetadata("until", a.until);
  }

  template <typename Fill>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* c, Method method,
                                  const std::vector<std::string>& fields, Fill fill) {
    const std::string token = TokenOf(c);
    std::string key = FakeKey(method, token, fields);
    const FakeAnswer a = Decide(method, token, key);
    core_.Record(MetadataOf(c, "x-client-ip"), std::move(key));
    grpc::ServerUnaryReactor* reactor = c->DefaultReactor();
    if (a.code == grpc::StatusCode::OK) {
      fill(a);
      reactor->Finish(grpc::Status::OK);
    } else {
      AddTrailers(c, a);
      reactor->Finish(grpc::Status(a.code, a.message));
    }
    return reactor;
  }

  FakeCore& core_;
};

// An accepted Subscribe: initial metadata, the changes, then open until cancelled. A
// resumed stream (a gateway's SUBSCRIBE again with another session) has no changes; a
// check ends at once once accepted.
class FakeCore::Service::Stream final : public grpc::ServerWriteReactor<v1::Change> {
 public:
  Stream(FakeCore& core, grpc::CallbackServerContext* c, const FakeAnswer& a, SubscribeMode mode)
      : core_(core) {
    if (mode == SubscribeMode::kFirst) changes_ = ChangesPayload(a.seed);
    core_.StreamOpened();
    if (a.code != grpc::StatusCode::OK) {
      AddTrailers(c, a);
      finished_ = true;
      Finish(grpc::Status(a.code, a.message));
      return;
    }
    if (SubscribeEndsAtOnce(a.seed)) {
      finished_ = true;
      Finish(grpc::Status::OK);
      return;
    }
    c->AddInitialMetadata("tchatator-subscribed", "1");
    // One user behind every session: a SUBSCRIBE again is always the same user's.
    c->AddInitialMetadata("tchatator-user-id", "7");
    StartSendInitialMetadata();
    if (mode == SubscribeMode::kCheck) {
      finished_ = true;
      Finish(grpc::Status::OK);
      return;
    }
    WriteNext();
  }

  void OnWriteDone(bool ok) override {
    Step(/*write_done=*/true, ok, /*cancel=*/false);
  }

  void OnCancel() override { Step(false, false, /*cancel=*/true); }

  void OnDone() override {
    core_.StreamClosed();
    delete this;
  }

 private:
  void WriteNext() { Step(false, true, false); }

  // Decides under the lock, acts outside it (gRPC may call back at once).
  void Step(bool write_done, bool ok, bool cancel) {
    const v1::Change* write = nullptr;
    bool finish = false;
    {
      std::lock_guard lock(mu_);
      if (write_done) writing_ = false;
      if (cancel) cancelled_ = true;
      if (finished_ || writing_) return;
      if (cancelled_ || !ok) {
        finished_ = finish = true;
      } else if (next_ < changes_.size()) {
        writing_ = true;
        write = &changes_[next_++];
      }
    }
    if (finish) Finish(grpc::Status::CANCELLED);
    if (write != nullptr) StartWrite(write);
  }

  FakeCore& core_;
  std::vector<v1::Change> changes_;
  std::mutex mu_;
  size_t next_ = 0;
  bool writing_ = false;
  bool cancelled_ = false;
  bool finished_ = false;
};

grpc::ServerWriteReactor<v1::Change>* FakeCore::Service::Subscribe(
    grpc::CallbackServerContext* c, const v1::SubscribeRequest* q) {
  const std::string token = TokenOf(c);
  const SubscribeMode mode = q->check_only()                             ? SubscribeMode::kCheck
                             : MetadataOf(c, "tchatator-resume").empty() ? SubscribeMode::kFirst
                                                                         : SubscribeMode::kResume;
  std::string key = FakeKey(Method::kSubscribe, token,
                            {mode == SubscribeMode::kFirst ? std::to_string(q->after_change_id())
                                                           : SubscribeModeName(mode)});
  // A first stream and a check of one session get one answer; a resumed stream its own,
  // so that one refused after an accepted check happens too.
  const FakeAnswer a = Decide(Method::kSubscribe, token,
                              mode == SubscribeMode::kResume ? key : SubscribeDecisionKey(token));
  core_.Record(MetadataOf(c, "x-client-ip"), std::move(key));
  return new Stream(core_, c, a, mode);
}

// ---------------------------------------------------------------------------------

FakeCore& FakeCore::Instance() {
  static FakeCore* core = new FakeCore;  // never destroyed: gRPC threads outlive main
  return *core;
}

FakeCore::FakeCore() : service_(std::make_unique<Service>(*this)) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || port == 0) {
    std::fprintf(stderr, "fake core: cannot start the gRPC server\n");
    std::abort();
  }
  channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                 grpc::InsecureChannelCredentials());
}

std::vector<Received> FakeCore::Take() {
  std::lock_guard lock(mu_);
  return std::exchange(received_, {});
}

int FakeCore::open_streams() const {
  std::lock_guard lock(mu_);
  return open_streams_;
}

void FakeCore::Record(std::string client_ip, std::string key) {
  std::lock_guard lock(mu_);
  received_.push_back(Received{std::move(client_ip), std::move(key)});
}

void FakeCore::StreamOpened() {
  std::lock_guard lock(mu_);
  ++open_streams_;
}

void FakeCore::StreamClosed() {
  std::lock_guard lock(mu_);
  --open_streams_;
}

}  // namespace tchatator::fuzz
