#include "gateway/client/line_buffer.h"

#include <gtest/gtest.h>

namespace tchatator::client {
namespace {

TEST(LineBufferTest, EditsWholeCharacters) {
  LineBuffer b;
  b.Insert("ça va");
  b.Home();
  b.Right();
  EXPECT_EQ(b.cursor(), 2u);  // past the two bytes of ç
  b.Backspace();
  EXPECT_EQ(b.text(), "a va");
  b.End();
  b.Insert(" 😀");
  b.Backspace();
  EXPECT_EQ(b.text(), "a va ");
  b.Left();
  b.Left();
  b.Delete();
  EXPECT_EQ(b.text(), "a v ");
}

TEST(LineBufferTest, WordsAndKills) {
  LineBuffer b;
  b.Set("bonjour le monde");
  b.KillWordBack();
  EXPECT_EQ(b.text(), "bonjour le ");
  b.WordLeft();
  EXPECT_EQ(b.cursor(), 8u);
  b.WordLeft();
  EXPECT_EQ(b.cursor(), 0u);
  b.WordRight();
  EXPECT_EQ(b.cursor(), 7u);
  b.KillToEnd();
  EXPECT_EQ(b.text(), "bonjour");
  b.Left();
  b.KillToStart();
  EXPECT_EQ(b.text(), "r");
  EXPECT_EQ(b.cursor(), 0u);
}

TEST(LineBufferTest, Transpose) {
  LineBuffer b;
  b.Set("abé");
  b.Transpose();
  EXPECT_EQ(b.text(), "aéb");
  b.Home();
  b.Transpose();  // nothing before the cursor
  EXPECT_EQ(b.text(), "aéb");
}

TEST(LineBufferTest, RendersWholeLineWhenItFits) {
  LineBuffer b;
  b.Set("héllo");
  const RenderedLine r = RenderLine(b, 5, 80);
  EXPECT_EQ(r.visible, "héllo");
  EXPECT_EQ(r.cursor_column, 10u);
}

TEST(LineBufferTest, ScrollsToKeepTheCursorVisible) {
  LineBuffer b;
  b.Set("0123456789abcdefghij");
  // 2 columns of prompt, 12 columns: 9 for text (one kept free).
  RenderedLine r = RenderLine(b, 2, 12);
  EXPECT_EQ(r.visible, "cdefghij");
  EXPECT_EQ(r.cursor_column, 10u);
  b.Home();
  r = RenderLine(b, 2, 12);
  EXPECT_EQ(r.visible, "012345678");
  EXPECT_EQ(r.cursor_column, 2u);
}

TEST(LineBufferTest, WideCharactersTakeTwoColumns) {
  LineBuffer b;
  b.Set("日本語");
  const RenderedLine r = RenderLine(b, 0, 80);
  EXPECT_EQ(r.cursor_column, 6u);
}

}  // namespace
}  // namespace tchatator::client
