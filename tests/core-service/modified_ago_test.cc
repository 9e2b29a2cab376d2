// Unit tests of core::ModifiedAgo: the French age of an edit (contract 2.4,
// `modified-ago`), at every bucket edge.

#include <gtest/gtest.h>

#include <string>

#include "absl/time/time.h"
#include "core-service/chat_logic.h"

namespace tchatator::core {
namespace {

absl::Duration Hms(int64_t h, int64_t m, int64_t s) {
  return absl::Hours(h) + absl::Minutes(m) + absl::Seconds(s);
}

TEST(ModifiedAgo, UnderAMinuteIsAFewSeconds) {
  EXPECT_EQ(ModifiedAgo(absl::ZeroDuration()), "quelques secondes");
  EXPECT_EQ(ModifiedAgo(absl::Seconds(1)), "quelques secondes");
  EXPECT_EQ(ModifiedAgo(Hms(0, 0, 59)), "quelques secondes");
  EXPECT_EQ(ModifiedAgo(absl::Seconds(60) - absl::Microseconds(1)), "quelques secondes");
}

TEST(ModifiedAgo, FromOneToFifteenMinutesIsAFewMinutes) {
  EXPECT_EQ(ModifiedAgo(Hms(0, 1, 0)), "quelques minutes");
  EXPECT_EQ(ModifiedAgo(Hms(0, 7, 30)), "quelques minutes");
  EXPECT_EQ(ModifiedAgo(Hms(0, 14, 59)), "quelques minutes");
}

TEST(ModifiedAgo, UnderAnHourIsRoundedDownToTheQuarter) {
  EXPECT_EQ(ModifiedAgo(Hms(0, 15, 0)), "15 min");
  EXPECT_EQ(ModifiedAgo(Hms(0, 29, 59)), "15 min");
  EXPECT_EQ(ModifiedAgo(Hms(0, 30, 0)), "30 min");
  EXPECT_EQ(ModifiedAgo(Hms(0, 44, 0)), "30 min");
  EXPECT_EQ(ModifiedAgo(Hms(0, 44, 59)), "30 min");
  EXPECT_EQ(ModifiedAgo(Hms(0, 45, 0)), "45 min");
  EXPECT_EQ(ModifiedAgo(Hms(0, 59, 59)), "45 min");
}

TEST(ModifiedAgo, UnderADayIsWholeHours) {
  EXPECT_EQ(ModifiedAgo(Hms(1, 0, 0)), "1 h");
  EXPECT_EQ(ModifiedAgo(Hms(1, 59, 59)), "1 h");
  EXPECT_EQ(ModifiedAgo(Hms(2, 0, 0)), "2 h");
  EXPECT_EQ(ModifiedAgo(Hms(23, 59, 0)), "23 h");
  EXPECT_EQ(ModifiedAgo(Hms(23, 59, 59)), "23 h");
}

TEST(ModifiedAgo, FromADayIsWholeDays) {
  EXPECT_EQ(ModifiedAgo(Hms(24, 0, 0)), "1 j");
  EXPECT_EQ(ModifiedAgo(Hms(47, 59, 59)), "1 j");
  EXPECT_EQ(ModifiedAgo(Hms(48, 0, 0)), "2 j");
  EXPECT_EQ(ModifiedAgo(Hms(49, 0, 0)), "2 j");
  EXPECT_EQ(ModifiedAgo(absl::Hours(24 * 400)), "400 j");
}

}  // namespace
}  // namespace tchatator::core
