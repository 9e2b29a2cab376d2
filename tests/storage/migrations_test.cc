// Integration tests of storage::Migrate on fresh databases (real PostgreSQL).

#include "storage/migrations.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/test_database.h"

namespace tchatator::storage {
namespace {

using ::tchatator::testing::TestDatabase;

std::string StatusText(const absl::Status& status) { return status.ToString(); }

std::string MigrationCount() { return std::to_string(Migrations().size()); }

TEST(Migrations, AreNumberedInIncreasingOrderWithSql) {
  ASSERT_FALSE(Migrations().empty());
  int previous = 0;
  std::set<std::string> names;
  for (const Migration& m : Migrations()) {
    EXPECT_GT(m.version, previous) << m.name;
    previous = m.version;
    EXPECT_FALSE(m.sql.empty()) << m.name;
    EXPECT_TRUE(names.insert(std::string(m.name)).second) << m.name;
  }
  EXPECT_EQ(Migrations().front().version, 1);
}

TEST(Migrate, CreatesTheSchemaAndRecordsEveryMigration) {
  TestDatabase db;
  const absl::Status status = Migrate(db.url());
  ASSERT_TRUE(status.ok()) << StatusText(status);
  EXPECT_EQ(db.Query("SELECT count(*) FROM schema_migrations"), MigrationCount());
  EXPECT_EQ(db.Query("SELECT max(version) FROM schema_migrations"),
            std::to_string(Migrations().back().version));
  for (const char* table : {"users", "sessions", "messages"}) {
    EXPECT_EQ(db.Query(std::string("SELECT to_regclass('public.") + table + "') IS NOT NULL"), "t")
        << table;
  }
  for (const Migration& m : Migrations()) {
    EXPECT_EQ(
        db.Query("SELECT name FROM schema_migrations WHERE version = " + std::to_string(m.version)),
        std::string(m.name));
  }
}

TEST(Migrate, TheSendStatementIsPlannedOnceWithIndexLookUpsOnly) {
  // Its plan is made once per connection, maybe while the tables it reads by key are
  // small: a sequential scan then stays in it, once per send (migrations 0010, 0011);
  // and a hash or merge join reads the whole users table to find a few rows (0012).
  TestDatabase db;
  ASSERT_TRUE(Migrate(db.url()).ok());
  EXPECT_EQ(db.Query("SELECT array_to_string(proconfig, ' ') FROM pg_proc"
                     " WHERE proname = 'tch_send_batch' AND pronargs = 8"),
            "plan_cache_mode=force_generic_plan enable_seqscan=off enable_hashjoin=off"
            " enable_mergejoin=off");
}

TEST(Migrate, IsIdempotent) {
  TestDatabase db;
  ASSERT_TRUE(Migrate(db.url()).ok());
  db.Query("INSERT INTO users (role, name, api_key_hash) VALUES ('member', 'kept', 'h1')");
  const absl::Status again = Migrate(db.url());
  ASSERT_TRUE(again.ok()) << StatusText(again);
  // One row per migration, none applied twice, and the data is untouched.
  EXPECT_EQ(db.Query("SELECT count(*) FROM schema_migrations"), MigrationCount());
  EXPECT_EQ(db.Query("SELECT count(DISTINCT version) FROM schema_migrations"), MigrationCount());
  EXPECT_EQ(db.Query("SELECT name FROM users"), "kept");
  ASSERT_TRUE(Migrate(db.url()).ok());
  EXPECT_EQ(db.Query("SELECT count(*) FROM schema_migrations"), MigrationCount());
}

TEST(Migrate, ListsTheMigrationsOfANewerReleaseItDoesNotKnow) {
  TestDatabase db;
  std::vector<std::string> unknown = {"left over"};
  ASSERT_TRUE(Migrate(db.url(), &unknown).ok());
  EXPECT_TRUE(unknown.empty());
  // What a newer release would have recorded after this one's last migration.
  const int last = Migrations().back().version;
  db.Query("INSERT INTO schema_migrations (version, name) VALUES (" + std::to_string(last + 2) +
           ", 'later_still.sql'), (" + std::to_string(last + 1) + ", 'next.sql')");
  const absl::Status again = Migrate(db.url(), &unknown);
  ASSERT_TRUE(again.ok()) << StatusText(again);
  EXPECT_EQ(unknown, (std::vector<std::string>{std::to_string(last + 1) + " next.sql",
                                               std::to_string(last + 2) + " later_still.sql"}));
}

TEST(Migrate, ConcurrentCallsOnAFreshDatabaseBothSucceed) {
  // Two rounds: the race is between two processes starting at once on an empty
  // database.
  for (int round = 0; round < 2; ++round) {
    TestDatabase db;
    absl::Status first;
    absl::Status second;
    std::thread a([&] { first = Migrate(db.url()); });
    std::thread b([&] { second = Migrate(db.url()); });
    a.join();
    b.join();
    EXPECT_TRUE(first.ok()) << StatusText(first);
    EXPECT_TRUE(second.ok()) << StatusText(second);
    EXPECT_EQ(db.Query("SELECT count(*) FROM schema_migrations"), MigrationCount());
  }
}

TEST(Migrate, UnreachableDatabaseIsUnavailable) {
  const char* admin = std::getenv("TCHATATOR_TEST_PG");
  ASSERT_NE(admin, nullptr) << "TCHATATOR_TEST_PG is not set";
  const absl::Status status =
      Migrate(std::string(admin) + " dbname=tchatator_no_such_database_for_tests");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << StatusText(status);
}

}  // namespace
}  // namespace tchatator::storage
