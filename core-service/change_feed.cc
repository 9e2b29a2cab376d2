#include "core-service/change_feed.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <deque>

#include <pqxx/pqxx>

#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/strings.h"
#include "storage/connection_pool.h"
#include "storage/store.h"

namespace tchatator::core {
namespace {

constexpr std::chrono::seconds kSweepInterval(1);
// Sweeps a change stays visible to: about this many seconds between drawing its id and
// committing it.
constexpr size_t kSweepLookback = 10;

class Receiver : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& connection, ChangeFeed& feed)
      : pqxx::notification_receiver(connection, storage::kChangeChannel), feed_(feed) {}
  void operator()(const std::string& payload, int) override { feed_.OnHint(payload); }

 private:
  ChangeFeed& feed_;
};

}  // namespace

ChangeFeed::ChangeFeed(std::string database_url, Marker mark_live)
    : url_(std::move(database_url)), mark_live_(std::move(mark_live)) {}

ChangeFeed::~ChangeFeed() {
  {
    std::lock_guard lock(renew_mu_);
    stop_ = true;
  }
  renew_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (renew_thread_.joinable()) renew_thread_.join();
}

void ChangeFeed::Start() {
  thread_ = std::thread([this] { Run(); });
  if (mark_live_) renew_thread_ = std::thread([this] { RenewLoop(); });
}

void ChangeFeed::RenewSoon() {
  {
    std::lock_guard lock(renew_mu_);
    renew_now_ = true;
  }
  renew_cv_.notify_all();
}

void ChangeFeed::RenewLoop() {
  std::unique_lock lock(renew_mu_);
  while (!stop_) {
    renew_cv_.wait_for(lock, absl::ToChronoMilliseconds(kLiveRefresh),
                       [this] { return stop_ || renew_now_; });
    if (stop_) return;
    renew_now_ = false;
    lock.unlock();
    KeepLive();
    lock.lock();
  }
}

void ChangeFeed::SetUrl(std::string url) {
  std::lock_guard lock(url_mu_);
  if (url == url_) return;
  url_ = std::move(url);
  ++url_generation_;
}

void ChangeFeed::Mark(std::vector<int64_t> user_ids) {
  if (!mark_live_ || user_ids.empty()) return;
  absl::Status status;
  try {
    status = mark_live_(std::move(user_ids), kLiveLease);
  } catch (const std::exception& e) {
    status = absl::InternalError(e.what());
  }
  if (status.ok()) {
    if (marks_failing_.exchange(false)) Log::Info("change feed: live marks written again");
  } else if (!marks_failing_.exchange(true)) {
    // Hints of new messages may be missed meanwhile: the sweep still delivers them.
    Log::Info(StrCat("change feed: live marks failed: ", status.message()));
  }
}

void ChangeFeed::KeepLive() { Mark(SubscribedUsers()); }

void ChangeFeed::MarkLive(int64_t user_id) { Mark({user_id}); }

uint64_t ChangeFeed::Subscribe(int64_t user_id, std::function<void()> wake) {
  std::lock_guard lock(mu_);
  const uint64_t handle = next_handle_++;
  subscribers_.emplace(user_id, std::make_pair(handle, std::move(wake)));
  return handle;
}

void ChangeFeed::Unsubscribe(uint64_t handle) {
  std::lock_guard lock(mu_);
  for (auto it = subscribers_.begin(); it != subscribers_.end(); ++it) {
    if (it->second.first != handle) continue;
    const int64_t user_id = it->first;
    subscribers_.erase(it);
    if (!subscribers_.contains(user_id)) announced_.erase(user_id);
    return;
  }
}

void ChangeFeed::WakeLocked(int64_t user_id) {
  auto [first, last] = subscribers_.equal_range(user_id);
  for (auto it = first; it != last; ++it) it->second.second();
}

void ChangeFeed::OnHint(const std::string& payload) {
  const size_t colon = payload.find(':');
  if (colon == std::string::npos) return;
  int64_t user_id = 0;
  auto [end, ec] = std::from_chars(payload.data(), payload.data() + colon, user_id);
  if (ec != std::errc() || end != payload.data() + colon) return;
  int64_t change_id = 0;
  std::from_chars(payload.data() + colon + 1, payload.data() + payload.size(), change_id);
  std::lock_guard lock(mu_);
  if (!subscribers_.contains(user_id)) return;
  int64_t& announced = announced_[user_id];
  announced = std::max(announced, change_id);
  WakeLocked(user_id);
}

