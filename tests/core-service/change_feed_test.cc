// ChangeFeed's live marks (migration 0013): what it asks to mark, and when. The feed's
// threads are started only by the last test, over a fresh database.

#include "core-service/change_feed.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "storage/migrations.h"
#include "tests/support/test_database.h"

namespace tchatator::core {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

class ChangeFeedMarksTest : public ::testing::Test {
 protected:
  // Every MarkLive call: its users and lease.
  std::vector<std::pair<std::vector<int64_t>, absl::Duration>> calls_;
  absl::Status answer_ = absl::OkStatus();
  ChangeFeed feed_{"postgresql://unused",
                   [this](std::vector<int64_t> users, absl::Duration lease) {
                     calls_.emplace_back(std::move(users), lease);
                     return answer_;
                   }};
};

TEST_F(ChangeFeedMarksTest, MarkLiveMarksOneUserForALease) {
  feed_.MarkLive(42);
  EXPECT_THAT(calls_, ElementsAre(Pair(ElementsAre(42), ChangeFeed::kLiveLease)));
}

TEST_F(ChangeFeedMarksTest, SubscribeOnlyRegisters) {
  int wakes = 0;
  feed_.Subscribe(42, [&] { ++wakes; });
  EXPECT_THAT(calls_, IsEmpty());
  feed_.OnHint("42:7");
  EXPECT_EQ(wakes, 1);
}

TEST_F(ChangeFeedMarksTest, KeepLiveRenewsEachSubscribedUserOnceInOrder) {
  const uint64_t a = feed_.Subscribe(30, [] {});
  feed_.Subscribe(10, [] {});
  feed_.Subscribe(30, [] {});
  feed_.Subscribe(20, [] {});
  feed_.KeepLive();
  EXPECT_THAT(calls_, ElementsAre(Pair(ElementsAre(10, 20, 30), ChangeFeed::kLiveLease)));
  // 30 still has a subscriber.
  feed_.Unsubscribe(a);
  feed_.KeepLive();
  ASSERT_EQ(calls_.size(), 2u);
  EXPECT_THAT(calls_[1].first, ElementsAre(10, 20, 30));
}

TEST_F(ChangeFeedMarksTest, KeepLiveWithoutSubscribersMarksNothing) {
  const uint64_t a = feed_.Subscribe(5, [] {});
  feed_.Unsubscribe(a);
  feed_.KeepLive();
  EXPECT_THAT(calls_, IsEmpty());
}

TEST_F(ChangeFeedMarksTest, AFailedMarkIsTriedAgainAtTheNextRenewal) {
  answer_ = absl::UnavailableError("database away");
  feed_.MarkLive(8);
  feed_.Subscribe(8, [] {});
  answer_ = absl::OkStatus();
  feed_.KeepLive();
  EXPECT_THAT(calls_, ElementsAre(Pair(ElementsAre(8), ChangeFeed::kLiveLease),
                                  Pair(ElementsAre(8), ChangeFeed::kLiveLease)));
}

TEST(ChangeFeedTest, WithoutMarkLiveMarkingDoesNothing) {
  ChangeFeed feed("postgresql://unused");
  int wakes = 0;
  feed.MarkLive(3);
  feed.Subscribe(3, [&] { ++wakes; });
  feed.KeepLive();
  feed.OnHint("3:1");
  EXPECT_EQ(wakes, 1);
}

// The renewing thread marks the subscribers' users as soon as the listener is connected
// (marks may have lapsed while it was away), then every kLiveRefresh.
TEST(ChangeFeedRenewalTest, MarksTheSubscribersOnceTheListenerIsConnected) {
  ::tchatator::testing::TestDatabase db;
  ASSERT_TRUE(storage::Migrate(db.url()).ok());
  std::mutex mu;
  std::condition_variable marked;
  std::vector<std::vector<int64_t>> calls;  // guarded by mu
  ChangeFeed feed(db.url(), [&](std::vector<int64_t> users, absl::Duration) {
    std::lock_guard lock(mu);
    calls.push_back(std::move(users));
    marked.notify_all();
    return absl::OkStatus();
  });
  feed.Subscribe(7, [] {});
  feed.Subscribe(3, [] {});
  feed.Start();
  std::unique_lock lock(mu);
  ASSERT_TRUE(marked.wait_for(lock, std::chrono::seconds(10), [&] { return !calls.empty(); }));
  EXPECT_THAT(calls[0], ElementsAre(3, 7));
}

}  // namespace
}  // namespace tchatator::core
