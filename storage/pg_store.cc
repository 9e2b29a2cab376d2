#include "storage/pg_store.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "absl/strings/cord.h"
#include "common/log.h"
#include "common/strings.h"

namespace tchatator::storage {
namespace {

constexpr std::string_view kMessageColumns =
    "id, sender_id, recipient_id, content, tch_us(sent_at), tch_us(modified_at), "
    "deleted_at IS NOT NULL, read_at IS NOT NULL";

struct Statement {
  const char* name;
  std::string sql;
};

std::vector<Statement> Statements() {
  const std::string cols(kMessageColumns);
  // An admin ban in force on user u.
  const std::string admin_ban =
      "EXISTS (SELECT 1 FROM restrictions r WHERE r.target_id = u.id AND r.kind = 'ban'"
      " AND r.scope_id IS NULL AND r.lifted_at IS NULL)";
  const std::string user_cols = "u.id, u.name, u.role, " + admin_ban;
  // Newest first, strictly before the given id, at most the limit: sent by $1 (to $2),
  // and received by $1 (from $2) once read. Each branch walks one index backwards, the
  // one whose leading columns are in its ORDER BY. Those columns are bounded by a range
  // (x >= $1 AND x <= $1), not an equality: with an equality the planner drops them
  // from the ORDER BY, and a generic plan may then walk the primary key backwards,
  // filtering by user, through the whole table for a user with few messages (seen at
  // 40 ms a call with 200,000 messages among 64 busy users).
  const std::string history_sent =
      "(SELECT " + cols + " FROM messages WHERE sender_id >= $1 AND sender_id <= $1"
      " AND deleted_at IS NULL AND id < $2 ORDER BY sender_id DESC, id DESC LIMIT $3)";
  const std::string history_received =
      "(SELECT " + cols + " FROM messages WHERE recipient_id >= $1 AND recipient_id <= $1"
      " AND read_at IS NOT NULL AND deleted_at IS NULL AND id < $2"
      " ORDER BY recipient_id DESC, id DESC LIMIT $3)";
  const std::string peer_sent =
      "(SELECT " + cols + " FROM messages WHERE sender_id >= $1 AND sender_id <= $1"
      " AND recipient_id >= $2 AND recipient_id <= $2 AND deleted_at IS NULL AND id < $3"
      " ORDER BY sender_id DESC, recipient_id DESC, id DESC LIMIT $4)";
  const std::string peer_received =
      "(SELECT " + cols + " FROM messages WHERE sender_id >= $2 AND sender_id <= $2"
      " AND recipient_id >= $1 AND recipient_id <= $1"
      " AND read_at IS NOT NULL AND deleted_at IS NULL AND id < $3"
      " ORDER BY sender_id DESC, recipient_id DESC, id DESC LIMIT $4)";
  return {
      {"create_user",
       "INSERT INTO users (role, name, api_key_hash) VALUES ($1, $2, $3) RETURNING id"},
      {"set_key", "UPDATE users SET api_key_hash = $2 WHERE id = $1 AND api_key_hash <> $2"},
      {"end_user_sessions", "DELETE FROM sessions WHERE user_id = $1"},
      {"get_user", "SELECT " + user_cols + " FROM users u WHERE id = $1"},
      {"user_by_key", "SELECT " + user_cols + " FROM users u WHERE api_key_hash = $1"},
      {"record_admin_marker",
       "INSERT INTO admin_key_markers (marker) VALUES ($1) ON CONFLICT (marker) DO NOTHING"},
      {"renew_admin_marker",
       "INSERT INTO admin_key_markers (marker) VALUES ($1)"
       " ON CONFLICT (marker) DO UPDATE SET claimed_at = now()"},
      {"admin_marker_superseded",
       "SELECT EXISTS (SELECT 1 FROM admin_key_markers WHERE marker <> $1 AND marker <> $2"
       " AND claimed_at > (SELECT claimed_at FROM admin_key_markers WHERE marker = $1))"},
      {"admins_by_key_prefix",
       "SELECT " + user_cols +
           " FROM users u WHERE role = 'admin' AND starts_with(api_key_hash, $1) ORDER BY id"},
      {"end_admin_sessions",
       "DELETE FROM sessions s USING users u WHERE s.user_id = u.id AND u.role = 'admin'"
       " AND starts_with(u.api_key_hash, $1) RETURNING s.user_id"},
      // A new session's NEW_CHG_AVAILABLE starts from its LOGIN. FOR SHARE: a key
      // replaced meanwhile (set_key) either waits for this session and ends it, or makes
      // it find no row.
      {"create_session",
       "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, last_change_id)"
       " SELECT $1, u.id, tch_ts($4), tch_ts($5),"
       " COALESCE((SELECT max(id) FROM changes WHERE user_id = $2), 0)"
       " FROM users u WHERE u.id = $2 AND u.api_key_hash = $3 FOR SHARE"},
      // The sessions of a batch of look-ups: token hashes $1, times $2, in microseconds;
      // one row per session found, with its position in the arrays (migration 0007).
      {"find_sessions",
       "SELECT o_k, o_user_id, o_role, o_expires_us, o_banned"
       " FROM tch_find_sessions($1::text[], $2::bigint[])"},
      // One session, looked up inside a transaction that takes changes.
      {"session_in_force",
       "SELECT o_user_id, o_role, o_expires_us, o_banned"
       " FROM tch_find_sessions(ARRAY[$1::text], ARRAY[$2::bigint])"},
      {"delete_session", "DELETE FROM sessions WHERE token_hash = $1"},
      // Group commit of sends, each checking its session: see migrations 0006 and 0010;
      // o_live (0013): whether to hint the recipient.
      {"send_batch",
       "SELECT o_outcome, o_id, o_change_id, o_until_us, o_live"
       " FROM tch_send_batch($1::text[], $2::bigint[], $3::bigint[], $4::text[],"
       " $5::bigint[], $6::text[], $7::bigint[], $8::bigint[])"},
      // Writers of changes serialize per recipient (migration 0008).
      {"lock_recipient_of",
       "SELECT pg_advisory_xact_lock(recipient_id) FROM messages WHERE id = $1"},
      // NOTIFY hints: "<user id>:<change id>" each.
      {"hints",
       "SELECT count(pg_notify('" + std::string(kChangeChannel) + "', p))"
       " FROM unnest($1::text[]) p"},
      {"add_change",
       "INSERT INTO changes (user_id, kind, message_id, created_at)"
       " VALUES ($1, $2, $3, tch_ts($4)) RETURNING id"},
      // The columns of kMessageColumns, but for a deletion no content: its record shows
      // none, and a deleted message's content may be long.
      {"take_changes",
       "SELECT c.id, c.kind, m.id, m.sender_id, m.recipient_id,"
       "  CASE WHEN c.kind = 'message_deleted' THEN '' ELSE m.content END,"
       "  tch_us(m.sent_at), tch_us(m.modified_at), m.deleted_at IS NOT NULL,"
       "  m.read_at IS NOT NULL"
       " FROM changes c CROSS JOIN LATERAL (SELECT id, sender_id, recipient_id, content,"
       "  sent_at, modified_at, deleted_at, read_at FROM messages WHERE id = c.message_id) m"
       " WHERE c.user_id = $1 AND c.id > $2 AND c.id <= $4"
       "  AND (c.kind = 'message_deleted' OR m.deleted_at IS NULL)"
       " ORDER BY c.id LIMIT $3"},
      // The same changes, with the bytes of content each record holds (a deletion's holds
      // none): a page bounded in bytes reads only the contents it returns. octet_length
      // reads a stored value's header, not the value.
      {"take_change_sizes",
       "SELECT c.id, CASE WHEN c.kind = 'message_deleted' THEN 0"
       "  ELSE octet_length(m.content) END FROM changes c"
       " CROSS JOIN LATERAL (SELECT content, deleted_at FROM messages WHERE id = c.message_id) m"
       " WHERE c.user_id = $1 AND c.id > $2"
       "  AND (c.kind = 'message_deleted' OR m.deleted_at IS NULL)"
       " ORDER BY c.id LIMIT $3"},
      // By the ids of the new messages a take returned: a semi-join of messages with the
      // changes of the range, planned on statistics that lag a busy recipient's, was a
      // nested loop over both, 11 s for 10 000 changes.
      {"mark_read",
       "UPDATE messages SET read_at = tch_ts($2) WHERE id = ANY($1::bigint[])"
       " AND read_at IS NULL AND deleted_at IS NULL"},
      {"session_cursor",
       "SELECT last_change_id FROM sessions WHERE token_hash = $1 FOR UPDATE"},
      {"move_cursor", "UPDATE sessions SET last_change_id = $2 WHERE token_hash = $1"},
      {"latest_change", "SELECT COALESCE(max(id), 0) FROM changes WHERE user_id = $1"},
      // Live streams' leases (migration 0013), in the order of $1 (sorted: two cores
      // marking the same users lock their rows in the same order). A lease is never
      // shortened: another core may hold a longer one for the same user.
      {"mark_live",
       "INSERT INTO live_users (user_id, until)"
       " SELECT u, now() + $2 * interval '1 microsecond' FROM unnest($1::bigint[]) u"
       " ON CONFLICT (user_id) DO UPDATE SET until = excluded.until"
       " WHERE live_users.until < excluded.until"},
      // Housekeeping (migration 0009). Change ids follow creation times closely, so the
      // oldest changes are the first ids: each pass reads at most $2 of them. "= ANY
      // (ARRAY(...))" deletes by primary key; "IN (...)" scanned the whole table.
      {"purge_sessions",
       "DELETE FROM sessions WHERE token_hash = ANY(ARRAY("
       " SELECT token_hash FROM sessions WHERE expires_at <= tch_ts($1) LIMIT $2))"},
      {"purge_changes",
       "DELETE FROM changes WHERE id = ANY(ARRAY("
       " SELECT o.id FROM (SELECT id, created_at FROM changes ORDER BY id LIMIT $2) o"
       " WHERE o.created_at < coalesce((SELECT min(created_at) FROM sessions"
       "   WHERE expires_at > tch_ts($1)), tch_ts($1)) - interval '1 hour'))"},
      // Leases over for an hour: their users' streams are long gone. The outer condition
      // again, so that a lease renewed meanwhile stays.
      {"purge_leases",
       "DELETE FROM live_users WHERE user_id = ANY(ARRAY("
       " SELECT user_id FROM live_users WHERE until < now() - interval '1 hour' LIMIT $1))"
       " AND until < now() - interval '1 hour'"},
      {"get_message", "SELECT " + cols + " FROM messages WHERE id = $1"},
      {"update_message",
       "UPDATE messages SET content = $2, modified_at = tch_ts($3)"
       " WHERE id = $1 AND deleted_at IS NULL RETURNING " + cols},
      {"delete_message",
       "UPDATE messages SET deleted_at = tch_ts($2) WHERE id = $1 AND deleted_at IS NULL"
       " RETURNING recipient_id"},
      {"history",
       "SELECT * FROM (" + history_sent + " UNION ALL " + history_received +
           ") h ORDER BY 1 DESC LIMIT $3"},
      {"history_peer",
       "SELECT * FROM (" + peer_sent + " UNION ALL " + peer_received +
           ") h ORDER BY 1 DESC LIMIT $4"},
      {"conversations",
       "WITH mine AS ("
       " SELECT recipient_id AS peer, id, sent_at, false AS unread FROM messages"
       "  WHERE sender_id = $1 AND deleted_at IS NULL"
       " UNION ALL"
       " SELECT sender_id, id, sent_at, read_at IS NULL FROM messages"
       "  WHERE recipient_id = $1 AND deleted_at IS NULL)"
       " SELECT " + user_cols + ", max(m.id), tch_us(max(m.sent_at)),"
       "  count(*) FILTER (WHERE m.unread)"
       " FROM mine m JOIN users u ON u.id = m.peer"
       " GROUP BY u.id ORDER BY max(m.id) DESC"},
      // A block replaces the blocks its setter has in force on the target in the same
      // scope: BLOCK_USER says when the block ends, whether sooner or later than before.
      // Two blocks of one setter on one target at once: the second waits for the first,
      // then replaces it. The two-key lock space, apart from the sends' user locks.
      {"lock_blocks", "SELECT pg_advisory_xact_lock(hashint8($1), hashint8($2))"},
      {"replace_blocks",
       "UPDATE restrictions SET lifted_at = tch_ts($4)"
       " WHERE target_id = $1 AND set_by = $2 AND scope_id IS NOT DISTINCT FROM $3"
       " AND kind = 'block' AND lifted_at IS NULL"},
      {"add_restriction",
       "INSERT INTO restrictions (target_id, set_by, scope_id, kind, until, created_at)"
       " VALUES ($1, $2, $3, $4, tch_ts($5), tch_ts($6))"},
      {"lift_restrictions",
       "UPDATE restrictions SET lifted_at = tch_ts($4)"
       " WHERE target_id = $1 AND kind = $2 AND lifted_at IS NULL"
       " AND ($3::bigint IS NULL OR set_by = $3)"},
      // tch_send_batch's check of the restrictions (migrations 0012 and 0013), for one pair.
      {"send_restriction",
       "SELECT coalesce(bool_or(kind = 'ban'), false), tch_us(max(until)) FROM restrictions"
       " WHERE target_id = $1 AND lifted_at IS NULL AND (scope_id IS NULL OR scope_id = $2)"
       " AND (kind = 'ban' OR until > tch_ts($3))"},
      {"nth_latest_login_failure",
       "SELECT tch_us(at) FROM login_failures WHERE ip = $1 ORDER BY at DESC OFFSET $2 - 1 LIMIT 1"},
      // The failures of one address counted one at a time, and a right key's check of
      // them after the failures under way (the two-key form: apart from the user-id
      // locks of the send path).
      {"lock_login_failures", "SELECT pg_advisory_xact_lock(hashtext('login'), hashtext($1))"},
      {"lock_login_failures_shared",
       "SELECT pg_advisory_xact_lock_shared(hashtext('login'), hashtext($1))"},
      {"record_login_failure",
       "WITH old AS (DELETE FROM login_failures WHERE at < tch_ts($2) - interval '1 hour')"
       " INSERT INTO login_failures (ip, at) VALUES ($1, tch_ts($2))"},
      {"take_unread",
       "UPDATE messages SET read_at = tch_ts($2)"
       " WHERE recipient_id = $1 AND read_at IS NULL AND deleted_at IS NULL RETURNING " + cols},
  };
}

absl::Time FromMicros(int64_t us) { return absl::FromUnixMicros(us); }
int64_t ToMicros(absl::Time t) { return absl::ToUnixMicros(t); }

// The columns of kMessageColumns, from `first` on.
Message ReadMessage(const pqxx::row& row, int first = 0) {
  Message m;
  m.id = row[first].as<int64_t>();
  m.sender_id = row[first + 1].as<int64_t>();
  m.recipient_id = row[first + 2].as<int64_t>();
  m.content = row[first + 3].as<std::string>();
  m.sent_at = FromMicros(row[first + 4].as<int64_t>());
  if (!row[first + 5].is_null()) m.modified_at = FromMicros(row[first + 5].as<int64_t>());
  m.deleted = row[first + 6].as<bool>();
  m.read = row[first + 7].as<bool>();
  return m;
}

std::string ChangeKindName(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kNewMessage:
      return "new_message";
    case ChangeKind::kMessageUpdated:
      return "message_updated";
    case ChangeKind::kMessageDeleted:
      return "message_deleted";
  }
  return "new_message";
}

ChangeKind ChangeKindFromName(const std::string& name) {
  if (name == "message_updated") return ChangeKind::kMessageUpdated;
  if (name == "message_deleted") return ChangeKind::kMessageDeleted;
  return ChangeKind::kNewMessage;
}

// Records a change for the message's recipient and returns its id; the recipient's row
// must be locked by the transaction.
int64_t AddChange(pqxx::work& txn, int64_t user_id, ChangeKind kind, int64_t message_id,
                  absl::Time now) {
  return txn.exec_prepared1("add_change", user_id, ChangeKindName(kind), message_id,
                            ToMicros(now))[0]
      .as<int64_t>();
}

// OK while `deadline` (real time) is ahead: what the transaction did (a take marked
// read, a new key) is committed, and its caller is still there to be told. Past it, the
// transaction is rolled back.
absl::Status BeforeDeadline(absl::Time deadline) {
  if (absl::Now() < deadline) return absl::OkStatus();
  return absl::DeadlineExceededError("the caller's deadline passed: nothing committed");
}

// About how many bytes the answer listing `message` takes: its content and the fields
// of its record.
size_t AnswerBytesOf(const Message& message) { return message.content.size() + 200; }

// How many seconds `address` must wait, as Store::LoginRetryAfter.
int64_t LoginRetryAfterIn(pqxx::work& txn, const std::string& address, int64_t limit,
                          absl::Time now) {
  const pqxx::result r = txn.exec_prepared("nth_latest_login_failure", address, limit);
  if (r.empty()) return 0;
  const absl::Time frees_at = FromMicros(r[0][0].as<int64_t>()) + absl::Seconds(60);
  if (frees_at <= now) return 0;
  return std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(frees_at - now, absl::Seconds(1))));
}

