#ifndef TCHATATOR_STORAGE_PG_STORE_H_
#define TCHATATOR_STORAGE_PG_STORE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/combiner.h"
#include "storage/connection_pool.h"
#include "storage/store.h"

namespace tchatator::storage {

// The SQL text of the prepared statement `name` that PgStore runs (e.g. "history",
// "conversations"), or "" when it has none; lets tests examine the exact queries' plans.
std::string PgStoreStatementSql(std::string_view name);

// The Store on PostgreSQL through libpqxx, with named prepared statements on pooled
// connections. The only place that catches pqxx exceptions: they become statuses here.
// Sends are group-committed: concurrent InsertMessage/SendMessage calls are stored by
// one statement (tch_send_batch) in one transaction, each with its own outcome. NOTIFY
// hints go out after the commit (the callers already have their answers), all those of
// a batch in one statement (which writes nothing, so waits for no disk flush): a failed
// hint never fails a send. Concurrent FindSession calls are answered by one statement too.
class PgStore : public Store {
 public:
  // `url` is a libpq connection string; `pool_size` connections at most.
  PgStore(std::string url, size_t pool_size);

  // Moves to the database `url` with `pool_size` connections at most, while in use:
  // calls under way finish on the connection they hold (the old database), later ones
  // run on the new (ConnectionPool::Reconfigure); statements are prepared on each new
  // connection. The caller migrates the new database first.
  void Reconfigure(std::string url, size_t pool_size);

  absl::Status Ping() override;
  absl::StatusOr<int64_t> LoginRetryAfter(std::string_view ip, int64_t limit,
                                          absl::Time now) override;
  absl::StatusOr<int64_t> CountLoginFailure(std::string_view ip, int64_t limit,
                                            absl::Time now) override;
  absl::StatusOr<LoginLookup> FindUserForLogin(std::string_view ip, int64_t limit,
                                               std::string_view api_key_hash,
                                               absl::Time now) override;
  absl::StatusOr<int64_t> CreateUser(Role role, std::string_view name,
                                     std::string_view api_key_hash) override;
  absl::Status SetApiKeyHash(int64_t user_id, std::string_view api_key_hash,
                             absl::Time deadline) override;
  absl::StatusOr<User> GetUser(int64_t user_id) override;
  absl::StatusOr<User> FindUserByApiKeyHash(std::string_view api_key_hash) override;
  absl::StatusOr<std::vector<User>> FindAdminsByKeyPrefix(std::string_view prefix) override;
  absl::StatusOr<std::map<int64_t, int64_t>> EndAdminSessionsByKeyPrefix(
      std::string_view prefix) override;
  absl::Status RecordAdminMarker(std::string_view marker, bool renew) override;
  absl::StatusOr<bool> AdminMarkerSuperseded(std::string_view marker,
                                             std::string_view ignored) override;
  absl::Status CreateSession(std::string_view token_hash, int64_t user_id,
                             std::string_view api_key_hash, absl::Time now,
                             absl::Time expires_at) override;
  absl::StatusOr<Session> FindSession(std::string_view token_hash, absl::Time now) override;
  void FindSessionAsync(std::string token_hash, absl::Time now,
                        std::function<void(absl::StatusOr<Session>)> done) override;
  absl::Status DeleteSession(std::string_view token_hash) override;
  absl::StatusOr<Message> InsertMessage(int64_t sender_id, int64_t recipient_id,
                                        std::string_view content, absl::Time now,
                                        SendLimits limits) override;
  absl::StatusOr<SendOutcome> SendMessage(int64_t sender_id, int64_t recipient_id,
                                          std::optional<Role> recipient_role,
                                          std::string_view content, absl::Time now,
                                          SendLimits limits) override;
  void SendMessageAsync(std::string token_hash, int64_t sender_id, int64_t recipient_id,
                        std::optional<Role> recipient_role, std::string content, absl::Time now,
                        SendLimits limits, absl::Time deadline,
                        std::function<void(absl::StatusOr<SendOutcome>)> done) override;
  void SetExecutor(std::function<void(std::function<void()>)> executor) override;
  absl::StatusOr<Message> GetMessage(int64_t message_id) override;
  absl::StatusOr<Message> UpdateMessageContent(int64_t message_id, std::string_view content,
                                               absl::Time now) override;
  absl::Status SoftDeleteMessage(int64_t message_id, absl::Time now,
                                 absl::Time deadline) override;
  absl::StatusOr<SendOutcome> SendRestriction(int64_t sender_id, int64_t recipient_id,
                                              absl::Time now) override;
  absl::StatusOr<std::vector<Message>> TakeUnread(int64_t recipient_id, absl::Time now,
                                                  absl::Time deadline) override;
  absl::StatusOr<std::vector<Message>> ListHistory(int64_t user_id, int64_t peer_id,
                                                   int64_t before_id, int64_t limit) override;
  absl::StatusOr<std::vector<Conversation>> ListConversations(int64_t user_id) override;
  absl::Status AddRestriction(int64_t target_id, int64_t set_by,
                              std::optional<int64_t> scope_id, RestrictionKind kind,
                              std::optional<absl::Time> until, absl::Time now) override;
  absl::StatusOr<int64_t> LiftRestrictions(int64_t target_id, RestrictionKind kind,
                                           std::optional<int64_t> set_by,
                                           absl::Time now) override;
  absl::StatusOr<TakenChanges> TakeChanges(std::string_view token_hash, int64_t user_id,
                                           int64_t after_id, int64_t limit,
                                           absl::Time now) override;
  absl::StatusOr<TakenChanges> PollChanges(std::string_view token_hash, int64_t user_id,
                                           int64_t limit, int64_t max_bytes, absl::Time now,
                                           absl::Time deadline) override;
  absl::StatusOr<int64_t> LatestChangeId(int64_t user_id) override;
  absl::Status MarkLive(std::vector<int64_t> user_ids, absl::Duration lease) override;
  absl::StatusOr<Purged> Purge(absl::Time now, int64_t limit) override;

