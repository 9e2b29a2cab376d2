#ifndef TCHATATOR_STORAGE_STORE_H_
#define TCHATATOR_STORAGE_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tchatator::storage {

enum class Role { kMember, kPro, kAdmin };

// "member", "pro", "admin".
std::string_view RoleName(Role role);
// The role named `name`, or nullopt.
std::optional<Role> RoleFromName(std::string_view name);

// The latest time a take (TakeUnread, PollChanges) whose answer holds about
// `answer_bytes` commits, for a caller that gives up at `deadline`, the take having begun
// at `started`: early enough for the answer to reach the caller at kAnswerBytesPerSecond
// (slower than measured from core to gateway on a quiet machine: a GET_UNREAD of 45 MB
// took 0.5 to 1 s from the core's commit to the gateway's answer), yet
// never more than half of the take's time before `deadline`, so that a take of any size
// can commit when the database is quick.
absl::Time TakeCommitDeadline(absl::Time deadline, absl::Time started, size_t answer_bytes);
// The speed TakeCommitDeadline counts on for an answer.
inline constexpr double kAnswerBytesPerSecond = 32.0 * 1024 * 1024;

struct User {
  int64_t id = 0;
  std::string name;
  Role role = Role::kMember;
  bool banned = false;  // an admin ban is in force
};

struct Session {
  int64_t user_id = 0;
  Role role = Role::kMember;
  absl::Time expires_at;
  bool banned = false;  // an admin ban is in force on its user
};

enum class RestrictionKind { kBlock, kBan };

// One line of a user's conversation list.
struct Conversation {
  User peer;
  int64_t last_message_id = 0;
  absl::Time last_at;
  int64_t unread = 0;
};

struct Message {
  int64_t id = 0;
  int64_t sender_id = 0;
  int64_t recipient_id = 0;
  std::string content;
  absl::Time sent_at;
  std::optional<absl::Time> modified_at;
  bool deleted = false;
  bool read = false;
};

enum class ChangeKind { kNewMessage, kMessageUpdated, kMessageDeleted };

// Something that happened to a message, as its recipient learns it. For a deleted
// message, `message` holds the row but callers show only its id.
struct Change {
  int64_t id = 0;
  ChangeKind kind = ChangeKind::kNewMessage;
  Message message;
};

// What a take of changes returns: the changes, and the session as it stood once they
// were read.
struct TakenChanges {
  Session session;
  std::vector<Change> changes;  // empty when session.banned: nothing was taken
  bool more = false;            // changes beyond the limit were left for later
};

// What one Purge deleted.
struct Purged {
  int64_t sessions = 0;
  int64_t changes = 0;
  int64_t leases = 0;  // of live streams (MarkLive)
};

// Channel of the NOTIFY sent once a change has committed; payload
// "<user id>:<change id>". A hint only, sent after the commit and best effort: the
// changes table is the truth. A new message is hinted only when its recipient holds a
// live mark (MarkLive) as its send statement runs; edits and deletions always are.
inline constexpr char kChangeChannel[] = "tchatator_changes";

// Sliding-window send limits; 0 means unlimited.
struct SendLimits {
  int64_t per_minute = 0;
  int64_t per_hour = 0;
};

// Payload key of a RESOURCE_EXHAUSTED status: whole seconds until a send may succeed.
inline constexpr char kRetryAfterPayload[] = "tchatator/retry-after";

// What became of one SendMessage.
struct SendOutcome {
  enum class Kind {
    kSent,                 // stored and committed
    kUnknownRecipient,     // no such user
    kRecipientNotAllowed,  // the sender itself, or not of the required role
    kBanned,               // a ban is in force on the sender towards the recipient
    kBlocked,              // a block is in force: until `until`
    kRateLimited,          // the limits are reached: retry in `retry_after_seconds`
    kNoSession,            // SendMessageAsync: the session is not in force for the sender
    kAccountBanned,        // SendMessageAsync: an admin's ban is in force on the sender
  };
  Kind kind = Kind::kSent;
  Message message;                  // kSent
  std::optional<absl::Time> until;  // kBlocked
  int64_t retry_after_seconds = 0;  // kRateLimited: whole seconds, at least 1
};

