#include "gateway/client/local_time.h"

#include <cstdlib>
#include <ctime>

#include <gtest/gtest.h>

namespace tchatator::client {
namespace {

// Runs the tests of this file in a fixed time zone (Paris: UTC+1 in November).
class LocalTimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tz = std::getenv("TZ");
    saved_ = tz != nullptr ? tz : "";
    had_ = tz != nullptr;
    setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);  // POSIX rule: no tzdata needed
    tzset();
  }
  void TearDown() override {
    if (had_) {
      setenv("TZ", saved_.c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }
  std::string saved_;
  bool had_ = false;
};

TEST_F(LocalTimeTest, ParsesRfc3339Utc) {
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseRfc3339("2026-11-26T10:15:00Z"), 1795688100);
  EXPECT_EQ(ParseRfc3339("2026-11-26T10:15:00.123456Z"), 1795688100);
  EXPECT_FALSE(ParseRfc3339("2026-11-26 10:15:00"));
  EXPECT_FALSE(ParseRfc3339("2026-11-26T10:15:00+01:00"));
  EXPECT_FALSE(ParseRfc3339("2026-13-26T10:15:00Z"));
  EXPECT_FALSE(ParseRfc3339(""));
}

TEST_F(LocalTimeTest, ShowsLocalTimeRelativeToNow) {
  const std::time_t sent = *ParseRfc3339("2026-11-26T10:15:00Z");  // 11:15 in Paris
  EXPECT_EQ(FormatShortTime(sent, sent + 3600), "11:15");
  EXPECT_EQ(FormatShortTime(sent, sent + 24 * 3600), "hier 11:15");
  EXPECT_EQ(FormatShortTime(sent, sent + 5 * 24 * 3600), "26/11 11:15");
  EXPECT_EQ(FormatShortTime(sent, sent + 60 * 24 * 3600), "26/11/2026 11:15");
  EXPECT_EQ(FormatDateTime(sent), "26/11/2026 à 11:15");
  EXPECT_EQ(FormatClock(sent + 42), "11:15:42");
  EXPECT_EQ(ShortTimeOf("not a time", sent), "not a time");
}

}  // namespace
}  // namespace tchatator::client
