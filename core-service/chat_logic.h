#ifndef TCHATATOR_CORE_SERVICE_CHAT_LOGIC_H_
#define TCHATATOR_CORE_SERVICE_CHAT_LOGIC_H_

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/settings.h"
#include "core-service/session_cache.h"
#include "storage/store.h"

namespace tchatator::core {

// Who makes a request: the owner of a valid session.
struct Caller {
  int64_t user_id = 0;
  storage::Role role = storage::Role::kMember;
  std::string token_hash;
  // From the session cache (AuthenticateToSendAsync): whether the session is still in
  // force and its user not banned is not checked yet.
  bool unverified = false;
};

struct LoginResult {
  std::string token;  // the session token, shown once
  storage::User user;
  absl::Time expires_at;
};

struct NewAccount {
  int64_t user_id = 0;
  std::string api_key;  // shown once
};

// Every business rule of tchatator: authentication, sessions, who may write to whom,
// ownership, content limits. Blocking (it waits on the store): call it from worker
// threads, never from gRPC's callback threads, except the *Async methods, which never
// wait when the store has an executor. Errors carry contract tokens (errors.h).
class ChatLogic {
 public:
  // Changes in one answer to PollChanges, and their messages' content bytes (its first
  // change whatever its size): an answer that travels in well under a second.
  static constexpr int64_t kMaxChangesPerPoll = 10000;
  static constexpr int64_t kMaxChangeBytesPerPoll = int64_t{1} << 20;

  ChatLogic(storage::Store& store, const Clock& clock, const SettingsHolder& settings);

  // PERMISSION_DENIED invalid-api-key for an unknown key, banned for a user under an
  // admin ban. The configured admin-api-key logs in as the built-in administrator.
  // RESOURCE_EXHAUSTED rate-limited (retry-after) once `client_ip` (when not empty)
  // failed max-failed-logins-per-minute times in the last 60 s.
  absl::StatusOr<LoginResult> Login(std::string_view api_key, std::string_view client_ip = "");
  // UNAUTHENTICATED not-authenticated for an unknown, expired or ended session;
  // PERMISSION_DENIED banned while an admin ban is in force on its user.
  absl::StatusOr<Caller> Authenticate(std::string_view token);
  // As Authenticate, answering through `done`; with an asynchronous store
  // (storage::Store::SetExecutor), it never waits and `done` runs on the store's executor.
  void AuthenticateAsync(std::string_view token,
                         std::function<void(absl::StatusOr<Caller>)> done);
  // As AuthenticateAsync, but may answer at once, from the sessions this core has seen,
  // without checking that the session is still in force or its user not banned: for
  // SendAsync only, whose statement checks both.
  void AuthenticateToSendAsync(std::string_view token,
                               std::function<void(absl::StatusOr<Caller>)> done);
  // Ends the session of `token`, also while an admin ban is in force on its user (the
  // ban refuses its requests, not its end). Returns the session's user.
  // UNAUTHENTICATED not-authenticated for an unknown, expired or ended session.
  absl::StatusOr<int64_t> Logout(std::string_view token);

  // Stores a message once every rule passes, answering through `done` as
  // AuthenticateAsync does: INVALID_ARGUMENT empty-content, content-too-long, bad-value;
  // NOT_FOUND unknown-user; PERMISSION_DENIED recipient-not-allowed, banned, blocked
  // (with until); RESOURCE_EXHAUSTED rate-limited (retry-after). The send's own
  // statement also checks that the caller's session is still in force (else
  // UNAUTHENTICATED not-authenticated) and its user not banned (else PERMISSION_DENIED
  // banned); those come before the content's errors. A send whose statement has not
  // started by `deadline` (real time) is not stored: DEADLINE_EXCEEDED.
  void SendAsync(const Caller& caller, int64_t recipient_id, std::string content,
                 absl::Time deadline, std::function<void(absl::StatusOr<storage::Message>)> done);
  // NOT_FOUND unknown-message (absent or deleted); PERMISSION_DENIED not-owner; content
  // errors as SendAsync; PERMISSION_DENIED banned or blocked (with until) when a send to
  // the message's recipient would be refused so.
  absl::StatusOr<storage::Message> Update(const Caller& caller, int64_t message_id,
                                          std::string_view content);
  // As Update (not-owner, unknown-message); an admin may delete any message. Nothing is
  // deleted once `deadline` (real time) has passed: DEADLINE_EXCEEDED.
  absl::Status Delete(const Caller& caller, int64_t message_id, absl::Time deadline);
  // Every unread message to the caller, oldest first, now read; nothing is read once
  // `deadline` (real time) has passed: DEADLINE_EXCEEDED.
  absl::StatusOr<std::vector<storage::Message>> TakeUnread(const Caller& caller,
                                                           absl::Time deadline);