// What a LOGIN's key found (Store::FindUserForLogin).
struct LoginLookup {
  int64_t retry_after = 0;  // > 0: the address is held, the key was not looked up
  std::optional<User> user;  // none (and not held): no such key, a failure counted
};

// Persistence of tchatator. Every method is one transaction, committed when it returns
// OK. Errors: NotFound as documented, Unavailable when the database cannot be reached
// (the caller may retry later), Internal for anything else. Thread-safe.
class Store {
 public:
  virtual ~Store() = default;

  // The failed LOGINs of an address are counted and checked one attempt at a time, each
  // attempt judged (its key checked) only while the address is under its limit, so that
  // concurrent guesses are held as they would be one after the other.
  //
  // Seconds until `ip` may try again when it has `limit` failures in the 60 s before
  // `now`; 0 when it may try now.
  virtual absl::StatusOr<int64_t> LoginRetryAfter(std::string_view ip, int64_t limit,
                                                  absl::Time now) = 0;
  // Counts a failed LOGIN of `ip` at `now` (and forgets failures older than an hour),
  // unless `ip` is held (LoginRetryAfter): then returns the seconds to wait, counting
  // nothing; 0 when counted.
  virtual absl::StatusOr<int64_t> CountLoginFailure(std::string_view ip, int64_t limit,
                                                    absl::Time now) = 0;
  // Unless `ip` is held (`retry_after`), the user whose key hash is `api_key_hash`; when
  // there is none, a failure of `ip` is counted, as by CountLoginFailure. Right keys
  // are checked beside each other, after the failures being counted.
  virtual absl::StatusOr<LoginLookup> FindUserForLogin(std::string_view ip, int64_t limit,
                                                       std::string_view api_key_hash,
                                                       absl::Time now) = 0;

  // OK when the database answers.
  virtual absl::Status Ping() = 0;

  // AlreadyExists if the hash is taken.
  virtual absl::StatusOr<int64_t> CreateUser(Role role, std::string_view name,
                                             std::string_view api_key_hash) = 0;
  // Replaces the user's key hash and ends every session of the user, in one
  // transaction: sessions opened with the old key end with it. A hash the user holds
  // already changes nothing and ends no session (two cores making the same move at once
  // end the sessions once). NotFound if there is no such user. Once `deadline` (real
  // time, as for TakeUnread) has passed, nothing changes: DeadlineExceeded.
  virtual absl::Status SetApiKeyHash(int64_t user_id, std::string_view api_key_hash,
                                     absl::Time deadline) = 0;
  virtual absl::StatusOr<User> GetUser(int64_t user_id) = 0;
  virtual absl::StatusOr<User> FindUserByApiKeyHash(std::string_view api_key_hash) = 0;
  // The admins whose key hash starts with `prefix` (a marker that no key's hash can
  // start with: core::ChatLogic's built-in administrator), lowest id first; empty if
  // none.
  virtual absl::StatusOr<std::vector<User>> FindAdminsByKeyPrefix(std::string_view prefix) = 0;
  // Ends every session of those admins (their keys unchanged), in one statement; how
  // many each had, by user id, for those that had any.
  virtual absl::StatusOr<std::map<int64_t, int64_t>> EndAdminSessionsByKeyPrefix(
      std::string_view prefix) = 0;
  // Records that `marker` claimed the built-in administrator's row (core::ChatLogic)
  // now; once recorded, only `renew` moves its claim to now.
  virtual absl::Status RecordAdminMarker(std::string_view marker, bool renew) = 0;
  // Whether a marker other than `marker` and `ignored` claimed the row after `marker`
  // did (false when `marker` never did).
  virtual absl::StatusOr<bool> AdminMarkerSuperseded(std::string_view marker,
                                                     std::string_view ignored) = 0;