 private:
  // Runs `body` in a transaction on a pooled connection and maps database failures to
  // statuses. `body` commits when it succeeds.
  template <typename Body>
  auto Transact(Body&& body) -> decltype(body(std::declval<pqxx::work&>()));
  // Runs `body`, a single read, outside any transaction block: one round trip.
  template <typename Body>
  auto Read(Body&& body) -> decltype(body(std::declval<pqxx::nontransaction&>()));
  template <typename Txn, typename Body>
  auto Run(Body&& body) -> decltype(body(std::declval<Txn&>()));

  // One send waiting for its batch.
  struct PendingSend {
    std::string token_hash;  // the session to check, or "" (migration 0010)
    int64_t sender_id = 0;
    int64_t recipient_id = 0;
    std::string recipient_role;  // "" for any role
    bool check_rules = false;    // false: the rate limit only (InsertMessage)
    std::string content;
    absl::Time now;
    SendLimits limits;
    absl::Time deadline = absl::InfiniteFuture();  // real time (SendMessageAsync)
    bool done = false;
    std::condition_variable wake;  // done, or this caller may lead a batch
    std::function<void()> on_done;  // the Combiner's
    absl::StatusOr<SendOutcome> result = absl::InternalError("not sent");

    // A send with the rate limit only (InsertMessage).
    PendingSend(int64_t sender, int64_t recipient, std::string text, absl::Time at,
                SendLimits send_limits);
    // Checks the rules too (SendMessage): `role` is the recipient's required role.
    void CheckRules(std::optional<Role> role);
  };
  // Takes the next batch of sends from the queue.
  static void TakeSends(std::deque<PendingSend*>& queue, std::vector<PendingSend*>& batch);
  // One FindSession waiting for its batch.
  struct PendingLookup {
    std::string token_hash;
    absl::Time now;
    bool done = false;
    std::condition_variable wake;
    std::function<void()> on_done;  // the Combiner's
    absl::StatusOr<Session> result = absl::InternalError("not looked up");
  };
  absl::Status RunLookups(const std::vector<PendingLookup*>& batch);
  // Stores `batch` in one transaction and fills each result; `lease` keeps the
  // connection used and `hints` gets the hints of what was stored. A batch that fails
  // for another reason than the connection is split: one bad send fails alone. A send
  // whose deadline has passed when its statement is about to run, connection in hand,
  // is not stored (DEADLINE_EXCEEDED).
  void RunBatch(const std::vector<PendingSend*>& batch, ConnectionPool::Lease& lease,
                std::vector<std::string>& hints);
  absl::Status RunBatchOnce(const std::vector<PendingSend*>& batch,
                            ConnectionPool::Lease& lease, std::vector<std::string>& hints);
  // Sends the NOTIFY `hints` of committed changes on `connection`, best effort.
  void SendHints(pqxx::connection_base& connection, const std::vector<std::string>& hints);

  ConnectionPool pool_;

  Combiner<PendingSend> sends_;
  Combiner<PendingLookup> lookups_;
  std::atomic<bool> hints_failing_{false};  // only the first of a series is logged
};

}  // namespace tchatator::storage

#endif  // TCHATATOR_STORAGE_PG_STORE_H_
