// Unit tests of the text protocol's request parser (contract section 2.1), written
// from the contract and the parser's documented design, independently of its code.

#include "gateway/request_parser.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/utf8.h"
#include "gateway/commands.h"

namespace tchatator::gateway {
namespace {

using Params = std::map<std::string, std::string>;

// The source is UTF-8: these literals are the bytes a client sends.
static_assert(std::string_view("ç").size() == 2);
static_assert(std::string_view("😀").size() == 4);

// The seed's example, byte for byte: 24 characters, 25 bytes of content.
constexpr std::string_view kSeedText = "Bonjour, comment ça va ?";
constexpr std::string_view kSeedSend =
    "SEND_MSG\n"
    "token:abc\n"
    "recipient-id:42\n"
    "message-length:24\n"
    "content:Bonjour, comment ça va ?\n";

// ---------------------------------------------------------------------------
// Helpers: outcomes are compared through a one-line description, so failures show
// the whole sequence: `LOGIN{api-token="x"}`, `error:unknown-command`,
// `error:request-too-large+close`.

std::string Escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", byte);
      out += hex;
    } else {
      out += c;  // UTF-8 sequences (valid or not) are shown as is
    }
  }
  return out;
}

std::string DescribeRequest(Command command, const Params& params) {
  std::string out(SpecOf(command).name);
  out += '{';
  bool first = true;
  for (const auto& [key, value] : params) {
    if (!first) out += ',';
    first = false;
    out += key + "=\"" + Escape(value) + '"';
  }
  out += '}';
  return out;
}

std::string Describe(const ParseOutcome& outcome) {
  if (std::holds_alternative<NeedMore>(outcome)) return "NeedMore";
  if (const auto* request = std::get_if<Request>(&outcome)) {
    return DescribeRequest(request->command,
                           Params(request->params.begin(), request->params.end()));
  }
  const auto& error = std::get<ParseError>(outcome);
  return "error:" + std::string(error.error) + (error.close ? "+close" : "");
}

// Expected outcomes, in the same notation.
std::string Req(Command command, const Params& params = {}) {
  return DescribeRequest(command, params);
}
std::string Err(std::string_view token) { return "error:" + std::string(token); }
std::string ErrClose(std::string_view token) {
  return "error:" + std::string(token) + "+close";
}

std::string Join(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += items[i];
  }
  return out + "]";
}

// Calls Next until it returns NeedMore (which must leave `input` empty), appending the
// description of every outcome to `out`.
void Drain(RequestParser& parser, std::string_view& input, std::vector<std::string>& out,
           std::string& problem) {
  for (int guard = 0; guard < 10000; ++guard) {
    ParseOutcome outcome = parser.Next(input);
    if (std::holds_alternative<NeedMore>(outcome)) {
      if (!input.empty()) {
        problem = "NeedMore returned with " + std::to_string(input.size()) +
                  " bytes left unconsumed";
      }
      return;
    }
    out.push_back(Describe(outcome));
  }
  problem = "Next never returned NeedMore";
}

// Feeds `chunks` in order to a fresh parser; returns the outcome descriptions.
std::vector<std::string> ParseChunks(const std::vector<std::string_view>& chunks,
                                     ParserLimits limits, std::string& problem) {
  RequestParser parser(limits);
  std::vector<std::string> out;
  for (std::string_view chunk : chunks) {
    Drain(parser, chunk, out, problem);
    if (!problem.empty()) break;
  }
  return out;
}

std::vector<std::string> ParseWhole(std::string_view input, ParserLimits limits = {}) {
  std::string problem;
  std::vector<std::string> out = ParseChunks({input}, limits, problem);
  EXPECT_EQ(problem, "");
  return out;
}

