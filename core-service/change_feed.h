#ifndef TCHATATOR_CORE_SERVICE_CHANGE_FEED_H_
#define TCHATATOR_CORE_SERVICE_CHANGE_FEED_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace tchatator::core {

// Listens to PostgreSQL's NOTIFY hints (storage::kChangeChannel) on a connection of its
// own and wakes the local subscribers of the user each hint names. Hints carry ids
// only: subscribers read the changes from the database, which stays the source of
// truth. After every (re)connection of the listener every subscriber is woken, so a
// hint lost while disconnected costs latency, never data. Thread-safe.
class ChangeFeed {
 public:
  explicit ChangeFeed(std::string database_url);
  ~ChangeFeed();
  ChangeFeed(const ChangeFeed&) = delete;
  ChangeFeed& operator=(const ChangeFeed&) = delete;

  // Starts the listening thread.
  void Start();

  // Registers `wake`, called on the feed's thread (it must return quickly) whenever a
  // change for `user_id` may have committed. Returns a handle for Unsubscribe.
  uint64_t Subscribe(int64_t user_id, std::function<void()> wake);
  // After it returns, the callback of `handle` is not running and will not run again.
  void Unsubscribe(uint64_t handle);

  // Handles one hint payload "<user id>:<change id>" (public for tests).
  void OnHint(const std::string& payload);

 private:
  void Run();
  void WakeAll();

  const std::string url_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;  // held while callbacks run, so Unsubscribe waits for them
  uint64_t next_handle_ = 1;
  std::multimap<int64_t, std::pair<uint64_t, std::function<void()>>> subscribers_;
};

}  // namespace tchatator::core

#endif  // TCHATATOR_CORE_SERVICE_CHANGE_FEED_H_
