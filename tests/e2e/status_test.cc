// Every status code and error token the foundation can reach (contract 2.2), each
// answer checked exactly, then the connection proved usable.
#include <gtest/gtest.h>

#include <string>

#include "tests/e2e/stack.h"

namespace tchatator::e2e {
namespace {

using StatusTest = SharedStackTest;

// ----------------------------------------------------------------- 401 / 403 / 404

TEST_F(StatusTest, UnknownTokenIs401NotAuthenticated) {
  const User pro = stack().AddUser("pro");
  Client c = stack().Connect();
  const Response r = SendMsg(c, "nope", pro.id, "hi");
  EXPECT_TRUE(IsError(r, "401/UNAUTH", "not-authenticated"));
  EXPECT_TRUE(IsError(c.Request("GET_UNREAD", {{"token", "nope"}}), "401/UNAUTH",
                      "not-authenticated"));
  EXPECT_TRUE(Alive(c));
}

TEST_F(StatusTest, UnknownApiKeyIs403InvalidApiKey) {
  Client c = stack().Connect();
  const Response r = c.Request("LOGIN", {{"api-token", "b0wv0hMUifIjxAFA1CXI5mcR8pB41L697FfdXjQvs5bG"}});
  EXPECT_TRUE(IsError(r, "403/DENIED", "invalid-api-key"));
  EXPECT_TRUE(Alive(c));
}

TEST_F(StatusTest, RecipientNotAllowedIs403) {
  Session m = LoginNew(stack(), "member");
  Session p = LoginNew(stack(), "pro");
  const User other_member = stack().AddUser("member");
  const User other_pro = stack().AddUser("pro");
  EXPECT_TRUE(IsError(SendMsg(m.conn, m.token, other_member.id, "coucou"), "403/DENIED",
                      "recipient-not-allowed"));
  EXPECT_TRUE(IsError(SendMsg(m.conn, m.token, m.user.id, "moi"), "403/DENIED",
                      "recipient-not-allowed"));
  EXPECT_TRUE(IsError(SendMsg(p.conn, p.token, other_pro.id, "confrère"), "403/DENIED",
                      "recipient-not-allowed"));
  EXPECT_TRUE(Alive(m.conn));
  EXPECT_TRUE(Alive(p.conn));
  EXPECT_EQ(stack().db().Query("SELECT count(*) FROM messages WHERE sender_id IN (" +
                               std::to_string(m.user.id) + "," + std::to_string(p.user.id) +
                               ")"),
            "0")
      << "a refused message must not be stored";
}

TEST_F(StatusTest, OthersMessageIs403NotOwner) {
  Session m = LoginNew(stack(), "member");
  Session p = LoginNew(stack(), "pro");
  Session m2 = LoginNew(stack(), "member");
  const Response sent = SendMsg(m.conn, m.token, p.user.id, "à moi");
  ASSERT_TRUE(IsOk(sent, {"message-id", "sent-at"}));
  const std::string id = sent.Get("message-id");
  EXPECT_TRUE(IsError(p.conn.Request("UPDT_MSG", {{"token", p.token}, {"message-id", id},
                                                  {"content", "piraté"}}),
                      "403/DENIED", "not-owner"));
  EXPECT_TRUE(IsError(p.conn.Request("DEL_MSG", {{"token", p.token}, {"message-id", id}}),
                      "403/DENIED", "not-owner"));
  EXPECT_TRUE(IsError(m2.conn.Request("UPDT_MSG", {{"token", m2.token}, {"message-id", id},
                                                   {"content", "piraté"}}),
                      "403/DENIED", "not-owner"));
  EXPECT_TRUE(Alive(p.conn));
  EXPECT_TRUE(Alive(m2.conn));
  EXPECT_EQ(stack().db().Query("SELECT content FROM messages WHERE id = " + id), "à moi");
  EXPECT_EQ(stack().db().Query("SELECT deleted_at IS NULL FROM messages WHERE id = " + id), "t");
}

TEST_F(StatusTest, BlockedAndBannedAre403ForSendsAndEditsNotDeletes) {
  Session m = LoginNew(stack(), "member");
  Session p = LoginNew(stack(), "pro");
  const Response first = SendMsg(m.conn, m.token, p.user.id, "premier");
  const Response second = SendMsg(m.conn, m.token, p.user.id, "second");
  ASSERT_TRUE(IsOk(first, {"message-id", "sent-at"}));
  ASSERT_TRUE(IsOk(second, {"message-id", "sent-at"}));
  const Response block = p.conn.Request(
      "BLOCK_USER", {{"token", p.token}, {"user-id", std::to_string(m.user.id)},
                     {"duration-hours", "2"}});
  ASSERT_TRUE(IsOk(block, {"user-id", "until"}));
  const auto edit = [&](const Response& sent) {
    return m.conn.Request("UPDT_MSG", {{"token", m.token},
                                       {"message-id", sent.Get("message-id")},
                                       {"content", "réécrit"}});
  };
  for (const Response& r : {SendMsg(m.conn, m.token, p.user.id, "encore"), edit(first)}) {
    EXPECT_TRUE(IsError(r, "403/DENIED", "blocked", {"until"}));
    EXPECT_EQ(r.Get("until"), block.Get("until")) << r;
  }
  ASSERT_TRUE(IsOk(p.conn.Request("BAN_USER",
                                  {{"token", p.token}, {"user-id", std::to_string(m.user.id)}}),
                   {"user-id"}));
  for (const Response& r : {SendMsg(m.conn, m.token, p.user.id, "encore"), edit(first)}) {
    EXPECT_TRUE(IsError(r, "403/DENIED", "banned"));
    EXPECT_EQ(r.Get("until"), "") << r;
  }
  EXPECT_TRUE(IsOk(m.conn.Request("DEL_MSG", {{"token", m.token},
                                              {"message-id", second.Get("message-id")}}),
                   {"message-id"}));
  EXPECT_EQ(stack().db().Query("SELECT string_agg(content, ',' ORDER BY id) FROM messages"
                               " WHERE sender_id = " + std::to_string(m.user.id)),
            "premier,second");
  EXPECT_TRUE(Alive(m.conn));
}

TEST_F(StatusTest, UnknownMessageIs404) {
  Session m = LoginNew(stack(), "member");
  const User pro = stack().AddUser("pro");
  EXPECT_TRUE(IsError(m.conn.Request("UPDT_MSG", {{"token", m.token}, {"message-id", "999999999"},
                                                  {"content", "?"}}),
                      "404/NOTFND", "unknown-message"));
  EXPECT_TRUE(IsError(m.conn.Request("DEL_MSG", {{"token", m.token}, {"message-id", "999999999"}}),
                      "404/NOTFND", "unknown-message"));
  // A deleted message no longer exists for the protocol.
  const Response sent = SendMsg(m.conn, m.token, pro.id, "éphémère");
  ASSERT_TRUE(IsOk(sent, {"message-id", "sent-at"}));
  const std::string id = sent.Get("message-id");
  ASSERT_TRUE(IsOk(m.conn.Request("DEL_MSG", {{"token", m.token}, {"message-id", id}}),
                   {"message-id"}));
  EXPECT_TRUE(IsError(m.conn.Request("DEL_MSG", {{"token", m.token}, {"message-id", id}}),
                      "404/NOTFND", "unknown-message"));
  EXPECT_TRUE(IsError(m.conn.Request("UPDT_MSG", {{"token", m.token}, {"message-id", id},
                                                  {"content", "revenant"}}),
                      "404/NOTFND", "unknown-message"));
  EXPECT_TRUE(Alive(m.conn));
}

TEST_F(StatusTest, UnknownRecipientIs404UnknownUser) {
  Session m = LoginNew(stack(), "member");
  EXPECT_TRUE(IsError(SendMsg(m.conn, m.token, 987654321, "allô"), "404/NOTFND", "unknown-user"));
  EXPECT_TRUE(Alive(m.conn));
}

// ----------------------------------------------------------------- 416

TEST_F(StatusTest, UnknownCommandAnsweredOnce) {
  Client c = stack().Connect();
  ASSERT_TRUE(c.Send("HELLO\nfoo:bar\ntoken:x\n\n"));
  EXPECT_TRUE(IsError(c.Read(), "416/MISFMT", "unknown-command"));
  EXPECT_TRUE(Alive(c)) << "the parameters of an unknown command are discarded, not answered";
  // Commands are upper case; a lower-case one is unknown. Its parameters end at the
  // next command line.
  ASSERT_TRUE(c.Send("ping\nfoo:bar\nPING\n"));
  EXPECT_TRUE(IsError(c.Read(), "416/MISFMT", "unknown-command"));
  EXPECT_EQ(c.Read().raw, "200/OK\n\n");
  EXPECT_TRUE(Alive(c));
  EXPECT_EQ(c.ReadFor(100ms), "") << "no request may be answered twice";
}

TEST_F(StatusTest, MissingParameterIs416) {
  Session m = LoginNew(stack(), "member");
  EXPECT_TRUE(IsError(m.conn.Request("SEND_MSG", {{"token", m.token}, {"message-length", "2"},
                                                  {"content", "hi"}}),
                      "416/MISFMT", "missing-parameter"));
  EXPECT_TRUE(IsError(m.conn.Request("LOGIN"), "416/MISFMT", "missing-parameter"));
  EXPECT_TRUE(IsError(m.conn.Request("DEL_MSG", {{"token", m.token}}), "416/MISFMT",
                      "missing-parameter"));
  EXPECT_TRUE(Alive(m.conn));
}

TEST_F(StatusTest, CommandLineEndsUnfinishedRequest) {
  Client c = stack().Connect();
  // A line without ':' inside an unfinished request ends it and starts the next one.
  ASSERT_TRUE(c.Send("DEL_MSG\ntoken:abc\nPING\n"));
  EXPECT_TRUE(IsError(c.Read(), "416/MISFMT", "missing-parameter"));
  EXPECT_EQ(c.Read().raw, "200/OK\n\n");
  EXPECT_TRUE(Alive(c));
}

TEST_F(StatusTest, UnknownParameterIs416) {
  Session m = LoginNew(stack(), "member");
  const User pro = stack().AddUser("pro");
  EXPECT_TRUE(IsError(m.conn.Request("SEND_MSG", {{"token", m.token},
                                                  {"recipient-id", std::to_string(pro.id)},
                                                  {"colour", "blue"},
                                                  {"message-length", "2"},
                                                  {"content", "hi"}}),
                      "416/MISFMT", "unknown-parameter"));
  EXPECT_TRUE(Alive(m.conn));
  EXPECT_EQ(stack().db().Query("SELECT count(*) FROM messages WHERE sender_id = " +
                               std::to_string(m.user.id)),
            "0");
}

TEST_F(StatusTest, DuplicateParameterIs416) {
  Session m = LoginNew(stack(), "member");
  const User pro = stack().AddUser("pro");
  EXPECT_TRUE(IsError(m.conn.Request("SEND_MSG", {{"token", m.token},
                                                  {"recipient-id", std::to_string(pro.id)},
                                                  {"recipient-id", std::to_string(pro.id)},
                                                  {"message-length", "2"},
                                                  {"content", "hi"}}),
                      "416/MISFMT", "duplicate-parameter"));
  // receiver-id is an alias of recipient-id: both at once is a duplicate.
  EXPECT_TRUE(IsError(m.conn.Request("SEND_MSG", {{"token", m.token},
                                                  {"recipient-id", std::to_string(pro.id)},
                                                  {"receiver-id", std::to_string(pro.id)},
                                                  {"message-length", "2"},
                                                  {"content", "hi"}}),
                      "416/MISFMT", "duplicate-parameter"));
  EXPECT_TRUE(Alive(m.conn));
}

TEST_F(StatusTest, BadValueIs416) {
  Session m = LoginNew(stack(), "member");
  const User pro = stack().AddUser("pro");
  EXPECT_TRUE(IsError(m.conn.Request("SEND_MSG", {{"token", m.token},
                                                  {"recipient-id", "quarante-deux"},
                                                  {"message-length", "2"},
                                                  {"content", "hi"}}),
                      "416/MISFMT", "bad-value"));
  EXPECT_TRUE(Alive(m.conn));
  EXPECT_TRUE(IsError(m.conn.Request("SEND_MSG", {{"token", m.token},
                                                  {"recipient-id", std::to_string(pro.id)},
                                                  {"message-length", "deux"},
                                                  {"content", "hi"}}),
                      "416/MISFMT", "bad-value"));
  EXPECT_TRUE(Alive(m.conn));
  EXPECT_TRUE(IsError(m.conn.Request("DEL_MSG", {{"token", m.token}, {"message-id", "-3"}}),
                      "416/MISFMT", "bad-value"));
  EXPECT_TRUE(Alive(m.conn));
}

// Ids are bigint: every positive value up to 2^63 - 1 is an id, which may or may not
// exist (404); above it, or zero, is no id (416).
TEST_F(StatusTest, AnIdUpToTheLargestBigintIsLookedUpAndAboveItIsBadValue) {
  Session m = LoginNew(stack(), "member");
  const User pro = stack().AddUser("pro");
  for (const char* id : {"1000000000000000000", "9223372036854775807"}) {
    EXPECT_TRUE(IsError(m.conn.Request("USER_INFO", {{"token", m.token}, {"user-id", id}}),
                        "404/NOTFND", "unknown-user"))
        << id;
    EXPECT_TRUE(IsError(m.conn.Request("DEL_MSG", {{"token", m.token}, {"message-id", id}}),
                        "404/NOTFND", "unknown-message"))
        << id;
  }
  for (const char* id : {"9223372036854775808", "99999999999999999999999", "0",
                         "00000000000000000000", "+1", "-0", "0x1F"}) {
    EXPECT_TRUE(IsError(m.conn.Request("USER_INFO", {{"token", m.token}, {"user-id", id}}),
                        "416/MISFMT", "bad-value"))
        << id;
  }
  // Leading zeros are the same id, however many.
  const std::string padded = std::string(30, '0') + std::to_string(pro.id);
  const Response info = m.conn.Request("USER_INFO", {{"token", m.token}, {"user-id", padded}});
  EXPECT_TRUE(IsOk(info, {"user-id", "name", "role"}));
  EXPECT_EQ(info.Get("user-id"), std::to_string(pro.id));
  EXPECT_TRUE(Alive(m.conn));
}

TEST_F(StatusTest, LengthMismatchIs416AndRestOfLineDiscarded) {
  Session m = LoginNew(stack(), "member");
  const User pro = stack().AddUser("pro");
  ASSERT_TRUE(m.conn.Send("SEND_MSG\ntoken:" + m.token + "\nrecipient-id:" +
                          std::to_string(pro.id) + "\nmessage-length:3\ncontent:abcdef\n"));
  EXPECT_TRUE(IsError(m.conn.Read(), "416/MISFMT", "length-mismatch"));
  EXPECT_TRUE(Alive(m.conn));
  // Over several lines: the last line runs past N.
  ASSERT_TRUE(m.conn.Send("SEND_MSG\ntoken:" + m.token + "\nrecipient-id:" +
                          std::to_string(pro.id) + "\nmessage-length:6\ncontent:abc\ndefgh\n"));
  EXPECT_TRUE(IsError(m.conn.Read(), "416/MISFMT", "length-mismatch"));
  EXPECT_TRUE(Alive(m.conn));
  EXPECT_EQ(stack().db().Query("SELECT count(*) FROM messages WHERE sender_id = " +
                               std::to_string(m.user.id)),
            "0");
}

TEST_F(StatusTest, ContentTooLongIs416InCharacters) {
  Session m = LoginNew(stack(), "member");
  const User pro = stack().AddUser("pro");
  std::string longest;
  for (int i = 0; i < 1000; ++i) longest += "é";
  EXPECT_TRUE(IsOk(SendMsg(m.conn, m.token, pro.id, longest), {"message-id", "sent-at"}))
      << "1000 characters (2000 bytes) is the default maximum";
  EXPECT_TRUE(IsError(SendMsg(m.conn, m.token, pro.id, longest + "é"), "416/MISFMT",
                      "content-too-long"));
  EXPECT_TRUE(Alive(m.conn));
  EXPECT_EQ(stack().db().Query("SELECT count(*) FROM messages WHERE sender_id = " +
                               std::to_string(m.user.id)),
            "1");
}

TEST_F(StatusTest, EmptyContentIs416) {
  Session m = LoginNew(stack(), "member");
  const User pro = stack().AddUser("pro");
  EXPECT_TRUE(IsError(m.conn.Request("SEND_MSG", {{"token", m.token},
                                                  {"recipient-id", std::to_string(pro.id)},
                                                  {"message-length", "0"},
                                                  {"content", ""}}),
                      "416/MISFMT", "empty-content"));
  EXPECT_TRUE(Alive(m.conn));
}

// A content line ending with a CR (the line "content:ab\r\r\n" holds "ab\r"), or a
// UPDT_MSG's, would be written back in answers as "ab" and a CR LF line break, one
// character short of its message-length, and the recipient's client would lose its
// framing: 416 bad-value, nothing stored, the sender's connection in sync.
TEST_F(StatusTest, AContentLineEndingWithACarriageReturnIs416BadValue) {
  Session m = LoginNew(stack(), "member");
  const User pro = stack().AddUser("pro");
  const std::string recipient = std::to_string(pro.id);
  ASSERT_TRUE(m.conn.Send("SEND_MSG\ntoken:" + m.token + "\nrecipient-id:" + recipient +
                          "\nmessage-length:3\ncontent:ab\r\r\n"));
  EXPECT_TRUE(IsError(m.conn.Read(), "416/MISFMT", "bad-value"));
  ASSERT_TRUE(m.conn.Send("SEND_MSG\ntoken:" + m.token + "\nrecipient-id:" + recipient +
                          "\nmessage-length:4\ncontent:a\r\r\nb\n"));
  EXPECT_TRUE(IsError(m.conn.Read(), "416/MISFMT", "bad-value"));
  EXPECT_TRUE(Alive(m.conn));
  EXPECT_EQ(stack().db().Query("SELECT count(*) FROM messages WHERE sender_id = " +
                               std::to_string(m.user.id)),
            "0");
  // A CR inside a line is kept, and read back as it was sent.
  const Response sent = SendMsg(m.conn, m.token, pro.id, "a\rb");
  ASSERT_TRUE(IsOk(sent, {"message-id", "sent-at"}));
  ASSERT_TRUE(m.conn.Send("UPDT_MSG\ntoken:" + m.token + "\nmessage-id:" +
                          sent.Get("message-id") + "\nmessage-length:3\ncontent:ab\r\r\n"));
  EXPECT_TRUE(IsError(m.conn.Read(), "416/MISFMT", "bad-value"));
  EXPECT_TRUE(Alive(m.conn));
  EXPECT_EQ(stack().db().Query("SELECT content FROM messages WHERE id = " +
                               sent.Get("message-id")),
            "a\rb");
}

TEST_F(StatusTest, RequestTooLargeIs416ThenClosed) {
  Client c = stack().Connect();
  ASSERT_TRUE(c.Send("LOGIN\napi-token:" + std::string(20000, 'a') + "\n"));
  EXPECT_TRUE(IsError(c.Read(), "416/MISFMT", "request-too-large"));
  std::string after;
  EXPECT_TRUE(c.WaitClosed(3s, &after)) << "the connection must be closed";
  EXPECT_EQ(after, "");
  // Even without a newline in sight.
  Client d = stack().Connect();
  ASSERT_TRUE(d.Send(std::string(17000, 'x')));
  EXPECT_TRUE(IsError(d.Read(), "416/MISFMT", "request-too-large"));
  EXPECT_TRUE(d.WaitClosed(3s));
  // The gateway itself is fine.
  Client e = stack().Connect();
  EXPECT_TRUE(Alive(e));
}

TEST_F(StatusTest, RequestTooLargeAnsweredToAClientThatWritesEverythingFirst) {
  // A client that pipelines everything, then reads (a script piping a file): what it
  // sends after the over-long line is read and dropped, so its writes never block, and
  // it gets every answer, then a clean end of stream (closing over unread input would
  // reset the connection and destroy answers not yet read).
  Client c = stack().Connect();
  std::string input;
  for (int i = 0; i < 40; ++i) input += "PING\n\n";
  input += "LOGIN\napi-token:" + std::string(20000, 'a') + "\n";
  input += std::string(32 << 20, 'x');  // more than the kernel buffers hold
  ASSERT_TRUE(c.Send(input)) << "the gateway stopped reading, or reset the connection";
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(IsOk(c.Read(), {})) << "PING " << i;
  EXPECT_TRUE(IsError(c.Read(), "416/MISFMT", "request-too-large"));
  std::string after;
  EXPECT_TRUE(c.WaitClosed(3s, &after)) << "the connection must be closed";
  EXPECT_EQ(after, "");
}

// ----------------------------------------------------------------- 426

TEST_F(StatusTest, RateLimitedIs426WithRetryAfter) {
  Session m = LoginNew(stack(), "member");
  const User pro = stack().AddUser("pro");
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(IsOk(SendMsg(m.conn, m.token, pro.id, "n" + std::to_string(i)),
                     {"message-id", "sent-at"}))
        << "message " << i;
  }
  const Response r = SendMsg(m.conn, m.token, pro.id, "n12");
  ASSERT_TRUE(IsError(r, "426/TOOMRQ", "rate-limited", {"retry-after"}));
  const std::string retry = r.Get("retry-after");
  ASSERT_TRUE(IsId(retry)) << r;
  EXPECT_LE(std::stoi(retry), 60) << r;
  EXPECT_TRUE(Alive(m.conn));
  // The limit is per user, not per connection.
  Client other = stack().Connect();
  EXPECT_TRUE(IsError(SendMsg(other, m.token, pro.id, "n13"), "426/TOOMRQ", "rate-limited",
                      {"retry-after"}));
  EXPECT_TRUE(Alive(other));
  // A refused request changes nothing.
  EXPECT_EQ(stack().db().Query("SELECT count(*) FROM messages WHERE sender_id = " +
                               std::to_string(m.user.id)),
            "12");
}

}  // namespace
}  // namespace tchatator::e2e