// Checks that `input` yields exactly `expected`, whether it arrives in one piece, one
// byte at a time, or split in two at any point.
::testing::AssertionResult OutcomesAre(std::string_view input,
                                       const std::vector<std::string>& expected,
                                       ParserLimits limits = {}) {
  auto check = [&](const std::vector<std::string_view>& chunks,
                   const std::string& mode) -> ::testing::AssertionResult {
    std::string problem;
    std::vector<std::string> actual = ParseChunks(chunks, limits, problem);
    if (!problem.empty()) {
      return ::testing::AssertionFailure()
             << "input \"" << Escape(input) << "\" fed " << mode << ": " << problem;
    }
    if (actual != expected) {
      return ::testing::AssertionFailure()
             << "input \"" << Escape(input) << "\" fed " << mode << "\n  expected "
             << Join(expected) << "\n  actual   " << Join(actual);
    }
    return ::testing::AssertionSuccess();
  };

  if (auto r = check({input}, "in one piece"); !r) return r;

  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < input.size(); ++i) bytes.push_back(input.substr(i, 1));
  if (auto r = check(bytes, "one byte at a time"); !r) return r;

  if (input.size() <= 400) {
    for (size_t cut = 1; cut < input.size(); ++cut) {
      if (auto r = check({input.substr(0, cut), input.substr(cut)},
                         "split at byte " + std::to_string(cut));
          !r) {
        return r;
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// Feeds `input` in one piece and returns the first outcome that is not NeedMore.
ParseOutcome FirstOutcome(RequestParser& parser, std::string_view input) {
  ParseOutcome outcome = parser.Next(input);
  return outcome;
}

std::string Repeat(char c, size_t n) { return std::string(n, c); }

ParserLimits Limits(size_t max_line_bytes, size_t max_content_chars) {
  ParserLimits limits;
  limits.max_line_bytes = max_line_bytes;
  limits.max_content_chars = max_content_chars;
  return limits;
}

// ---------------------------------------------------------------------------
// Utf8Length (common/utf8.h), which the parser counts content characters with

TEST(Utf8Length, CountsEmptyTextAsZero) { EXPECT_EQ(Utf8Length(""), 0u); }

TEST(Utf8Length, CountsAsciiBytesAsCharacters) {
  EXPECT_EQ(Utf8Length("a"), 1u);
  EXPECT_EQ(Utf8Length("hello, world"), 12u);
  EXPECT_EQ(Utf8Length("line 1\nline 2"), 13u);
  EXPECT_EQ(Utf8Length(std::string_view("a\0b", 3)), 3u);
}

TEST(Utf8Length, CountsEachCodePointOnce) {
  EXPECT_EQ(Utf8Length("ç"), 1u);
  EXPECT_EQ(Utf8Length(kSeedText), 24u);
  EXPECT_EQ(kSeedText.size(), 25u);
  EXPECT_EQ(Utf8Length("😀"), 1u);
  EXPECT_EQ(Utf8Length("a😀b"), 3u);
  EXPECT_EQ(Utf8Length("ça😀!"), 4u);
  EXPECT_EQ(Utf8Length("\xc2\x80"), 1u);          // U+0080, smallest 2-byte
  EXPECT_EQ(Utf8Length("\xdf\xbf"), 1u);          // U+07FF
  EXPECT_EQ(Utf8Length("\xe0\xa0\x80"), 1u);      // U+0800, smallest 3-byte
  EXPECT_EQ(Utf8Length("\xef\xbf\xbf"), 1u);      // U+FFFF
  EXPECT_EQ(Utf8Length("\xf0\x90\x80\x80"), 1u);  // U+10000, smallest 4-byte
  EXPECT_EQ(Utf8Length("\xf4\x8f\xbf\xbf"), 1u);  // U+10FFFF, the largest
  EXPECT_EQ(Utf8Length("\xe2\x82\xac"), 1u);      // €
}

TEST(Utf8Length, RejectsInvalidUtf8) {
  const std::vector<std::string_view> invalid = {
      "\xff",                      // never valid
      "\xfe",                      // never valid
      "\x80",                      // lone continuation byte
      "a\x80z",                    // continuation byte after ASCII
      "\xc3",                      // truncated 2-byte sequence
      "abc\xc3",                   // truncated at the end
      "\xe2\x82",                  // truncated 3-byte sequence
      "\xf0\x9f\x98",              // truncated 4-byte sequence
      "\xc3\x28",                  // bad continuation byte
      "\xe2\x28\xa1",              // bad continuation byte
      "\xc0\xaf",                  // overlong '/'
      "\xc1\xbf",                  // overlong
      "\xe0\x80\xaf",              // overlong 3-byte
      "\xf0\x80\x80\xaf",          // overlong 4-byte
      "\xed\xa0\x80",              // UTF-16 surrogate U+D800
      "\xed\xbf\xbf",              // UTF-16 surrogate U+DFFF
      "\xf4\x90\x80\x80",          // U+110000, past the last code point
      "\xf5\x80\x80\x80",          // lead byte past U+10FFFF
      "\xf8\x88\x80\x80\x80",      // 5-byte form
  };
  for (std::string_view text : invalid) {
    EXPECT_EQ(Utf8Length(text), std::nullopt) << "\"" << Escape(text) << "\"";
  }
}

// ---------------------------------------------------------------------------
// The seed's examples

TEST(RequestParser, ParsesSeedSendMsgCountingCharacters) {
  EXPECT_TRUE(OutcomesAre(kSeedSend, {Req(Command::kSendMsg,
                                          {{"token", "abc"},
                                           {"recipient-id", "42"},
                                           {"message-length", "24"},
                                           {"content", std::string(kSeedText)}})}));
}

TEST(RequestParser, ParsesSeedSendMsgCountingBytes) {
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:abc\nrecipient-id:42\nmessage-length:25\n"
      "content:Bonjour, comment ça va ?\n",
      {Req(Command::kSendMsg, {{"token", "abc"},
                               {"recipient-id", "42"},
                               {"message-length", "25"},
                               {"content", std::string(kSeedText)}})}));
}

TEST(RequestParser, ReturnsRequestWithCommandAndCanonicalParams) {
  RequestParser parser;
  std::string_view input = kSeedSend;
  ParseOutcome outcome = parser.Next(input);
  ASSERT_TRUE(std::holds_alternative<Request>(outcome)) << Describe(outcome);
  const Request& request = std::get<Request>(outcome);
  EXPECT_EQ(request.command, Command::kSendMsg);
  EXPECT_EQ(request.params.size(), 4u);
  ASSERT_NE(request.Find("content"), nullptr);
  EXPECT_EQ(*request.Find("content"), kSeedText);
  ASSERT_NE(request.Find("recipient-id"), nullptr);
  EXPECT_EQ(*request.Find("recipient-id"), "42");
  EXPECT_EQ(request.Find("receiver-id"), nullptr);
  EXPECT_EQ(request.Find("nope"), nullptr);
  EXPECT_TRUE(input.empty());
  EXPECT_FALSE(parser.InRequest());
}

TEST(RequestParser, ParsesSeedLogin) {
  EXPECT_TRUE(OutcomesAre("LOGIN\napi-token:abc123\n",
                          {Req(Command::kLogin, {{"api-token", "abc123"}})}));
}

// ---------------------------------------------------------------------------
// Framing

TEST(RequestParser, ReturnsNeedMoreOnEmptyInput) {
  RequestParser parser;
  std::string_view input;
  EXPECT_TRUE(std::holds_alternative<NeedMore>(parser.Next(input)));
  EXPECT_FALSE(parser.InRequest());
}

TEST(RequestParser, CompletesRequestWhenAllParametersArePresent) {
  // No blank line needed once every parameter (required and optional) is there.
  EXPECT_TRUE(OutcomesAre("LOGIN\napi-token:x\n",
                          {Req(Command::kLogin, {{"api-token", "x"}})}));
  EXPECT_TRUE(OutcomesAre("DEL_MSG\ntoken:t\nmessage-id:9\n",
                          {Req(Command::kDelMsg, {{"token", "t"}, {"message-id", "9"}})}));
  EXPECT_TRUE(OutcomesAre(
      "GET_HISTORY\ntoken:t\nuser-id:3\nbefore-id:100\n",
      {Req(Command::kGetHistory,
           {{"token", "t"}, {"user-id", "3"}, {"before-id", "100"}})}));
  EXPECT_TRUE(OutcomesAre(
      "BLOCK_USER\ntoken:t\nuser-id:3\nduration-hours:24\n",
      {Req(Command::kBlockUser,
           {{"token", "t"}, {"user-id", "3"}, {"duration-hours", "24"}})}));
}

TEST(RequestParser, CompletesParameterlessCommandsAtTheirCommandLine) {
  EXPECT_TRUE(OutcomesAre("PING\n", {Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre("DISCONNECTED\n", {Req(Command::kDisconnected)}));

  RequestParser parser;
  std::string_view input = "PING\n";
  EXPECT_EQ(Describe(parser.Next(input)), Req(Command::kPing));
  EXPECT_FALSE(parser.InRequest());
}

TEST(RequestParser, WaitsForEmptyLineWhenOptionalParameterIsOmitted) {
  RequestParser parser;
  std::string_view input = "GET_HISTORY\ntoken:t\n";
  EXPECT_EQ(Describe(parser.Next(input)), "NeedMore");
  EXPECT_TRUE(input.empty());
  EXPECT_TRUE(parser.InRequest());

  input = "\n";
  EXPECT_EQ(Describe(parser.Next(input)),
            Req(Command::kGetHistory, {{"token", "t"}}));
  EXPECT_FALSE(parser.InRequest());

  EXPECT_TRUE(OutcomesAre("GET_HISTORY\ntoken:t\nuser-id:3\n\n",
                          {Req(Command::kGetHistory, {{"token", "t"}, {"user-id", "3"}})}));
  EXPECT_TRUE(OutcomesAre("BLOCK_USER\ntoken:t\nuser-id:3\n\n",
                          {Req(Command::kBlockUser, {{"token", "t"}, {"user-id", "3"}})}));
  EXPECT_TRUE(OutcomesAre(
      "UPDT_MSG\ntoken:t\nmessage-id:4\ncontent:hi\n",
      {Req(Command::kUpdtMsg, {{"token", "t"}, {"message-id", "4"}, {"content", "hi"}})}));
}

TEST(RequestParser, EmptyLineEndsRequestEvenWhenNotNeeded) {
  // An empty line after a complete request is just an ignored empty line.
  EXPECT_TRUE(OutcomesAre("LOGIN\napi-token:x\n\nPING\n\n",
                          {Req(Command::kLogin, {{"api-token", "x"}}),
                           Req(Command::kPing)}));
}

TEST(RequestParser, ConsumesInputOnlyUpToTheEndOfEachOutcome) {
  RequestParser parser;
  std::string_view input = "PING\nLOGIN\napi-token:x\nPING\n";
  EXPECT_EQ(Describe(parser.Next(input)), Req(Command::kPing));
  EXPECT_EQ(input, "LOGIN\napi-token:x\nPING\n");
  EXPECT_EQ(Describe(parser.Next(input)), Req(Command::kLogin, {{"api-token", "x"}}));
  EXPECT_EQ(input, "PING\n");
  EXPECT_EQ(Describe(parser.Next(input)), Req(Command::kPing));
  EXPECT_EQ(input, "");
  EXPECT_EQ(Describe(parser.Next(input)), "NeedMore");

  input = "UPDT_MSG\ntoken:t\nmessage-id:1\nmessage-length:2\ncontent:hi\nPING\n";
  EXPECT_EQ(Describe(parser.Next(input)),
            Req(Command::kUpdtMsg, {{"token", "t"},
                                    {"message-id", "1"},
                                    {"message-length", "2"},
                                    {"content", "hi"}}));
  EXPECT_EQ(input, "PING\n");
}

TEST(RequestParser, ParsesRequestFedOneByteAtATime) {
  RequestParser parser;
  const std::string_view whole = kSeedSend;
  for (size_t i = 0; i + 1 < whole.size(); ++i) {
    std::string_view byte = whole.substr(i, 1);
    ParseOutcome outcome = parser.Next(byte);
    ASSERT_TRUE(std::holds_alternative<NeedMore>(outcome))
        << "after byte " << i << ": " << Describe(outcome);
    EXPECT_TRUE(byte.empty()) << "byte " << i << " not consumed";
    EXPECT_TRUE(parser.InRequest()) << "after byte " << i;
  }
  std::string_view last = whole.substr(whole.size() - 1);
  EXPECT_EQ(Describe(parser.Next(last)),
            Req(Command::kSendMsg, {{"token", "abc"},
                                    {"recipient-id", "42"},
                                    {"message-length", "24"},
                                    {"content", std::string(kSeedText)}}));
  EXPECT_TRUE(last.empty());
  EXPECT_FALSE(parser.InRequest());
}

TEST(RequestParser, ParsesThreePipelinedRequestsInOneBuffer) {
  const std::string input = "LOGIN\napi-token:key-1\n" + std::string(kSeedSend) +
                            "GET_HISTORY\ntoken:abc\nuser-id:42\n\n";
  EXPECT_TRUE(OutcomesAre(
      input, {Req(Command::kLogin, {{"api-token", "key-1"}}),
              Req(Command::kSendMsg, {{"token", "abc"},
                                      {"recipient-id", "42"},
                                      {"message-length", "24"},
                                      {"content", std::string(kSeedText)}}),
              Req(Command::kGetHistory, {{"token", "abc"}, {"user-id", "42"}})}));

  RequestParser parser;
  std::string_view view = input;
  EXPECT_EQ(Describe(parser.Next(view)), Req(Command::kLogin, {{"api-token", "key-1"}}));
  EXPECT_EQ(view.substr(0, 9), "SEND_MSG\n");
  EXPECT_TRUE(std::holds_alternative<Request>(parser.Next(view)));
  EXPECT_EQ(view, "GET_HISTORY\ntoken:abc\nuser-id:42\n\n");
  EXPECT_TRUE(std::holds_alternative<Request>(parser.Next(view)));
  EXPECT_TRUE(view.empty());
}

TEST(RequestParser, IgnoresEmptyLinesBetweenRequests) {
  EXPECT_TRUE(OutcomesAre("\n\n\r\nPING\n\n\r\n\nPING\n\n",
                          {Req(Command::kPing), Req(Command::kPing)}));

  RequestParser parser;
  std::string_view input = "\n\r\n\n";
  EXPECT_EQ(Describe(parser.Next(input)), "NeedMore");
  EXPECT_TRUE(input.empty());
  EXPECT_FALSE(parser.InRequest());
}

TEST(RequestParser, AcceptsCrlfEverywhere) {
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\r\ntoken:abc\r\nrecipient-id:42\r\nmessage-length:24\r\n"
      "content:Bonjour, comment ça va ?\r\n",
      {Req(Command::kSendMsg, {{"token", "abc"},
                               {"recipient-id", "42"},
                               {"message-length", "24"},
                               {"content", std::string(kSeedText)}})}));
  EXPECT_TRUE(OutcomesAre("LOGIN\r\napi-token:x\r\nPING\r\n",
                          {Req(Command::kLogin, {{"api-token", "x"}}),
                           Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre("\r\nGET_HISTORY\r\ntoken:t\r\n\r\n\r\n",
                          {Req(Command::kGetHistory, {{"token", "t"}})}));
  // "\r\n" inside content is one newline, stored as '\n'.
  EXPECT_TRUE(OutcomesAre(
      "UPDT_MSG\r\ntoken:t\r\nmessage-id:1\r\nmessage-length:15\r\n"
      "content:ligne 1\r\nligne 2\r\n",
      {Req(Command::kUpdtMsg, {{"token", "t"},
                               {"message-id", "1"},
                               {"message-length", "15"},
                               {"content", "ligne 1\nligne 2"}})}));
  // Mixed line endings.
  EXPECT_TRUE(OutcomesAre(
      "UPDT_MSG\ntoken:t\r\nmessage-id:1\nmessage-length:15\r\n"
      "content:ligne 1\r\nligne 2\n",
      {Req(Command::kUpdtMsg, {{"token", "t"},
                               {"message-id", "1"},
                               {"message-length", "15"},
                               {"content", "ligne 1\nligne 2"}})}));
}

TEST(RequestParser, RemovesOnlyTheTrailingCarriageReturn) {
  EXPECT_TRUE(OutcomesAre("LOGIN\napi-token:a\rb\r\n",
                          {Req(Command::kLogin, {{"api-token", "a\rb"}})}));
}

// ---------------------------------------------------------------------------
// Parameters

TEST(RequestParser, AcceptsParametersInAnyOrder) {
  const std::string expected = Req(Command::kSendMsg, {{"token", "abc"},
                                                       {"recipient-id", "42"},
                                                       {"message-length", "5"},
                                                       {"content", "hello"}});
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\nmessage-length:5\nrecipient-id:42\ntoken:abc\ncontent:hello\n",
      {expected}));
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\nrecipient-id:42\nmessage-length:5\ntoken:abc\ncontent:hello\n",
      {expected}));
  EXPECT_TRUE(OutcomesAre("DEL_MSG\nmessage-id:9\ntoken:t\n",
                          {Req(Command::kDelMsg, {{"token", "t"}, {"message-id", "9"}})}));
  EXPECT_TRUE(OutcomesAre(
      "GET_HISTORY\nbefore-id:100\nuser-id:3\ntoken:t\n",
      {Req(Command::kGetHistory,
           {{"token", "t"}, {"user-id", "3"}, {"before-id", "100"}})}));
}