  // Opens a session of the user whose key hash is still `api_key_hash`; NotFound if the
  // user has no longer that key (replaced since it was looked up), or no such user.
  virtual absl::Status CreateSession(std::string_view token_hash, int64_t user_id,
                                     std::string_view api_key_hash, absl::Time now,
                                     absl::Time expires_at) = 0;
  // NotFound if unknown or expired at `now`.
  virtual absl::StatusOr<Session> FindSession(std::string_view token_hash, absl::Time now) = 0;
  // As FindSession, answering through `done` instead of returning; see SetExecutor.
  virtual void FindSessionAsync(std::string token_hash, absl::Time now,
                                std::function<void(absl::StatusOr<Session>)> done) = 0;
  virtual absl::Status DeleteSession(std::string_view token_hash) = 0;

  // Stores a message unless the sender already sent `limits` messages in the last 60 s
  // or 3600 s before `now`: then ResourceExhausted with kRetryAfterPayload. Sends of one
  // sender are serialised, so the limit is exact under concurrency and across processes.
  // Sending, updating and deleting record a Change for the recipient in the same
  // transaction, then NOTIFY kChangeChannel once committed (best effort; for a send,
  // only to a live recipient: see kChangeChannel).
  virtual absl::StatusOr<Message> InsertMessage(int64_t sender_id, int64_t recipient_id,
                                                std::string_view content, absl::Time now,
                                                SendLimits limits) = 0;
  // A send with the rules the database knows, checked in the transaction that stores it,
  // in this order: the recipient exists (else kUnknownRecipient), is not the sender and
  // has `recipient_role` unless nullopt (else kRecipientNotAllowed), no ban then no block
  // is in force on the sender towards it at `now`, then the limits as InsertMessage.
  // Only kSent writes anything. OK with the outcome once committed; concurrent calls
  // may share one transaction (group commit) without sharing their outcomes.
  virtual absl::StatusOr<SendOutcome> SendMessage(int64_t sender_id, int64_t recipient_id,
                                                  std::optional<Role> recipient_role,
                                                  std::string_view content, absl::Time now,
                                                  SendLimits limits) = 0;
  // As SendMessage, answering through `done` instead of returning; see SetExecutor. The
  // same transaction first checks that session `token_hash` is in force at `now` for
  // `sender_id` (else kNoSession) and that no admin's ban is in force on the sender
  // (else kAccountBanned), as FindSession would, so a caller may skip FindSession. An
  // empty `token_hash` checks nothing. `deadline`, in real time (absl::Now, whatever
  // `now` says): the caller has given up by then, so a send whose statement has not
  // started by then is not stored and answers DEADLINE_EXCEEDED.
  virtual void SendMessageAsync(std::string token_hash, int64_t sender_id,
                                int64_t recipient_id, std::optional<Role> recipient_role,
                                std::string content, absl::Time now, SendLimits limits,
                                absl::Time deadline,
                                std::function<void(absl::StatusOr<SendOutcome>)> done) = 0;
  // Where the *Async methods wait for the database: `executor` runs a task on another
  // thread, and `done` then runs on such a thread, the calling one never waiting. With
  // no executor (the default, or after SetExecutor(nullptr)), they wait on the calling
  // thread and call `done` before returning.
  virtual void SetExecutor(std::function<void(std::function<void()>)> executor) = 0;
  // Any message, deleted or not. NotFound if the id was never used.
  virtual absl::StatusOr<Message> GetMessage(int64_t message_id) = 0;
  // NotFound if absent or deleted.
  virtual absl::StatusOr<Message> UpdateMessageContent(int64_t message_id,
                                                       std::string_view content,
                                                       absl::Time now) = 0;
  // NotFound if absent or already deleted. Once `deadline` (as for SetApiKeyHash) has
  // passed, nothing is deleted: DeadlineExceeded.
  virtual absl::Status SoftDeleteMessage(int64_t message_id, absl::Time now,
                                         absl::Time deadline) = 0;
  // What a restriction in force at `now` makes of a message from `sender_id` to
  // `recipient_id`, as a send checks it: kBanned, else kBlocked with the latest `until`
  // of the blocks, else kSent (nothing in force).
  virtual absl::StatusOr<SendOutcome> SendRestriction(int64_t sender_id, int64_t recipient_id,
                                                      absl::Time now) = 0;
  // Every unread, undeleted message to `recipient_id`, oldest first, now marked read.
  // Concurrent callers never receive the same message. `deadline`, in real time
  // (absl::Now, whatever `now` says): the caller has given up by then, so once it has
  // passed nothing is marked read (DeadlineExceeded), not even what was read by then;
  // it commits by TakeCommitDeadline, earlier for a longer answer.
  virtual absl::StatusOr<std::vector<Message>> TakeUnread(int64_t recipient_id,
                                                          absl::Time now,
                                                          absl::Time deadline) = 0;
  // Up to `limit` messages of `user_id`'s history with an id below `before_id`, newest
  // first: sent ones, and received ones already read; never deleted ones. With
  // `peer_id` > 0, only those exchanged with that user.
  virtual absl::StatusOr<std::vector<Message>> ListHistory(int64_t user_id, int64_t peer_id,
                                                           int64_t before_id,
                                                           int64_t limit) = 0;
  // Every person `user_id` exchanged undeleted messages with, most recent first.
  virtual absl::StatusOr<std::vector<Conversation>> ListConversations(int64_t user_id) = 0;