void ChangeFeed::OnLatest(const std::vector<std::pair<int64_t, int64_t>>& latest) {
  std::lock_guard lock(mu_);
  for (const auto& [user_id, change_id] : latest) {
    if (!subscribers_.contains(user_id)) continue;
    int64_t& announced = announced_[user_id];
    if (change_id <= announced) continue;
    // The hint was lost, or is still on its way: a spare wake costs one empty read.
    announced = change_id;
    WakeLocked(user_id);
  }
}

std::vector<int64_t> ChangeFeed::SubscribedUsers() {
  std::vector<int64_t> users;
  std::lock_guard lock(mu_);
  for (auto it = subscribers_.begin(); it != subscribers_.end();
       it = subscribers_.upper_bound(it->first)) {
    users.push_back(it->first);
  }
  return users;
}

void ChangeFeed::WakeAll() {
  std::lock_guard lock(mu_);
  for (auto& entry : subscribers_) entry.second.second();
}

void ChangeFeed::Run() {
  using Clock = std::chrono::steady_clock;
  bool was_down = false;
  while (!stop_) {
    std::string url;
    uint64_t generation = 0;
    {
      std::lock_guard lock(url_mu_);
      url = url_;
      generation = url_generation_;
    }
    try {
      const std::unique_ptr<pqxx::connection> opened = storage::OpenConnection(url);
      pqxx::connection& connection = *opened;
      Receiver receiver(connection, *this);
      // The highest change id at each of the last sweeps: a sweep reads the changes
      // after the oldest, so that a change whose id was drawn a few seconds before its
      // commit (ids are not in commit order across users) is still seen.
      std::deque<int64_t> horizons;
      {
        pqxx::nontransaction txn(connection);
        horizons.push_back(
            txn.exec("SELECT COALESCE(max(id), 0) FROM changes")[0][0].as<int64_t>());
      }
      if (was_down) Log::Info("change feed: listening again");
      WakeAll();
      was_down = false;
      // Marks may have lapsed while the listener was away (or moved to a new database).
      RenewSoon();
      Clock::time_point next_sweep = Clock::now() + kSweepInterval;
      // Leaves for the new database after SetUrl: the next connection wakes everyone.
      while (!stop_ && url_generation_ == generation) {
        connection.await_notification(0, 200000);
        if (Clock::now() < next_sweep) continue;
        next_sweep = Clock::now() + kSweepInterval;
        std::vector<std::pair<int64_t, int64_t>> latest;
        int64_t horizon = horizons.back();
        {
          // Only this core's subscribers matter: their recent changes through
          // changes_user_idx, instead of grouping everyone's (at 6 000 sends a second,
          // 60 000 rows read each second and 3 % of the database's time); the row with
          // no user is the highest id, the next horizon.
          pqxx::nontransaction txn(connection);
          const pqxx::result rows = txn.exec_params(
              "SELECT user_id, max(id) FROM changes"
              " WHERE user_id = ANY($2::bigint[]) AND id > $1 GROUP BY user_id"
              " UNION ALL SELECT NULL, max(id) FROM changes",
              horizons.front(), StrCat("{", absl::StrJoin(SubscribedUsers(), ","), "}"));
          for (const auto& row : rows) {
            if (row[1].is_null()) continue;
            const int64_t id = row[1].as<int64_t>();
            if (!row[0].is_null()) latest.emplace_back(row[0].as<int64_t>(), id);
            horizon = std::max(horizon, id);
          }
        }
        horizons.push_back(horizon);
        if (horizons.size() > kSweepLookback) horizons.pop_front();
        OnLatest(latest);
      }
    } catch (const std::exception& e) {
      if (!was_down) {
        Log::Info(
            StrCat("change feed: listener down: ", storage::WithoutPasswords(e.what(), url)));
      }
      was_down = true;
      // A new URL is tried at once.
      for (int i = 0; i < 5 && !stop_ && url_generation_ == generation; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }
}

}  // namespace tchatator::core