TEST(RequestParser, AcceptsReceiverIdAsRecipientId) {
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:abc\nreceiver-id:42\nmessage-length:24\n"
      "content:Bonjour, comment ça va ?\n",
      {Req(Command::kSendMsg, {{"token", "abc"},
                               {"recipient-id", "42"},
                               {"message-length", "24"},
                               {"content", std::string(kSeedText)}})}));
}

TEST(RequestParser, KeepsValuesExactlyAsSent) {
  // Key is up to the first ':'; the value may contain ':' and keeps its spaces.
  EXPECT_TRUE(OutcomesAre("LOGIN\napi-token: a:b::c \n",
                          {Req(Command::kLogin, {{"api-token", " a:b::c "}})}));
  EXPECT_TRUE(OutcomesAre("LOGIN\napi-token::\n",
                          {Req(Command::kLogin, {{"api-token", ":"}})}));
  EXPECT_TRUE(OutcomesAre("LOGIN\napi-token:héllo 😀\n",
                          {Req(Command::kLogin, {{"api-token", "héllo 😀"}})}));
}

TEST(RequestParser, DoesNotTrimKeys) {
  EXPECT_TRUE(OutcomesAre("LOGIN\n api-token:x\napi-token:y\n",
                          {Err("unknown-parameter")}));
  EXPECT_TRUE(OutcomesAre("LOGIN\napi-token :x\napi-token:y\n",
                          {Err("unknown-parameter")}));
}

TEST(RequestParser, ReportsUnknownParameterAfterTheRequestEnds) {
  // The example of the design: the request is framed to the end of its content.
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\nrecipient-id:5\ncolour:blue\nmessage-length:2\ncontent:hi\n"
      "\nPING\n",
      {Err("unknown-parameter"), Req(Command::kPing)}));
  // Ends when every parameter is present.
  EXPECT_TRUE(OutcomesAre("LOGIN\ncolour:blue\napi-token:x\nPING\n",
                          {Err("unknown-parameter"), Req(Command::kPing)}));
  // Ends at the empty line.
  EXPECT_TRUE(OutcomesAre("GET_UNREAD\nuser-id:3\ntoken:t\n",
                          {Err("unknown-parameter")}));
  EXPECT_TRUE(OutcomesAre("GET_HISTORY\ntoken:t\nlimit:3\n\nPING\n",
                          {Err("unknown-parameter"), Req(Command::kPing)}));
  // An empty key is unknown too.
  EXPECT_TRUE(OutcomesAre("GET_HISTORY\ntoken:t\n:3\n\n", {Err("unknown-parameter")}));
}

