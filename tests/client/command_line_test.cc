#include "gateway/client/command_line.h"

#include <gtest/gtest.h>

namespace tchatator::client {
namespace {

ParsedCommandLine Parse(std::vector<std::string> args, std::string_view server = "") {
  return ParseCommandLine(args, server);
}

TEST(CommandLineTest, DefaultsToInteractiveOnTheDefaultServer) {
  const ParsedCommandLine p = Parse({});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.options.mode, Mode::kInteractive);
  EXPECT_EQ(p.options.server.host, "127.0.0.1");
  EXPECT_EQ(p.options.server.port, 4242);
}

TEST(CommandLineTest, ServerAndKeyFile) {
  const ParsedCommandLine p = Parse({"--server", "example.org:5000", "--key-file=/k"});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.options.server.host, "example.org");
  EXPECT_EQ(p.options.server.port, 5000);
  EXPECT_EQ(p.options.key_file, "/k");
  EXPECT_EQ(Parse({}, "10.1.2.3:99").options.server.port, 99);
  EXPECT_EQ(Parse({"-s", "[::1]:7"}).options.server.host, "::1");
  EXPECT_NE(Parse({"--server", "a:b"}).error, "");
  EXPECT_NE(Parse({"--server"}).error, "");
  EXPECT_NE(Parse({}, "nonsense:").error, "");
}

TEST(CommandLineTest, Endpoints) {
  EXPECT_EQ(ParseEndpoint("host")->port, 4242);
  EXPECT_EQ(ParseEndpoint("[::1]")->host, "::1");
  EXPECT_FALSE(ParseEndpoint("::1:4242"));
  EXPECT_FALSE(ParseEndpoint(":4242"));
  EXPECT_FALSE(ParseEndpoint("h:70000"));
  EXPECT_EQ(EndpointText({"::1", 5}), "[::1]:5");
  EXPECT_EQ(EndpointText({"127.0.0.1", 4242}), "127.0.0.1:4242");
}

TEST(CommandLineTest, SendJoinsWordsOrReadsStdin) {
  ParsedCommandLine p = Parse({"send", "--to", "7", "Bonjour", "tout", "le", "monde"});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.options.mode, Mode::kSend);
  EXPECT_EQ(p.options.to, 7);
  EXPECT_EQ(p.options.text, "Bonjour tout le monde");
  p = Parse({"--json", "send", "--to=7"});
  ASSERT_EQ(p.error, "");
  EXPECT_TRUE(p.options.json);
  EXPECT_FALSE(p.options.text.has_value());
  EXPECT_FALSE(Parse({"send", "--to", "7", "-"}).options.text.has_value());
  EXPECT_EQ(Parse({"send", "--to", "7", "--", "--not-an-option"}).options.text,
            "--not-an-option");
}

TEST(CommandLineTest, HistoryAndUnread) {
  ParsedCommandLine p = Parse({"history", "--with", "7", "--before", "120", "--json"});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.options.mode, Mode::kHistory);
  EXPECT_EQ(p.options.with, 7);
  EXPECT_EQ(p.options.before, 120);
  EXPECT_EQ(Parse({"unread"}).options.mode, Mode::kUnread);
  EXPECT_EQ(Parse({"history"}).options.with, 0);
}

TEST(CommandLineTest, UsageErrors) {
  EXPECT_NE(Parse({"send", "hello"}).error, "");             // no --to
  EXPECT_NE(Parse({"send", "--to", "x", "hi"}).error, "");   // not an id
  EXPECT_NE(Parse({"send", "--to", "0", "hi"}).error, "");
  EXPECT_NE(Parse({"send", "--to", "1", "--to", "2", "hi"}).error, "");
  EXPECT_NE(Parse({"unread", "--to", "3"}).error, "");
  EXPECT_NE(Parse({"unread", "extra"}).error, "");
  EXPECT_NE(Parse({"history", "--with"}).error, "");
  EXPECT_NE(Parse({"frobnicate"}).error, "");
  EXPECT_NE(Parse({"--bogus"}).error, "");
  EXPECT_NE(Parse({"--json"}).error, "");  // interactive has no JSON
  EXPECT_NE(Parse({"--json=yes", "unread"}).error, "");
}

TEST(CommandLineTest, HelpAndVersion) {
  EXPECT_EQ(Parse({"--help"}).options.mode, Mode::kHelp);
  EXPECT_EQ(Parse({"send", "-h"}).options.mode, Mode::kHelp);
  EXPECT_EQ(Parse({"help"}).options.mode, Mode::kHelp);
  EXPECT_EQ(Parse({"--version"}).options.mode, Mode::kVersion);
  EXPECT_NE(UsageText().find("Codes de sortie"), std::string::npos);
}

}  // namespace
}  // namespace tchatator::client
