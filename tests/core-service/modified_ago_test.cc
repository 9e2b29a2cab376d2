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

// Each edge of the contract's buckets, one microsecond before it and exactly at it
// (times travel as microseconds): every bucket "rounds down".
TEST(ModifiedAgo, EveryEdgeToTheMicrosecond) {
  struct Edge {
    absl::Duration at;
    const char* before;  // at - 1 µs
    const char* from;    // at
  };
  const Edge edges[] = {
      {absl::Minutes(1), "quelques secondes", "quelques minutes"},
      {absl::Minutes(15), "quelques minutes", "15 min"},
      {absl::Minutes(30), "15 min", "30 min"},
      {absl::Minutes(45), "30 min", "45 min"},
      {absl::Hours(1), "45 min", "1 h"},
      {absl::Hours(2), "1 h", "2 h"},
      {absl::Hours(24), "23 h", "1 j"},
      {absl::Hours(48), "1 j", "2 j"},
  };
  for (const Edge& e : edges) {
    EXPECT_EQ(ModifiedAgo(e.at - absl::Microseconds(1)), e.before) << e.at;
    EXPECT_EQ(ModifiedAgo(e.at), e.from) << e.at;
  }
}

// An edit stamped slightly ahead of the reader's clock (another core's clock) reads
// as just now, never as a negative age.
TEST(ModifiedAgo, AgeBelowZeroIsAFewSeconds) {
  EXPECT_EQ(ModifiedAgo(-absl::Microseconds(1)), "quelques secondes");
  EXPECT_EQ(ModifiedAgo(-absl::Seconds(5)), "quelques secondes");
}

}  // namespace
}  // namespace tchatator::core
