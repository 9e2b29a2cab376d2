// Query plans of the read queries PgStore runs (GET_UNREAD, GET_HISTORY with
// and without a peer and before-id, GET_CONVERSATIONS, USER_INFO, the message
// lookup of UPDT_MSG and DEL_MSG, the look for the built-in administrator) on a
// migrated database holding a million messages across 10,000 users: both the custom
// plan (first executions) and the generic plan a prepared statement may switch to
// must reach `messages` (or the table named) through an index, never a sequential scan.
//
// With TCHATATOR_PLAN_REPORT=<file>, also writes the EXPLAIN (ANALYZE, BUFFERS)
// output of every query to that file (docs/query-plans.md is made from it).

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "storage/migrations.h"
#include "storage/pg_store.h"
#include "tests/support/test_database.h"

namespace tchatator::storage {
namespace {

using ::tchatator::testing::TestDatabase;

// The data set (the SQL below spells these numbers out).
constexpr int64_t kMessages = 1'000'000;
constexpr int64_t kUsers = 10'000;  // 1..5000 members, 5001..10000 pros

// Users 1..5000 are members, 5001..10000 pros. Message g belongs to exchange k = g / 2
// between member m = 1 + (k * 7919) % 5000 and one of 8 pros of that member; it goes
// from the member when g is even, back when odd; 20 s apart. The newest 2% are unread,
// every 97th is deleted, every 13th edited. Indexes are dropped for the load and
// rebuilt from their own definitions (pg_indexes), much faster than maintaining them
// row by row, and leaving exactly the schema the migrations created. Then 5,000
// restrictions of members by pros (a third lifted, every 50th an admin's ban), as
// GET_USER and GET_CONVERSATIONS look for an admin's ban.
void Fill(pqxx::connection& c) {
  pqxx::work txn(c);
  txn.exec(R"sql(
    INSERT INTO users (role, name, api_key_hash)
    SELECT CASE WHEN g <= 5000 THEN 'member' ELSE 'pro' END, 'user ' || g, md5(g::text)
    FROM generate_series(1, 10000) g)sql");
  const pqxx::result indexes = txn.exec(
      "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
      " AND tablename = 'messages' AND indexname <> 'messages_pkey'");
  for (const pqxx::row& row : indexes) {
    txn.exec("DROP INDEX " + txn.quote_name(row[0].as<std::string>()));
  }
  // Bulk load: the foreign-key triggers are skipped (every id is a user made above).
  txn.exec("SET LOCAL session_replication_role = replica");
  txn.exec(R"sql(
    INSERT INTO messages (sender_id, recipient_id, content, sent_at, modified_at,
                          deleted_at, read_at)
    SELECT CASE WHEN g % 2 = 0 THEN m ELSE p END, CASE WHEN g % 2 = 0 THEN p ELSE m END,
           'message ' || g, t,
           CASE WHEN g % 13 = 0 THEN t + interval '5 minutes' END,
           CASE WHEN g % 97 = 0 THEN t + interval '10 minutes' END,
           CASE WHEN g <= 980000 THEN t + interval '1 minute' END
    FROM (SELECT g, m, 5001 + (m * 31 + g / 2 / 5000 % 8 * 613) % 5000 AS p, t
          FROM (SELECT g, 1 + (g / 2 * 7919) % 5000 AS m,
                       timestamptz '2026-01-01' + g * interval '20 seconds' AS t
                FROM generate_series(1::bigint, 1000000) g) a) s)sql");
  for (const pqxx::row& row : indexes) txn.exec(row[1].as<std::string>());
  txn.exec(R"sql(
    INSERT INTO restrictions (target_id, set_by, scope_id, kind, until, created_at,
                              lifted_at)
    SELECT 1 + g * 37 % 5000, 5000 + g, CASE WHEN g % 50 <> 0 THEN 5000 + g END,
           CASE WHEN g % 50 = 0 THEN 'ban' ELSE 'block' END,
           CASE WHEN g % 50 <> 0 THEN timestamptz '2027-01-02' END,
           timestamptz '2026-12-01',
           CASE WHEN g % 3 = 0 THEN timestamptz '2026-12-02' END
    FROM generate_series(1, 5000) g)sql");
  // A session for each user (two for one in ten).
  txn.exec(R"sql(
    INSERT INTO sessions (token_hash, user_id, created_at, expires_at)
    SELECT md5('session ' || g), 1 + g % 10000, timestamptz '2026-12-01',
           timestamptz '2026-12-02'
    FROM generate_series(0, 10999) g)sql");
  txn.commit();
  pqxx::nontransaction(c).exec("ANALYZE");
}

struct Query {
  std::string statement;            // PgStore's prepared statement
  std::string args;                 // EXECUTE's argument list
  std::vector<std::string> tables;  // each must be read, and through an index only
};

// The nodes of the JSON plan `plan` that read `table`: "Node Type/Index Name"
// each.
std::vector<std::string> Scans(pqxx::work& txn, const std::string& plan, const std::string& table) {
  std::vector<std::string> out;
  const pqxx::result r = txn.exec(
      "SELECT n->>'Node Type', COALESCE(n->>'Index Name', '') FROM"
      " jsonb_path_query(" +
      txn.quote(plan) +
      "::jsonb,"
      " 'strict $.**?(@.\"Relation Name\" == $t)', jsonb_build_object('t', " +
      txn.quote(table) + ")) n");
  for (const pqxx::row& row : r) {
    out.push_back(row[0].as<std::string>() + "/" + row[1].as<std::string>());
  }
  return out;
}

std::string Explain(pqxx::work& txn, const std::string& options, const Query& q) {
  std::string out;
  for (const pqxx::row& row :
       txn.exec("EXPLAIN (" + options + ") EXECUTE " + q.statement + "(" + q.args + ")")) {
    out += row[0].as<std::string>() + "\n";
  }
  return out;
}

TEST(QueryPlanTest, ReadQueriesUseIndexesOnAMillionMessages) {
  const auto start = std::chrono::steady_clock::now();
  TestDatabase db;
  const absl::Status migrated = Migrate(db.url());
  ASSERT_TRUE(migrated.ok()) << migrated.ToString();
  pqxx::connection c(db.url());
  Fill(c);
  const auto filled = std::chrono::steady_clock::now();

  // A typical member: the recipient of the newest message, which is unread;
  // `peer` the pro who wrote it.
  int64_t user = 0;
  int64_t peer = 0;
  int64_t messages_of_user = 0;
  {
    pqxx::work txn(c);
    const pqxx::row last = txn.exec1("SELECT recipient_id, sender_id FROM messages WHERE id = " +
                                     std::to_string(kMessages - 1));
    user = last[0].as<int64_t>();
    peer = last[1].as<int64_t>();
    ASSERT_EQ(txn.exec1("SELECT count(*) FROM messages").at(0).as<int64_t>(), kMessages);
    messages_of_user =
        txn.exec1("SELECT count(*) FROM messages WHERE sender_id = " + std::to_string(user) +
                  " OR recipient_id = " + std::to_string(user))
            .at(0)
            .as<int64_t>();
    ASSERT_GT(txn.exec1("SELECT count(*) FROM messages WHERE recipient_id = " +
                        std::to_string(user) + " AND read_at IS NULL")
                  .at(0)
                  .as<int64_t>(),
              0)
        << "the chosen user must have unread messages";
  }
  ASSERT_LE(user, 5000) << "the newest message goes to a member";
  ASSERT_GT(messages_of_user, 50);

  const std::string u = std::to_string(user);
  const std::string p = std::to_string(peer);
  const std::string no_bound = "9223372036854775807";  // ChatLogic's "no before-id"
  const std::string middle = std::to_string(kMessages / 2);
  const std::string now_us = "1798761600000000";  // 2027-01-01T00:00:00Z
  // History asks for a block of history-block-size (20) plus one, to know
  // has-more.
  const std::vector<Query> queries = {
      {"take_unread", u + ", " + now_us, {"messages"}},
      {"history", u + ", " + no_bound + ", 21", {"messages"}},
      {"history", u + ", " + middle + ", 21", {"messages"}},
      {"history_peer", u + ", " + p + ", " + no_bound + ", 21", {"messages"}},
      {"history_peer", u + ", " + p + ", " + middle + ", 21", {"messages"}},
      // Not `users`: joining a few hundred rows to 10,000 users, a hash join over a
      // scan of users is the cheaper plan; with more users it becomes index lookups.
      {"conversations", u, {"messages", "restrictions"}},
      {"get_user", p, {"users", "restrictions"}},
      {"get_message", std::to_string(kMessages / 3), {"messages"}},
      {"admins_by_key_prefix", "'built-in-admin:'", {"users"}},
      // Every second on a core without an admin key (ChatLogic::FollowAdminKey).
      {"end_admin_sessions", "'built-in-admin:'", {"users", "sessions"}},
  };

  std::set<std::string> prepared;
  std::string report;
  report += "messages: " + std::to_string(kMessages) + ", users: " + std::to_string(kUsers) +
            ", user " + u + " (peer " + p + ") has " + std::to_string(messages_of_user) +
            " messages\n";
  for (const Query& q : queries) {
    SCOPED_TRACE(q.statement + "(" + q.args + ")");
    const std::string sql = PgStoreStatementSql(q.statement);
    ASSERT_FALSE(sql.empty()) << "PgStore has no statement " << q.statement;
    if (prepared.insert(q.statement).second) {
      pqxx::nontransaction(c).exec("PREPARE " + q.statement + " AS " + sql);
    }
    for (const char* mode : {"force_custom_plan", "force_generic_plan"}) {
      SCOPED_TRACE(mode);
      // Rolled back: take_unread's EXPLAIN ANALYZE really marks messages read.
      pqxx::work txn(c);
      txn.exec(std::string("SET LOCAL plan_cache_mode = ") + mode);
      const std::string plan = Explain(txn, "FORMAT JSON", q);
      for (const std::string& table : q.tables) {
        const std::vector<std::string> scans = Scans(txn, plan, table);
        ASSERT_FALSE(scans.empty()) << "no scan of " << table << " in\n" << plan;
        for (const std::string& scan : scans) {
          // ModifyTable is take_unread's UPDATE itself; the scan that feeds it
          // is listed too. A bitmap heap scan reads the rows an index (its
          // child) found.
          EXPECT_TRUE(scan.starts_with("Index Scan/") || scan.starts_with("Index Only Scan/") ||
                      scan.starts_with("Bitmap Heap Scan/") || scan.starts_with("ModifyTable/"))
              << table << ": " << scan << " in\n"
              << plan;
        }
      }
      if (std::getenv("TCHATATOR_PLAN_REPORT") != nullptr) {
        report += "\n== " + q.statement + "(" + q.args + ") " + mode + "\n";
        report += Explain(txn, "ANALYZE, BUFFERS", q);
      }
      txn.abort();
    }
  }
  const auto done = std::chrono::steady_clock::now();
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  report += "\nload: " + std::to_string(duration_cast<milliseconds>(filled - start).count()) +
            " ms, plans: " + std::to_string(duration_cast<milliseconds>(done - filled).count()) +
            " ms\n";
  if (const char* path = std::getenv("TCHATATOR_PLAN_REPORT"); path != nullptr) {
    std::ofstream(path) << report;
  }
}

// History of a quiet user in a table dominated by a few busy ones (32 users sharing
// 200,000 messages, as in the benchmark): a generic plan estimates thousands of messages
// per user and, where the query lets it, walks the primary key backwards, filtering by
// user, through the whole table (40 ms a call in the benchmark). Each branch must walk
// the user's own index, in the custom and the generic plan.
TEST(QueryPlanTest, HistoryOfAQuietUserAmongBusyOnesWalksItsOwnIndex) {
  TestDatabase db;
  const absl::Status migrated = Migrate(db.url());
  ASSERT_TRUE(migrated.ok()) << migrated.ToString();
  pqxx::connection c(db.url());
  {
    pqxx::work txn(c);
    // Members 1..33, pros 34..66; 1..32 write to 34..65; 33 and 66 exchange 10 messages.
    txn.exec(R"sql(
      INSERT INTO users (role, name, api_key_hash)
      SELECT CASE WHEN g <= 33 THEN 'member' ELSE 'pro' END, 'user ' || g, md5(g::text)
      FROM generate_series(1, 66) g)sql");
    txn.exec(R"sql(
      INSERT INTO messages (sender_id, recipient_id, content, sent_at, read_at)
      SELECT 1 + g % 32, 34 + g % 32, 'busy', timestamptz '2026-01-01' + g * interval '1 second',
             timestamptz '2026-06-01'
      FROM generate_series(1, 200000) g)sql");
    txn.exec(R"sql(
      INSERT INTO messages (sender_id, recipient_id, content, sent_at, read_at)
      SELECT CASE WHEN g % 2 = 0 THEN 33 ELSE 66 END, CASE WHEN g % 2 = 0 THEN 66 ELSE 33 END,
             'quiet', timestamptz '2026-07-01' + g * interval '1 second', timestamptz '2026-07-02'
      FROM generate_series(1, 10) g)sql");
    txn.commit();
  }
  pqxx::nontransaction(c).exec("ANALYZE");
  const std::string no_bound = "9223372036854775807";
  const std::vector<Query> queries = {
      {"history", "33, " + no_bound + ", 21", {"messages"}},
      {"history", "66, " + no_bound + ", 21", {"messages"}},
      {"history_peer", "33, 66, " + no_bound + ", 21", {"messages"}},
      {"history_peer", "66, 33, " + no_bound + ", 21", {"messages"}},
  };
  std::set<std::string> prepared;
  for (const Query& q : queries) {
    SCOPED_TRACE(q.statement + "(" + q.args + ")");
    if (prepared.insert(q.statement).second) {
      pqxx::nontransaction(c).exec("PREPARE " + q.statement + " AS " +
                                   PgStoreStatementSql(q.statement));
    }
    for (const char* mode : {"force_custom_plan", "force_generic_plan"}) {
      SCOPED_TRACE(mode);
      pqxx::work txn(c);
      txn.exec(std::string("SET LOCAL plan_cache_mode = ") + mode);
      const std::string plan = Explain(txn, "FORMAT JSON", q);
      const std::vector<std::string> scans = Scans(txn, plan, "messages");
      ASSERT_EQ(scans.size(), 2u) << plan;  // one per branch
      for (const std::string& scan : scans) {
        EXPECT_TRUE(scan.starts_with("Index Scan/") || scan.starts_with("Bitmap Heap Scan/"))
            << scan << " in\n" << plan;
      }
      EXPECT_EQ(plan.find("messages_pkey"), std::string::npos) << plan;
      txn.abort();
    }
  }
}

}  // namespace
}  // namespace tchatator::storage