  // Records a restriction on what `target_id` may send: to `scope_id` only, or to
  // everyone when nullopt. `until` is required for a block and ignored for a ban. A
  // block replaces the blocks in force that `set_by` set on the target in that scope.
  virtual absl::Status AddRestriction(int64_t target_id, int64_t set_by,
                                      std::optional<int64_t> scope_id, RestrictionKind kind,
                                      std::optional<absl::Time> until, absl::Time now) = 0;
  // Lifts the restrictions of `kind` in force on `target_id`: those set by `set_by`, or
  // all of them when nullopt. Returns how many were lifted.
  virtual absl::StatusOr<int64_t> LiftRestrictions(int64_t target_id, RestrictionKind kind,
                                                   std::optional<int64_t> set_by,
                                                   absl::Time now) = 0;
  // Up to `limit` changes for `user_id`, the user of session `token_hash`, with an id
  // above `after_id`, oldest first, skipping changes other than deletion of messages
  // deleted since; `more` when others follow them. New messages among them are marked
  // read at `now`, and every change of such a message in the result says read. The
  // session is checked in the same transaction once the changes are read, so a logout
  // or ban committed before a change stops that change: NotFound (nothing taken) when
  // the session has ended at `now`; nothing taken when its user is banned.
  virtual absl::StatusOr<TakenChanges> TakeChanges(std::string_view token_hash,
                                                   int64_t user_id, int64_t after_id,
                                                   int64_t limit, absl::Time now) = 0;
  // As TakeChanges after the session's cursor, which then moves past what is returned;
  // the changes also stop before their messages' contents would pass `max_bytes` (the
  // first is always returned). Once `deadline` (as for TakeUnread) has passed, nothing
  // is taken and the cursor stays (DeadlineExceeded).
  virtual absl::StatusOr<TakenChanges> PollChanges(std::string_view token_hash,
                                                   int64_t user_id, int64_t limit,
                                                   int64_t max_bytes, absl::Time now,
                                                   absl::Time deadline) = 0;
  // The id of the latest change for `user_id` (0 if none).
  virtual absl::StatusOr<int64_t> LatestChangeId(int64_t user_id) = 0;
  // Marks `user_ids` live, with a stream that wants their hints, for `lease` from now
  // on the database's clock; a longer lease in force stays.
  virtual absl::Status MarkLive(std::vector<int64_t> user_ids, absl::Duration lease) = 0;

  // Deletes up to `limit` sessions expired at `now`, then, among the `limit` oldest
  // changes, those created over an hour before the oldest session in force at `now`
  // was (over an hour before `now` when none is): no session can read them any more;
  // then up to `limit` leases of live streams over for an hour (database clock).
  // Call again while a count reaches `limit`.
  virtual absl::StatusOr<Purged> Purge(absl::Time now, int64_t limit) = 0;
};

}  // namespace tchatator::storage

#endif  // TCHATATOR_STORAGE_STORE_H_