  // One block of history: up to history-block-size messages before `before_id` (0: the
  // latest), oldest first, with `peer_id` only when > 0. NOT_FOUND unknown-user when no
  // user `peer_id` exists; INVALID_ARGUMENT bad-value when either id is negative.
  struct HistoryBlock {
    std::vector<storage::Message> messages;
    bool has_more = false;
  };
  absl::StatusOr<HistoryBlock> History(const Caller& caller, int64_t peer_id, int64_t before_id);
  absl::StatusOr<std::vector<storage::Conversation>> Conversations(const Caller& caller);

  // Changes concerning the caller after `after_id` (at most `limit`), new messages now
  // read; for live delivery. UNAUTHENTICATED not-authenticated (PERMISSION_DENIED banned)
  // when the session ended (its user was banned) before the changes were read.
  absl::StatusOr<std::vector<storage::Change>> TakeChanges(const Caller& caller,
                                                           int64_t after_id, int64_t limit);
  absl::StatusOr<int64_t> LatestChangeId(const Caller& caller);
  // The changes since this session's previous poll (or its login), at most
  // kMaxChangesPerPoll and kMaxChangeBytesPerPoll (`more`: others wait for the next
  // poll); fails as TakeChanges, and takes nothing once `deadline` (real time) has
  // passed: DEADLINE_EXCEEDED.
  absl::StatusOr<storage::TakenChanges> PollChanges(const Caller& caller,
                                                    absl::Time deadline);

  // Restricts what `target_id` may send (contract section 2.5). PERMISSION_DENIED
  // forbidden for members, for a target that is the caller or (for a pro) an admin;
  // NOT_FOUND unknown-user; INVALID_ARGUMENT bad-value for a negative duration. Returns
  // the end of a block (nullopt for a ban).
  absl::StatusOr<std::optional<absl::Time>> Restrict(const Caller& caller, int64_t target_id,
                                                     storage::RestrictionKind kind,
                                                     int64_t duration_hours);
  // Lifts the caller's restrictions of `kind` on the target (an admin's lifts all).
  absl::Status Lift(const Caller& caller, int64_t target_id, storage::RestrictionKind kind);

  // AccountService. Each one first needs AuthorizeAdmin.
  // PERMISSION_DENIED invalid-api-key when no admin key is configured or `key` is not
  // it. A wrong key counts as a failure of `peer_ip` (the caller's own address: no
  // x-client-ip), apart from LOGIN failures; at max-failed-logins-per-minute failures
  // in the last minute the address is held, whatever the key, as for Login:
  // RESOURCE_EXHAUSTED rate-limited (retry-after).
  absl::Status AuthorizeAdmin(std::string_view key, std::string_view peer_ip);
  // INVALID_ARGUMENT bad-value for a name that is empty, over 200 characters, only
  // blank characters (IsBlank), or holds a control character (line breaks, tabs,
  // escapes, C1, U+2028/9).
  absl::StatusOr<NewAccount> CreateUser(storage::Role role, std::string_view name);
  // A new key for the user; the old one stops working and every session of the user
  // ends, at once (a LOGIN with the old key in flight opens none). NOT_FOUND unknown-user;
  // PERMISSION_DENIED forbidden for the built-in administrator (its key is admin-api-key).
  // Nothing changes once `deadline` (real time) has passed: DEADLINE_EXCEEDED, so that a
  // key never goes unseen while the old one stops working.
  absl::StatusOr<NewAccount> RegenerateApiKey(int64_t user_id, absl::Time deadline);
  absl::StatusOr<storage::User> GetUser(int64_t user_id);

