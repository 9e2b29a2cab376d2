// Message contents travel unchanged: punctuation, ':', quotes, several lines, SQL.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/e2e/stack.h"

namespace tchatator::e2e {
namespace {

using ContentTest = SharedStackTest;

// The first lines of the record GET_UNREAD gives for one message, exactly.
std::string ExpectedRecord(const std::string& id, const User& from, const User& to,
                           const std::string& sent_at) {
  return "message-id:" + id + "\nsender-id:" + std::to_string(from.id) +
         "\nrecipient-id:" + std::to_string(to.id) + "\ndirection:received\nsent-at:" + sent_at +
         "\n";
}

TEST_F(ContentTest, PunctuationAndLinesArriveByteIdentical) {
  Session m = LoginNew(stack(), "member");
  Session p = LoginNew(stack(), "pro");
  const std::string text =
      "Réservation : l'hôtel \"Ker Avel\"\nà 10:30 ; ok ?\n\n-- fin\ncontent:pas un champ\n"
      "message-length:3\nPING\n\n\tl’apostrophe « typographique » 🙂";
  const Response sent = SendMsg(m.conn, m.token, p.user.id, text);
  ASSERT_TRUE(IsOk(sent, {"message-id", "sent-at"}));
  EXPECT_TRUE(Alive(m.conn)) << "the lines of a content must not be read as requests";

  const Response u = p.conn.Request("GET_UNREAD", {{"token", p.token}});
  ASSERT_TRUE(IsOk(u, {"count"}));
  EXPECT_EQ(u.Get("count"), "1");
  ASSERT_EQ(u.records.size(), 1u) << u;
  const Record& rec = u.records[0];
  EXPECT_EQ(rec.at("content"), text);
  EXPECT_EQ(rec.at("message-length"), std::to_string(CharCount(text)));
  EXPECT_TRUE(rec.at("read") == "yes" || rec.at("read") == "no") << u;
  std::vector<std::string> keys;
  for (const auto& [k, v] : rec) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"content", "direction", "message-id",
                                            "message-length", "read", "recipient-id",
                                            "sender-id", "sent-at"}));
  // The exact bytes of the record (read:... is the only line whose value may vary).
  const std::string head = ExpectedRecord(sent.Get("message-id"), m.user, p.user,
                                          sent.Get("sent-at"));
  EXPECT_NE(u.raw.find(head), std::string::npos) << u;
  const std::string tail =
      "message-length:" + std::to_string(CharCount(text)) + "\ncontent:" + text + "\n\n";
  ASSERT_GE(u.raw.size(), tail.size());
  EXPECT_EQ(u.raw.substr(u.raw.size() - tail.size()), tail);
  EXPECT_EQ(stack().db().Query("SELECT content FROM messages WHERE id = " + sent.Get("message-id")),
            text);
  EXPECT_TRUE(Alive(p.conn));
}

TEST_F(ContentTest, SqlLookingContentStoredVerbatim) {
  Session m = LoginNew(stack(), "member");
  Session p = LoginNew(stack(), "pro");
  const std::vector<std::string> texts = {
      "'); DROP TABLE messages; --",
      "Robert'); DELETE FROM users WHERE ('1'='1",
      "\\'; SELECT pg_sleep(5); --",
      "$$ || $tag$ \" ' ` ; \\x00 %s %n",
  };
  std::vector<std::string> ids;
  for (const std::string& text : texts) {
    const Response r = SendMsg(m.conn, m.token, p.user.id, text);
    ASSERT_TRUE(IsOk(r, {"message-id", "sent-at"})) << text;
    ids.push_back(r.Get("message-id"));
    EXPECT_EQ(stack().db().Query("SELECT content FROM messages WHERE id = " + ids.back()), text);
  }
  // Editing with such content is just as harmless.
  const std::string edited = "x' WHERE 1=1; UPDATE messages SET content='pwned";
  ASSERT_TRUE(IsOk(m.conn.Request("UPDT_MSG", {{"token", m.token},
                                               {"message-id", ids[0]},
                                               {"content", edited}}),
                   {"message-id", "modified-at"}));
  EXPECT_EQ(stack().db().Query("SELECT content FROM messages WHERE id = " + ids[0]), edited);
  EXPECT_EQ(stack().db().Query("SELECT count(*) FROM messages WHERE content = 'pwned'"), "0");

  const Response u = p.conn.Request("GET_UNREAD", {{"token", p.token}});
  ASSERT_TRUE(IsOk(u, {"count"}));
  ASSERT_EQ(u.records.size(), texts.size()) << u;
  EXPECT_EQ(u.records[0].at("content"), edited);
  for (size_t i = 1; i < texts.size(); ++i) {
    EXPECT_EQ(u.records[i].at("message-id"), ids[i]);
    EXPECT_EQ(u.records[i].at("content"), texts[i]);
  }
  EXPECT_NE(stack().db().Query("SELECT count(*) FROM users"), "0");
  EXPECT_TRUE(Alive(m.conn));
}

TEST_F(ContentTest, CrlfInsideContentCountsAsOneNewline) {
  Session m = LoginNew(stack(), "member");
  Session p = LoginNew(stack(), "pro");
  // "ab\r\ncd" is 5 characters: the CRLF is one newline.
  ASSERT_TRUE(m.conn.Send("SEND_MSG\r\ntoken:" + m.token + "\r\nrecipient-id:" +
                          std::to_string(p.user.id) + "\r\nmessage-length:5\r\ncontent:ab\r\ncd\r\n"));
  ASSERT_TRUE(IsOk(m.conn.Read(), {"message-id", "sent-at"}));
  EXPECT_TRUE(Alive(m.conn));
  const Response u = p.conn.Request("GET_UNREAD", {{"token", p.token}});
  ASSERT_EQ(u.records.size(), 1u) << u;
  EXPECT_EQ(u.records[0].at("content"), "ab\ncd");
  EXPECT_EQ(u.records[0].at("message-length"), "5");
}

TEST_F(ContentTest, MultiLineEditWithLength) {
  Session m = LoginNew(stack(), "member");
  Session p = LoginNew(stack(), "pro");
  const Response sent = SendMsg(m.conn, m.token, p.user.id, "x");
  ASSERT_TRUE(IsOk(sent, {"message-id", "sent-at"}));
  const std::string text = "ligne 1\n\nligne 3 : fin";
  ASSERT_TRUE(IsOk(m.conn.Request("UPDT_MSG", {{"token", m.token},
                                               {"message-id", sent.Get("message-id")},
                                               {"message-length", std::to_string(CharCount(text))},
                                               {"content", text}},
                                  /*end_blank=*/false),
                   {"message-id", "modified-at"}));
  EXPECT_TRUE(Alive(m.conn));
  const Response u = p.conn.Request("GET_UNREAD", {{"token", p.token}});
  ASSERT_EQ(u.records.size(), 1u) << u;
  EXPECT_EQ(u.records[0].at("content"), text);
}

}  // namespace
}  // namespace tchatator::e2e
