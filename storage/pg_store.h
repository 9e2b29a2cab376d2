#ifndef TCHATATOR_STORAGE_PG_STORE_H_
#define TCHATATOR_STORAGE_PG_STORE_H_

#include <string>

#include "storage/connection_pool.h"
#include "storage/store.h"

namespace tchatator::storage {

// The Store on PostgreSQL through libpqxx, with named prepared statements on pooled
// connections. The only place that catches pqxx exceptions: they become statuses here.
class PgStore : public Store {
 public:
  // `url` is a libpq connection string; `pool_size` connections at most.
  PgStore(std::string url, size_t pool_size);

  absl::Status Ping() override;
  absl::StatusOr<int64_t> LoginRetryAfter(std::string_view ip, int64_t limit,
                                          absl::Time now) override;
  absl::Status RecordLoginFailure(std::string_view ip, absl::Time now) override;
  absl::StatusOr<int64_t> CreateUser(Role role, std::string_view name,
                                     std::string_view api_key_hash) override;
  absl::Status SetApiKeyHash(int64_t user_id, std::string_view api_key_hash) override;
  absl::StatusOr<User> GetUser(int64_t user_id) override;
  absl::StatusOr<User> FindUserByApiKeyHash(std::string_view api_key_hash) override;
  absl::Status CreateSession(std::string_view token_hash, int64_t user_id, absl::Time now,
                             absl::Time expires_at) override;
  absl::StatusOr<Session> FindSession(std::string_view token_hash, absl::Time now) override;
  absl::Status DeleteSession(std::string_view token_hash) override;
  absl::StatusOr<Message> InsertMessage(int64_t sender_id, int64_t recipient_id,
                                        std::string_view content, absl::Time now,
                                        SendLimits limits) override;
  absl::StatusOr<Message> GetMessage(int64_t message_id) override;
  absl::StatusOr<Message> UpdateMessageContent(int64_t message_id, std::string_view content,
                                               absl::Time now) override;
  absl::Status SoftDeleteMessage(int64_t message_id, absl::Time now) override;
  absl::StatusOr<std::vector<Message>> TakeUnread(int64_t recipient_id,
                                                  absl::Time now) override;
  absl::StatusOr<std::vector<Message>> ListHistory(int64_t user_id, int64_t peer_id,
                                                   int64_t before_id, int64_t limit) override;
  absl::StatusOr<std::vector<Conversation>> ListConversations(int64_t user_id) override;
  absl::Status AddRestriction(int64_t target_id, int64_t set_by,
                              std::optional<int64_t> scope_id, RestrictionKind kind,
                              std::optional<absl::Time> until, absl::Time now) override;
  absl::StatusOr<int64_t> LiftRestrictions(int64_t target_id, RestrictionKind kind,
                                           std::optional<int64_t> set_by,
                                           absl::Time now) override;
  absl::StatusOr<std::vector<Change>> TakeChanges(int64_t user_id, int64_t after_id,
                                                  int64_t limit, absl::Time now) override;
  absl::StatusOr<std::vector<Change>> PollChanges(std::string_view token_hash, int64_t user_id,
                                                  int64_t limit, absl::Time now) override;
  absl::StatusOr<int64_t> LatestChangeId(int64_t user_id) override;
  absl::StatusOr<SendRestriction> FindSendRestriction(int64_t sender_id, int64_t recipient_id,
                                                      absl::Time now) override;

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

  ConnectionPool pool_;
};

}  // namespace tchatator::storage

#endif  // TCHATATOR_STORAGE_PG_STORE_H_