// LoginRetryAfterIn once the transaction holds the lock on `address`'s failures:
// `exclusive` to count one (failures are counted one at a time), else shared (to check
// a right key after the failures being counted, not beside them).
int64_t LockedLoginRetryAfter(pqxx::work& txn, const std::string& address, int64_t limit,
                              absl::Time now, bool exclusive) {
  txn.exec_prepared(exclusive ? "lock_login_failures" : "lock_login_failures_shared", address);
  return LoginRetryAfterIn(txn, address, limit, now);
}

// Under the lock on `address`'s failures, counts one at `now` and returns 0, unless the
// address is held: then returns the seconds to wait (Store::CountLoginFailure).
int64_t CountLoginFailureIn(pqxx::work& txn, const std::string& address, int64_t limit,
                            absl::Time now) {
  const int64_t wait = LockedLoginRetryAfter(txn, address, limit, now, /*exclusive=*/true);
  if (wait == 0) txn.exec_prepared("record_login_failure", address, ToMicros(now));
  return wait;
}

// OK while a take whose answer holds about `answer_bytes` may still commit (see
// TakeCommitDeadline), as BeforeDeadline.
absl::Status BeforeTakeDeadline(absl::Time deadline, absl::Time started, size_t answer_bytes) {
  return BeforeDeadline(TakeCommitDeadline(deadline, started, answer_bytes));
}

