#include "gateway/client/shell_command.h"

#include <gtest/gtest.h>

namespace tchatator::client {
namespace {

TEST(ShellCommandTest, CommandsWithFrenchNamesAndEnglishAliases) {
  EXPECT_EQ(ParseShellCommand("/ouvrir 7", false).verb, ShellVerb::kOpen);
  EXPECT_EQ(ParseShellCommand("/ouvrir 7", false).rest, "7");
  EXPECT_EQ(ParseShellCommand("/open  Bob  Bakery ", true).rest, "Bob  Bakery");
  EXPECT_EQ(ParseShellCommand("/QUIT", true).verb, ShellVerb::kQuit);
  EXPECT_EQ(ParseShellCommand("/débloquer 3", true).verb, ShellVerb::kUnblock);
  EXPECT_EQ(ParseShellCommand("/nonlus", false).verb, ShellVerb::kUnread);
  EXPECT_EQ(ParseShellCommand("/e 12 nouveau  texte", true).verb, ShellVerb::kEdit);
  EXPECT_EQ(ParseShellCommand("/e 12 nouveau  texte", true).rest, "12 nouveau  texte");
}

TEST(ShellCommandTest, OutsideAConversationTheSlashIsOptional) {
  EXPECT_EQ(ParseShellCommand("aide", false).verb, ShellVerb::kHelp);
  EXPECT_EQ(ParseShellCommand("  c  ", false).verb, ShellVerb::kConversations);
  const ShellCommand unknown = ParseShellCommand("bonjour toi", false);
  EXPECT_EQ(unknown.verb, ShellVerb::kUnknown);
  EXPECT_EQ(unknown.word, "bonjour");
}

TEST(ShellCommandTest, InAConversationOtherLinesAreMessages) {
  const ShellCommand text = ParseShellCommand("  aide-moi :)  ", true);
  EXPECT_EQ(text.verb, ShellVerb::kText);
  EXPECT_EQ(text.rest, "  aide-moi :)");
  EXPECT_EQ(ParseShellCommand("//etc/passwd", true).verb, ShellVerb::kText);
  EXPECT_EQ(ParseShellCommand("//etc/passwd", true).rest, "/etc/passwd");
  EXPECT_EQ(ParseShellCommand("   ", true).verb, ShellVerb::kNone);
  EXPECT_EQ(ParseShellCommand("/zzz", true).verb, ShellVerb::kUnknown);
}

TEST(ShellCommandTest, SplitFirstWord) {
  EXPECT_EQ(SplitFirstWord("  12   a  b"), (std::pair<std::string, std::string>{"12", "a  b"}));
  EXPECT_EQ(SplitFirstWord(""), (std::pair<std::string, std::string>{"", ""}));
}

}  // namespace
}  // namespace tchatator::client
