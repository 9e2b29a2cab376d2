// Unit tests of UtcTimeText: byte for byte what absl::FormatTime writes.

#include "common/time_text.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>

#include "absl/time/time.h"

namespace tchatator {
namespace {

std::string Reference(absl::Time t, bool milliseconds) {
  return absl::FormatTime(milliseconds ? "%Y-%m-%dT%H:%M:%E3SZ" : "%Y-%m-%dT%H:%M:%SZ", t,
                          absl::UTCTimeZone());
}

TEST(UtcTimeTextTest, KnownInstants) {
  EXPECT_EQ(UtcTimeText(absl::UnixEpoch()), "1970-01-01T00:00:00Z");
  EXPECT_EQ(UtcTimeText(absl::UnixEpoch(), true), "1970-01-01T00:00:00.000Z");
  const absl::Time t = absl::FromUnixMillis(1795688100123);  // 2026-11-26T10:15:00.123Z
  EXPECT_EQ(UtcTimeText(t), "2026-11-26T10:15:00Z");
  EXPECT_EQ(UtcTimeText(t, true), "2026-11-26T10:15:00.123Z");
  // Truncated, not rounded, like %E3S.
  EXPECT_EQ(UtcTimeText(t + absl::Microseconds(999), true), "2026-11-26T10:15:00.123Z");
  EXPECT_EQ(UtcTimeText(absl::FromUnixMillis(-1), true), "1969-12-31T23:59:59.999Z");
}

TEST(UtcTimeTextTest, CalendarEdgesMatchAbsl) {
  for (const absl::CivilSecond civil :
       {absl::CivilSecond(2000, 2, 29, 23, 59, 59), absl::CivilSecond(1900, 3, 1, 0, 0, 0),
        absl::CivilSecond(2100, 2, 28, 12, 0, 0), absl::CivilSecond(2024, 12, 31, 23, 59, 59),
        absl::CivilSecond(0, 1, 1, 0, 0, 0), absl::CivilSecond(9999, 12, 31, 23, 59, 59),
        absl::CivilSecond(10000, 1, 1, 0, 0, 0), absl::CivilSecond(-1, 12, 31, 23, 59, 59)}) {
    const absl::Time t = absl::FromCivil(civil, absl::UTCTimeZone()) + absl::Milliseconds(7);
    for (bool ms : {false, true}) EXPECT_EQ(UtcTimeText(t, ms), Reference(t, ms)) << civil;
  }
  for (const absl::Time t : {absl::InfiniteFuture(), absl::InfinitePast()}) {
    for (bool ms : {false, true}) EXPECT_EQ(UtcTimeText(t, ms), Reference(t, ms));
  }
}

TEST(UtcTimeTextTest, RandomInstantsMatchAbsl) {
  std::mt19937_64 random(20261127);
  // Microseconds from year 1 to year 9999, then around now.
  std::uniform_int_distribution<int64_t> wide(-62135596800000000, 253402300799999999);
  std::uniform_int_distribution<int64_t> near(1700000000000000, 1900000000000000);
  for (int i = 0; i < 200000; ++i) {
    const absl::Time t = absl::FromUnixMicros(i % 2 == 0 ? wide(random) : near(random));
    const bool ms = i % 3 != 0;
    ASSERT_EQ(UtcTimeText(t, ms), Reference(t, ms)) << absl::ToUnixMicros(t);
  }
}

}  // namespace
}  // namespace tchatator
