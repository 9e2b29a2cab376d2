#include "core-service/housekeeper.h"

#include <chrono>

#include "common/log.h"
#include "common/strings.h"

namespace tchatator::core {

Housekeeper::Housekeeper(storage::Store& store, const Clock& clock,
                         const SettingsHolder& settings)
    : store_(store), clock_(clock), settings_(settings) {}

Housekeeper::~Housekeeper() { Stop(); }

void Housekeeper::Start() { thread_ = std::thread([this] { Run(); }); }

void Housekeeper::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Housekeeper::Run() {
  std::unique_lock lock(mu_);
  auto last = std::chrono::steady_clock::now();
  // Woken every second, so that a reloaded interval (or 0, off) applies at once.
  while (!wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; })) {
    const int64_t interval = settings_.Get()->purge_interval_seconds;
    if (interval <= 0 ||
        std::chrono::steady_clock::now() - last < std::chrono::seconds(interval)) {
      continue;
    }
    lock.unlock();
    PurgeNow();
    lock.lock();
    last = std::chrono::steady_clock::now();
  }
}

bool Housekeeper::PurgeNow() {
  storage::Purged total;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return false;
    }
    absl::StatusOr<storage::Purged> purged = store_.Purge(clock_.Now(), kPurgeBatch);
    if (!purged.ok()) {
      Log::Info(StrCat("purge failed: ", purged.status().message()));
      return false;
    }
    total.sessions += purged->sessions;
    total.changes += purged->changes;
    total.leases += purged->leases;
    if (purged->sessions < kPurgeBatch && purged->changes < kPurgeBatch &&
        purged->leases < kPurgeBatch) {
      break;
    }
  }
  if (total.sessions > 0 || total.changes > 0 || total.leases > 0) {
    Log::Info(StrCat("purged ", total.sessions, " expired sessions, ", total.changes,
                     " changes and ", total.leases, " leases of live streams"));
  }
  return true;
}

}  // namespace tchatator::core