// Builds the text form of a PostgreSQL array, e.g. {1,2} or {"a","b\"c"}.
class ArrayLiteral {
 public:
  void Add(int64_t value) {
    Separate();
    StrAppend(&text_, value);
  }
  void Add(std::string_view value) {
    Separate();
    text_.reserve(text_.size() + value.size() + 3);
    text_ += '"';
    // Whole runs between the characters to escape are copied at once. A plain loop:
    // find_first_of with a set calls memchr once per byte, which made this 9 % of the
    // core's instructions per SEND_MSG (4 % now).
    size_t run = 0;
    for (size_t i = 0; i < value.size(); ++i) {
      if (value[i] != '"' && value[i] != '\\') continue;
      text_.append(value.data() + run, i - run);
      text_ += '\\';
      text_ += value[i];
      run = i + 1;
    }
    text_.append(value.data() + run, value.size() - run);
    text_ += '"';
  }
  void AddNull() {
    Separate();
    text_ += "NULL";
  }
  std::string Take() { return std::move(text_) + "}"; }

 private:
  void Separate() {
    if (text_.size() > 1) text_ += ',';
  }
  std::string text_ = "{";
};

// Most sends stored by one statement.
constexpr size_t kMaxBatch = 64;

// The four columns of a session, from `first` on.
Session ReadSession(const pqxx::row& row, int first = 0) {
  return Session{row[first].as<int64_t>(),
                 RoleFromName(row[first + 1].as<std::string>()).value_or(Role::kMember),
                 FromMicros(row[first + 2].as<int64_t>()), row[first + 3].as<bool>()};
}

