#ifndef TCHATATOR_CORE_SERVICE_SESSION_CACHE_H_
#define TCHATATOR_CORE_SERVICE_SESSION_CACHE_H_

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "storage/store.h"

namespace tchatator::core {

// Sessions this core has seen in force, by token hash: user, role and expiry, which
// never change for a session. Not whether a session is still in force (logout through
// any core, ban): whoever answers from here must check that where it acts, as
// SendMessage does in its own statement (storage::Store::SendMessageAsync). Holds at
// most kMaxEntries and is emptied when full. Thread-safe.
class SessionCache {
 public:
  static constexpr size_t kMaxEntries = 65536;

  // The session of `token_hash` when known and not expired at `now`.
  std::optional<storage::Session> Find(const std::string& token_hash, absl::Time now);
  void Put(const std::string& token_hash, const storage::Session& session);
  void Erase(const std::string& token_hash);
  size_t size();

 private:
  std::mutex mu_;
  absl::flat_hash_map<std::string, storage::Session> sessions_;
};

}  // namespace tchatator::core

#endif  // TCHATATOR_CORE_SERVICE_SESSION_CACHE_H_
