// The seed's own examples (../shared/seed/protocole.md), byte for byte, and the seed's
// commands answered 200.
#include <gtest/gtest.h>

#include "tests/e2e/stack.h"

namespace tchatator::e2e {
namespace {

using SeedTest = SharedStackTest;

constexpr std::string_view kSeedText = "Bonjour, comment ça va ?";  // 24 characters, 25 bytes

TEST_F(SeedTest, LoginWithoutTrailingBlankLine) {
  const User pro = stack().AddUser("pro");
  Client c = stack().Connect();
  // The seed's LOGIN ends with its last parameter: no empty line.
  ASSERT_TRUE(c.Send("LOGIN\napi-token:" + pro.api_key + "\n"));
  const Response r = c.Read(3s);
  ASSERT_TRUE(IsOk(r, {"token", "user-id", "role"}));
  EXPECT_EQ(r.Get("user-id"), std::to_string(pro.id));
  EXPECT_EQ(r.Get("role"), "pro");
  EXPECT_FALSE(r.Get("token").empty());
  EXPECT_NE(r.Get("token"), pro.api_key) << "LOGIN must return a session token, not the key";
  EXPECT_TRUE(Alive(c));
}

TEST_F(SeedTest, LoginReturnsRoleOfEachKind) {
  for (const char* role : {"member", "pro", "admin"}) {
    const User u = stack().AddUser(role);
    Client c = stack().Connect();
    const Response r = c.Request("LOGIN", {{"api-token", u.api_key}});
    ASSERT_TRUE(IsOk(r, {"token", "user-id", "role"})) << role;
    EXPECT_EQ(r.Get("role"), role);
    EXPECT_EQ(r.Get("user-id"), std::to_string(u.id));
  }
}

TEST_F(SeedTest, ExampleBytesForBytes) {
  Session m = LoginNew(stack(), "member");
  Session p = LoginNew(stack(), "pro");
  ASSERT_EQ(CharCount(kSeedText), 24u);
  ASSERT_EQ(kSeedText.size(), 25u);
  // The seed's SEND_MSG, with our token and recipient: no empty line at the end.
  const std::string raw = "SEND_MSG\ntoken:" + m.token + "\nrecipient-id:" +
                          std::to_string(p.user.id) + "\nmessage-length:24\ncontent:" +
                          std::string(kSeedText) + "\n";
  ASSERT_TRUE(m.conn.Send(raw));
  const Response r = m.conn.Read(3s);
  ASSERT_TRUE(IsOk(r, {"message-id", "sent-at"}));
  EXPECT_TRUE(IsId(r.Get("message-id"))) << r;
  EXPECT_TRUE(IsRfc3339Utc(r.Get("sent-at"))) << r;
  EXPECT_TRUE(Alive(m.conn));

  const Response u = p.conn.Request("GET_UNREAD", {{"token", p.token}});
  ASSERT_TRUE(IsOk(u, {"count"}));
  EXPECT_EQ(u.Get("count"), "1");
  ASSERT_EQ(u.records.size(), 1u) << u;
  const Record& rec = u.records[0];
  EXPECT_EQ(rec.at("message-id"), r.Get("message-id"));
  EXPECT_EQ(rec.at("sender-id"), std::to_string(m.user.id));
  EXPECT_EQ(rec.at("recipient-id"), std::to_string(p.user.id));
  EXPECT_EQ(rec.at("direction"), "received");
  EXPECT_EQ(rec.at("sent-at"), r.Get("sent-at"));
  EXPECT_EQ(rec.at("message-length"), "24");
  EXPECT_EQ(rec.at("content"), kSeedText);
  EXPECT_NE(u.raw.find("message-length:24\ncontent:Bonjour, comment ça va ?\n"),
            std::string::npos)
      << u;
  EXPECT_TRUE(Alive(p.conn));
}

TEST_F(SeedTest, ByteCountingClientLength25) {
  Session m = LoginNew(stack(), "member");
  Session p = LoginNew(stack(), "pro");
  // Clients that count bytes send 25 for the same text: the line is the whole content.
  const std::string raw = "SEND_MSG\ntoken:" + m.token + "\nrecipient-id:" +
                          std::to_string(p.user.id) + "\nmessage-length:25\ncontent:" +
                          std::string(kSeedText) + "\n";
  ASSERT_TRUE(m.conn.Send(raw));
  const Response r = m.conn.Read(3s);
  ASSERT_TRUE(IsOk(r, {"message-id", "sent-at"}));
  EXPECT_TRUE(Alive(m.conn));
  const Response u = p.conn.Request("GET_UNREAD", {{"token", p.token}});
  ASSERT_EQ(u.records.size(), 1u) << u;
  EXPECT_EQ(u.records[0].at("content"), kSeedText);
  EXPECT_EQ(u.records[0].at("message-length"), "24");
}

TEST_F(SeedTest, UpdateAndDeleteOwnMessage) {
  Session m = LoginNew(stack(), "member");
  Session p = LoginNew(stack(), "pro");
  const Response kept = SendMsg(m.conn, m.token, p.user.id, "premier jet");
  const Response gone = SendMsg(m.conn, m.token, p.user.id, "oups");
  ASSERT_TRUE(IsOk(kept, {"message-id", "sent-at"}));
  ASSERT_TRUE(IsOk(gone, {"message-id", "sent-at"}));

  // The seed's UPDT_MSG has no message-length: the content is the rest of its line.
  ASSERT_TRUE(m.conn.Send("UPDT_MSG\ntoken:" + m.token + "\nmessage-id:" +
                          kept.Get("message-id") + "\ncontent:version finale\n"));
  const Response up = m.conn.Read(3s);
  ASSERT_TRUE(IsOk(up, {"message-id", "modified-at"}));
  EXPECT_EQ(up.Get("message-id"), kept.Get("message-id"));
  EXPECT_TRUE(IsRfc3339Utc(up.Get("modified-at"))) << up;

  // DEL_MSG ends once its two parameters are there.
  ASSERT_TRUE(m.conn.Send("DEL_MSG\ntoken:" + m.token + "\nmessage-id:" + gone.Get("message-id") +
                          "\n"));
  const Response del = m.conn.Read(3s);
  ASSERT_TRUE(IsOk(del, {"message-id"}));
  EXPECT_EQ(del.Get("message-id"), gone.Get("message-id"));
  EXPECT_TRUE(Alive(m.conn));

  const Response u = p.conn.Request("GET_UNREAD", {{"token", p.token}});
  ASSERT_TRUE(IsOk(u, {"count"}));
  ASSERT_EQ(u.records.size(), 1u) << "a deleted message is never delivered: " << u;
  EXPECT_EQ(u.records[0].at("message-id"), kept.Get("message-id"));
  EXPECT_EQ(u.records[0].at("content"), "version finale");
  EXPECT_EQ(u.records[0].count("modified-at"), 1u) << u;
  EXPECT_EQ(u.records[0].count("modified-ago"), 1u) << u;
}

}  // namespace
}  // namespace tchatator::e2e
