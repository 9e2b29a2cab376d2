#include "gateway/client/key_decoder.h"

#include <vector>

#include <gtest/gtest.h>

namespace tchatator::client {
namespace {

std::vector<KeyCode> Codes(std::string_view bytes, bool byte_by_byte = false) {
  KeyDecoder d;
  std::vector<KeyCode> codes;
  auto drain = [&] {
    while (std::optional<Key> k = d.Next()) codes.push_back(k->code);
  };
  if (byte_by_byte) {
    for (char c : bytes) {
      d.Feed(std::string_view(&c, 1));
      drain();
    }
  } else {
    d.Feed(bytes);
    drain();
  }
  return codes;
}

TEST(KeyDecoderTest, ArrowsAndEditingKeysInAnySplit) {
  const std::string bytes = "\x1b[A\x1b[B\x1b[C\x1b[D\x1bOH\x1b[F\x1b[3~\x1b[1;5D\x1b" "b\x7f";
  const std::vector<KeyCode> want = {
      KeyCode::kUp,   KeyCode::kDown, KeyCode::kRight,    KeyCode::kLeft,     KeyCode::kHome,
      KeyCode::kEnd,  KeyCode::kDelete, KeyCode::kWordLeft, KeyCode::kWordLeft, KeyCode::kBackspace};
  EXPECT_EQ(Codes(bytes), want);
  EXPECT_EQ(Codes(bytes, true), want);
}

TEST(KeyDecoderTest, ControlKeys) {
  EXPECT_EQ(Codes("\x01\x05\x03\x04\x0b\x15\x17\x0c"),
            (std::vector<KeyCode>{KeyCode::kHome, KeyCode::kEnd, KeyCode::kInterrupt,
                                  KeyCode::kCtrlD, KeyCode::kKillToEnd, KeyCode::kKillToStart,
                                  KeyCode::kKillWordBack, KeyCode::kClearScreen}));
}

TEST(KeyDecoderTest, CrLfIsOneEnter) {
  EXPECT_EQ(Codes("\r\n\r\n"), (std::vector<KeyCode>{KeyCode::kEnter, KeyCode::kEnter}));
  EXPECT_EQ(Codes("\n\n"), (std::vector<KeyCode>{KeyCode::kEnter, KeyCode::kEnter}));
}

TEST(KeyDecoderTest, Utf8CharactersWaitForAllTheirBytes) {
  KeyDecoder d;
  d.Feed("\xc3");
  EXPECT_FALSE(d.Next());
  EXPECT_TRUE(d.HasPending());
  d.Feed("\xa7");
  std::optional<Key> k = d.Next();
  ASSERT_TRUE(k);
  EXPECT_EQ(k->code, KeyCode::kText);
  EXPECT_EQ(k->text, "ç");
}

TEST(KeyDecoderTest, ALoneEscapeWaitsThenCanBeDropped) {
  KeyDecoder d;
  d.Feed("\x1b");
  EXPECT_FALSE(d.Next());
  d.DropPending();
  EXPECT_FALSE(d.HasPending());
  d.Feed("x");
  EXPECT_EQ(d.Next()->text, "x");
}

}  // namespace
}  // namespace tchatator::client
