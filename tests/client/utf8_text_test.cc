#include "gateway/client/utf8_text.h"

#include <gtest/gtest.h>

namespace tchatator::client {
namespace {

TEST(Utf8TextTest, CountsCharacters) {
  EXPECT_EQ(Utf8CharCount(""), 0u);
  EXPECT_EQ(Utf8CharCount("ça"), 2u);
  EXPECT_EQ(Utf8CharCount("日本"), 2u);
  EXPECT_EQ(Utf8CharCount("😀!"), 2u);
  EXPECT_EQ(Utf8CharCount("\xff\xfe"), 2u);  // invalid bytes count one each
}

TEST(Utf8TextTest, Validates) {
  EXPECT_TRUE(IsValidUtf8("Bonjour, comment ça va ? 😀"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // past U+10FFFF
}

TEST(Utf8TextTest, StepsBackOverWholeCharacters) {
  const std::string text = "aé😀";
  EXPECT_EQ(Utf8PreviousBoundary(text, text.size()), 3u);
  EXPECT_EQ(Utf8PreviousBoundary(text, 3), 1u);
  EXPECT_EQ(Utf8PreviousBoundary(text, 1), 0u);
  EXPECT_EQ(Utf8PreviousBoundary(text, 0), 0u);
  EXPECT_EQ(Utf8PreviousBoundary("a\x80", 2), 1u);  // a stray continuation byte
}

TEST(Utf8TextTest, MeasuresColumns) {
  EXPECT_EQ(TextColumns("abc"), 3u);
  EXPECT_EQ(TextColumns("ça"), 2u);
  EXPECT_EQ(TextColumns("e\xcc\x81"), 1u);  // e + combining acute
  EXPECT_EQ(TextColumns("日本"), 4u);
  EXPECT_EQ(StripAnsi("\x1b[1;32mmoi\x1b[0m> "), "moi> ");
}

}  // namespace
}  // namespace tchatator::client
