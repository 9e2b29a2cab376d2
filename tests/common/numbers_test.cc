#include "common/numbers.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

namespace tchatator {
namespace {

TEST(ParsePositiveTest, AcceptsEveryPositiveInt64WithAnyLeadingZeros) {
  EXPECT_EQ(ParsePositive("1"), 1);
  EXPECT_EQ(ParsePositive("42"), 42);
  EXPECT_EQ(ParsePositive("0042"), 42);
  EXPECT_EQ(ParsePositive(std::string(100, '0') + "7"), 7);
  EXPECT_EQ(ParsePositive("1000000000000000000"), int64_t{1000000000000000000});
  EXPECT_EQ(ParsePositive("9223372036854775807"), std::numeric_limits<int64_t>::max());
}

TEST(ParsePositiveTest, RefusesZeroSignsOverflowAndAnythingButDigits) {
  for (const char* text : {"", "0", "000", "-1", "-0", "+1", " 1", "1 ", "1a", "0x10", "1.0",
                           "9223372036854775808", "99999999999999999999999"}) {
    EXPECT_EQ(ParsePositive(text), std::nullopt) << '"' << text << '"';
  }
}

}  // namespace
}  // namespace tchatator
