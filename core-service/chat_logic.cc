#include "core-service/chat_logic.h"

#include <algorithm>
#include <limits>
#include <map>

#include "common/strings.h"
#include "absl/strings/cord.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/utf8.h"
#include "core-service/errors.h"

namespace tchatator::core {
namespace {

using storage::Role;

constexpr size_t kMaxNameChars = 200;

// A user's name, shown on one line of the wire (`name:`, `peer-name:`) and by
// terminals: 1 to kMaxNameChars characters of valid UTF-8, no control character (C0,
// DEL, C1: tab, escape sequences) nor line or paragraph separator, not only blank
// characters (IsBlank: a name must show).
bool IsValidName(std::string_view name) {
  if (name.size() > 4 * kMaxNameChars) return false;  // too long in any encoding
  const std::optional<std::u32string> chars = DecodeUtf8(name);
  if (!chars || chars->empty() || chars->size() > kMaxNameChars) return false;
  bool shows = false;
  for (const char32_t c : *chars) {
    // Controls, C1 controls and the Unicode line and paragraph separators.
    if (c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0x2028 || c == 0x2029) return false;
    shows = shows || !IsBlank(c);
  }
  return shows;
}

// The api_key_hash of the built-in administrator starts with this: not hexadecimal, so
// no key's SHA-256 is ever equal to it or starts with it. Before the marker followed
// the key (AdminMarker), it was this alone.
constexpr char kBuiltInAdminMarker[] = "built-in-admin";

// The built-in administrator's api_key_hash under admin-api-key `key`: the marker, then
// 64 bits of a hash of the key that is not its login hash (Sha256Hex of the key alone),
// so that the row changes when the key does, and its sessions with it, and a key
// removed from the configuration never logs in through its own hash.
std::string AdminMarker(std::string_view key) {
  if (key.empty()) return StrCat(kBuiltInAdminMarker, ":none");
  return StrCat(kBuiltInAdminMarker, ":",
                Sha256Hex(StrCat("tchatator built-in administrator\n", key)).substr(0, 16));
}

absl::Status NotAuthenticated() {
  return Error(absl::StatusCode::kUnauthenticated, "not-authenticated",
               "no valid session: LOGIN first");
}

// The hash a session token is stored under; not-authenticated for a token no session
// can have (empty, or longer than any secret the core hands out).
absl::StatusOr<std::string> TokenHash(std::string_view token) {
  if (token.empty() || token.size() > kMaxSecretBytes) return NotAuthenticated();
  return Sha256Hex(token);
}

absl::Status UnknownApiKey() {
  return Error(absl::StatusCode::kPermissionDenied, "invalid-api-key", "unknown API key");
}

// RESOURCE_EXHAUSTED rate-limited: an address with too many failed logins waits `wait`
// seconds.
absl::Status LoginHeld(int64_t wait) {
  absl::Status limited = Error(absl::StatusCode::kResourceExhausted, "rate-limited",
                               "too many failed logins from this address: retry later");
  limited.SetPayload(storage::kRetryAfterPayload, absl::Cord(StrCat(wait)));
  return limited;
}

absl::Status AccountBanned() {
  return Error(absl::StatusCode::kPermissionDenied, "banned", "this account is banned");
}

// The role a recipient of `from` must have; nullopt: any (never oneself).
std::optional<Role> RecipientRoleFor(Role from) {
  switch (from) {
    case Role::kAdmin:
      return std::nullopt;
    case Role::kMember:
      return Role::kPro;
    case Role::kPro:
      return Role::kMember;
  }
  return Role::kAdmin;
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

absl::StatusOr<LoginResult> ChatLogic::Login(std::string_view api_key,
                                             std::string_view client_ip) {
  const std::shared_ptr<const Settings> settings = settings_.Get();
  const int64_t failure_limit = client_ip.empty() ? 0 : settings->max_failed_logins_per_minute;
  // A refusal for the key counts as a failure of this address (past its limit, the
  // refusal is 426: no more keys are judged).
  auto refuse = [&]() -> absl::Status {
    if (absl::Status s = CountLoginFailure(client_ip, failure_limit); !s.ok()) return s;
    return UnknownApiKey();
  };
  if (api_key.empty() || api_key.size() > kMaxSecretBytes) return refuse();
  const std::string key_hash = Sha256Hex(api_key);
  const std::string& admin_key = settings->admin_api_key;
  const bool built_in_admin = !admin_key.empty() && ConstantTimeEquals(api_key, admin_key);
  const std::string admin_marker = built_in_admin ? AdminMarker(admin_key) : "";
  absl::StatusOr<storage::User> user;
  if (built_in_admin) {
    if (absl::Status s = CheckLoginHold(client_ip, failure_limit); !s.ok()) return s;
    user = BuiltInAdmin(admin_marker, key_hash);
  } else if (failure_limit > 0) {
    // The key judged and a failure counted in one step: concurrent guesses are held as
    // they would be one after the other.
    absl::StatusOr<storage::LoginLookup> found =
        store_.FindUserForLogin(client_ip, failure_limit, key_hash, clock_.Now());
    if (!found.ok()) return found.status();
    if (found->retry_after > 0) return LoginHeld(found->retry_after);
    if (!found->user) return UnknownApiKey();
    user = *std::move(found->user);
  } else {
    user = store_.FindUserByApiKeyHash(key_hash);
  }
  if (absl::IsNotFound(user.status())) return refuse();
  if (!user.ok()) return user.status();
  if (user->banned) return AccountBanned();
  const absl::Time now = clock_.Now();
  LoginResult result{RandomSecret(), *std::move(user),
                     now + absl::Hours(settings->session_ttl_hours)};
  const std::string hash = Sha256Hex(result.token);
  absl::Status opened =
      store_.CreateSession(hash, result.user.id, built_in_admin ? admin_marker : key_hash,
                           now, result.expires_at);
  // The key was regenerated since it was looked up.
  if (absl::IsNotFound(opened)) return refuse();
  if (!opened.ok()) return opened;
  sessions_.Put(hash, storage::Session{result.user.id, result.user.role, result.expires_at});
  return result;
}

absl::StatusOr<Caller> ChatLogic::Authenticate(std::string_view token) {
  absl::StatusOr<std::string> hash = TokenHash(token);
  if (!hash.ok()) return hash.status();
  absl::StatusOr<storage::Session> session = store_.FindSession(*hash, clock_.Now());
  if (session.ok()) sessions_.Put(*hash, *session);
  return CallerOf(std::move(session), *std::move(hash));
}

void ChatLogic::AuthenticateAsync(std::string_view token,
                                  std::function<void(absl::StatusOr<Caller>)> done) {
  absl::StatusOr<std::string> hash = TokenHash(token);
  if (!hash.ok()) return done(hash.status());
  LookUpAsync(*std::move(hash), std::move(done));
}

void ChatLogic::AuthenticateToSendAsync(std::string_view token,
                                        std::function<void(absl::StatusOr<Caller>)> done) {
  absl::StatusOr<std::string> hash = TokenHash(token);
  if (!hash.ok()) return done(hash.status());
  if (std::optional<storage::Session> known = sessions_.Find(*hash, clock_.Now())) {
    return done(Caller{known->user_id, known->role, *std::move(hash), /*unverified=*/true});
  }
  LookUpAsync(*std::move(hash), std::move(done));
}

void ChatLogic::LookUpAsync(std::string token_hash,
                            std::function<void(absl::StatusOr<Caller>)> done) {
  store_.FindSessionAsync(
      token_hash, clock_.Now(),
      [this, token_hash, done = std::move(done)](absl::StatusOr<storage::Session> s) {
        if (s.ok()) sessions_.Put(token_hash, *s);
        done(CallerOf(std::move(s), token_hash));
      });
}

absl::StatusOr<Caller> ChatLogic::CallerOf(absl::StatusOr<storage::Session> session,
                                           std::string token_hash) {
  if (absl::IsNotFound(session.status())) return NotAuthenticated();
  if (!session.ok()) return session.status();
  if (session->banned) return AccountBanned();
  return Caller{session->user_id, session->role, std::move(token_hash)};
}

absl::StatusOr<std::optional<storage::User>> ChatLogic::MoveBuiltInAdminTo(
    const std::string& marker) {
  // This core's key changed since it last looked: the operator's word, which may take
  // back a key used before (removed, then configured again).
  const bool changed_here = !followed_marker_.empty() && followed_marker_ != marker;
  absl::StatusOr<storage::User> current = store_.FindUserByApiKeyHash(marker);
  if (!current.ok() && !absl::IsNotFound(current.status())) return current.status();
  // A release before the marker followed the key knows only kBuiltInAdminMarker, and
  // makes a row of its own under it once the row it knew was moved.
  absl::StatusOr<storage::User> legacy = store_.FindUserByApiKeyHash(kBuiltInAdminMarker);
  if (!legacy.ok() && !absl::IsNotFound(legacy.status())) return legacy.status();
  if (current.ok() && absl::IsNotFound(legacy.status())) {
    // Recorded once per core: a record that failed after the move, a row moved here by
    // an older release.
    if (followed_marker_ != marker) {
      if (absl::Status s = store_.RecordAdminMarker(marker, changed_here); !s.ok()) return s;
      followed_marker_ = marker;
      replaced_ = false;
    }
    return *current;
  }
  absl::StatusOr<std::vector<storage::User>> rows =
      store_.FindAdminsByKeyPrefix(kBuiltInAdminMarker);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::nullopt;  // a LOGIN creates it (recorded once followed)
  if (!current.ok() && !changed_here) {
    // Another key claimed the row after this one did: this key was replaced since (a
    // rotation through another core). Moving the row back would end the new key's
    // sessions, and the other core would move it again, and so on. No key's absence
    // replaces a key: a key configured again after it was removed takes the row back
    // (and a core without one leaves it to the key, having claimed it after its own).
    absl::StatusOr<bool> superseded = store_.AdminMarkerSuperseded(marker, AdminMarker(""));
    if (!superseded.ok()) return superseded.status();
    if (*superseded) {
      followed_marker_ = marker;
      replaced_ = true;
      if (warned_replaced_ != marker) {
        warned_replaced_ = marker;
        Log::Info("warning: admin-api-key (or its absence) was replaced through another core "
                  "since this one last used it: the built-in administrator stays as that "
                  "core made it, and this key logs in no more; give this core the key in "
                  "force, or a new one (by a reload, or a restart with a key never used)");
      }
      return absl::FailedPreconditionError("admin-api-key replaced since");
    }
  }
  // One built-in administrator: the row of this marker, else the oldest; any other is
  // retired under a marker outside the prefix. Either way, its sessions end.
  const storage::User kept = current.ok() ? *current : rows->front();
  bool raced = false;
  for (const storage::User& row : *rows) {
    if (row.id == kept.id && current.ok()) continue;
    const std::string to =
        row.id == kept.id ? marker : StrCat("retired-", kBuiltInAdminMarker, ":", row.id);
    const absl::Status moved = store_.SetApiKeyHash(row.id, to, absl::InfiniteFuture());
    if (absl::IsAlreadyExists(moved)) {  // another core moved a row there first
      raced = raced || row.id == kept.id;
      continue;
    }
    if (!moved.ok()) return moved;
    Log::Info(StrCat("built-in administrator (user ", row.id, "): ",
                     row.id == kept.id ? "now under admin-api-key as configured"
                                       : "a second one, made by an older release, retired",
                     "; its sessions ended"));
  }
  // A move is a claim: the latest claim wins.
  if (absl::Status s = store_.RecordAdminMarker(marker, true); !s.ok()) return s;
  followed_marker_ = marker;
  replaced_ = false;
  if (!raced) return kept;
  absl::StatusOr<storage::User> winner = store_.FindUserByApiKeyHash(marker);
  if (!winner.ok()) return winner.status();
  return *winner;
}

absl::StatusOr<storage::User> ChatLogic::BuiltInAdmin(const std::string& marker,
                                                     const std::string& key_hash) {
  std::lock_guard lock(follow_mu_);
  // A LOGIN that read the key before a reload replaced it is no operator's word.
  if (AdminMarker(settings_.Get()->admin_api_key) != marker) {
    return absl::NotFoundError("key replaced by a reload");
  }
  // The row of this key, or of another key (replaced since) made to follow this one.
  absl::StatusOr<std::optional<storage::User>> marked = MoveBuiltInAdminTo(marker);
  // This key was replaced since through another core: as unknown as any old key.
  if (absl::IsFailedPrecondition(marked.status())) return absl::NotFoundError("replaced key");
  if (!marked.ok()) return marked.status();
  if (marked->has_value()) return **marked;
  // Made or adopted under `marker` below: recorded as MoveBuiltInAdminTo records a move.
  auto held = [&](absl::StatusOr<storage::User> admin) -> absl::StatusOr<storage::User> {
    if (!admin.ok()) return admin;
    if (absl::Status s = store_.RecordAdminMarker(marker, false); !s.ok()) return s;
    followed_marker_ = marker;
    replaced_ = false;
    return admin;
  };
  // A row made by an older core holds the key's hash: it becomes the marked one.
  absl::StatusOr<storage::User> user = store_.FindUserByApiKeyHash(key_hash);
  if (user.ok() && user->role == Role::kAdmin) {
    // Ends the sessions opened under the old hash (storage::Store::SetApiKeyHash).
    absl::Status adopted = store_.SetApiKeyHash(user->id, marker, absl::InfiniteFuture());
    // Another core adopted it (or created one) at the same moment.
    if (absl::IsAlreadyExists(adopted)) return held(store_.FindUserByApiKeyHash(marker));
    if (!adopted.ok()) return adopted;
    return held(user);
  }
  if (!user.ok() && !absl::IsNotFound(user.status())) return user.status();
  absl::StatusOr<int64_t> id = store_.CreateUser(Role::kAdmin, "Administrateur", marker);
  // Another core created it at the same moment.
  if (absl::IsAlreadyExists(id.status())) return held(store_.FindUserByApiKeyHash(marker));
  if (!id.ok()) return id.status();
  return held(storage::User{*id, "Administrateur", Role::kAdmin, false});
}

absl::StatusOr<bool> ChatLogic::IsBuiltInAdmin(int64_t user_id) {
  absl::StatusOr<std::vector<storage::User>> built_in =
      store_.FindAdminsByKeyPrefix(kBuiltInAdminMarker);
  if (!built_in.ok()) return built_in.status();
  return std::any_of(built_in->begin(), built_in->end(),
                     [&](const storage::User& admin) { return admin.id == user_id; });
}

absl::Status ChatLogic::FollowAdminKey() {
  const std::string key = settings_.Get()->admin_api_key;
  std::lock_guard lock(follow_mu_);
  if (key.empty()) {
    // Without a key here, no session of the built-in administrator lives, wherever it
    // was opened (a key removed because it leaked, core by core). The row is left as it
    // is: a key configured again logs in as the same administrator, and no other core
    // takes it back in turn.
    absl::StatusOr<std::map<int64_t, int64_t>> ended =
        store_.EndAdminSessionsByKeyPrefix(kBuiltInAdminMarker);
    if (!ended.ok()) return ended.status();
    for (const auto& [user_id, sessions] : *ended) {
      Log::Info(StrCat("built-in administrator (user ", user_id, "): no admin-api-key here; ",
                       sessions, " session(s) ended"));
    }
    followed_marker_.clear();
    return absl::OkStatus();
  }
  const std::string marker = AdminMarker(key);
  // Checked each time, not remembered: a row made by an older release, or moved by a
  // core whose key changed, may have appeared since.
  absl::Status followed = MoveBuiltInAdminTo(marker).status();
  // A replaced key: nothing to follow until this core's key changes.
  if (absl::IsFailedPrecondition(followed)) return absl::OkStatus();
  return followed;
}

absl::StatusOr<int64_t> ChatLogic::Logout(std::string_view token) {
  absl::StatusOr<std::string> hash = TokenHash(token);
  if (!hash.ok()) return hash.status();
  absl::StatusOr<storage::Session> session = store_.FindSession(*hash, clock_.Now());
  if (absl::IsNotFound(session.status())) return NotAuthenticated();
  if (!session.ok()) return session.status();
  sessions_.Erase(*hash);
  absl::Status deleted = store_.DeleteSession(*hash);
  // Ended meanwhile, through another connection: ended all the same.
  if (!deleted.ok() && !absl::IsNotFound(deleted)) return deleted;
  return session->user_id;
}

absl::Status ChatLogic::CheckContent(std::string_view content, const Settings& settings) const {
  const std::optional<size_t> chars = Utf8Length(content);
  if (!chars || content.find('\0') != std::string_view::npos) {
    return Error(absl::StatusCode::kInvalidArgument, "bad-value",
                 "content must be UTF-8 text without NUL");
  }
  // The wire reads CR LF as one line break: a CR before a LF, or last (before the line
  // break that ends the content line), would be read back one character short, and the
  // reader of the answer would lose its framing.
  if (content.find("\r\n") != std::string_view::npos || content.ends_with('\r')) {
    return Error(absl::StatusCode::kInvalidArgument, "bad-value",
                 "a carriage return may not end a line of content: line breaks are a line "
                 "feed alone");
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

void ChatLogic::SendAsync(const Caller& caller, int64_t recipient_id, std::string content,
                          absl::Time deadline,
                          std::function<void(absl::StatusOr<storage::Message>)> done) {
  const std::shared_ptr<const Settings> settings = settings_.Get();
  if (absl::Status s = CheckContent(content, *settings); !s.ok()) {
    if (!caller.unverified) return done(s);
    // A session that ended (or a banned user) is refused as such, whatever the content.
    return LookUpAsync(caller.token_hash,
                       [s, done = std::move(done)](absl::StatusOr<Caller> checked) {
                         done(checked.ok() ? s : checked.status());
                       });
  }
  store_.SendMessageAsync(
      caller.token_hash, caller.user_id, recipient_id, RecipientRoleFor(caller.role),
      std::move(content), clock_.Now(),
      {settings->max_messages_per_minute, settings->max_messages_per_hour}, deadline,
      [this, hash = caller.token_hash,
       done = std::move(done)](absl::StatusOr<storage::SendOutcome> outcome) {
        // Ended through another core, or expired: it never comes back.
        if (outcome.ok() && outcome->kind == storage::SendOutcome::Kind::kNoSession) {
          sessions_.Erase(hash);
        }
        done(MessageOf(std::move(outcome)));
      });
}

absl::StatusOr<storage::Message> ChatLogic::MessageOf(
    absl::StatusOr<storage::SendOutcome> outcome) {
  if (!outcome.ok()) return outcome.status();
  using Kind = storage::SendOutcome::Kind;
  switch (outcome->kind) {
    case Kind::kSent:
      return std::move(outcome->message);
    case Kind::kUnknownRecipient:
      return Tokenize(absl::NotFoundError(""), "unknown-user");
    case Kind::kNoSession:
      return NotAuthenticated();
    case Kind::kAccountBanned:
      return AccountBanned();
    case Kind::kRecipientNotAllowed:
      return Error(absl::StatusCode::kPermissionDenied, "recipient-not-allowed",
                   "members write to pros and pros to members, never to themselves");
    case Kind::kBanned:
      return Error(absl::StatusCode::kPermissionDenied, "banned",
                   "you are banned from writing to this user");
    case Kind::kBlocked:
      return WithUntil(Error(absl::StatusCode::kPermissionDenied, "blocked",
                             "you are blocked from writing to this user"),
                       outcome->until.value_or(absl::InfinitePast()));
    case Kind::kRateLimited: {
      absl::Status limited = Error(absl::StatusCode::kResourceExhausted, "rate-limited",
                                   "too many messages: retry later");
      limited.SetPayload(storage::kRetryAfterPayload,
                         absl::Cord(StrCat(outcome->retry_after_seconds)));
      return limited;
    }
  }
  return absl::InternalError("unknown send outcome");
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
  absl::StatusOr<storage::Message> own = OwnMessage(caller, message_id, false);
  if (!own.ok()) return own.status();
  // An edit reaches the recipient as a send does: a block or ban refuses it alike.
  if (RecipientRoleFor(caller.role)) {
    absl::StatusOr<storage::SendOutcome> restriction =
        store_.SendRestriction(caller.user_id, own->recipient_id, clock_.Now());
    if (!restriction.ok()) return restriction.status();
    if (restriction->kind != storage::SendOutcome::Kind::kSent) {
      return MessageOf(*std::move(restriction)).status();
    }
  }
  absl::StatusOr<storage::Message> updated =
      store_.UpdateMessageContent(message_id, content, clock_.Now());
  if (!updated.ok()) return Tokenize(updated.status(), "unknown-message");
  return updated;
}

absl::Status ChatLogic::Delete(const Caller& caller, int64_t message_id, absl::Time deadline) {
  if (absl::Status s = OwnMessage(caller, message_id, true).status(); !s.ok()) return s;
  return Tokenize(store_.SoftDeleteMessage(message_id, clock_.Now(), deadline),
                  "unknown-message");
}

absl::StatusOr<std::vector<storage::Message>> ChatLogic::TakeUnread(const Caller& caller,
                                                                   absl::Time deadline) {
  return store_.TakeUnread(caller.user_id, clock_.Now(), deadline);
}

absl::StatusOr<ChatLogic::HistoryBlock> ChatLogic::History(const Caller& caller,
                                                           int64_t peer_id, int64_t before_id) {
  if (peer_id < 0 || before_id < 0) {
    return Error(absl::StatusCode::kInvalidArgument, "bad-value",
                 "user-id and before-id are positive (0 or absent: none)");
  }
  const int64_t block = settings_.Get()->history_block_size;
  absl::StatusOr<std::vector<storage::Message>> newest = store_.ListHistory(
      caller.user_id, peer_id,
      before_id > 0 ? before_id : std::numeric_limits<int64_t>::max(), block + 1);
  if (!newest.ok()) return newest.status();
  // Nothing with `peer_id`: say so if no such user exists (a look-up only then).
  if (newest->empty() && peer_id > 0) {
    if (absl::StatusOr<storage::User> peer = GetUser(peer_id); !peer.ok()) return peer.status();
  }
  HistoryBlock out;
  out.has_more = static_cast<int64_t>(newest->size()) > block;
  if (out.has_more) newest->resize(block);
  out.messages.assign(newest->rbegin(), newest->rend());
  return out;
}

absl::StatusOr<std::vector<storage::Conversation>> ChatLogic::Conversations(
    const Caller& caller) {
  return store_.ListConversations(caller.user_id);
}

absl::StatusOr<std::vector<storage::Change>> ChatLogic::TakeChanges(const Caller& caller,
                                                                    int64_t after_id,
                                                                    int64_t limit) {
  absl::StatusOr<storage::TakenChanges> taken = Checked(
      caller, store_.TakeChanges(caller.token_hash, caller.user_id, after_id, limit,
                                 clock_.Now()));
  if (!taken.ok()) return taken.status();
  return std::move(taken->changes);
}

absl::StatusOr<int64_t> ChatLogic::LatestChangeId(const Caller& caller) {
  return store_.LatestChangeId(caller.user_id);
}

absl::StatusOr<storage::TakenChanges> ChatLogic::PollChanges(const Caller& caller,
                                                             absl::Time deadline) {
  return Checked(caller, store_.PollChanges(caller.token_hash, caller.user_id,
                                            kMaxChangesPerPoll, kMaxChangeBytesPerPoll,
                                            clock_.Now(), deadline));
}

absl::StatusOr<storage::TakenChanges> ChatLogic::Checked(
    const Caller& caller, absl::StatusOr<storage::TakenChanges> taken) {
  // The session ended, or its user was banned, since the caller was authenticated.
  absl::StatusOr<Caller> still = CallerOf(
      taken.ok() ? absl::StatusOr<storage::Session>(taken->session) : taken.status(),
      caller.token_hash);
  if (!still.ok()) return still.status();
  return taken;
}

absl::StatusOr<std::optional<absl::Time>> ChatLogic::Restrict(const Caller& caller,
                                                              int64_t target_id,
                                                              storage::RestrictionKind kind,
                                                              int64_t duration_hours) {
  if (caller.role == Role::kMember) {
    return Error(absl::StatusCode::kPermissionDenied, "forbidden",
                 "only pros and admins may block or ban");
  }
  if (duration_hours < 0 || duration_hours > 876000) {
    return Error(absl::StatusCode::kInvalidArgument, "bad-value",
                 "duration-hours must be between 1 and 876000");
  }
  absl::StatusOr<storage::User> target = store_.GetUser(target_id);
  if (!target.ok()) return Tokenize(target.status(), "unknown-user");
  if (target->id == caller.user_id ||
      (caller.role == Role::kPro && target->role == Role::kAdmin)) {
    return Error(absl::StatusCode::kPermissionDenied, "forbidden",
                 "this user cannot be blocked by you");
  }
  if (target->role == Role::kAdmin) {
    // admin-api-key is the operator's way in: restricted, it could not log in to lift it.
    absl::StatusOr<bool> built_in = IsBuiltInAdmin(target->id);
    if (!built_in.ok()) return built_in.status();
    if (*built_in) {
      return Error(absl::StatusCode::kPermissionDenied, "forbidden",
                   "the built-in administrator cannot be blocked or banned");
    }
  }
  const absl::Time now = clock_.Now();
  std::optional<absl::Time> until;
  if (kind == storage::RestrictionKind::kBlock) {
    const int64_t hours =
        duration_hours > 0 ? duration_hours : settings_.Get()->block_duration_hours;
    // Rounded up to a whole second, the precision of the `until` clients see: a client
    // that retries at the time it was given is never refused.
    const absl::Duration since_epoch = now + absl::Hours(hours) - absl::UnixEpoch();
    until = absl::UnixEpoch() + absl::Ceil(since_epoch, absl::Seconds(1));
  }
  // A pro's restriction protects the pro's own inbox; an admin's, everyone's.
  const std::optional<int64_t> scope =
      caller.role == Role::kAdmin ? std::nullopt : std::optional<int64_t>(caller.user_id);
  if (absl::Status s = store_.AddRestriction(target_id, caller.user_id, scope, kind, until, now);
      !s.ok()) {
    return s;
  }
  return until;
}

absl::Status ChatLogic::Lift(const Caller& caller, int64_t target_id,
                             storage::RestrictionKind kind) {
  if (caller.role == Role::kMember) {
    return Error(absl::StatusCode::kPermissionDenied, "forbidden",
                 "only pros and admins may lift blocks or bans");
  }
  absl::StatusOr<storage::User> target = store_.GetUser(target_id);
  if (!target.ok()) return Tokenize(target.status(), "unknown-user");
  const std::optional<int64_t> set_by =
      caller.role == Role::kAdmin ? std::nullopt : std::optional<int64_t>(caller.user_id);
  return store_.LiftRestrictions(target_id, kind, set_by, clock_.Now()).status();
}

absl::Status ChatLogic::CheckLoginHold(std::string_view counted_as, int64_t limit) {
  if (limit <= 0) return absl::OkStatus();
  absl::StatusOr<int64_t> wait = store_.LoginRetryAfter(counted_as, limit, clock_.Now());
  if (!wait.ok()) return wait.status();
  return *wait == 0 ? absl::OkStatus() : LoginHeld(*wait);
}

absl::Status ChatLogic::CountLoginFailure(std::string_view counted_as, int64_t limit) {
  if (limit <= 0) return absl::OkStatus();
  absl::StatusOr<int64_t> wait = store_.CountLoginFailure(counted_as, limit, clock_.Now());
  if (!wait.ok()) return wait.status();
  return *wait == 0 ? absl::OkStatus() : LoginHeld(*wait);
}

absl::Status ChatLogic::AuthorizeAdmin(std::string_view key, std::string_view peer_ip) {
  const std::shared_ptr<const Settings> settings = settings_.Get();
  const std::string& admin_key = settings->admin_api_key;
  // Guessing the admin key is guessing a secret, as a LOGIN is: the same limit, counted
  // apart, so that failed LOGINs of clients behind the same address hold no operator.
  // With no key configured there is nothing to guess.
  const std::string counted_as = StrCat("admin-key@", peer_ip);
  const int64_t failure_limit =
      peer_ip.empty() || admin_key.empty() ? 0 : settings->max_failed_logins_per_minute;
  bool replaced = false;
  {
    std::lock_guard lock(follow_mu_);
    replaced = replaced_;
  }
  // A key replaced through another core authorises nothing more than it logs in.
  if (admin_key.empty() || !ConstantTimeEquals(key, admin_key) || replaced) {
    // Past the limit, 426 whatever the key: no more keys are judged.
    if (absl::Status s = CountLoginFailure(counted_as, failure_limit); !s.ok()) return s;
    // A bad API key is 403 invalid-api-key (contract 2.2), as for LOGIN.
    return Error(absl::StatusCode::kPermissionDenied, "invalid-api-key",
                 "the admin API key is required");
  }
  return CheckLoginHold(counted_as, failure_limit);
}

absl::StatusOr<NewAccount> ChatLogic::CreateUser(Role role, std::string_view name) {
  if (!IsValidName(name)) {
    return Error(absl::StatusCode::kInvalidArgument, "bad-value",
                 "a name is 1 to 200 characters on one line, not only blank ones, with no "
                 "control character");
  }
  NewAccount account{0, RandomSecret()};
  absl::StatusOr<int64_t> id = store_.CreateUser(role, name, Sha256Hex(account.api_key));
  if (!id.ok()) return id.status();
  account.user_id = *id;
  return account;
}

absl::StatusOr<NewAccount> ChatLogic::RegenerateApiKey(int64_t user_id, absl::Time deadline) {
  // The built-in administrator's key is the configured one: a key of its own would
  // split it in two (the configured key would then create a new one).
  absl::StatusOr<bool> built_in = IsBuiltInAdmin(user_id);
  if (!built_in.ok()) return built_in.status();
  if (*built_in) {
    return Error(absl::StatusCode::kPermissionDenied, "forbidden",
                 "the built-in administrator's key is admin-api-key in the configuration");
  }
  NewAccount account{user_id, RandomSecret()};
  if (absl::Status s = store_.SetApiKeyHash(user_id, Sha256Hex(account.api_key), deadline);
      !s.ok()) {
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
