// 200 means committed (contract 2.3): the row is in PostgreSQL when the answer arrives.
#include <gtest/gtest.h>

#include <string>

#include "tests/e2e/stack.h"

namespace tchatator::e2e {
namespace {

using DurabilityTest = SharedStackTest;

TEST_F(DurabilityTest, OkMeansCommitted) {
  Session m = LoginNew(stack(), "member");
  const User pro = stack().AddUser("pro");
  const testing::TestDatabase& db = stack().db();
  for (int i = 0; i < 10; ++i) {
    const std::string text = "durable n°" + std::to_string(i) + " l'été";
    const Response r = SendMsg(m.conn, m.token, pro.id, text);
    ASSERT_TRUE(IsOk(r, {"message-id", "sent-at"})) << i;
    const std::string id = r.Get("message-id");
    // Read at once, from another connection to the database.
    EXPECT_EQ(db.Query("SELECT content FROM messages WHERE id = " + id), text);
    EXPECT_EQ(db.Query("SELECT sender_id || '>' || recipient_id FROM messages WHERE id = " + id),
              std::to_string(m.user.id) + ">" + std::to_string(pro.id));
    EXPECT_EQ(db.Query("SELECT deleted_at IS NULL AND read_at IS NULL AND modified_at IS NULL "
                       "FROM messages WHERE id = " + id),
              "t");
    // sent-at is the stored time, to the second.
    EXPECT_EQ(db.Query("SELECT to_char(sent_at AT TIME ZONE 'UTC', "
                       "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM messages WHERE id = " + id),
              r.Get("sent-at"));
  }
  const std::string last =
      db.Query("SELECT max(id) FROM messages WHERE sender_id = " + std::to_string(m.user.id));
  const Response up = m.conn.Request("UPDT_MSG", {{"token", m.token},
                                                  {"message-id", last},
                                                  {"content", "corrigé"}});
  ASSERT_TRUE(IsOk(up, {"message-id", "modified-at"}));
  EXPECT_EQ(db.Query("SELECT content || '|' || (modified_at IS NOT NULL) FROM messages "
                     "WHERE id = " + last),
            "corrigé|true");
  ASSERT_TRUE(IsOk(m.conn.Request("DEL_MSG", {{"token", m.token}, {"message-id", last}}),
                   {"message-id"}));
  EXPECT_EQ(db.Query("SELECT deleted_at IS NOT NULL FROM messages WHERE id = " + last), "t")
      << "deletion is soft: the row stays, marked deleted";
  EXPECT_TRUE(Alive(m.conn));
}

}  // namespace
}  // namespace tchatator::e2e