// Reads changes after `after_id`, then checks session `token_hash` (a later snapshot, so
// it sees any logout or ban committed before the changes read), and only then marks the
// new messages among them read. See Store::TakeChanges.
absl::StatusOr<TakenChanges> TakeChangesIn(pqxx::work& txn, const std::string& token_hash,
                                           int64_t user_id, int64_t after_id, int64_t limit,
                                           int64_t max_bytes, absl::Time now) {
  limit = std::clamp<int64_t>(limit, 0, std::numeric_limits<int32_t>::max());
  // The last change whose content still fits in max_bytes (the first always does).
  int64_t through = std::numeric_limits<int64_t>::max();
  bool cut = false;
  if (max_bytes < std::numeric_limits<int64_t>::max()) {
    // The page is what was measured, not what committed meanwhile; one more than the
    // limit says whether others follow.
    const pqxx::result sizes =
        txn.exec_prepared("take_change_sizes", user_id, after_id, limit + 1);
    const auto measured = std::min(sizes.size(), static_cast<pqxx::result::size_type>(limit));
    pqxx::result::size_type fit = 0;
    int64_t bytes = 0;
    for (; fit < measured; ++fit) {
      bytes += sizes[fit][1].as<int64_t>();
      if (bytes > max_bytes && fit > 0) break;
    }
    cut = fit < sizes.size();
    through = fit > 0 ? sizes[fit - 1][0].as<int64_t>() : after_id;
  }
  // One more than asked for: whether others follow.
  pqxx::result r = txn.exec_prepared("take_changes", user_id, after_id, limit + 1, through);
  const pqxx::result session = txn.exec_prepared("session_in_force", token_hash, ToMicros(now));
  if (session.empty()) return absl::NotFoundError("no such session");
  TakenChanges out{ReadSession(session[0]), {}, false};
  if (out.session.banned) return out;
  const auto taken = std::min(r.size(), static_cast<pqxx::result::size_type>(limit));
  out.more = cut || r.size() > taken;
  out.changes.reserve(taken);
  for (pqxx::result::size_type i = 0; i < taken; ++i) {
    const pqxx::row row = r[i];
    out.changes.push_back(Change{row[0].as<int64_t>(),
                                 ChangeKindFromName(row[1].as<std::string>()),
                                 ReadMessage(row, 2)});
  }
  std::vector<int64_t> marked;
  for (const Change& c : out.changes) {
    if (c.kind == ChangeKind::kNewMessage) marked.push_back(c.message.id);
  }
  if (!marked.empty()) {
    std::sort(marked.begin(), marked.end());
    ArrayLiteral ids;
    for (int64_t id : marked) ids.Add(id);
    txn.exec_prepared("mark_read", ids.Take(), ToMicros(now));
    // Every record of a message marked read says so, its edits' too, which were read
    // before the mark: one answer shows one state.
    for (Change& c : out.changes) {
      if (std::binary_search(marked.begin(), marked.end(), c.message.id)) c.message.read = true;
    }
  }
  return out;
}

// The four columns of user_cols, from `first` on.
User ReadUser(const pqxx::row& row, int first = 0) {
  return User{row[first].as<int64_t>(), row[first + 1].as<std::string>(),
              RoleFromName(row[first + 2].as<std::string>()).value_or(Role::kMember),
              row[first + 3].as<bool>()};
}

std::string KindName(RestrictionKind kind) {
  return kind == RestrictionKind::kBan ? "ban" : "block";
}

// SQLSTATE classes after which the connection cannot be trusted: connection exceptions
// (08) and operator intervention such as a server shutdown (57P).
bool ConnectionLost(const std::string& sqlstate) {
  return sqlstate.starts_with("08") || sqlstate.starts_with("57P");
}

// The status of a statement answered with an error: Unavailable when the connection is
// lost (then `lease` is discarded; one retry on a fresh connection is safe, nothing was
// committed), Internal otherwise.
absl::Status SqlErrorStatus(const pqxx::sql_error& e, ConnectionPool::Lease& lease) {
  if (ConnectionLost(e.sqlstate())) {
    lease.Discard();
    return absl::UnavailableError(StrCat("database unreachable: ", e.what()));
  }
  return absl::InternalError(StrCat("database error: ", e.what()));
}

// Batches of one kind (sends, or session look-ups) running at once: one for the default
// pool of 8, so that concurrent calls wait for the batch in flight and go together in
// the next, larger one. For sends, against two at a time (tests/bench/ab 3, 2026-11-27),
// PostgreSQL spent 5 to 32 % less CPU per SEND_MSG in all six rounds, on disk and on
// tmpfs; on tmpfs 8 connections ran 8 to 22 % and the mix 6 to 19 % faster with a lower
// p99 at 64 in every round; on disk 64 connections were even. A larger pool still gives
// more at once (16: two).
size_t BatchesAtOnce(size_t pool_size) { return std::max<size_t>(1, pool_size / 8); }

}  // namespace

std::string PgStoreStatementSql(std::string_view name) {
  for (const Statement& s : Statements()) {
    if (name == s.name) return s.sql;
  }
  return "";
}

PgStore::PgStore(std::string url, size_t pool_size)
    : pool_(std::move(url), pool_size,
            [](pqxx::connection& c) {
              for (const Statement& s : Statements()) c.prepare(s.name, s.sql);
            }),
      // An eighth of the connections at most run batches of sends, an eighth batches of
      // session look-ups (BatchesAtOnce): the others serve other reads, and calls
      // arriving meanwhile wait to go together in the next batch (a bigger batch costs
      // the database less per call). A look-up batch is one short read: with one at a
      // time (the default pool of 8), batches are twice as big and SEND_MSG at 8 and 64
      // connections 5 to 10 % faster than with two.
      sends_(BatchesAtOnce(pool_size), &PgStore::TakeSends,
             [this](const std::vector<PendingSend*>& batch) -> std::function<void()> {
               auto lease = std::make_shared<ConnectionPool::Lease>();
               auto hints = std::make_shared<std::vector<std::string>>();
               RunBatch(batch, *lease, *hints);
               // Once the callers have their answers, the hints go out on the same
               // connection.
               return [this, lease, hints] {
                 if (!hints->empty() && *lease) SendHints(lease->connection(), *hints);
               };
             }),
      lookups_(BatchesAtOnce(pool_size),
               [](std::deque<PendingLookup*>& queue, std::vector<PendingLookup*>& batch) {
                 while (!queue.empty() && batch.size() < kMaxBatch) {
                   batch.push_back(queue.front());
                   queue.pop_front();
                 }
               },
               [this](const std::vector<PendingLookup*>& batch) -> std::function<void()> {
                 if (absl::Status s = RunLookups(batch); !s.ok()) {
                   for (PendingLookup* p : batch) p->result = s;
                 }
                 return [] {};
               }) {}

void PgStore::SetExecutor(std::function<void(std::function<void()>)> executor) {
  sends_.SetExecutor(executor);
  lookups_.SetExecutor(std::move(executor));
}

void PgStore::Reconfigure(std::string url, size_t pool_size) {
  pool_.Reconfigure(std::move(url), pool_size);
  sends_.SetMaxInFlight(BatchesAtOnce(pool_size));
  lookups_.SetMaxInFlight(BatchesAtOnce(pool_size));
}

