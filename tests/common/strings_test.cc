// Unit tests of the small string helpers.

#include "common/strings.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace tchatator {
namespace {

TEST(StrCatTest, IntegersStringsAndCharacters) {
  const std::string owned = "owned";
  const std::string_view view = "view";
  EXPECT_EQ(StrCat(), "");
  EXPECT_EQ(StrCat("a"), "a");
  EXPECT_EQ(StrCat(42), "42");
  EXPECT_EQ(StrCat("x=", 17, ' ', owned, '/', view, ":", absl::string_view("absl")),
            "x=17 owned/view:absl");
  EXPECT_EQ(StrCat(-5, 'c', int64_t{-9000000000}), "-5c-9000000000");
  EXPECT_EQ(StrCat(std::numeric_limits<uint64_t>::max()), "18446744073709551615");
  EXPECT_EQ(StrCat(std::numeric_limits<int64_t>::min()), "-9223372036854775808");
  EXPECT_EQ(StrCat(size_t{0}, unsigned{7}, short{-3}), "07-3");
  // A char is a character, not a number.
  EXPECT_EQ(StrCat('A', char{48}), "A0");
}

TEST(StrAppendTest, AppendsInPlace) {
  std::string out = "head";
  StrAppend(&out, ":", 12, '-', std::string("tail"));
  EXPECT_EQ(out, "head:12-tail");
}

TEST(StripAsciiWhitespaceTest, BothEnds) {
  EXPECT_EQ(StripAsciiWhitespace(""), "");
  EXPECT_EQ(StripAsciiWhitespace(" \t\r\n\f\v"), "");
  EXPECT_EQ(StripAsciiWhitespace("  a b \r\n"), "a b");
  EXPECT_EQ(StripAsciiWhitespace("abc"), "abc");
  EXPECT_EQ(StripAsciiWhitespace("\tx"), "x");
  EXPECT_EQ(StripAsciiWhitespace("x\t"), "x");
}

}  // namespace
}  // namespace tchatator
