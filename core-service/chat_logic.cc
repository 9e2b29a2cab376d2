#include "core-service/chat_logic.h"

#include "common/strings.h"
#include "common/crypto.h"
#include "common/utf8.h"
#include "core-service/errors.h"

namespace tchatator::core {
namespace {

using storage::Role;

constexpr size_t kMaxNameChars = 200;
// A guess at an API key longer than this is refused before hashing.
constexpr size_t kMaxSecretBytes = 256;

absl::Status NotAuthenticated() {
  return Error(absl::StatusCode::kUnauthenticated, "not-authenticated",
               "no valid session: LOGIN first");
}

bool MayWrite(Role from, Role to) {
  switch (from) {
    case Role::kAdmin:
      return true;
    case Role::kMember:
      return to == Role::kPro;
    case Role::kPro:
      return to == Role::kMember;
  }
  return false;
}

// Statuses from the store keep their code; a NotFound becomes the given token.
absl::Status Tokenize(absl::Status status, std::string_view not_found_token) {
  if (absl::IsNotFound(status)) {
    return Error(absl::StatusCode::kNotFound, not_found_token,
                 not_found_token == "unknown-user" ? "no such user" : "no such message");
  }
  return status;
}

}  // namespace

ChatLogic::ChatLogic(storage::Store& store, const Clock& clock, const SettingsHolder& settings)
    : store_(store), clock_(clock), settings_(settings) {}

absl::StatusOr<LoginResult> ChatLogic::Login(std::string_view api_key) {
  if (api_key.empty() || api_key.size() > kMaxSecretBytes) {
    return Error(absl::StatusCode::kPermissionDenied, "invalid-api-key", "unknown API key");
  }
  absl::StatusOr<storage::User> user = store_.FindUserByApiKeyHash(Sha256Hex(api_key));
  if (absl::IsNotFound(user.status())) {
    return Error(absl::StatusCode::kPermissionDenied, "invalid-api-key", "unknown API key");
  }
  if (!user.ok()) return user.status();
  const absl::Time now = clock_.Now();
  LoginResult result{RandomSecret(), *std::move(user),
                     now + absl::Hours(settings_.Get()->session_ttl_hours)};
  if (absl::Status s =
          store_.CreateSession(Sha256Hex(result.token), result.user.id, now, result.expires_at);
      !s.ok()) {
    return s;
  }
  return result;
}

absl::StatusOr<Caller> ChatLogic::Authenticate(std::string_view token) {
  if (token.empty() || token.size() > kMaxSecretBytes) return NotAuthenticated();
  std::string hash = Sha256Hex(token);
  absl::StatusOr<storage::Session> session = store_.FindSession(hash, clock_.Now());
  if (absl::IsNotFound(session.status())) return NotAuthenticated();
  if (!session.ok()) return session.status();
  return Caller{session->user_id, session->role, std::move(hash)};
}

absl::Status ChatLogic::Logout(const Caller& caller) {
  return store_.DeleteSession(caller.token_hash);
}

absl::Status ChatLogic::CheckContent(std::string_view content, const Settings& settings) const {
  const std::optional<size_t> chars = Utf8Length(content);
  if (!chars || content.find('\0') != std::string_view::npos) {
    return Error(absl::StatusCode::kInvalidArgument, "bad-value",
                 "content must be UTF-8 text without NUL");
  }
  if (*chars == 0) {
    return Error(absl::StatusCode::kInvalidArgument, "empty-content", "empty message");
  }
  if (*chars > static_cast<size_t>(settings.max_message_length)) {
    return Error(absl::StatusCode::kInvalidArgument, "content-too-long",
                 StrCat("a message holds at most ", settings.max_message_length,
                              " characters"));
  }
  return absl::OkStatus();
}

absl::StatusOr<storage::Message> ChatLogic::Send(const Caller& caller, int64_t recipient_id,
                                                 std::string_view content) {
  const std::shared_ptr<const Settings> settings = settings_.Get();
  if (absl::Status s = CheckContent(content, *settings); !s.ok()) return s;
  absl::StatusOr<storage::User> recipient = store_.GetUser(recipient_id);
  if (!recipient.ok()) return Tokenize(recipient.status(), "unknown-user");
  if (recipient->id == caller.user_id || !MayWrite(caller.role, recipient->role)) {
    return Error(absl::StatusCode::kPermissionDenied, "recipient-not-allowed",
                 "members write to pros and pros to members, never to themselves");
  }
  absl::StatusOr<storage::Message> message = store_.InsertMessage(
      caller.user_id, recipient_id, content, clock_.Now(),
      {settings->max_messages_per_minute, settings->max_messages_per_hour});
  if (absl::IsResourceExhausted(message.status())) {
    absl::Status limited = Error(absl::StatusCode::kResourceExhausted, "rate-limited",
                                 "too many messages: retry later");
    if (auto retry = message.status().GetPayload(storage::kRetryAfterPayload)) {
      limited.SetPayload(storage::kRetryAfterPayload, *retry);
    }
    return limited;
  }
  return message;
}

absl::StatusOr<storage::Message> ChatLogic::OwnMessage(const Caller& caller,
                                                       int64_t message_id, bool admin_may) {
  absl::StatusOr<storage::Message> message = store_.GetMessage(message_id);
  if (!message.ok()) return Tokenize(message.status(), "unknown-message");
  if (message->deleted) return Tokenize(absl::NotFoundError(""), "unknown-message");
  if (message->sender_id != caller.user_id && !(admin_may && caller.role == Role::kAdmin)) {
    return Error(absl::StatusCode::kPermissionDenied, "not-owner",
                 "only the sender may change a message");
  }
  return message;
}

absl::StatusOr<storage::Message> ChatLogic::Update(const Caller& caller, int64_t message_id,
                                                   std::string_view content) {
  if (absl::Status s = CheckContent(content, *settings_.Get()); !s.ok()) return s;
  if (absl::Status s = OwnMessage(caller, message_id, false).status(); !s.ok()) return s;
  absl::StatusOr<storage::Message> updated =
      store_.UpdateMessageContent(message_id, content, clock_.Now());
  if (!updated.ok()) return Tokenize(updated.status(), "unknown-message");
  return updated;
}

absl::Status ChatLogic::Delete(const Caller& caller, int64_t message_id) {
  if (absl::Status s = OwnMessage(caller, message_id, true).status(); !s.ok()) return s;
  return Tokenize(store_.SoftDeleteMessage(message_id, clock_.Now()), "unknown-message");
}

absl::StatusOr<std::vector<storage::Message>> ChatLogic::TakeUnread(const Caller& caller) {
  return store_.TakeUnread(caller.user_id, clock_.Now());
}

absl::Status ChatLogic::AuthorizeAdmin(std::string_view key) const {
  const std::string& admin_key = settings_.Get()->admin_api_key;
  if (admin_key.empty() || !ConstantTimeEquals(key, admin_key)) {
    return Error(absl::StatusCode::kUnauthenticated, "invalid-api-key",
                 "the admin API key is required");
  }
  return absl::OkStatus();
}

absl::StatusOr<NewAccount> ChatLogic::CreateUser(Role role, std::string_view name) {
  const std::optional<size_t> chars = Utf8Length(name);
  if (!chars || *chars == 0 || *chars > kMaxNameChars ||
      name.find_first_of(std::string_view("\n\r\0", 3)) != std::string_view::npos) {
    return Error(absl::StatusCode::kInvalidArgument, "bad-value",
                 "a name is 1 to 200 characters on one line");
  }
  NewAccount account{0, RandomSecret()};
  absl::StatusOr<int64_t> id = store_.CreateUser(role, name, Sha256Hex(account.api_key));
  if (!id.ok()) return id.status();
  account.user_id = *id;
  return account;
}

absl::StatusOr<NewAccount> ChatLogic::RegenerateApiKey(int64_t user_id) {
  NewAccount account{user_id, RandomSecret()};
  if (absl::Status s = store_.SetApiKeyHash(user_id, Sha256Hex(account.api_key)); !s.ok()) {
    return Tokenize(s, "unknown-user");
  }
  return account;
}

absl::StatusOr<storage::User> ChatLogic::GetUser(int64_t user_id) {
  absl::StatusOr<storage::User> user = store_.GetUser(user_id);
  if (!user.ok()) return Tokenize(user.status(), "unknown-user");
  return user;
}

std::string ModifiedAgo(absl::Duration age) {
  if (age < absl::Minutes(1)) return "quelques secondes";
  if (age < absl::Minutes(15)) return "quelques minutes";
  if (age < absl::Hours(1)) {
    return StrCat(absl::ToInt64Minutes(age) / 15 * 15, " min");
  }
  if (age < absl::Hours(24)) return StrCat(absl::ToInt64Hours(age), " h");
  return StrCat(absl::ToInt64Hours(age) / 24, " j");
}

}  // namespace tchatator::core