void PgStore::SendHints(pqxx::connection_base& connection, const std::vector<std::string>& hints) {
  if (hints.empty()) return;
  ArrayLiteral payloads;
  for (const std::string& hint : hints) payloads.Add(hint);
  try {
    // One statement, its own transaction; it writes nothing, so its commit waits for no
    // disk flush.
    pqxx::nontransaction txn(connection);
    txn.exec_prepared("hints", payloads.Take());
    if (hints_failing_.exchange(false)) Log::Info("change hints: sent again");
  } catch (const std::exception& e) {
    if (!hints_failing_.exchange(true)) {
      Log::Info(StrCat("change hints: ", hints.size(), " lost: ", e.what()));
    }
  }
}

PgStore::PendingSend::PendingSend(int64_t sender, int64_t recipient, std::string text,
                                  absl::Time at, SendLimits send_limits)
    : sender_id(sender), recipient_id(recipient), content(std::move(text)), now(at),
      limits(send_limits) {}

void PgStore::PendingSend::CheckRules(std::optional<Role> role) {
  check_rules = true;
  if (role) recipient_role = std::string(RoleName(*role));
}

void PgStore::TakeSends(std::deque<PendingSend*>& queue, std::vector<PendingSend*>& batch) {
  // In queue order; a send whose sender is limited and already in the batch waits for
  // the next one (tch_send_batch: the sends of a batch do not see each other).
  for (auto it = queue.begin(); it != queue.end() && batch.size() < kMaxBatch;) {
    PendingSend* p = *it;
    const bool limited = p->limits.per_minute > 0 || p->limits.per_hour > 0;
    if (limited && std::any_of(batch.begin(), batch.end(), [p](const PendingSend* q) {
          return q->sender_id == p->sender_id;
        })) {
      ++it;
      continue;
    }
    batch.push_back(p);
    it = queue.erase(it);
  }
}

void PgStore::RunBatch(const std::vector<PendingSend*>& batch, ConnectionPool::Lease& lease,
                       std::vector<std::string>& hints) {
  const absl::Status status = RunBatchOnce(batch, lease, hints);
  if (status.ok()) return;
  if (batch.size() > 1 && absl::IsInternal(status)) {
    for (PendingSend* p : batch) {
      if (absl::Status alone = RunBatchOnce({p}, lease, hints); !alone.ok()) p->result = alone;
    }
    return;
  }
  for (PendingSend* p : batch) p->result = status;
}

absl::Status PgStore::RunBatchOnce(const std::vector<PendingSend*>& batch,
                                   ConnectionPool::Lease& lease,
                                   std::vector<std::string>& hints) {
  std::vector<PendingSend*> live;
  live.reserve(batch.size());
  for (int attempt = 0;; ++attempt) {
    lease = ConnectionPool::Lease();
    if (absl::Status s = pool_.Acquire(lease); !s.ok()) return s;
    // With the connection in hand, just before the statement: a send whose caller has
    // given up is not stored (its caller was told it failed, or will be, and a "failed"
    // message that was stored comes back twice when sent again).
    const absl::Time now = absl::Now();
    live.clear();
    for (PendingSend* p : batch) {
      if (p->deadline > now) {
        live.push_back(p);
      } else {
        p->result = absl::DeadlineExceededError("the caller gave up before the send was stored");
      }
    }
    if (live.empty()) return absl::OkStatus();
    ArrayLiteral hashes, senders, recipients, contents, at_us, roles, per_minute, per_hour;
    for (const PendingSend* p : live) {
      hashes.Add(p->token_hash);
      senders.Add(p->sender_id);
      recipients.Add(p->recipient_id);
      contents.Add(p->content);
      at_us.Add(ToMicros(p->now));
      if (p->check_rules) {
        roles.Add(p->recipient_role);
      } else {
        roles.AddNull();
      }
      per_minute.Add(p->limits.per_minute);
      per_hour.Add(p->limits.per_hour);
    }
    const std::string args[] = {hashes.Take(),     senders.Take(), recipients.Take(),
                                contents.Take(),   at_us.Take(),   roles.Take(),
                                per_minute.Take(), per_hour.Take()};
    try {
      // One statement outside any transaction block: its own transaction, committed
      // before the answer comes back (synchronous_commit is on).
      pqxx::nontransaction txn(lease.connection());
      const pqxx::result r = txn.exec_prepared("send_batch", args[0], args[1], args[2],
                                               args[3], args[4], args[5], args[6], args[7]);
      if (r.size() != live.size()) return absl::InternalError("send batch: wrong row count");
      for (size_t i = 0; i < live.size(); ++i) {
        PendingSend& p = *live[i];
        const pqxx::row row = r[static_cast<pqxx::result::size_type>(i)];
        const std::string outcome = row[0].as<std::string>();
        SendOutcome out;
        if (outcome == "sent") {
          out.kind = SendOutcome::Kind::kSent;
          out.message.id = row[1].as<int64_t>();
          out.message.sender_id = p.sender_id;
          out.message.recipient_id = p.recipient_id;
          out.message.content = std::move(p.content);
          out.message.sent_at = FromMicros(ToMicros(p.now));
          if (row[4].as<bool>()) {
            hints.push_back(StrCat(p.recipient_id, ":", row[2].as<int64_t>()));
          }
        } else if (outcome == "rate-limited") {
          out.kind = SendOutcome::Kind::kRateLimited;
          const absl::Duration wait = FromMicros(row[3].as<int64_t>()) - p.now;
          out.retry_after_seconds = std::max<int64_t>(
              1, absl::ToInt64Seconds(absl::Ceil(wait, absl::Seconds(1))));
        } else if (outcome == "blocked") {
          out.kind = SendOutcome::Kind::kBlocked;
          out.until = FromMicros(row[3].as<int64_t>());
        } else if (outcome == "banned") {
          out.kind = SendOutcome::Kind::kBanned;
        } else if (outcome == "recipient-not-allowed") {
          out.kind = SendOutcome::Kind::kRecipientNotAllowed;
        } else if (outcome == "unknown-user") {
          out.kind = SendOutcome::Kind::kUnknownRecipient;
        } else if (outcome == "no-session") {
          out.kind = SendOutcome::Kind::kNoSession;
        } else if (outcome == "account-banned") {
          out.kind = SendOutcome::Kind::kAccountBanned;
        } else {
          p.result = absl::InternalError(StrCat("send batch: unknown outcome ", outcome));
          continue;
        }
        p.result = std::move(out);
      }
      return absl::OkStatus();
    } catch (const pqxx::broken_connection& e) {
      // The connection was sound when taken (ConnectionPool::Acquire): the statement
      // may have committed, so it is not sent again.
      lease.Discard();
      return absl::UnavailableError(StrCat("commit outcome unknown: ", e.what()));
    } catch (const pqxx::sql_error& e) {
      // An error answer: nothing was committed.
      absl::Status status = SqlErrorStatus(e, lease);
      if (absl::IsUnavailable(status) && attempt == 0) continue;
      return status;
    } catch (const std::exception& e) {
      return absl::InternalError(StrCat("database error: ", e.what()));
    }
  }
}

