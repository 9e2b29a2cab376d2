// ChangeFeed's live marks (migration 0013): what it asks to mark, and when. The feed's
// thread is not started: no database.

#include "core-service/change_feed.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

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

}  // namespace
}  // namespace tchatator::core
