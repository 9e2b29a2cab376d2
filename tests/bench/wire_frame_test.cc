#include "tests/bench/wire_frame.h"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace tchatator::bench {
namespace {

// FrameEnd over every prefix of `data`: nullopt until the whole first frame is there.
void ExpectFrameEndsAt(std::string_view data, size_t end) {
  for (size_t n = 0; n < end; ++n) {
    EXPECT_EQ(FrameEnd(data.substr(0, n)), std::nullopt) << "prefix of " << n << " bytes";
  }
  for (size_t n = end; n <= data.size(); ++n) {
    EXPECT_EQ(FrameEnd(data.substr(0, n)), std::optional<size_t>(end)) << "prefix of " << n;
  }
}

TEST(FrameEndTest, ResponseEndsAtItsEmptyLine) {
  const std::string frame = "200/OK\nmessage-id:42\n\n";
  ExpectFrameEndsAt(frame + "200/OK\n\n", frame.size());
}

TEST(FrameEndTest, CrLfLinesAreFramedToo) {
  const std::string frame = "416/MISFMT\r\nerror:unknown-command\r\n\r\n";
  ExpectFrameEndsAt(frame + "200/OK\r\n\r\n", frame.size());
}

TEST(FrameEndTest, FirstLineIsNeverTheEnd) {
  // A frame's first line is its status; an empty line only ends what follows it.
  EXPECT_EQ(FrameEnd("\n\n"), std::optional<size_t>(2));
  EXPECT_EQ(FrameEnd("200/OK\n"), std::nullopt);
}

TEST(FrameEndTest, MultiLineContentIsCountedInCodePoints) {
  // "ça\n\nva" is 6 code points (7 bytes): its empty line is content, not the end.
  const std::string frame =
      "EVENT\nmessage-id:7\nmessage-length:6\ncontent:\xC3\xA7" "a\n\nva\n\n";
  ExpectFrameEndsAt(frame + "200/OK\n\n", frame.size());
}

TEST(FrameEndTest, ContentWithoutLengthIsOneLine) {
  const std::string frame = "200/OK\ncontent:hello\n\n";
  ExpectFrameEndsAt(frame, frame.size());
}

TEST(CodePointsTest, CountsCharactersNotBytes) {
  EXPECT_EQ(CodePoints(""), 0);
  EXPECT_EQ(CodePoints("Bonjour, comment \xC3\xA7" "a va ?"), 24);
  EXPECT_EQ(CodePoints("\xF0\x9F\x98\x80"), 1);
}

TEST(StatusOfTest, ReadsTheCodeBeforeTheSlash) {
  EXPECT_EQ(StatusOf("200/OK\n\n"), 200);
  EXPECT_EQ(StatusOf("426/TOOMRQ\nerror:rate-limited\n\n"), 426);
  EXPECT_EQ(StatusOf("EVENT\n\n"), 0);
  EXPECT_EQ(StatusOf("200"), 0);
  EXPECT_EQ(StatusOf("200 OK\n"), 0);
}

TEST(IsEventTest, OnlyAnEventLine) {
  EXPECT_TRUE(IsEvent("EVENT\nmessage-id:1\n\n"));
  EXPECT_TRUE(IsEvent("EVENT\r\n\r\n"));
  EXPECT_FALSE(IsEvent("EVENTS\n\n"));
  EXPECT_FALSE(IsEvent("200/OK\n\n"));
}

TEST(FieldOfTest, FindsAWholeKey) {
  const std::string_view frame = "200/OK\r\nmessage-id-old:1\nmessage-id:42\r\nuntil:9\n\n";
  EXPECT_EQ(FieldOf(frame, "message-id"), std::optional<std::string_view>("42"));
  EXPECT_EQ(FieldOf(frame, "until"), std::optional<std::string_view>("9"));
  EXPECT_EQ(FieldOf(frame, "retry-after"), std::nullopt);
  // The status line is not a field.
  EXPECT_EQ(FieldOf("error:x\n\n", "error"), std::nullopt);
}

}  // namespace
}  // namespace tchatator::bench