template <typename Body>
auto PgStore::Transact(Body&& body) -> decltype(body(std::declval<pqxx::work&>())) {
  return Run<pqxx::work>(std::forward<Body>(body));
}

template <typename Body>
auto PgStore::Read(Body&& body) -> decltype(body(std::declval<pqxx::nontransaction&>())) {
  return Run<pqxx::nontransaction>(std::forward<Body>(body));
}

template <typename Txn, typename Body>
auto PgStore::Run(Body&& body) -> decltype(body(std::declval<Txn&>())) {
  // A pooled connection may have died while idle (database restart): one retry on a
  // fresh connection, which is safe because nothing was committed.
  for (int attempt = 0;; ++attempt) {
    ConnectionPool::Lease lease;
    if (absl::Status s = pool_.Acquire(lease); !s.ok()) return s;
    try {
      Txn txn(lease.connection());
      return body(txn);
    } catch (const pqxx::in_doubt_error& e) {
      lease.Discard();
      return absl::UnavailableError(StrCat("commit outcome unknown: ", e.what()));
    } catch (const pqxx::broken_connection& e) {
      lease.Discard();
      if (attempt == 0) continue;
      return absl::UnavailableError(StrCat("database unreachable: ", e.what()));
    } catch (const pqxx::unique_violation& e) {
      return absl::AlreadyExistsError(e.what());
    } catch (const pqxx::sql_error& e) {
      absl::Status status = SqlErrorStatus(e, lease);
      if (absl::IsUnavailable(status) && attempt == 0) continue;
      return status;
    } catch (const std::exception& e) {
      return absl::InternalError(StrCat("database error: ", e.what()));
    }
  }
}

absl::Status PgStore::Ping() {
  return Read([&](pqxx::nontransaction& txn) -> absl::Status {
    txn.exec("SELECT 1");
    return absl::OkStatus();
  });
}

absl::StatusOr<int64_t> PgStore::LoginRetryAfter(std::string_view ip, int64_t limit,
                                                 absl::Time now) {
  return Transact([&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
    return LockedLoginRetryAfter(txn, std::string(ip), limit, now, /*exclusive=*/false);
  });
}

absl::StatusOr<int64_t> PgStore::CountLoginFailure(std::string_view ip, int64_t limit,
                                                   absl::Time now) {
  return Transact([&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
    const int64_t wait = CountLoginFailureIn(txn, std::string(ip), limit, now);
    if (wait == 0) txn.commit();
    return wait;
  });
}

absl::StatusOr<LoginLookup> PgStore::FindUserForLogin(std::string_view ip, int64_t limit,
                                                      std::string_view api_key_hash,
                                                      absl::Time now) {
  return Transact([&](pqxx::work& txn) -> absl::StatusOr<LoginLookup> {
    const std::string address(ip);
    LoginLookup out;
    // Without the lock first: failures are only added, so a held address stays held
    // (until they age), and the logins of a held address wait on nobody.
    out.retry_after = LoginRetryAfterIn(txn, address, limit, now);
    if (out.retry_after > 0) return out;
    const pqxx::result r = txn.exec_prepared("user_by_key", std::string(api_key_hash));
    if (r.empty()) {
      out.retry_after = CountLoginFailureIn(txn, address, limit, now);
      if (out.retry_after == 0) txn.commit();
      return out;
    }
    // A right key shares the lock with others: successes never wait for each other.
    out.retry_after = LockedLoginRetryAfter(txn, address, limit, now, /*exclusive=*/false);
    if (out.retry_after == 0) out.user = ReadUser(r[0]);
    return out;
  });
}

absl::StatusOr<int64_t> PgStore::CreateUser(Role role, std::string_view name,
                                            std::string_view api_key_hash) {
  return Transact([&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
    pqxx::result r = txn.exec_prepared("create_user", std::string(RoleName(role)),
                                       std::string(name), std::string(api_key_hash));
    txn.commit();
    return r[0][0].as<int64_t>();
  });
}

