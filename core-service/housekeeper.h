#ifndef TCHATATOR_CORE_SERVICE_HOUSEKEEPER_H_
#define TCHATATOR_CORE_SERVICE_HOUSEKEEPER_H_

#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "common/settings.h"
#include "storage/store.h"

namespace tchatator::core {

// Purges the database every `purge-interval-seconds` (read every second, so a reload
// applies at once; 0 purges nothing): expired sessions, the changes no session can read
// any more and the live marks over for an hour (storage::Store::Purge), in bounded
// transactions. Every core replica does it; the deletions are idempotent. The first
// purge comes one interval after Start.
class Housekeeper {
 public:
  // `store`, `clock` and `settings` outlive this object.
  Housekeeper(storage::Store& store, const Clock& clock, const SettingsHolder& settings);
  ~Housekeeper();  // stops as Stop() does
  Housekeeper(const Housekeeper&) = delete;
  Housekeeper& operator=(const Housekeeper&) = delete;

  void Start();
  // Returns once the thread has ended, after at most the transaction under way.
  void Stop();

  // One whole purge now, in transactions of at most `kPurgeBatch` rows of each kind
  // until none is full (public for tests). Returns false when stopped or on a failure.
  bool PurgeNow();

  static constexpr int64_t kPurgeBatch = 10000;

 private:
  void Run();

  storage::Store& store_;
  const Clock& clock_;
  const SettingsHolder& settings_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace tchatator::core

#endif  // TCHATATOR_CORE_SERVICE_HOUSEKEEPER_H_