  // Makes the built-in administrator follow admin-api-key as configured now: if the key
  // was replaced or removed since its sessions were opened, they all end (a leaked key is
  // cut off with whatever it opened, as for a regenerated user key). A second built-in
  // administrator (made by an older release during a rolling upgrade) is retired, and its
  // sessions end too. Creates no administrator. Two index look-ups when nothing changed;
  // call it after every change of the settings, and regularly (a check that failed, a
  // row made by an older release). A key replaced since through another core (its
  // marker held the row before) is not taken back, and logs in no more: logged once.
  // Errors are the database's.
  absl::Status FollowAdminKey();

  const Clock& clock() const { return clock_; }

 private:
  // RESOURCE_EXHAUSTED rate-limited (retry-after) while `counted_as` has `limit` failed
  // logins in the last minute; OK otherwise, and always when `limit` is 0.
  absl::Status CheckLoginHold(std::string_view counted_as, int64_t limit);
  // Counts a failed login of `counted_as` when a `limit` is in force (not 0); held as
  // by CheckLoginHold instead, counting nothing, when it is at its limit already.
  absl::Status CountLoginFailure(std::string_view counted_as, int64_t limit);

  // The user the admin API key logs in as (its key hash is `marker`), created on first
  // use, or adopted, ending its sessions: from the row of a replaced key, or from the row
  // an older core stored under `key_hash`, the configured key's own hash.
  absl::StatusOr<storage::User> BuiltInAdmin(const std::string& marker,
                                             const std::string& key_hash);
  // Whether `user_id` is a built-in administrator (one whose key is admin-api-key).
  absl::StatusOr<bool> IsBuiltInAdmin(int64_t user_id);
  // Makes the built-in administrator's row (the one under `marker`, else the oldest under
  // another key's marker) hold `marker` and retires any other; a row that moves has its
  // sessions ended. Returns that row, or nothing when there is none. Under follow_mu_.
  // FailedPrecondition when the row holds a marker that claimed it after `marker` did
  // (this key was replaced since, through another core), unless this core's own
  // admin-api-key changed since it last followed it (a reload): that claims it anew.
  absl::StatusOr<std::optional<storage::User>> MoveBuiltInAdminTo(const std::string& marker);
  // INVALID_ARGUMENT: bad-value (not UTF-8, a NUL, a CR before a LF or last),
  // empty-content, content-too-long (over max-message-length characters).
  absl::Status CheckContent(std::string_view content, const Settings& settings) const;
  // AuthenticateAsync once the token is hashed.
  void LookUpAsync(std::string token_hash, std::function<void(absl::StatusOr<Caller>)> done);
  // The caller of a session found (or not) for the token whose hash is `token_hash`.
  static absl::StatusOr<Caller> CallerOf(absl::StatusOr<storage::Session> session,
                                         std::string token_hash);
  // A take by `caller`, or the error of its session as the take found it.
  static absl::StatusOr<storage::TakenChanges> Checked(
      const Caller& caller, absl::StatusOr<storage::TakenChanges> taken);
  // What SendAsync answers for the store's outcome of a send.
  static absl::StatusOr<storage::Message> MessageOf(
      absl::StatusOr<storage::SendOutcome> outcome);
  // A message the caller may change: present, not deleted, the caller's own (or, with
  // `admin_may`, anyone's for an admin).
  absl::StatusOr<storage::Message> OwnMessage(const Caller& caller, int64_t message_id,
                                              bool admin_may);

  storage::Store& store_;
  const Clock& clock_;
  const SettingsHolder& settings_;
  SessionCache sessions_;
  std::mutex follow_mu_;  // one FollowAdminKey or built-in LOGIN at a time
  // Guarded by follow_mu_: the marker this core last moved the row to or found it
  // under, or found replaced (empty before its first look).
  std::string followed_marker_;
  // Guarded by follow_mu_: the marker whose replacement was last logged.
  std::string warned_replaced_;
  // Guarded by follow_mu_: this core's key was found replaced (and not followed since).
  bool replaced_ = false;
};

// "modifié il y a ..." in the contract's French buckets, for an edit `age` ago.
std::string ModifiedAgo(absl::Duration age);

}  // namespace tchatator::core

#endif  // TCHATATOR_CORE_SERVICE_CHAT_LOGIC_H_
