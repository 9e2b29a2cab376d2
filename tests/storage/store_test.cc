// Unit tests of storage/store.h's helpers (no database).

#include "storage/store.h"

#include <gtest/gtest.h>

#include "absl/time/time.h"

namespace tchatator::storage {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

TEST(TakeCommitDeadlineTest, AnAnswerOfAMebibyteCommitsAThirtySecondOfASecondEarlier) {
  EXPECT_EQ(TakeCommitDeadline(kStart + absl::Seconds(5), kStart, 1 << 20),
            kStart + absl::Seconds(5) - absl::Microseconds(31250));
  EXPECT_EQ(TakeCommitDeadline(kStart + absl::Seconds(5), kStart, 0), kStart + absl::Seconds(5));
}

TEST(TakeCommitDeadlineTest, ALongAnswerCommitsAtMostHalfTheTakesTimeEarly) {
  // 320 MiB would need 10 s, the take has 5 s in all.
  EXPECT_EQ(TakeCommitDeadline(kStart + absl::Seconds(5), kStart, size_t{320} << 20),
            kStart + absl::Milliseconds(2500));
  // Begun after its deadline: no earlier than it (nothing commits anyway).
  EXPECT_EQ(TakeCommitDeadline(kStart, kStart + absl::Seconds(1), size_t{1} << 30), kStart);
}

TEST(TakeCommitDeadlineTest, ACallerWithoutDeadlineHasNone) {
  EXPECT_EQ(TakeCommitDeadline(absl::InfiniteFuture(), kStart, size_t{1} << 30),
            absl::InfiniteFuture());
}

}  // namespace
}  // namespace tchatator::storage
