// Unit tests of Utf8Length: message lengths are counted in Unicode code points, and
// only valid UTF-8 is counted.

#include "common/utf8.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>

namespace tchatator {
namespace {

// The source is UTF-8: these literals are the bytes a client sends.
static_assert(std::string_view("é").size() == 2);
static_assert(std::string_view("€").size() == 3);
static_assert(std::string_view("😀").size() == 4);

TEST(Utf8LengthTest, Ascii) {
  EXPECT_EQ(Utf8Length(""), std::optional<size_t>(0));
  EXPECT_EQ(Utf8Length("hello"), std::optional<size_t>(5));
  EXPECT_EQ(Utf8Length("a\nb"), std::optional<size_t>(3));
  EXPECT_EQ(Utf8Length(std::string_view("a\0b", 3)), std::optional<size_t>(3));
  EXPECT_EQ(Utf8Length("\x7f"), std::optional<size_t>(1));
}

TEST(Utf8LengthTest, MultiByteCharactersCountOne) {
  EXPECT_EQ(Utf8Length("é"), std::optional<size_t>(1));
  EXPECT_EQ(Utf8Length("€"), std::optional<size_t>(1));
  EXPECT_EQ(Utf8Length("😀"), std::optional<size_t>(1));
  EXPECT_EQ(Utf8Length("aé€😀z"), std::optional<size_t>(5));
  EXPECT_EQ(Utf8Length("Bonjour, comment ça va ?"), std::optional<size_t>(24));
}

TEST(Utf8LengthTest, BoundariesOfEachLength) {
  for (std::string_view one : {"\xc2\x80",            // U+0080
                               "\xdf\xbf",            // U+07FF
                               "\xe0\xa0\x80",        // U+0800
                               "\xed\x9f\xbf",        // U+D7FF, just below the surrogates
                               "\xee\x80\x80",        // U+E000, just above them
                               "\xef\xbf\xbf",        // U+FFFF
                               "\xf0\x90\x80\x80",    // U+10000
                               "\xf4\x8f\xbf\xbf"}) {  // U+10FFFF
    EXPECT_EQ(Utf8Length(one), std::optional<size_t>(1)) << testing::PrintToString(one);
  }
}

TEST(DecodeUtf8Test, CodePointsInOrderOrNothing) {
  EXPECT_EQ(DecodeUtf8(""), std::u32string());
  EXPECT_EQ(DecodeUtf8("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x8d\xb7"),
            std::u32string({U'a', 0xE9, 0x20AC, 0x1F377}));
  EXPECT_EQ(DecodeUtf8("ok\xc0\x80"), std::nullopt);
  EXPECT_EQ(DecodeUtf8("\xed\xa0\x80"), std::nullopt);
}

TEST(IsBlankTest, SpacesAndInvisibleCharactersOnly) {
  for (char32_t c : {0x09, 0x0A, 0x0D, 0x20, 0x85, 0xA0, 0xAD, 0x1680, 0x2000, 0x200A,
                     0x200B, 0x200E, 0x2028, 0x202E, 0x205F, 0x2060, 0x2064, 0x206F, 0x2800,
                     0x3000, 0x3164, 0xFE0F, 0xFEFF, 0xFFF9, 0xFFFB, 0x13430, 0x1343F,
                     0xE0001, 0xE0FFF}) {
    EXPECT_TRUE(IsBlank(c)) << std::hex << static_cast<uint32_t>(c);
  }
  for (char32_t c : {0x08, 0x21, 0x41, 0x7F, 0xA9, 0xAE, 0x2027, 0x2030, 0x2070, 0x2801,
                     0x3001, 0xFE10, 0xFFFC, 0x1342F, 0x1F377, 0xE1000}) {
    EXPECT_FALSE(IsBlank(c)) << std::hex << static_cast<uint32_t>(c);
  }
}

TEST(Utf8LengthTest, InvalidSequencesAreRefused) {
  for (std::string_view bad : {
           "\x80",                // lone continuation byte
           "a\xbf" "b",           // continuation byte between characters
           "\xc0\x80",            // overlong NUL
           "\xc1\xbf",            // overlong U+007F
           "\xe0\x80\x80",        // overlong 3-byte form
           "\xe0\x9f\xbf",        // overlong U+07FF
           "\xf0\x80\x80\x80",    // overlong 4-byte form
           "\xf0\x8f\xbf\xbf",    // overlong U+FFFF
           "\xed\xa0\x80",        // surrogate U+D800
           "\xed\xbf\xbf",        // surrogate U+DFFF
           "\xf4\x90\x80\x80",    // U+110000, beyond U+10FFFF
           "\xf5\x80\x80\x80",    // lead byte past F4
           "\xf8\x88\x80\x80\x80",  // 5-byte form
           "\xfe",                // never in UTF-8
           "\xff",                // never in UTF-8
           "\xc3",                // truncated 2-byte
           "\xe2\x82",            // truncated 3-byte
           "\xf0\x9f\x98",        // truncated 4-byte
           "abc\xc3",             // truncated at the end of a longer text
           "\xc3" "a",            // lead byte followed by ASCII
           "\xe2\x82" "a",        // 3-byte lead, one continuation, then ASCII
       }) {
    EXPECT_EQ(Utf8Length(bad), std::nullopt) << testing::PrintToString(bad);
  }
}

}  // namespace
}  // namespace tchatator
