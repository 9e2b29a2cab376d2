// Sessions: tokens across connections, the API key as a token, DISCONNECTED.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/stack.h"

namespace tchatator::e2e {
namespace {

using SessionTest = SharedStackTest;

TEST_F(SessionTest, DisconnectedClosesConnectionAndEndsSession) {
  Session m = LoginNew(stack(), "member");
  const User pro = stack().AddUser("pro");
  ASSERT_TRUE(IsOk(SendMsg(m.conn, m.token, pro.id, "avant"), {"message-id", "sent-at"}));
  ASSERT_TRUE(m.conn.Send("DISCONNECTED\n"));
  const Response bye = m.conn.Read(3s);
  EXPECT_EQ(bye.raw, "200/OK\n\n") << bye;
  std::string after;
  EXPECT_TRUE(m.conn.WaitClosed(3s, &after)) << "the server must close the connection";
  EXPECT_EQ(after, "");
  // The session is dead everywhere.
  Client other = stack().Connect();
  EXPECT_TRUE(IsError(SendMsg(other, m.token, pro.id, "après"), "401/UNAUTH",
                      "not-authenticated"));
  EXPECT_TRUE(Alive(other));
  // The API key still logs in.
  EXPECT_TRUE(IsOk(other.Request("LOGIN", {{"api-token", m.user.api_key}}),
                   {"token", "user-id", "role"}));
}

TEST_F(SessionTest, DisconnectedEndsTheSessionOfAUserUnderABan) {
  // A ban refuses the user's requests; it must not keep alive a session its user ends.
  Session m = LoginNew(stack(), "member");
  Session admin = LoginNew(stack(), "admin");
  const std::string id = std::to_string(m.user.id);
  ASSERT_TRUE(IsOk(admin.conn.Request("BAN_USER", {{"token", admin.token}, {"user-id", id}}),
                   {"user-id"}));
  ASSERT_TRUE(m.conn.Send("DISCONNECTED\n"));
  EXPECT_EQ(m.conn.Read(3s).raw, "200/OK\n\n");
  EXPECT_TRUE(m.conn.WaitClosed(3s));
  ASSERT_TRUE(IsOk(admin.conn.Request("UNBAN_USER", {{"token", admin.token}, {"user-id", id}}),
                   {"user-id"}));
  Client other = stack().Connect();
  EXPECT_TRUE(IsError(other.Request("GET_UNREAD", {{"token", m.token}}), "401/UNAUTH",
                      "not-authenticated"));
}

// The session used on the connection is the one the core accepted last: a token it
// refused (401) since does not replace it.
TEST_F(SessionTest, DisconnectedEndsTheSessionTheCoreAcceptedNotARefusedToken) {
  Session m = LoginNew(stack(), "member");
  EXPECT_TRUE(IsError(m.conn.Request("GET_UNREAD", {{"token", std::string(43, 'x')}}),
                      "401/UNAUTH", "not-authenticated"));
  ASSERT_TRUE(m.conn.Send("DISCONNECTED\n"));
  EXPECT_EQ(m.conn.Read(3s).raw, "200/OK\n\n");
  EXPECT_TRUE(m.conn.WaitClosed(3s));
  Client other = stack().Connect();
  EXPECT_TRUE(IsError(other.Request("GET_UNREAD", {{"token", m.token}}), "401/UNAUTH",
                      "not-authenticated"));
}

TEST_F(SessionTest, DisconnectedWithoutSessionJustCloses) {
  Client c = stack().Connect();
  ASSERT_TRUE(c.Send("DISCONNECTED\n\n"));
  EXPECT_EQ(c.Read(3s).raw, "200/OK\n\n");
  EXPECT_TRUE(c.WaitClosed(3s));
}

TEST_F(SessionTest, DisconnectedEndsOnlyThisConnectionsSession) {
  const User member = stack().AddUser("member");
  const User pro = stack().AddUser("pro");
  // Two devices of one user: two sessions.
  Client phone = stack().Connect();
  Client laptop = stack().Connect();
  const Response a = phone.Request("LOGIN", {{"api-token", member.api_key}});
  const Response b = laptop.Request("LOGIN", {{"api-token", member.api_key}});
  ASSERT_TRUE(IsOk(a, {"token", "user-id", "role"}));
  ASSERT_TRUE(IsOk(b, {"token", "user-id", "role"}));
  EXPECT_NE(a.Get("token"), b.Get("token"));
  ASSERT_TRUE(phone.Send("DISCONNECTED\n"));
  EXPECT_EQ(phone.Read(3s).raw, "200/OK\n\n");
  EXPECT_TRUE(phone.WaitClosed(3s));
  EXPECT_TRUE(IsOk(SendMsg(laptop, b.Get("token"), pro.id, "toujours là"),
                   {"message-id", "sent-at"}));
  EXPECT_TRUE(IsError(SendMsg(laptop, a.Get("token"), pro.id, "fantôme"), "401/UNAUTH",
                      "not-authenticated"));
  EXPECT_TRUE(Alive(laptop));
}

TEST_F(SessionTest, TokenValidOnAnotherConnection) {
  Session m = LoginNew(stack(), "member");
  const User pro = stack().AddUser("pro");
  Client other = stack().Connect();
  EXPECT_TRUE(IsOk(SendMsg(other, m.token, pro.id, "salut"), {"message-id", "sent-at"}));
  EXPECT_TRUE(Alive(other));
}

TEST_F(SessionTest, ApiKeyAcceptedAsTokenOnlyOnItsLoginConnection) {
  Session m = LoginNew(stack(), "member");
  const User pro = stack().AddUser("pro");
  // Legacy clients repeat their API key as `token` on the connection that logged in.
  const Response own = SendMsg(m.conn, m.user.api_key, pro.id, "salut");
  ASSERT_TRUE(IsOk(own, {"message-id", "sent-at"}));
  EXPECT_EQ(stack().db().Query("SELECT sender_id FROM messages WHERE id = " +
                               own.Get("message-id")),
            std::to_string(m.user.id));
  EXPECT_TRUE(Alive(m.conn));
  // Not on another connection, even one where another user logged in.
  Client other = stack().Connect();
  EXPECT_TRUE(IsError(SendMsg(other, m.user.api_key, pro.id, "salut"), "401/UNAUTH",
                      "not-authenticated"));
  EXPECT_TRUE(Alive(other));
  const User someone = stack().AddUser("member");
  ASSERT_TRUE(IsOk(other.Request("LOGIN", {{"api-token", someone.api_key}}),
                   {"token", "user-id", "role"}));
  EXPECT_TRUE(IsError(SendMsg(other, m.user.api_key, pro.id, "salut"), "401/UNAUTH",
                      "not-authenticated"));
  EXPECT_TRUE(IsError(other.Request("GET_UNREAD", {{"token", m.user.api_key}}), "401/UNAUTH",
                      "not-authenticated"));
  EXPECT_TRUE(Alive(other));
  // Each LOGIN on a connection keeps its key usable there: a second user's LOGIN on
  // m's connection leaves m's key standing for m's session.
  ASSERT_TRUE(IsOk(m.conn.Request("LOGIN", {{"api-token", pro.api_key}}),
                   {"token", "user-id", "role"}));
  const Response again = SendMsg(m.conn, m.user.api_key, pro.id, "toujours moi");
  ASSERT_TRUE(IsOk(again, {"message-id", "sent-at"}));
  EXPECT_EQ(stack().db().Query("SELECT sender_id FROM messages WHERE id = " +
                               again.Get("message-id")),
            std::to_string(m.user.id));
  const Response reply = SendMsg(m.conn, pro.api_key, m.user.id, "et moi");
  ASSERT_TRUE(IsOk(reply, {"message-id", "sent-at"}));
  EXPECT_EQ(stack().db().Query("SELECT sender_id FROM messages WHERE id = " +
                               reply.Get("message-id")),
            std::to_string(pro.id));
}

TEST_F(SessionTest, AConnectionKeepsTheKeysOfItsEightLatestLogins) {
  // The legacy aliases of one connection are bounded: a ninth key's LOGIN drops the
  // first key's alias (its session lives on under its token), and a key logged in again
  // stands for its latest session.
  Client c = stack().Connect();
  std::vector<User> users;
  std::vector<std::string> tokens;
  for (int i = 0; i < 9; ++i) {
    users.push_back(stack().AddUser("member"));
    const Response r = c.Request("LOGIN", {{"api-token", users.back().api_key}});
    ASSERT_TRUE(IsOk(r, {"token", "user-id", "role"})) << i;
    tokens.push_back(r.Get("token"));
  }
  EXPECT_TRUE(IsError(c.Request("GET_UNREAD", {{"token", users[0].api_key}}), "401/UNAUTH",
                      "not-authenticated"));
  EXPECT_TRUE(IsOk(c.Request("GET_UNREAD", {{"token", tokens[0]}}), {"count"}));
  for (int i = 1; i < 9; ++i) {
    EXPECT_TRUE(IsOk(c.Request("GET_UNREAD", {{"token", users[i].api_key}}), {"count"})) << i;
  }
  // users[1] logs in again: its key now stands for the latest session, which
  // DISCONNECTED (after a request through the key) ends; its first session lives on.
  const Response again = c.Request("LOGIN", {{"api-token", users[1].api_key}});
  ASSERT_TRUE(IsOk(again, {"token", "user-id", "role"}));
  EXPECT_TRUE(IsOk(c.Request("GET_UNREAD", {{"token", users[1].api_key}}), {"count"}));
  ASSERT_TRUE(c.Send("DISCONNECTED\n"));
  EXPECT_EQ(c.Read(3s).raw, "200/OK\n\n");
  Client other = stack().Connect();
  EXPECT_TRUE(IsError(other.Request("GET_UNREAD", {{"token", again.Get("token")}}), "401/UNAUTH",
                      "not-authenticated"));
  EXPECT_TRUE(IsOk(other.Request("GET_UNREAD", {{"token", tokens[1]}}), {"count"}));
}

TEST_F(SessionTest, RegeneratingAKeyEndsEverySessionItOpened) {
  // An operator regenerates a leaked key: whoever holds the old one must be cut off at
  // once, including through sessions already open and the legacy API-key token.
  Session m = LoginNew(stack(), "member");
  const User pro = stack().AddUser("pro");
  Client laptop = stack().Connect();
  const Response second = laptop.Request("LOGIN", {{"api-token", m.user.api_key}});
  ASSERT_TRUE(IsOk(second, {"token", "user-id", "role"}));
  Session other = LoginNew(stack(), "member");
  Client listener = stack().Connect();
  const Response subscribed_login = listener.Request("LOGIN", {{"api-token", m.user.api_key}});
  ASSERT_TRUE(IsOk(subscribed_login, {"token", "user-id", "role"}));
  ASSERT_EQ(listener.Request("SUBSCRIBE", {{"token", subscribed_login.Get("token")}}).raw,
            "200/OK\n\n");
  const User regenerated = stack().RegenerateKey(m.user.id);
  EXPECT_EQ(regenerated.id, m.user.id);
  EXPECT_NE(regenerated.api_key, m.user.api_key);

  EXPECT_TRUE(IsError(SendMsg(m.conn, m.token, pro.id, "jeton"), "401/UNAUTH",
                      "not-authenticated"));
  EXPECT_TRUE(IsError(SendMsg(m.conn, m.user.api_key, pro.id, "ancienne clé"), "401/UNAUTH",
                      "not-authenticated"));
  EXPECT_TRUE(IsError(laptop.Request("GET_UNREAD", {{"token", second.Get("token")}}),
                      "401/UNAUTH", "not-authenticated"));
  EXPECT_TRUE(IsError(m.conn.Request("LOGIN", {{"api-token", m.user.api_key}}), "403/DENIED",
                      "invalid-api-key"));
  EXPECT_TRUE(Alive(m.conn));
  EXPECT_EQ(stack().db().Query("SELECT count(*) FROM sessions WHERE user_id = " +
                               std::to_string(m.user.id)),
            "0");
  EXPECT_EQ(stack().db().Query("SELECT count(*) FROM messages WHERE sender_id = " +
                               std::to_string(m.user.id)),
            "0");
  // The subscribed session ended too: a message to the user is stored, but no event
  // delivers it (nor marks it read).
  Client pro_conn = stack().Connect();
  const Response pro_login = pro_conn.Request("LOGIN", {{"api-token", pro.api_key}});
  ASSERT_TRUE(IsOk(pro_login, {"token", "user-id", "role"}));
  const Response reply = SendMsg(pro_conn, pro_login.Get("token"), m.user.id, "réponse");
  ASSERT_TRUE(IsOk(reply, {"message-id", "sent-at"}));
  // The core ends the stream at that change: wait for it to say so, then check that
  // nothing was delivered (a slow core must not make this pass).
  const std::string who = "user=" + std::to_string(m.user.id) + " ";
  bool ended = false;
  for (int i = 0; i < 500 && !ended; ++i) {
    for (const std::string& line : LogLinesWith(stack().core_log_path(), "Subscribe ended")) {
      ended = ended || line.find(who) != std::string::npos;
    }
    if (!ended) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(ended) << "the core never ended the stream of the regenerated user";
  EXPECT_EQ(listener.ReadFor(200ms), "");
  EXPECT_EQ(stack().db().Query("SELECT read_at IS NULL FROM messages WHERE id = " +
                               reply.Get("message-id")),
            "t");
  // Another user's session is untouched; the new key logs in, and its token works.
  EXPECT_TRUE(IsOk(SendMsg(other.conn, other.token, pro.id, "rien changé"),
                   {"message-id", "sent-at"}));
  const Response fresh = laptop.Request("LOGIN", {{"api-token", regenerated.api_key}});
  ASSERT_TRUE(IsOk(fresh, {"token", "user-id", "role"}));
  EXPECT_EQ(fresh.Get("user-id"), std::to_string(m.user.id));
  EXPECT_TRUE(IsOk(SendMsg(laptop, fresh.Get("token"), pro.id, "nouvelle clé"),
                   {"message-id", "sent-at"}));
  EXPECT_TRUE(IsOk(SendMsg(laptop, regenerated.api_key, pro.id, "nouvelle clé en jeton"),
                   {"message-id", "sent-at"}));
}

}  // namespace
}  // namespace tchatator::e2e
