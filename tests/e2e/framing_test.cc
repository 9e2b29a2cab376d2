// Requests are framed by the protocol, not by TCP segments: pipelined, split, CRLF.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "tests/e2e/stack.h"

namespace tchatator::e2e {
namespace {

using FramingTest = SharedStackTest;

std::string SendRequest(const std::string& token, int64_t to, const std::string& text,
                        bool end_blank) {
  return Build("SEND_MSG", {{"token", token},
                            {"recipient-id", std::to_string(to)},
                            {"message-length", std::to_string(CharCount(text))},
                            {"content", text}},
               end_blank);
}

TEST_F(FramingTest, PipelinedRequestsInOneWrite) {
  Session m = LoginNew(stack(), "member");
  Session p = LoginNew(stack(), "pro");
  const User key_user = stack().AddUser("member");
  // LOGIN, two SEND_MSG (one with a trailing empty line, one without), an unknown
  // command, GET_UNREAD and PING, all in one write.
  const std::string burst = Build("LOGIN", {{"api-token", key_user.api_key}}, false) +
                            SendRequest(m.token, p.user.id, "un", false) +
                            SendRequest(m.token, p.user.id, "deux\nlignes", true) +
                            "NOPE\n\n" + Build("GET_UNREAD", {{"token", p.token}}, false) +
                            "PING\n";
  ASSERT_TRUE(m.conn.Send(burst));
  const Response login = m.conn.Read();
  const Response one = m.conn.Read();
  const Response two = m.conn.Read();
  const Response nope = m.conn.Read();
  const Response unread = m.conn.Read();
  const Response ping = m.conn.Read();
  EXPECT_TRUE(IsOk(login, {"token", "user-id", "role"}));
  EXPECT_EQ(login.Get("user-id"), std::to_string(key_user.id));
  ASSERT_TRUE(IsOk(one, {"message-id", "sent-at"}));
  ASSERT_TRUE(IsOk(two, {"message-id", "sent-at"}));
  EXPECT_LT(std::stoll(one.Get("message-id")), std::stoll(two.Get("message-id")))
      << "answers out of order";
  EXPECT_TRUE(IsError(nope, "416/MISFMT", "unknown-command"));
  ASSERT_TRUE(IsOk(unread, {"count"}));
  ASSERT_EQ(unread.records.size(), 2u) << unread;
  EXPECT_EQ(unread.records[0].at("content"), "un");
  EXPECT_EQ(unread.records[1].at("content"), "deux\nlignes");
  EXPECT_EQ(ping.raw, "200/OK\n\n");
  EXPECT_EQ(m.conn.ReadFor(100ms), "") << "one answer per request, no more";
}

TEST_F(FramingTest, RequestSplitByteByByte) {
  Session m = LoginNew(stack(), "member");
  Session p = LoginNew(stack(), "pro");
  // Multi-byte characters get split between their bytes too.
  const std::string text = "été à Brest\nçà et là";
  const std::string raw = SendRequest(m.token, p.user.id, text, false);
  for (char c : raw) {
    ASSERT_TRUE(m.conn.Send(std::string(1, c)));
    std::this_thread::sleep_for(1ms);
  }
  const Response r = m.conn.Read();
  ASSERT_TRUE(IsOk(r, {"message-id", "sent-at"}));
  EXPECT_TRUE(Alive(m.conn));
  const Response u = p.conn.Request("GET_UNREAD", {{"token", p.token}});
  ASSERT_EQ(u.records.size(), 1u) << u;
  EXPECT_EQ(u.records[0].at("content"), text);
}

TEST_F(FramingTest, NoAnswerBeforeRequestIsComplete) {
  Session m = LoginNew(stack(), "member");
  const User pro = stack().AddUser("pro");
  const std::string raw = SendRequest(m.token, pro.id, "abc", false);
  const size_t cut = raw.find("content:") + 9;  // "content:a"
  ASSERT_TRUE(m.conn.Send(raw.substr(0, cut)));
  EXPECT_EQ(m.conn.ReadFor(300ms), "") << "answered before the content was complete";
  ASSERT_TRUE(m.conn.Send(raw.substr(cut)));
  EXPECT_TRUE(IsOk(m.conn.Read(), {"message-id", "sent-at"}));
  EXPECT_TRUE(Alive(m.conn));
}

TEST_F(FramingTest, CrlfLineEndings) {
  const User member = stack().AddUser("member");
  const User pro = stack().AddUser("pro");
  Client c = stack().Connect();
  ASSERT_TRUE(c.Send("LOGIN\r\napi-token:" + member.api_key + "\r\n\r\n"));
  const Response login = c.Read();
  ASSERT_TRUE(IsOk(login, {"token", "user-id", "role"}));
  const std::string token = login.Get("token");
  ASSERT_TRUE(c.Send("SEND_MSG\r\ntoken:" + token + "\r\nrecipient-id:" + std::to_string(pro.id) +
                     "\r\nmessage-length:5\r\ncontent:salut\r\n"));
  EXPECT_TRUE(IsOk(c.Read(), {"message-id", "sent-at"}));
  ASSERT_TRUE(c.Send("PING\r\n"));
  EXPECT_EQ(c.Read().raw, "200/OK\n\n");
  EXPECT_EQ(stack().db().Query("SELECT content FROM messages WHERE sender_id = " +
                               std::to_string(member.id)),
            "salut")
      << "no '\\r' may end up in the stored content";
}

TEST_F(FramingTest, EmptyLinesBetweenRequestsIgnored) {
  Client c = stack().Connect();
  ASSERT_TRUE(c.Send("\n\nPING\n\n\n\r\nPING\n\n"));
  EXPECT_EQ(c.Read().raw, "200/OK\n\n");
  EXPECT_EQ(c.Read().raw, "200/OK\n\n");
  EXPECT_EQ(c.ReadFor(100ms), "");
}

TEST_F(FramingTest, ReceiverIdAliasAndAnyOrder) {
  Session m = LoginNew(stack(), "member");
  const User pro = stack().AddUser("pro");
  const Response r = m.conn.Request("SEND_MSG", {{"message-length", "3"},
                                                 {"receiver-id", std::to_string(pro.id)},
                                                 {"token", m.token},
                                                 {"content", "abc"}},
                                    false);
  ASSERT_TRUE(IsOk(r, {"message-id", "sent-at"}));
  EXPECT_EQ(stack().db().Query("SELECT recipient_id FROM messages WHERE id = " +
                               r.Get("message-id")),
            std::to_string(pro.id));
  EXPECT_TRUE(Alive(m.conn));
}

TEST_F(FramingTest, FortyThousandPipelinedPingsAreAllAnswered) {
  // Sent in one go: the gateway serves what one read brings (about 11,000 PINGs) in a
  // loop. It used to call itself once per request answered without waiting for the
  // core, and died of a stack overflow, taking every other connection with it.
  Client c = stack().Connect();
  Client other = stack().Connect();
  constexpr size_t kRequests = 40000;
  std::string burst;
  for (size_t i = 0; i < kRequests; ++i) burst += "PING\n\n";
  // Written from another thread while this one reads the answers.
  bool sent = false;
  std::thread writer([&] { sent = c.Send(burst); });
  std::string expected;
  for (size_t i = 0; i < kRequests; ++i) expected += "200/OK\n\n";
  std::string received;
  // Not a timing test: it gives up only when answers stop coming for 10 s (a sanitizer
  // build on a busy machine serves a few thousand a second).
  auto last_progress = std::chrono::steady_clock::now();
  while (received.size() < expected.size() &&
         std::chrono::steady_clock::now() - last_progress < 10s) {
    const std::string more = c.ReadFor(100ms);
    if (more.empty() && !stack().GatewayRunning()) break;
    if (!more.empty()) last_progress = std::chrono::steady_clock::now();
    received += more;
  }
  writer.join();
  ASSERT_TRUE(stack().GatewayRunning());
  EXPECT_TRUE(sent);
  EXPECT_EQ(received.size(), expected.size());
  EXPECT_TRUE(received == expected) << "answers missing, extra or out of order";
  EXPECT_TRUE(Alive(c));
  EXPECT_TRUE(Alive(other));
}

}  // namespace
}  // namespace tchatator::e2e
