#ifndef TCHATATOR_CORE_SERVICE_CHANGE_FEED_H_
#define TCHATATOR_CORE_SERVICE_CHANGE_FEED_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

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
// user's next change. New messages are hinted only to users with a live lease
// (storage::Store::MarkLive): a subscriber marks its user live with MarkLive before it
// subscribes, and the feed renews the marks of its subscribers' users every
// kLiveRefresh, for kLiveLease, on a thread of its own (a slow write delays no hint).
// Thread-safe.
class ChangeFeed {
 public:
  // How long a mark lasts, and how often the feed renews its users' marks (three times
  // per lease, so one failed renewal loses no hint).
  static constexpr absl::Duration kLiveLease = absl::Seconds(60);
  static constexpr absl::Duration kLiveRefresh = absl::Seconds(20);

  // Marks users live for a lease (storage::Store::MarkLive).
  using Marker =
      std::function<absl::Status(std::vector<int64_t> user_ids, absl::Duration lease)>;

  // Without `mark_live` (tests), nothing is marked.
  explicit ChangeFeed(std::string database_url, Marker mark_live = nullptr);
  ~ChangeFeed();
  ChangeFeed(const ChangeFeed&) = delete;
  ChangeFeed& operator=(const ChangeFeed&) = delete;

  // Starts the listening thread, and the renewing one when there is a marker.
  void Start();

  // Listens on the database `url` from now on: the listener reconnects there (within a
  // fraction of a second) and then wakes every subscriber, so that each reads again.
  void SetUrl(std::string url);

  // Marks `user_id` live: a database write, to make before the subscriber's first read
  // (a send committed after that read, if its statement came after the mark, is
  // hinted), where blocking is allowed and no lock is held.
  void MarkLive(int64_t user_id);

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

  // Renews the marks of the users with subscribers (the renewing thread calls it every
  // kLiveRefresh, and at once after each (re)connection of the listener; public for
  // tests).
  void KeepLive();

 private:
  void Run();
  void RenewLoop();
  // Asks the renewing thread for a KeepLive now.
  void RenewSoon();
  // The users with subscribers, in increasing order.
  std::vector<int64_t> SubscribedUsers();
  // Marks `user_ids` live, logging a failure (once until a mark succeeds again).
  void Mark(std::vector<int64_t> user_ids);
  void WakeAll();
  void WakeLocked(int64_t user_id);

  std::mutex url_mu_;
  std::string url_;                           // guarded by url_mu_
  std::atomic<uint64_t> url_generation_{0};  // counts the SetUrl calls
  const Marker mark_live_;
  std::atomic<bool> marks_failing_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::thread renew_thread_;
  std::mutex renew_mu_;
  std::condition_variable renew_cv_;
  bool renew_now_ = false;  // guarded by renew_mu_
  std::mutex mu_;  // held while callbacks run, so Unsubscribe waits for them
  uint64_t next_handle_ = 1;
  std::multimap<int64_t, std::pair<uint64_t, std::function<void()>>> subscribers_;
  // For users with subscribers: the highest change id a hint (or a sweep) announced.
  std::map<int64_t, int64_t> announced_;
};

}  // namespace tchatator::core

#endif  // TCHATATOR_CORE_SERVICE_CHANGE_FEED_H_
