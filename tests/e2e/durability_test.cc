// 200 means committed (contract 2.3): the row is in PostgreSQL when the answer arrives,
// one request at a time, and under concurrent SEND_MSG load when the core is killed
// (SIGKILL): every message answered 200 is stored once with its content, and nothing
// is stored that was not asked for.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

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

// One SEND_MSG of a load thread and its answer.
struct Sent {
  std::string content;
  Response response;
};

TEST(DurabilityUnderKillTest, CoreKilledUnderLoadLosesNoAnsweredMessage) {
  constexpr int kConnections = 8;
  StackOptions options;
  options.core_env = kNoSendLimits;
  Stack stack(options);
  const User pro = stack.AddUser("pro");
  std::vector<Session> sessions;
  for (int k = 0; k < kConnections; ++k) sessions.push_back(LoginNew(stack, "member"));

  // Each connection sends in a loop until it gets anything but 200: after the kill,
  // the gateway must answer 503 (Read() gives up after 5 s: a hang shows as a failure).
  std::atomic<int> oks{0};
  std::vector<std::vector<Sent>> sent(kConnections);
  std::vector<std::thread> threads;
  for (int k = 0; k < kConnections; ++k) {
    threads.emplace_back([&, k] {
      for (int i = 0; i < 100000; ++i) {
        const std::string content = "k" + std::to_string(k) + "-" + std::to_string(i) + " é";
        Response r = SendMsg(sessions[k].conn, sessions[k].token, pro.id, content);
        const bool ok = r.status == "200/OK";
        sent[k].push_back({content, std::move(r)});
        if (!ok) break;
        ++oks;
      }
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (oks.load() < 200 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  stack.KillCore();
  for (std::thread& t : threads) t.join();
  ASSERT_GE(oks.load(), 200) << "the load never got going";

  // Every row of the test's senders: id -> content.
  std::map<std::string, std::string> stored;
  std::map<std::string, int> copies;
  std::istringstream rows(stack.db().Query(
      "SELECT string_agg(id || '|' || content, E'\\n' ORDER BY id) FROM messages"));
  for (std::string row; std::getline(rows, row);) {
    const size_t bar = row.find('|');
    ASSERT_NE(bar, std::string::npos) << row;
    stored[row.substr(0, bar)] = row.substr(bar + 1);
    ++copies[row.substr(bar + 1)];
  }
  int acknowledged = 0;
  int stored_unacknowledged = 0;
  for (int k = 0; k < kConnections; ++k) {
    ASSERT_FALSE(sent[k].empty());
    for (size_t i = 0; i + 1 < sent[k].size(); ++i) {
      const Sent& s = sent[k][i];
      ASSERT_TRUE(IsOk(s.response, {"message-id", "sent-at"})) << s.content;
      ++acknowledged;
      const auto row = stored.find(s.response.Get("message-id"));
      ASSERT_NE(row, stored.end()) << "answered 200 but not stored: " << s.content;
      EXPECT_EQ(row->second, s.content) << "message-id " << row->first;
      EXPECT_EQ(copies[s.content], 1) << "stored more than once: " << s.content;
    }
    // The request in flight at the kill: 503, and stored at most once (the core may
    // have committed it just before it died, the client cannot know).
    const Sent& last = sent[k].back();
    EXPECT_TRUE(IsError(last.response, "503/UNAVAIL", "unavailable")) << last.content;
    EXPECT_LE(copies[last.content], 1) << last.content;
    stored_unacknowledged += copies[last.content];
  }
  // Nothing else was stored: only what was asked for, each at most once.
  EXPECT_EQ(stored.size(), static_cast<size_t>(acknowledged + stored_unacknowledged));
  std::fprintf(stderr,
               "[e2e] %d messages answered 200 before the kill, all stored; %d of the %d "
               "in flight stored without an answer\n",
               acknowledged, stored_unacknowledged, kConnections);
}

}  // namespace
}  // namespace tchatator::e2e
