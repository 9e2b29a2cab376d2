#include "core-service/session_cache.h"

namespace tchatator::core {

std::optional<storage::Session> SessionCache::Find(const std::string& token_hash,
                                                   absl::Time now) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(token_hash);
  if (it == sessions_.end()) return std::nullopt;
  if (it->second.expires_at <= now) {
    sessions_.erase(it);
    return std::nullopt;
  }
  return it->second;
}

void SessionCache::Put(const std::string& token_hash, const storage::Session& session) {
  std::lock_guard lock(mu_);
  // Emptying costs a look-up per active session, once: simpler than tracking use.
  if (sessions_.size() >= kMaxEntries && !sessions_.contains(token_hash)) sessions_.clear();
  storage::Session& kept = sessions_[token_hash];
  kept = session;
  kept.banned = false;  // not kept: checked by whoever answers from here
}

void SessionCache::Erase(const std::string& token_hash) {
  std::lock_guard lock(mu_);
  sessions_.erase(token_hash);
}

size_t SessionCache::size() {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

}  // namespace tchatator::core
