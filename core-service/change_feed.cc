#include "core-service/change_feed.h"

#include <chrono>
#include <charconv>

#include <pqxx/pqxx>

#include "common/log.h"
#include "common/strings.h"
#include "storage/store.h"

namespace tchatator::core {
namespace {

class Receiver : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& connection, ChangeFeed& feed)
      : pqxx::notification_receiver(connection, storage::kChangeChannel), feed_(feed) {}
  void operator()(const std::string& payload, int) override { feed_.OnHint(payload); }

 private:
  ChangeFeed& feed_;
};

}  // namespace

ChangeFeed::ChangeFeed(std::string database_url) : url_(std::move(database_url)) {}

ChangeFeed::~ChangeFeed() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ChangeFeed::Start() { thread_ = std::thread([this] { Run(); }); }

uint64_t ChangeFeed::Subscribe(int64_t user_id, std::function<void()> wake) {
  std::lock_guard lock(mu_);
  const uint64_t handle = next_handle_++;
  subscribers_.emplace(user_id, std::make_pair(handle, std::move(wake)));
  return handle;
}

void ChangeFeed::Unsubscribe(uint64_t handle) {
  std::lock_guard lock(mu_);
  std::erase_if(subscribers_, [handle](const auto& entry) { return entry.second.first == handle; });
}

void ChangeFeed::OnHint(const std::string& payload) {
  const size_t colon = payload.find(':');
  if (colon == std::string::npos) return;
  int64_t user_id = 0;
  auto [end, ec] = std::from_chars(payload.data(), payload.data() + colon, user_id);
  if (ec != std::errc() || end != payload.data() + colon) return;
  std::lock_guard lock(mu_);
  auto [first, last] = subscribers_.equal_range(user_id);
  for (auto it = first; it != last; ++it) it->second.second();
}

void ChangeFeed::WakeAll() {
  std::lock_guard lock(mu_);
  for (auto& entry : subscribers_) entry.second.second();
}

void ChangeFeed::Run() {
  bool was_down = false;
  while (!stop_) {
    try {
      pqxx::connection connection(url_);
      Receiver receiver(connection, *this);
      if (was_down) Log::Info("change feed: listening again");
      WakeAll();
      was_down = false;
      while (!stop_) connection.await_notification(0, 200000);
    } catch (const std::exception& e) {
      if (!was_down) Log::Info(StrCat("change feed: listener down: ", e.what()));
      was_down = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }
}

}  // namespace tchatator::core