TEST(RequestParser, TreatsParametersOfOtherCommandsAsUnknown) {
  // `content` and `message-length` belong to other commands: LOGIN does not end at
  // them.
  EXPECT_TRUE(OutcomesAre("LOGIN\ncontent:hello\napi-token:x\nPING\n",
                          {Err("unknown-parameter"), Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre("LOGIN\nmessage-length:5\napi-token:x\nPING\n",
                          {Err("unknown-parameter"), Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre("PING\ntoken:t\n\nPING\n",
                          {Req(Command::kPing), Err("unknown-command"),
                           Req(Command::kPing)}));
}

TEST(RequestParser, ReportsDuplicateParameter) {
  EXPECT_TRUE(OutcomesAre("GET_HISTORY\ntoken:a\ntoken:b\n\nPING\n",
                          {Err("duplicate-parameter"), Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\ntoken:t\nrecipient-id:5\nmessage-length:2\ncontent:hi\nPING\n",
      {Err("duplicate-parameter"), Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\nmessage-length:2\nmessage-length:2\nrecipient-id:5\n"
      "content:hi\nPING\n",
      {Err("duplicate-parameter"), Req(Command::kPing)}));
}

TEST(RequestParser, ReportsAliasAndCanonicalKeyAsDuplicate) {
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\nrecipient-id:5\nreceiver-id:6\nmessage-length:2\ncontent:hi\n"
      "PING\n",
      {Err("duplicate-parameter"), Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\nreceiver-id:6\nrecipient-id:5\nmessage-length:2\ncontent:hi\n"
      "PING\n",
      {Err("duplicate-parameter"), Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\nreceiver-id:6\nreceiver-id:6\nmessage-length:2\ncontent:hi\n"
      "PING\n",
      {Err("duplicate-parameter"), Req(Command::kPing)}));
}

TEST(RequestParser, RepeatedParameterAfterCompleteRequestStartsNoRequest) {
  // LOGIN is complete at its api-token; the second one is a parameter line outside
  // any request.
  EXPECT_TRUE(OutcomesAre("LOGIN\napi-token:a\napi-token:b\n\nPING\n",
                          {Req(Command::kLogin, {{"api-token", "a"}}),
                           Err("unknown-command"), Req(Command::kPing)}));
}

TEST(RequestParser, ReportsTheFirstErrorOfTheRequest) {
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ncolour:x\ntoken:a\ntoken:b\nrecipient-id:5\nmessage-length:2\n"
      "content:hi\nPING\n",
      {Err("unknown-parameter"), Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:a\ntoken:b\ncolour:x\nrecipient-id:5\nmessage-length:2\n"
      "content:hi\nPING\n",
      {Err("duplicate-parameter"), Req(Command::kPing)}));
  // An earlier error wins over missing parameters at the end.
  EXPECT_TRUE(OutcomesAre("DEL_MSG\ncolour:x\ntoken:t\n\nPING\n",
                          {Err("unknown-parameter"), Req(Command::kPing)}));
}

TEST(RequestParser, RecordsBadMessageLengthWhenItsLineArrives) {
  // The bad message-length comes before the unknown parameter: it is the first error.
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\nmessage-length:abc\ncolour:x\ntoken:t\nrecipient-id:5\ncontent:hi\n"
      "PING\n",
      {Err("bad-value"), Req(Command::kPing)}));
  // ... and before the missing content.
  EXPECT_TRUE(OutcomesAre(
      "UPDT_MSG\ntoken:t\nmessage-id:1\nmessage-length:-1\n\nPING\n",
      {Err("bad-value"), Req(Command::kPing)}));
}

TEST(RequestParser, ReportsMissingParameterAtTheEndOfTheRequest) {
  EXPECT_TRUE(OutcomesAre("LOGIN\n\nPING\n",
                          {Err("missing-parameter"), Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre("DEL_MSG\ntoken:t\n\nPING\n",
                          {Err("missing-parameter"), Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre("GET_HISTORY\nuser-id:3\n\n", {Err("missing-parameter")}));
  // No content.
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\nrecipient-id:5\nmessage-length:2\n\nPING\n",
      {Err("missing-parameter"), Req(Command::kPing)}));
  // SEND_MSG requires message-length: without it, the content is the rest of its line
  // and ends the request.
  EXPECT_TRUE(OutcomesAre("SEND_MSG\ntoken:t\nrecipient-id:5\ncontent:hi\nPING\n",
                          {Err("missing-parameter"), Req(Command::kPing)}));
}

TEST(RequestParser, NamesTheCommandOfAnErrorAndOfTheRequestUnderWayForTheLogs) {
  RequestParser parser(ParserLimits{.max_line_bytes = 256, .max_content_chars = 100});
  std::string_view input =
      "SEND_MSG\ntoken:t\n\nBOGUS\n\nUPDT_MSG\ntoken:t\nmessage-id:1\nmessage-length:-1\n\n"
      "PING\nfoo:bar\n";
  std::vector<std::string> seen;
  for (ParseOutcome outcome = parser.Next(input); !std::holds_alternative<NeedMore>(outcome);
       outcome = parser.Next(input)) {
    if (const auto* error = std::get_if<ParseError>(&outcome)) {
      seen.push_back(std::string(error->error) + "/" + std::string(error->command));
    } else {
      seen.push_back(Describe(outcome));
    }
  }
  EXPECT_EQ(Join(seen), Join({"missing-parameter/SEND_MSG", "unknown-command/-",
                              "bad-value/UPDT_MSG", "PING{}", "unknown-command/-"}));

  EXPECT_EQ(parser.CurrentCommand(), "-");
  input = "UPDT_MSG\ntoken:t\n";
  ASSERT_TRUE(std::holds_alternative<NeedMore>(parser.Next(input)));
  EXPECT_EQ(parser.CurrentCommand(), "UPDT_MSG");
  parser.Reset();
  EXPECT_EQ(parser.CurrentCommand(), "-");
  input = "SEND_MSG\ntoken:t\nrecipient-id:1\nmessage-length:10\ncontent:abc\n";
  ASSERT_TRUE(std::holds_alternative<NeedMore>(parser.Next(input)));
  EXPECT_EQ(parser.CurrentCommand(), "SEND_MSG");  // inside its content
  parser.Reset();
  input = "DEL_M";  // a command line not yet ended names nothing
  ASSERT_TRUE(std::holds_alternative<NeedMore>(parser.Next(input)));
  EXPECT_EQ(parser.CurrentCommand(), "-");
  parser.Reset();
  const std::string long_key = "LOGIN\napi-token:" + std::string(300, 'k') + "\n";
  input = long_key;
  const ParseOutcome too_long = parser.Next(input);
  ASSERT_TRUE(std::holds_alternative<ParseError>(too_long)) << Describe(too_long);
  EXPECT_EQ(std::get<ParseError>(too_long).error, "request-too-large");
  EXPECT_EQ(std::get<ParseError>(too_long).command, "LOGIN");
}

TEST(RequestParser, ContentEndsTheRequestEvenBeforeOtherParameters) {
  // `content` is last: what follows it is outside the request.
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\nmessage-length:2\ncontent:hi\ntoken:t\nrecipient-id:5\n\nPING\n",
      {Err("missing-parameter"), Err("unknown-command"), Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre(
      "UPDT_MSG\ntoken:t\nmessage-id:1\ncontent:hi\nmessage-length:2\n\nPING\n",
      {Req(Command::kUpdtMsg, {{"token", "t"}, {"message-id", "1"}, {"content", "hi"}}),
       Err("unknown-command"), Req(Command::kPing)}));
}

TEST(RequestParser, LineWithoutColonEndsRequestAndStartsTheNextOne) {
  EXPECT_TRUE(OutcomesAre("LOGIN\nPING\n",
                          {Err("missing-parameter"), Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre("DEL_MSG\ntoken:t\nLOGIN\napi-token:x\n",
                          {Err("missing-parameter"),
                           Req(Command::kLogin, {{"api-token", "x"}})}));
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:abc\nrecipient-id:42\n" + std::string(kSeedSend),
      {Err("missing-parameter"), Req(Command::kSendMsg,
                                     {{"token", "abc"},
                                      {"recipient-id", "42"},
                                      {"message-length", "24"},
                                      {"content", std::string(kSeedText)}})}));
  // The new line may itself be an unknown command.
  EXPECT_TRUE(OutcomesAre("LOGIN\nHELLO\nfoo:bar\n\nPING\n",
                          {Err("missing-parameter"), Err("unknown-command"),
                           Req(Command::kPing)}));
  // An earlier error of the interrupted request is reported instead.
  EXPECT_TRUE(OutcomesAre("DEL_MSG\ncolour:x\nPING\n",
                          {Err("unknown-parameter"), Req(Command::kPing)}));
}

TEST(RequestParser, LineWithoutColonEndsRequestMissingOnlyOptionalParameters) {
  // Contract 2.1: a line without ':' inside an unfinished request is answered
  // missing-parameter, even if only optional parameters were still to come.
  EXPECT_TRUE(OutcomesAre("GET_HISTORY\ntoken:t\nPING\n",
                          {Err("missing-parameter"), Req(Command::kPing)}));
}

TEST(RequestParser, IsInRequestWhileTheLineThatEndedARequestIsPending) {
  // The line "DEL_MSG" that ended LOGIN has been received but not yet returned as the
  // start of a request: a request has begun (header: "its command line ... was
  // received") and the request timeout must watch it.
  RequestParser parser;
  std::string_view input = "LOGIN\nDEL_MSG\n";
  EXPECT_EQ(Describe(parser.Next(input)), Err("missing-parameter"));
  EXPECT_TRUE(input.empty());
  EXPECT_TRUE(parser.InRequest());
  EXPECT_EQ(Describe(parser.Next(input)), "NeedMore");
  EXPECT_TRUE(parser.InRequest());

  // Likewise for a line that is a whole request by itself, not yet returned.
  RequestParser ping_parser;
  input = "LOGIN\nPING\n";
  EXPECT_EQ(Describe(ping_parser.Next(input)), Err("missing-parameter"));
  EXPECT_TRUE(ping_parser.InRequest());
  EXPECT_EQ(Describe(ping_parser.Next(input)), Req(Command::kPing));
  EXPECT_FALSE(ping_parser.InRequest());
}

TEST(RequestParser, ReturnsTheRestartedRequestOnTheNextCall) {
  // The line that ended a request is read again even if no more bytes arrive.
  RequestParser parser;
  std::string_view input = "LOGIN\nPING\n";
  EXPECT_EQ(Describe(parser.Next(input)), Err("missing-parameter"));
  EXPECT_EQ(Describe(parser.Next(input)), Req(Command::kPing));
  EXPECT_TRUE(input.empty());
  EXPECT_EQ(Describe(parser.Next(input)), "NeedMore");
  EXPECT_FALSE(parser.InRequest());
}

// ---------------------------------------------------------------------------
// Unknown commands

TEST(RequestParser, ReportsUnknownCommandOnceAndDiscardsItsParameters) {
  EXPECT_TRUE(OutcomesAre("HELLO\nfoo:bar\ntoken:t\napi-token:x\n\nPING\n",
                          {Err("unknown-command"), Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre("HELLO\nfoo:bar\n\nLOGIN\napi-token:x\n",
                          {Err("unknown-command"),
                           Req(Command::kLogin, {{"api-token", "x"}})}));
  // Discarding also ends at a command line.
  EXPECT_TRUE(OutcomesAre("HELLO\nfoo:bar\nPING\n",
                          {Err("unknown-command"), Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre("HELLO\nWORLD\nPING\n",
                          {Err("unknown-command"), Err("unknown-command"),
                           Req(Command::kPing)}));
  // Discarded lines can look like content: they are not framed.
  EXPECT_TRUE(OutcomesAre("HELLO\nmessage-length:20\ncontent:x\nPING\n",
                          {Err("unknown-command"), Req(Command::kPing)}));
}

TEST(RequestParser, ReportsUnknownCommandAsSoonAsItsLineEnds) {
  RequestParser parser;
  std::string_view input = "HELLO\n";
  EXPECT_EQ(Describe(parser.Next(input)), Err("unknown-command"));
  EXPECT_TRUE(input.empty());
  input = "foo:bar\n";
  EXPECT_EQ(Describe(parser.Next(input)), "NeedMore");
  input = "\nPING\n";
  EXPECT_EQ(Describe(parser.Next(input)), Req(Command::kPing));
}

TEST(RequestParser, MatchesCommandNamesExactly) {
  EXPECT_TRUE(OutcomesAre("login\napi-token:x\n\nPING\n",
                          {Err("unknown-command"), Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre("PING \n", {Err("unknown-command")}));
  EXPECT_TRUE(OutcomesAre(" PING\n", {Err("unknown-command")}));
  EXPECT_TRUE(OutcomesAre("PINGPING\n", {Err("unknown-command")}));
  EXPECT_TRUE(OutcomesAre("SEND_MSG_\n\n", {Err("unknown-command")}));
}

TEST(RequestParser, ReportsParameterLineOutsideARequestAsUnknownCommand) {
  EXPECT_TRUE(OutcomesAre("token:abc\nrecipient-id:5\n\nPING\n",
                          {Err("unknown-command"), Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre("api-token:x\nPING\n",
                          {Err("unknown-command"), Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre(":\n\n", {Err("unknown-command")}));
}

TEST(RequestParser, ParsesEveryCommand) {
  const std::vector<std::string_view> names = {
      "LOGIN",        "SEND_MSG",   "UPDT_MSG",          "DEL_MSG",
      "DISCONNECTED", "GET_UNREAD", "GET_HISTORY",       "GET_CONVERSATIONS",
      "USER_INFO",    "BLOCK_USER", "UNBLOCK_USER",      "BAN_USER",
      "UNBAN_USER",   "SUBSCRIBE",  "NEW_CHG_AVAILABLE", "PING"};
  for (std::string_view name : names) {
    const CommandSpec* spec = FindCommand(name);
    ASSERT_NE(spec, nullptr) << name;
    std::string input = std::string(name) + "\n";
    Params params;
    for (std::string_view key : spec->required) {
      if (key == "content") continue;
      const std::string value = key == "message-length" ? "2" : "v-" + std::string(key);
      input += std::string(key) + ":" + value + "\n";
      params[std::string(key)] = value;
    }
    if (spec->has_content) {
      input += "content:hi\n";
      params["content"] = "hi";
    } else if (!spec->optional.empty()) {
      input += "\n";
    }
    input += "PING\n";
    EXPECT_TRUE(OutcomesAre(input, {Req(spec->command, params), Req(Command::kPing)}))
        << name;
  }
}

// ---------------------------------------------------------------------------
// Content

TEST(RequestParser, TakesContentWithoutMessageLengthAsTheRestOfItsLine) {
  EXPECT_TRUE(OutcomesAre(
      "UPDT_MSG\ntoken:t\nmessage-id:1\ncontent:hello world \nPING\n",
      {Req(Command::kUpdtMsg,
           {{"token", "t"}, {"message-id", "1"}, {"content", "hello world "}}),
       Req(Command::kPing)}));
}

TEST(RequestParser, KeepsColonsInContent) {
  EXPECT_TRUE(OutcomesAre(
      "UPDT_MSG\ntoken:t\nmessage-id:1\ncontent:rdv: 12:30 \n",
      {Req(Command::kUpdtMsg,
           {{"token", "t"}, {"message-id", "1"}, {"content", "rdv: 12:30 "}})}));
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\nrecipient-id:5\nmessage-length:15\n"
      "content:a:b\ntoken:x\nc:d\n",
      {Req(Command::kSendMsg, {{"token", "t"},
                               {"recipient-id", "5"},
                               {"message-length", "15"},
                               {"content", "a:b\ntoken:x\nc:d"}})}));
}

TEST(RequestParser, ReadsMultiLineContent) {
  EXPECT_TRUE(OutcomesAre(
      "UPDT_MSG\ntoken:t\nmessage-id:1\nmessage-length:15\ncontent:ligne 1\nligne 2\n"
      "PING\n",
      {Req(Command::kUpdtMsg, {{"token", "t"},
                               {"message-id", "1"},
                               {"message-length", "15"},
                               {"content", "ligne 1\nligne 2"}}),
       Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\nrecipient-id:5\nmessage-length:11\ncontent:a\nb\nc\nd\ne\nf\n",
      {Req(Command::kSendMsg, {{"token", "t"},
                               {"recipient-id", "5"},
                               {"message-length", "11"},
                               {"content", "a\nb\nc\nd\ne\nf"}})}));
}

TEST(RequestParser, ReadsContentEndingWithANewline) {
  // "ligne 1\n" is 8 characters: its last line is empty.
  EXPECT_TRUE(OutcomesAre(
      "UPDT_MSG\ntoken:t\nmessage-id:1\nmessage-length:8\ncontent:ligne 1\n\nPING\n",
      {Req(Command::kUpdtMsg, {{"token", "t"},
                               {"message-id", "1"},
                               {"message-length", "8"},
                               {"content", "ligne 1\n"}}),
       Req(Command::kPing)}));
}

TEST(RequestParser, KeepsEmptyLinesAndCommandsInsideContent) {
  // "hi\n\nPING\nx" is 10 characters: the empty line and PING belong to it.
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\nrecipient-id:5\nmessage-length:10\ncontent:hi\n\nPING\nx\n"
      "PING\n",
      {Req(Command::kSendMsg, {{"token", "t"},
                               {"recipient-id", "5"},
                               {"message-length", "10"},
                               {"content", "hi\n\nPING\nx"}}),
       Req(Command::kPing)}));

  RequestParser parser;
  std::string_view input =
      "SEND_MSG\ntoken:t\nrecipient-id:5\nmessage-length:10\ncontent:hi\n\n";
  EXPECT_EQ(Describe(parser.Next(input)), "NeedMore");
  EXPECT_TRUE(parser.InRequest());
}

TEST(RequestParser, CountsCedillaAndEmojiAsOneCharacter) {
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\nrecipient-id:5\nmessage-length:3\ncontent:a😀b\nPING\n",
      {Req(Command::kSendMsg, {{"token", "t"},
                               {"recipient-id", "5"},
                               {"message-length", "3"},
                               {"content", "a😀b"}}),
       Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\nrecipient-id:5\nmessage-length:1\ncontent:😀\nPING\n",
      {Req(Command::kSendMsg, {{"token", "t"},
                               {"recipient-id", "5"},
                               {"message-length", "1"},
                               {"content", "😀"}}),
       Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\nrecipient-id:5\nmessage-length:4\ncontent:ça😀!\nPING\n",
      {Req(Command::kSendMsg, {{"token", "t"},
                               {"recipient-id", "5"},
                               {"message-length", "4"},
                               {"content", "ça😀!"}}),
       Req(Command::kPing)}));
  // Across lines: "çà\n😀😀" is 5 characters, 13 bytes.
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\nrecipient-id:5\nmessage-length:5\ncontent:çà\n😀😀\nPING\n",
      {Req(Command::kSendMsg, {{"token", "t"},
                               {"recipient-id", "5"},
                               {"message-length", "5"},
                               {"content", "çà\n😀😀"}}),
       Req(Command::kPing)}));
}

TEST(RequestParser, AcceptsAFirstLineOfExactlyNBytes) {
  // "ça va" is 5 characters and 6 bytes: with N=6 it is the whole content (it does not
  // wait for one more character).
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\nrecipient-id:5\nmessage-length:6\ncontent:ça va\nPING\n",
      {Req(Command::kSendMsg, {{"token", "t"},
                               {"recipient-id", "5"},
                               {"message-length", "6"},
                               {"content", "ça va"}}),
       Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\nrecipient-id:5\nmessage-length:6\ncontent:a😀b\nPING\n",
      {Req(Command::kSendMsg, {{"token", "t"},
                               {"recipient-id", "5"},
                               {"message-length", "6"},
                               {"content", "a😀b"}}),
       Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\nrecipient-id:5\nmessage-length:6\ncontent:a😀b\r\nPING\r\n",
      {Req(Command::kSendMsg, {{"token", "t"},
                               {"recipient-id", "5"},
                               {"message-length", "6"},
                               {"content", "a😀b"}}),
       Req(Command::kPing)}));
}

TEST(RequestParser, AcceptsMessageLengthZero) {
  EXPECT_TRUE(OutcomesAre(
      "UPDT_MSG\ntoken:t\nmessage-id:1\nmessage-length:0\ncontent:\nPING\n",
      {Req(Command::kUpdtMsg, {{"token", "t"},
                               {"message-id", "1"},
                               {"message-length", "0"},
                               {"content", ""}}),
       Req(Command::kPing)}));
}

TEST(RequestParser, AcceptsMessageLengthWithLeadingZeros) {
  EXPECT_TRUE(OutcomesAre(
      "UPDT_MSG\ntoken:t\nmessage-id:1\nmessage-length:005\ncontent:hello\nPING\n",
      {Req(Command::kUpdtMsg, {{"token", "t"},
                               {"message-id", "1"},
                               {"message-length", "005"},
                               {"content", "hello"}}),
       Req(Command::kPing)}));
}

TEST(RequestParser, ReportsBadMessageLengthAndTakesContentAsItsLine) {
  for (std::string_view value :
       {"abc", "-1", "12a", "", " 5", "5 ", "1.5", "0x10", "five"}) {
    const std::string input = "SEND_MSG\ntoken:t\nrecipient-id:5\nmessage-length:" +
                              std::string(value) + "\ncontent:hello world\nPING\n";
    EXPECT_TRUE(OutcomesAre(input, {Err("bad-value"), Req(Command::kPing)}))
        << "message-length:" << value;
  }
}

TEST(RequestParser, ReportsLengthMismatchAndParsesTheNextRequest) {
  // First line longer than N characters (and not N bytes).
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\nrecipient-id:5\nmessage-length:3\ncontent:hello\nPING\n",
      {Err("length-mismatch"), Req(Command::kPing)}));
  // Last line of a multi-line content runs past N.
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\nrecipient-id:5\nmessage-length:10\ncontent:ligne 1\nligne 2\n"
      "PING\n",
      {Err("length-mismatch"), Req(Command::kPing)}));
  // The seed text is 24 characters, 25 bytes: N=23 fits neither count.
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:abc\nrecipient-id:42\nmessage-length:23\n"
      "content:Bonjour, comment ça va ?\n" +
          std::string(kSeedSend),
      {Err("length-mismatch"), Req(Command::kSendMsg,
                                   {{"token", "abc"},
                                    {"recipient-id", "42"},
                                    {"message-length", "24"},
                                    {"content", std::string(kSeedText)}})}));
  // The rest of the line is discarded even if it looks like a request.
  EXPECT_TRUE(OutcomesAre(
      "UPDT_MSG\ntoken:t\nmessage-id:1\nmessage-length:2\ncontent:hiPING\nPING\n",
      {Err("length-mismatch"), Req(Command::kPing)}));
  // An earlier error of the same request is reported instead.
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ncolour:x\ntoken:t\nrecipient-id:5\nmessage-length:3\ncontent:hello\n"
      "PING\n",
      {Err("unknown-parameter"), Req(Command::kPing)}));
}

TEST(RequestParser, DiscardsContentLongerThanTheLimit) {
  const ParserLimits limits = Limits(16384, 10);
  // 12 characters over two lines: consumed, then content-too-long.
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\nrecipient-id:5\nmessage-length:12\ncontent:0123456789\nx\n"
      "PING\n",
      {Err("content-too-long"), Req(Command::kPing)}, limits));
  // Exactly the limit is accepted.
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\nrecipient-id:5\nmessage-length:10\ncontent:0123456789\nPING\n",
      {Req(Command::kSendMsg, {{"token", "t"},
                               {"recipient-id", "5"},
                               {"message-length", "10"},
                               {"content", "0123456789"}}),
       Req(Command::kPing)},
      limits));
  // A content of 1000 characters made of lines that look like requests.
  std::string big;
  while (big.size() < 1000) big += "PING\n";
  big.resize(1000);
  EXPECT_EQ(big.back(), '\n');
  big.back() = 'z';
  std::string input = "UPDT_MSG\ntoken:t\nmessage-id:1\nmessage-length:1000\ncontent:" +
                      big + "\nPING\n";
  std::vector<std::string> outcomes = ParseWhole(input, limits);
  EXPECT_EQ(outcomes, (std::vector<std::string>{Err("content-too-long"),
                                                Req(Command::kPing)}))
      << Join(outcomes);
}