absl::Status PgStore::SetApiKeyHash(int64_t user_id, std::string_view api_key_hash,
                                    absl::Time deadline) {
  return Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::result r = txn.exec_prepared("set_key", user_id, std::string(api_key_hash));
    if (r.affected_rows() == 0) {
      if (txn.exec_prepared("get_user", user_id).empty()) {
        return absl::NotFoundError("no such user");
      }
      // It holds that hash already (another core made the same move first): the sessions
      // opened since are under that very hash, and stay.
      txn.commit();
      return absl::OkStatus();
    }
    txn.exec_prepared("end_user_sessions", user_id);
    if (absl::Status s = BeforeDeadline(deadline); !s.ok()) return s;
    txn.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<User> PgStore::GetUser(int64_t user_id) {
  return Read([&](pqxx::nontransaction& txn) -> absl::StatusOr<User> {
    pqxx::result r = txn.exec_prepared("get_user", user_id);
    if (r.empty()) return absl::NotFoundError("no such user");
    return ReadUser(r[0]);
  });
}

absl::StatusOr<User> PgStore::FindUserByApiKeyHash(std::string_view api_key_hash) {
  return Read([&](pqxx::nontransaction& txn) -> absl::StatusOr<User> {
    pqxx::result r = txn.exec_prepared("user_by_key", std::string(api_key_hash));
    if (r.empty()) return absl::NotFoundError("no such key");
    return ReadUser(r[0]);
  });
}

absl::StatusOr<std::vector<User>> PgStore::FindAdminsByKeyPrefix(std::string_view prefix) {
  return Read([&](pqxx::nontransaction& txn) -> absl::StatusOr<std::vector<User>> {
    const pqxx::result r = txn.exec_prepared("admins_by_key_prefix", std::string(prefix));
    std::vector<User> admins;
    for (const pqxx::row& row : r) admins.push_back(ReadUser(row));
    return admins;
  });
}

absl::StatusOr<std::map<int64_t, int64_t>> PgStore::EndAdminSessionsByKeyPrefix(
    std::string_view prefix) {
  return Transact([&](pqxx::work& txn) -> absl::StatusOr<std::map<int64_t, int64_t>> {
    const pqxx::result r = txn.exec_prepared("end_admin_sessions", std::string(prefix));
    txn.commit();
    std::map<int64_t, int64_t> ended;
    for (const pqxx::row& row : r) ++ended[row[0].as<int64_t>()];
    return ended;
  });
}

absl::Status PgStore::RecordAdminMarker(std::string_view marker, bool renew) {
  return Transact([&](pqxx::work& txn) -> absl::Status {
    txn.exec_prepared0(renew ? "renew_admin_marker" : "record_admin_marker", std::string(marker));
    txn.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<bool> PgStore::AdminMarkerSuperseded(std::string_view marker,
                                                    std::string_view ignored) {
  return Read([&](pqxx::nontransaction& txn) -> absl::StatusOr<bool> {
    return txn
        .exec_prepared1("admin_marker_superseded", std::string(marker), std::string(ignored))[0]
        .as<bool>();
  });
}

absl::Status PgStore::CreateSession(std::string_view token_hash, int64_t user_id,
                                    std::string_view api_key_hash, absl::Time now,
                                    absl::Time expires_at) {
  return Transact([&](pqxx::work& txn) -> absl::Status {
    const pqxx::result r =
        txn.exec_prepared("create_session", std::string(token_hash), user_id,
                          std::string(api_key_hash), ToMicros(now), ToMicros(expires_at));
    if (r.affected_rows() == 0) return absl::NotFoundError("no such user or key");
    txn.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<Session> PgStore::FindSession(std::string_view token_hash, absl::Time now) {
  PendingLookup lookup;
  lookup.token_hash = std::string(token_hash);
  lookup.now = now;
  lookups_.Submit(lookup);
  return std::move(lookup.result);
}

void PgStore::FindSessionAsync(std::string token_hash, absl::Time now,
                               std::function<void(absl::StatusOr<Session>)> done) {
  auto lookup = std::make_unique<PendingLookup>();
  lookup->token_hash = std::move(token_hash);
  lookup->now = now;
  lookups_.SubmitAsync(std::move(lookup), [done = std::move(done)](PendingLookup& answered) {
    done(std::move(answered.result));
  });
}

absl::Status PgStore::RunLookups(const std::vector<PendingLookup*>& batch) {
  ArrayLiteral hashes, at_us;
  for (const PendingLookup* p : batch) {
    hashes.Add(p->token_hash);
    at_us.Add(ToMicros(p->now));
  }
  const std::string hashes_text = hashes.Take();
  const std::string at_text = at_us.Take();
  return Read([&](pqxx::nontransaction& txn) -> absl::Status {
    const pqxx::result r = txn.exec_prepared("find_sessions", hashes_text, at_text);
    for (PendingLookup* p : batch) p->result = absl::NotFoundError("no such session");
    for (const pqxx::row& row : r) {
      const int64_t k = row[0].as<int64_t>();
      if (k < 1 || k > static_cast<int64_t>(batch.size())) continue;
      batch[k - 1]->result = ReadSession(row, 1);
    }
    return absl::OkStatus();
  });
}

absl::Status PgStore::DeleteSession(std::string_view token_hash) {
  return Transact([&](pqxx::work& txn) -> absl::Status {
    txn.exec_prepared("delete_session", std::string(token_hash));
    txn.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<Message> PgStore::InsertMessage(int64_t sender_id, int64_t recipient_id,
                                               std::string_view content, absl::Time now,
                                               SendLimits limits) {
  PendingSend send(sender_id, recipient_id, std::string(content), now, limits);
  sends_.Submit(send);
  if (!send.result.ok()) return send.result.status();
  switch (send.result->kind) {
    case SendOutcome::Kind::kSent:
      return std::move(send.result->message);
    case SendOutcome::Kind::kRateLimited: {
      absl::Status limited = absl::ResourceExhaustedError("too many messages");
      limited.SetPayload(kRetryAfterPayload,
                         absl::Cord(StrCat(send.result->retry_after_seconds)));
      return limited;
    }
    default:
      return absl::InternalError("send refused by a rule that was not asked for");
  }
}

absl::StatusOr<SendOutcome> PgStore::SendMessage(int64_t sender_id, int64_t recipient_id,
                                                 std::optional<Role> recipient_role,
                                                 std::string_view content, absl::Time now,
                                                 SendLimits limits) {
  PendingSend send(sender_id, recipient_id, std::string(content), now, limits);
  send.CheckRules(recipient_role);
  sends_.Submit(send);
  return std::move(send.result);
}

void PgStore::SendMessageAsync(std::string token_hash, int64_t sender_id,
                               int64_t recipient_id, std::optional<Role> recipient_role,
                               std::string content, absl::Time now, SendLimits limits,
                               absl::Time deadline,
                               std::function<void(absl::StatusOr<SendOutcome>)> done) {
  auto send = std::make_unique<PendingSend>(sender_id, recipient_id, std::move(content), now,
                                            limits);
  send->CheckRules(recipient_role);
  send->token_hash = std::move(token_hash);
  send->deadline = deadline;
  sends_.SubmitAsync(std::move(send), [done = std::move(done)](PendingSend& answered) {
    done(std::move(answered.result));
  });
}

absl::StatusOr<Message> PgStore::GetMessage(int64_t message_id) {
  return Read([&](pqxx::nontransaction& txn) -> absl::StatusOr<Message> {
    pqxx::result r = txn.exec_prepared("get_message", message_id);
    if (r.empty()) return absl::NotFoundError("no such message");
    return ReadMessage(r[0]);
  });
}

absl::StatusOr<Message> PgStore::UpdateMessageContent(int64_t message_id,
                                                      std::string_view content,
                                                      absl::Time now) {
  return Transact([&](pqxx::work& txn) -> absl::StatusOr<Message> {
    txn.exec_prepared("lock_recipient_of", message_id);
    pqxx::result r =
        txn.exec_prepared("update_message", message_id, std::string(content), ToMicros(now));
    if (r.empty()) return absl::NotFoundError("no such message");
    Message m = ReadMessage(r[0]);
    const int64_t change = AddChange(txn, m.recipient_id, ChangeKind::kMessageUpdated, m.id, now);
    txn.commit();
    SendHints(txn.conn(), {StrCat(m.recipient_id, ":", change)});
    return m;
  });
}

absl::Status PgStore::SoftDeleteMessage(int64_t message_id, absl::Time now,
                                        absl::Time deadline) {
  return Transact([&](pqxx::work& txn) -> absl::Status {
    txn.exec_prepared("lock_recipient_of", message_id);
    pqxx::result r = txn.exec_prepared("delete_message", message_id, ToMicros(now));
    if (r.empty()) return absl::NotFoundError("no such message");
    const int64_t recipient = r[0][0].as<int64_t>();
    const int64_t change = AddChange(txn, recipient, ChangeKind::kMessageDeleted, message_id, now);
    if (absl::Status s = BeforeDeadline(deadline); !s.ok()) return s;
    txn.commit();
    SendHints(txn.conn(), {StrCat(recipient, ":", change)});
    return absl::OkStatus();
  });
}

absl::StatusOr<SendOutcome> PgStore::SendRestriction(int64_t sender_id, int64_t recipient_id,
                                                     absl::Time now) {
  return Read([&](pqxx::nontransaction& txn) -> absl::StatusOr<SendOutcome> {
    const pqxx::row r = txn.exec_prepared1("send_restriction", sender_id, recipient_id,
                                           ToMicros(now));
    SendOutcome out;
    if (r[0].as<bool>()) {
      out.kind = SendOutcome::Kind::kBanned;
    } else if (!r[1].is_null()) {
      out.kind = SendOutcome::Kind::kBlocked;
      out.until = FromMicros(r[1].as<int64_t>());
    }
    return out;
  });
}

absl::StatusOr<std::vector<Message>> PgStore::TakeUnread(int64_t recipient_id,
                                                         absl::Time now,
                                                         absl::Time deadline) {
  return Transact([&](pqxx::work& txn) -> absl::StatusOr<std::vector<Message>> {
    const absl::Time started = absl::Now();
    pqxx::result r = txn.exec_prepared("take_unread", recipient_id, ToMicros(now));
    std::vector<Message> out;
    out.reserve(r.size());
    size_t bytes = 0;
    for (const pqxx::row& row : r) {
      out.push_back(ReadMessage(row));
      bytes += AnswerBytesOf(out.back());
    }
    if (absl::Status s = BeforeTakeDeadline(deadline, started, bytes); !s.ok()) return s;
    txn.commit();
    // UPDATE ... RETURNING has no order.
    std::sort(out.begin(), out.end(),
              [](const Message& a, const Message& b) { return a.id < b.id; });
    return out;
  });
}

absl::StatusOr<std::vector<Message>> PgStore::ListHistory(int64_t user_id, int64_t peer_id,
                                                          int64_t before_id, int64_t limit) {
  return Read([&](pqxx::nontransaction& txn) -> absl::StatusOr<std::vector<Message>> {
    pqxx::result r =
        peer_id > 0 ? txn.exec_prepared("history_peer", user_id, peer_id, before_id, limit)
                    : txn.exec_prepared("history", user_id, before_id, limit);
    std::vector<Message> out;
    out.reserve(r.size());
    for (const pqxx::row& row : r) out.push_back(ReadMessage(row));
    return out;
  });
}

absl::StatusOr<std::vector<Conversation>> PgStore::ListConversations(int64_t user_id) {
  return Read([&](pqxx::nontransaction& txn) -> absl::StatusOr<std::vector<Conversation>> {
    pqxx::result r = txn.exec_prepared("conversations", user_id);
    std::vector<Conversation> out;
    out.reserve(r.size());
    for (const pqxx::row& row : r) {
      out.push_back(Conversation{ReadUser(row), row[4].as<int64_t>(),
                                 FromMicros(row[5].as<int64_t>()), row[6].as<int64_t>()});
    }
    return out;
  });
}

absl::Status PgStore::AddRestriction(int64_t target_id, int64_t set_by,
                                     std::optional<int64_t> scope_id, RestrictionKind kind,
                                     std::optional<absl::Time> until, absl::Time now) {
  return Transact([&](pqxx::work& txn) -> absl::Status {
    std::optional<int64_t> until_us;
    if (kind == RestrictionKind::kBlock) {
      if (until) until_us = ToMicros(*until);
      txn.exec_prepared("lock_blocks", target_id, set_by);
      txn.exec_prepared("replace_blocks", target_id, set_by, scope_id, ToMicros(now));
    }
    txn.exec_prepared("add_restriction", target_id, set_by, scope_id, KindName(kind), until_us,
                      ToMicros(now));
    txn.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<int64_t> PgStore::LiftRestrictions(int64_t target_id, RestrictionKind kind,
                                                  std::optional<int64_t> set_by,
                                                  absl::Time now) {
  return Transact([&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
    pqxx::result r =
        txn.exec_prepared("lift_restrictions", target_id, KindName(kind), set_by, ToMicros(now));
    txn.commit();
    return static_cast<int64_t>(r.affected_rows());
  });
}

absl::StatusOr<TakenChanges> PgStore::TakeChanges(std::string_view token_hash, int64_t user_id,
                                                  int64_t after_id, int64_t limit,
                                                  absl::Time now) {
  return Transact([&](pqxx::work& txn) -> absl::StatusOr<TakenChanges> {
    absl::StatusOr<TakenChanges> taken =
        TakeChangesIn(txn, std::string(token_hash), user_id, after_id, limit,
                      std::numeric_limits<int64_t>::max(), now);
    if (taken.ok()) txn.commit();
    return taken;
  });
}

absl::StatusOr<TakenChanges> PgStore::PollChanges(std::string_view token_hash, int64_t user_id,
                                                  int64_t limit, int64_t max_bytes,
                                                  absl::Time now, absl::Time deadline) {
  return Transact([&](pqxx::work& txn) -> absl::StatusOr<TakenChanges> {
    const absl::Time started = absl::Now();
    const std::string hash(token_hash);
    pqxx::result cursor = txn.exec_prepared("session_cursor", hash);
    if (cursor.empty()) return absl::NotFoundError("no such session");
    absl::StatusOr<TakenChanges> taken =
        TakeChangesIn(txn, hash, user_id, cursor[0][0].as<int64_t>(), limit, max_bytes, now);
    if (!taken.ok()) return taken;
    if (!taken->changes.empty()) txn.exec_prepared("move_cursor", hash, taken->changes.back().id);
    size_t bytes = 0;
    for (const Change& c : taken->changes) bytes += AnswerBytesOf(c.message);
    if (absl::Status s = BeforeTakeDeadline(deadline, started, bytes); !s.ok()) return s;
    txn.commit();
    return taken;
  });
}

absl::StatusOr<int64_t> PgStore::LatestChangeId(int64_t user_id) {
  return Read([&](pqxx::nontransaction& txn) -> absl::StatusOr<int64_t> {
    return txn.exec_prepared("latest_change", user_id)[0][0].as<int64_t>();
  });
}

absl::Status PgStore::MarkLive(std::vector<int64_t> user_ids, absl::Duration lease) {
  std::sort(user_ids.begin(), user_ids.end());
  user_ids.erase(std::unique(user_ids.begin(), user_ids.end()), user_ids.end());
  if (user_ids.empty()) return absl::OkStatus();
  ArrayLiteral ids;
  for (int64_t id : user_ids) ids.Add(id);
  const std::string array = ids.Take();
  return Transact([&](pqxx::work& txn) -> absl::Status {
    // A mark lost in a crash costs hints, never data: no wait for the disk.
    txn.exec("SET LOCAL synchronous_commit = off");
    txn.exec_prepared("mark_live", array, absl::ToInt64Microseconds(lease));
    txn.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<Purged> PgStore::Purge(absl::Time now, int64_t limit) {
  return Transact([&](pqxx::work& txn) -> absl::StatusOr<Purged> {
    Purged purged;
    purged.sessions = txn.exec_prepared("purge_sessions", ToMicros(now), limit).affected_rows();
    purged.changes = txn.exec_prepared("purge_changes", ToMicros(now), limit).affected_rows();
    purged.leases = txn.exec_prepared("purge_leases", limit).affected_rows();
    txn.commit();
    return purged;
  });
}

}  // namespace tchatator::storage
