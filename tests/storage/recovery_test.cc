// PgStore keeps working across database outages without a restart: a database that
// appears after the store was built, and connections killed by the server.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <pqxx/pqxx>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "storage/migrations.h"
#include "storage/pg_store.h"
#include "tests/support/test_database.h"

namespace tchatator::storage {
namespace {

using ::tchatator::testing::TestDatabase;

const absl::Time kT0 = absl::FromUnixSeconds(1795000000);

std::string AdminUrl() {
  const char* admin = std::getenv("TCHATATOR_TEST_PG");
  return admin == nullptr ? "" : admin;
}

// Runs `sql` on the cluster's admin database; returns the first value ("" if none).
std::string AdminExec(const std::string& sql) {
  pqxx::connection connection(AdminUrl());
  pqxx::nontransaction txn(connection);
  pqxx::result r = txn.exec(sql);
  if (r.empty() || r[0].empty() || r[0][0].is_null()) return "";
  return r[0][0].as<std::string>();
}

TEST(PgStoreRecovery, WorksOnceTheDatabaseAppearsAfterConstruction) {
  ASSERT_FALSE(AdminUrl().empty()) << "TCHATATOR_TEST_PG is not set";
  TestDatabase db;  // drops the database at the end, whoever created it last
  AdminExec("DROP DATABASE " + db.name());

  PgStore store(db.url(), 4);
  for (int i = 0; i < 3; ++i) {
    const absl::StatusOr<User> user = store.GetUser(1);
    EXPECT_EQ(user.status().code(), absl::StatusCode::kUnavailable) << user.status().ToString();
  }
  EXPECT_EQ(store.CreateUser(Role::kMember, "early", "h0").status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(Migrate(db.url()).code(), absl::StatusCode::kUnavailable);

  AdminExec("CREATE DATABASE " + db.name());
  ASSERT_TRUE(Migrate(db.url()).ok());

  // Same store object: no restart needed.
  const absl::StatusOr<int64_t> id = store.CreateUser(Role::kMember, "late", "h1");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  const absl::StatusOr<User> user = store.GetUser(*id);
  ASSERT_TRUE(user.ok()) << user.status().ToString();
  EXPECT_EQ(user->name, "late");
}

TEST(PgStoreRecovery, SurvivesConnectionsKilledByTheServer) {
  TestDatabase db;
  ASSERT_TRUE(Migrate(db.url()).ok());
  PgStore store(db.url(), 4);
  const absl::StatusOr<int64_t> member = store.CreateUser(Role::kMember, "m", "h1");
  const absl::StatusOr<int64_t> pro = store.CreateUser(Role::kPro, "p", "h2");
  ASSERT_TRUE(member.ok() && pro.ok());

  for (int round = 0; round < 3; ++round) {
    // The pooled connection dies while idle (as in a database restart). Calls so far
    // were sequential: the pool holds exactly one connection, once the ones that
    // Migrate and the previous round closed have left (autovacuum workers aside).
    const std::string clients = " FROM pg_stat_activity WHERE datname = '" + db.name() +
                                "' AND backend_type = 'client backend'";
    for (int i = 0; i < 1000 && AdminExec("SELECT count(*)" + clients) != "1"; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(AdminExec("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))" +
                        clients),
              "1")
        << "round " << round;
    const absl::StatusOr<Message> m =
        store.InsertMessage(*member, *pro, "after restart", kT0, SendLimits{12, 90});
    ASSERT_TRUE(m.ok()) << "round " << round << ": " << m.status().ToString();
    const absl::StatusOr<std::vector<Message>> unread =
        store.TakeUnread(*pro, kT0, absl::InfiniteFuture());
    ASSERT_TRUE(unread.ok()) << unread.status().ToString();
    ASSERT_EQ(unread->size(), 1u);
    EXPECT_EQ((*unread)[0].id, m->id);
  }
  EXPECT_EQ(db.Query("SELECT count(*) FROM messages"), "3");
}

}  // namespace
}  // namespace tchatator::storage
