#ifndef TCHATATOR_CORE_SERVICE_CHANGE_FEED_H_
#define TCHATATOR_CORE_SERVICE_CHANGE_FEED_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace tchatator::core {

// Listens to PostgreSQL's NOTIFY hints (storage::kChangeChannel) on a connection of its
// own and wakes the local subscribers of the user each hint names. Hints carry ids
// only: subscribers read the changes from the database, which stays the source of
// truth. After every (re)connection of the listener (a move to another database by
// SetUrl too) every subscriber is woken, so a hint lost while disconnected costs
// latency, never data. Hints are sent after their change committed, at best effort:
// every second the feed also reads which users got changes lately (the last few seconds
// of change ids) and wakes the local subscribers of those whose latest change no hint
// announced, so a lost hint delays an event by about a second instead of until that
// user's next change. Thread-safe.
class ChangeFeed {
 public:
  explicit ChangeFeed(std::string database_url);
  ~ChangeFeed();
  ChangeFeed(const ChangeFeed&) = delete;
  ChangeFeed& operator=(const ChangeFeed&) = delete;

  // Starts the listening thread.
  void Start();

  // Listens on the database `url` from now on: the listener reconnects there (within a
  // fraction of a second) and then wakes every subscriber, so that each reads again.
  void SetUrl(std::string url);

  // Registers `wake`, called on the feed's thread (it must return quickly) whenever a
  // change for `user_id` may have committed. Returns a handle for Unsubscribe.
  uint64_t Subscribe(int64_t user_id, std::function<void()> wake);
  // After it returns, the callback of `handle` is not running and will not run again.
  void Unsubscribe(uint64_t handle);

  // Handles one hint payload "<user id>:<change id>" (public for tests).
  void OnHint(const std::string& payload);

  // Handles the latest change id of each user that got changes lately: wakes the
  // subscribers of the users whose latest change was not hinted (public for tests).
  void OnLatest(const std::vector<std::pair<int64_t, int64_t>>& latest);

 private:
  void Run();
  // The users with subscribers, as a PostgreSQL array literal ("{3,17}").
  std::string SubscribedUsers();
  void WakeAll();
  void WakeLocked(int64_t user_id);

  std::mutex url_mu_;
  std::string url_;                           // guarded by url_mu_
  std::atomic<uint64_t> url_generation_{0};  // counts the SetUrl calls
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;  // held while callbacks run, so Unsubscribe waits for them
  uint64_t next_handle_ = 1;
  std::multimap<int64_t, std::pair<uint64_t, std::function<void()>>> subscribers_;
  // For users with subscribers: the highest change id a hint (or a sweep) announced.
  std::map<int64_t, int64_t> announced_;
};

}  // namespace tchatator::core

#endif  // TCHATATOR_CORE_SERVICE_CHANGE_FEED_H_