TEST(RequestParser, DefaultContentLimitIs16384Characters) {
  RequestParser parser;
  // 16384 characters in lines of 100, so that no line exceeds max_line_bytes.
  std::string text;
  for (size_t i = 0; text.size() < 16384; ++i) text += (i % 100 == 99) ? '\n' : 'a';
  ASSERT_NE(text.back(), '\n');
  std::string input = "UPDT_MSG\ntoken:t\nmessage-id:1\nmessage-length:16384\ncontent:" +
                      text + "\n";
  std::string_view view = input;
  ParseOutcome outcome = parser.Next(view);
  ASSERT_TRUE(std::holds_alternative<Request>(outcome)) << Describe(outcome);
  EXPECT_EQ(*std::get<Request>(outcome).Find("content"), text);

  input = "UPDT_MSG\ntoken:t\nmessage-id:1\nmessage-length:16385\ncontent:" + text +
          "\n\nPING\n";
  EXPECT_EQ(ParseWhole(input),
            (std::vector<std::string>{Err("content-too-long"), Req(Command::kPing)}));
}

// ---------------------------------------------------------------------------
// Invalid UTF-8

TEST(RequestParser, ReportsInvalidUtf8AsBadValue) {
  EXPECT_TRUE(OutcomesAre("LOGIN\napi-token:\xff\nPING\n",
                          {Err("bad-value"), Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre("LOGIN\napi-token:ab\xc0\xaf\nPING\n",
                          {Err("bad-value"), Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre("GET_HISTORY\ntoken:t\nuser-id:\xed\xa0\x80\n\nPING\n",
                          {Err("bad-value"), Req(Command::kPing)}));
  // In a content without message-length.
  EXPECT_TRUE(OutcomesAre("UPDT_MSG\ntoken:t\nmessage-id:1\ncontent:caf\xc3\nPING\n",
                          {Err("bad-value"), Req(Command::kPing)}));
}

TEST(RequestParser, FramesRequestWithInvalidUtf8ToItsEnd) {
  // The request goes on to the end of its content: "hi" is not a command line.
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:\xff\nrecipient-id:5\nmessage-length:2\ncontent:hi\nPING\n",
      {Err("bad-value"), Req(Command::kPing)}));
  EXPECT_TRUE(OutcomesAre(
      "SEND_MSG\ntoken:t\nrecipient-id:\x80\nmessage-length:5\ncontent:a\nb\nc\nPING\n",
      {Err("bad-value"), Req(Command::kPing)}));
}

// ---------------------------------------------------------------------------
// Line limit

TEST(RequestParser, AcceptsLineOfExactlyMaxLineBytes) {
  const ParserLimits limits = Limits(16, 16384);
  EXPECT_TRUE(OutcomesAre("LOGIN\napi-token:123456\n",  // 16 bytes
                          {Req(Command::kLogin, {{"api-token", "123456"}})}, limits));
  // The '\n' is not counted, nor the '\r' of a "\r\n" ending.
  EXPECT_TRUE(OutcomesAre("LOGIN\napi-token:12345\r\n",
                          {Req(Command::kLogin, {{"api-token", "12345"}})}, limits));
  EXPECT_TRUE(OutcomesAre("LOGIN\r\napi-token:123456\r\nPING\r\n",
                          {Req(Command::kLogin, {{"api-token", "123456"}}),
                           Req(Command::kPing)},
                          limits));
}

TEST(RequestParser, ClosesOnLineLongerThanMaxLineBytes) {
  const ParserLimits limits = Limits(16, 16384);
  EXPECT_TRUE(OutcomesAre("LOGIN\napi-token:1234567\nPING\n",  // 17 bytes
                          {ErrClose("request-too-large")}, limits));
  EXPECT_TRUE(OutcomesAre("PING\nABCDEFGHIJKLMNOPQ\nPING\n",
                          {Req(Command::kPing), ErrClose("request-too-large")}, limits));
  // 17 bytes before a "\r\n", or 16 and a '\r' that does not end the line.
  EXPECT_TRUE(OutcomesAre("LOGIN\napi-token:1234567\r\nPING\n",
                          {ErrClose("request-too-large")}, limits));
  EXPECT_TRUE(OutcomesAre("LOGIN\napi-token:123456\rx\nPING\n",
                          {ErrClose("request-too-large")}, limits));
  EXPECT_TRUE(OutcomesAre("LOGIN\napi-token:123456\r\r\nPING\n",
                          {ErrClose("request-too-large")}, limits));
  // A content line counts as a line.
  EXPECT_TRUE(OutcomesAre(
      "UPDT_MSG\ntoken:t\nmessage-id:1\nmessage-length:9\ncontent:0123\n"
      "0123456789012345678901234\nPING\n",
      {ErrClose("request-too-large")}, limits));
  EXPECT_TRUE(OutcomesAre("UPDT_MSG\ntoken:t\nmessage-id:1\ncontent:0123456789\nPING\n",
                          {ErrClose("request-too-large")}, limits));
  // So does a discarded line.
  EXPECT_TRUE(OutcomesAre("HELLO\nfoo:01234567890123456789\nPING\n",
                          {Err("unknown-command"), ErrClose("request-too-large")},
                          limits));
}

TEST(RequestParser, ClosesAsSoonAsTheBufferedLineExceedsTheLimit) {
  RequestParser parser(Limits(16, 16384));
  std::string_view input = "LOGIN\napi-token:123456";  // 16 bytes of a line so far
  EXPECT_EQ(Describe(parser.Next(input)), "NeedMore");
  EXPECT_TRUE(input.empty());
  input = "7";
  ParseOutcome outcome = parser.Next(input);
  ASSERT_TRUE(std::holds_alternative<ParseError>(outcome)) << Describe(outcome);
  EXPECT_EQ(std::get<ParseError>(outcome).error, "request-too-large");
  EXPECT_TRUE(std::get<ParseError>(outcome).close);
  EXPECT_FALSE(std::get<ParseError>(outcome).message.empty());

  RequestParser idle(Limits(16, 16384));
  const std::string junk(100, 'x');  // no newline at all
  std::string_view junk_view = junk;
  EXPECT_EQ(Describe(idle.Next(junk_view)), ErrClose("request-too-large"));
}

TEST(RequestParser, UsesDefaultMaxLineBytesOf16384) {
  const std::string ok = "LOGIN\napi-token:" + Repeat('k', 16384 - 10) + "\n";
  EXPECT_EQ(ParseWhole(ok), (std::vector<std::string>{
                                Req(Command::kLogin, {{"api-token", Repeat('k', 16374)}})}));
  const std::string too_long = "LOGIN\napi-token:" + Repeat('k', 16384 - 9) + "\nPING\n";
  EXPECT_EQ(ParseWhole(too_long),
            (std::vector<std::string>{ErrClose("request-too-large")}));
}

TEST(RequestParser, IgnoresEverythingAfterClosing) {
  RequestParser parser(Limits(16, 16384));
  std::string_view input = "01234567890123456789\nPING\n";
  EXPECT_EQ(Describe(parser.Next(input)), ErrClose("request-too-large"));
  for (std::string_view more :
       {"PING\n", "\n", "LOGIN\napi-token:x\n", "HELLO\n", "token:x\n", ""}) {
    input = more;
    EXPECT_EQ(Describe(parser.Next(input)), "NeedMore") << Escape(more);
    EXPECT_TRUE(input.empty()) << Escape(more);
  }
}

// ---------------------------------------------------------------------------
// InRequest and Reset

TEST(RequestParser, TracksWhetherARequestIsUnderWay) {
  RequestParser parser;
  EXPECT_FALSE(parser.InRequest());

  auto feed = [&parser](std::string_view bytes) {
    std::string_view input = bytes;
    ParseOutcome outcome = parser.Next(input);
    EXPECT_TRUE(input.empty());
    return Describe(outcome);
  };

  EXPECT_EQ(feed("LOG"), "NeedMore");  // a partial command line
  EXPECT_TRUE(parser.InRequest());
  EXPECT_EQ(feed("IN\n"), "NeedMore");
  EXPECT_TRUE(parser.InRequest());
  EXPECT_EQ(feed("api-to"), "NeedMore");
  EXPECT_TRUE(parser.InRequest());
  EXPECT_EQ(feed("ken:x\n"), Req(Command::kLogin, {{"api-token", "x"}}));
  EXPECT_FALSE(parser.InRequest());

  EXPECT_EQ(feed("\n"), "NeedMore");
  EXPECT_FALSE(parser.InRequest());
  EXPECT_EQ(feed("P"), "NeedMore");
  EXPECT_TRUE(parser.InRequest());
  EXPECT_EQ(feed("ING\n"), Req(Command::kPing));
  EXPECT_FALSE(parser.InRequest());

  EXPECT_EQ(feed("UPDT_MSG\ntoken:t\nmessage-id:1\nmessage-length:15\ncontent:ligne 1\n"),
            "NeedMore");
  EXPECT_TRUE(parser.InRequest());
  EXPECT_EQ(feed("ligne 2\n"), Req(Command::kUpdtMsg, {{"token", "t"},
                                                       {"message-id", "1"},
                                                       {"message-length", "15"},
                                                       {"content", "ligne 1\nligne 2"}}));
  EXPECT_FALSE(parser.InRequest());
}

TEST(RequestParser, ResetDropsTheRequestUnderWay) {
  RequestParser parser;
  std::string_view input = "SEND_MSG\ntoken:t\nrecipient-id:5\n";
  EXPECT_EQ(Describe(parser.Next(input)), "NeedMore");
  ASSERT_TRUE(parser.InRequest());
  parser.Reset();
  EXPECT_FALSE(parser.InRequest());
  // The parameters given before the reset are forgotten.
  input = "message-length:2\ncontent:hi\n\nPING\n";
  std::vector<std::string> outcomes;
  std::string problem;
  Drain(parser, input, outcomes, problem);
  EXPECT_EQ(problem, "");
  EXPECT_EQ(outcomes, (std::vector<std::string>{Err("unknown-command"),
                                                Req(Command::kPing)}));
}

TEST(RequestParser, ResetDropsAPartialLine) {
  RequestParser parser;
  std::string_view input = "LOGIN\napi-tok";
  EXPECT_EQ(Describe(parser.Next(input)), "NeedMore");
  parser.Reset();
  EXPECT_FALSE(parser.InRequest());
  input = "en:x\nPING\n";
  std::vector<std::string> outcomes;
  std::string problem;
  Drain(parser, input, outcomes, problem);
  EXPECT_EQ(problem, "");
  EXPECT_EQ(outcomes, (std::vector<std::string>{Err("unknown-command"),
                                                Req(Command::kPing)}));
}

TEST(RequestParser, ResetDropsAContentUnderWay) {
  RequestParser parser;
  std::string_view input =
      "SEND_MSG\ntoken:t\nrecipient-id:5\nmessage-length:100\ncontent:hello\n";
  EXPECT_EQ(Describe(parser.Next(input)), "NeedMore");
  ASSERT_TRUE(parser.InRequest());
  parser.Reset();
  EXPECT_FALSE(parser.InRequest());
  input = "PING\n";
  EXPECT_EQ(Describe(parser.Next(input)), Req(Command::kPing));
}

TEST(RequestParser, ResetDropsAnErrorOfTheRequestUnderWay) {
  RequestParser parser;
  std::string_view input = "GET_HISTORY\ncolour:x\n";
  EXPECT_EQ(Describe(parser.Next(input)), "NeedMore");
  parser.Reset();
  input = "GET_HISTORY\ntoken:t\n\n";
  EXPECT_EQ(Describe(parser.Next(input)), Req(Command::kGetHistory, {{"token", "t"}}));
}

TEST(RequestParser, ResetOnIdleParserChangesNothing) {
  RequestParser parser;
  parser.Reset();
  EXPECT_FALSE(parser.InRequest());
  EXPECT_TRUE(OutcomesAre("PING\n", {Req(Command::kPing)}));
  std::string_view input = "PING\n";
  EXPECT_EQ(Describe(FirstOutcome(parser, input)), Req(Command::kPing));
}

// ---------------------------------------------------------------------------
// Error messages

TEST(RequestParser, ErrorMessagesNeverEchoClientText) {
  const ParserLimits limits = Limits(64, 16384);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"EVIL<script>\n", "EVIL"},
      {"LOGIN\nevil<key>:1\napi-token:x\n", "evil"},
      {"SEND_MSG\ntoken:t\nrecipient-id:5\nmessage-length:evil\ncontent:x\n", "evil"},
      {"LOGIN\napi-token:evil\xff\n", "evil"},
      {"evil:1\n", "evil"},
      {std::string(65, 'E'), "EEE"},
  };
  for (const auto& [input, secret] : cases) {
    RequestParser parser(limits);
    std::string_view view = input;
    ParseOutcome outcome = parser.Next(view);
    ASSERT_TRUE(std::holds_alternative<ParseError>(outcome))
        << Escape(input) << " -> " << Describe(outcome);
    const ParseError& error = std::get<ParseError>(outcome);
    EXPECT_FALSE(error.message.empty()) << Escape(input);
    EXPECT_EQ(error.message.find(secret), std::string::npos)
        << Escape(input) << " -> " << error.message;
    EXPECT_EQ(error.message.find('\n'), std::string::npos) << Escape(input);
    EXPECT_EQ(error.message.find('\r'), std::string::npos) << Escape(input);
  }
}

// ---------------------------------------------------------------------------
// Split independence on a long mixed stream

TEST(RequestParser, YieldsTheSameOutcomesHoweverTheInputIsSplit) {
  const std::string input =
      "\r\nLOGIN\r\napi-token:k\r\n"
      "HELLO\nx:y\n\n"
      "SEND_MSG\ntoken:t\nreceiver-id:5\nmessage-length:5\ncontent:ça\n😀\n\n"
      "DEL_MSG\ntoken:t\nPING\n"
      "UPDT_MSG\ntoken:t\nmessage-id:1\nmessage-length:2\ncontent:abc\n"
      "GET_HISTORY\ntoken:t\ntoken:u\n\n"
      "DISCONNECTED\n";
  EXPECT_TRUE(OutcomesAre(
      input, {Req(Command::kLogin, {{"api-token", "k"}}), Err("unknown-command"),
              Req(Command::kSendMsg, {{"token", "t"},
                                      {"recipient-id", "5"},
                                      {"message-length", "5"},
                                      {"content", "ça\n😀\n"}}),
              Err("missing-parameter"), Req(Command::kPing), Err("length-mismatch"),
              Err("duplicate-parameter"), Req(Command::kDisconnected)}));
}

}  // namespace
}  // namespace tchatator::gateway
