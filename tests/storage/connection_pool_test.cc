// Integration tests of storage::ConnectionPool::Reconfigure and PgStore::Reconfigure (real
// PostgreSQL): a move to another database (new leases there, held ones finish on the old
// one and are closed when returned, idle ones closed at once, statements prepared on the
// new connections), and the pool size shrinking and growing while connections are leased;
// and the session settings of OpenConnection.

#include "storage/connection_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "pqxx/pqxx"
#include "storage/migrations.h"
#include "storage/pg_store.h"
#include "tests/support/test_database.h"

namespace tchatator::storage {
namespace {

using ::tchatator::testing::TestDatabase;

// Every connection prepares "db": that a lease can run it shows `prepare` ran on it.
ConnectionPool NewPool(const std::string& url, size_t size) {
  return ConnectionPool(url, size, [](pqxx::connection& c) {
    c.prepare("db", "SELECT current_database()");
  });
}

// The database `lease` is connected to, through the prepared statement.
std::string DatabaseOf(ConnectionPool::Lease& lease) {
  pqxx::nontransaction txn(lease.connection());
  return txn.exec_prepared("db")[0][0].as<std::string>();
}

// The sessions on `db` other than the one asking.
std::string OtherBackends(const TestDatabase& db) {
  return db.Query(
      "SELECT count(*) FROM pg_stat_activity "
      "WHERE datname = current_database() AND pid <> pg_backend_pid()"
      // Not autovacuum workers, which come and go.
      " AND backend_type = 'client backend'");
}

// Polls `condition` for up to 10 s (a closed connection leaves pg_stat_activity when
// its server process has ended, shortly after the client closed it).
bool Eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

TEST(CheckDatabaseUrl, AcceptsWhatLibpqParsesAndSaysWhyOtherwiseWithoutThePassword) {
  EXPECT_TRUE(CheckDatabaseUrl("host=/tmp dbname=tchatator").ok());
  EXPECT_TRUE(CheckDatabaseUrl("postgresql://u:pw@db:5432/tchatator?sslmode=disable").ok());
  EXPECT_TRUE(CheckDatabaseUrl("").ok());  // libpq's defaults and PG* variables
  absl::Status s = CheckDatabaseUrl("host='db");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "database-url is not a valid connection string: unterminated quoted string in "
            "connection info string");
  s = CheckDatabaseUrl("postgresql://u:abc%zz@db/tchatator");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "database-url is not a valid connection string: invalid percent-encoded token: "
            "\"***\"");
}

TEST(WithoutPasswords, MasksThePasswordOfTheUrlWhereverItAppears) {
  const std::string uri = "postgresql://tchatator:S3cret@[db/tchatator";
  EXPECT_EQ(WithoutPasswords("invalid URI \"" + uri + "\"", uri),
            "invalid URI \"postgresql://tchatator:***@[db/tchatator\"");
  // libpq may quote the password alone (a bad percent-encoding in it).
  EXPECT_EQ(WithoutPasswords("invalid percent-encoded token: \"abc%zz\"",
                             "postgresql://u:abc%zz@host/db"),
            "invalid percent-encoded token: \"***\"");
  EXPECT_EQ(WithoutPasswords("bad: abc%zz", "postgresql://db/t?user=me&password=abc%zz&x=1"),
            "bad: ***");
  EXPECT_EQ(WithoutPasswords("host=db password=S3cret user=me", "host=db password=S3cret user=me"),
            "host=db password=*** user=me");
  EXPECT_EQ(WithoutPasswords("quoted: it's a secret",
                             "host=db password = 'it\\'s a secret' user=me"),
            "quoted: ***");
  // A password with '@' or '/' in it, unencoded (so malformed): still found whole.
  EXPECT_EQ(WithoutPasswords("x p/a@ss y", "postgresql://u:p/a@ss@h/d"), "x *** y");
  // Nothing else changes; no password, nothing masked.
  EXPECT_EQ(WithoutPasswords("connection to server at \"127.0.0.1\", port 1 failed",
                             "host=127.0.0.1 port=1"),
            "connection to server at \"127.0.0.1\", port 1 failed");
  EXPECT_EQ(WithoutPasswords("postgresql://me@db/t", "postgresql://me@db/t"),
            "postgresql://me@db/t");
  // Linear: a long message costs nothing much.
  const std::string long_text(1 << 20, 'x');
  EXPECT_EQ(WithoutPasswords(long_text, "host=db password='" + std::string(1000, 'y') + "'"),
            long_text);
}

TEST(WithoutPasswords, ALibpqErrorOnAMalformedUrlKeepsNoPassword) {
  // libpq quotes the whole connection string when it cannot parse it, or the password
  // alone when its percent-encoding is wrong.
  ConnectionPool pool("postgresql://tchatator:S3cretPassw0rd@[db:5432/tchatator", 1,
                      [](pqxx::connection&) {});
  ConnectionPool::Lease lease;
  const absl::Status status = pool.Acquire(lease);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(std::string(status.message()).find("S3cretPassw0rd"), std::string::npos) << status;
  EXPECT_NE(std::string(status.message()).find("***"), std::string::npos) << status;
  const absl::Status migrated =
      Migrate("host=127.0.0.1 port=1 password=S3cretPassw0rd dbname=x connect_timeout=2");
  EXPECT_EQ(migrated.code(), absl::StatusCode::kUnavailable) << migrated;
  EXPECT_EQ(std::string(migrated.message()).find("S3cretPassw0rd"), std::string::npos)
      << migrated;
  // A string libpq cannot parse is refused at once (no waiting for it to get better).
  const absl::Status malformed = Migrate("postgresql://tchatator:S3cretPassw0rd@[db:5432/x");
  EXPECT_EQ(malformed.code(), absl::StatusCode::kInvalidArgument) << malformed;
  EXPECT_EQ(std::string(malformed.message()).find("S3cretPassw0rd"), std::string::npos)
      << malformed;
  EXPECT_EQ(Migrate("host=db nosuchoption=1").code(), absl::StatusCode::kInvalidArgument);
  const absl::Status percent = Migrate("postgresql://u:S3cret%zzPass@db/x");
  EXPECT_EQ(percent.code(), absl::StatusCode::kInvalidArgument) << percent;
  EXPECT_EQ(std::string(percent.message()).find("S3cret%zzPass"), std::string::npos) << percent;
}

// The server's default is JIT on (a fresh cluster's); every connection of the product is
// opened with it off, the pool's as well as the change feed's.
TEST(OpenConnection, TurnsJitOffForThePoolAndForOneOpenedAlone) {
  TestDatabase db;
  ASSERT_EQ(db.Query("SHOW jit"), "on") << "the test cluster's default, which must be overridden";
  EXPECT_EQ(pqxx::nontransaction(*OpenConnection(db.url())).exec1("SHOW jit")[0].as<std::string>(),
            "off");
  ConnectionPool pool = NewPool(db.url(), 1);
  ConnectionPool::Lease lease;
  ASSERT_TRUE(pool.Acquire(lease).ok());
  EXPECT_EQ(pqxx::nontransaction(lease.connection()).exec1("SHOW jit")[0].as<std::string>(),
            "off");
}

TEST(ConnectionPoolReconfigure, NewLeasesGoToTheNewDatabaseWhileHeldOnesFinishOnTheOld) {
  TestDatabase a;
  TestDatabase b;
  ConnectionPool pool = NewPool(a.url(), 2);
  ConnectionPool::Lease held;
  ASSERT_TRUE(pool.Acquire(held).ok());
  ASSERT_EQ(DatabaseOf(held), a.name());

  pool.Reconfigure(b.url(), 2);
  ConnectionPool::Lease fresh;
  ASSERT_TRUE(pool.Acquire(fresh).ok());
  EXPECT_EQ(DatabaseOf(fresh), b.name());
  EXPECT_EQ(DatabaseOf(held), a.name()) << "a lease taken before keeps its database";
  EXPECT_EQ(pool.OpenConnections(), 2u);

  held = ConnectionPool::Lease();
  EXPECT_EQ(pool.OpenConnections(), 1u) << "the old database's connection is closed";
  EXPECT_TRUE(Eventually([&] { return OtherBackends(a) == "0"; })) << OtherBackends(a);

  fresh = ConnectionPool::Lease();
  ConnectionPool::Lease again;
  ASSERT_TRUE(pool.Acquire(again).ok());
  EXPECT_EQ(DatabaseOf(again), b.name());
  EXPECT_EQ(pool.OpenConnections(), 1u) << "the new database's connection is reused";
  EXPECT_EQ(OtherBackends(b), "1");
}

TEST(ConnectionPoolReconfigure, IdleConnectionsOfTheOldDatabaseCloseAtOnce) {
  TestDatabase a;
  TestDatabase b;
  ConnectionPool pool = NewPool(a.url(), 2);
  {
    ConnectionPool::Lease first;
    ConnectionPool::Lease second;
    ASSERT_TRUE(pool.Acquire(first).ok());
    ASSERT_TRUE(pool.Acquire(second).ok());
  }
  ASSERT_EQ(pool.OpenConnections(), 2u);
  ASSERT_EQ(OtherBackends(a), "2");

  pool.Reconfigure(b.url(), 2);
  EXPECT_EQ(pool.OpenConnections(), 0u);
  EXPECT_TRUE(Eventually([&] { return OtherBackends(a) == "0"; })) << OtherBackends(a);
  ConnectionPool::Lease lease;
  ASSERT_TRUE(pool.Acquire(lease).ok());
  EXPECT_EQ(DatabaseOf(lease), b.name());
}

TEST(ConnectionPoolReconfigure, SameUrlKeepsTheConnections) {
  TestDatabase a;
  ConnectionPool pool = NewPool(a.url(), 2);
  {
    ConnectionPool::Lease lease;
    ASSERT_TRUE(pool.Acquire(lease).ok());
  }
  const std::string pid = a.Query(
      "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
      "AND pid <> pg_backend_pid()");
  pool.Reconfigure(a.url(), 2);
  ConnectionPool::Lease lease;
  ASSERT_TRUE(pool.Acquire(lease).ok());
  pqxx::nontransaction txn(lease.connection());
  EXPECT_EQ(txn.exec("SELECT pg_backend_pid()")[0][0].as<std::string>(), pid);
}

TEST(ConnectionPoolReconfigure, ShrinkingClosesConnectionsBeyondTheNewSize) {
  TestDatabase a;
  ConnectionPool pool = NewPool(a.url(), 3);
  {
    ConnectionPool::Lease l1, l2, l3;
    ASSERT_TRUE(pool.Acquire(l1).ok());
    ASSERT_TRUE(pool.Acquire(l2).ok());
    ASSERT_TRUE(pool.Acquire(l3).ok());
    pool.Reconfigure(a.url(), 1);
    EXPECT_EQ(pool.OpenConnections(), 3u) << "leased connections are not taken away";
    EXPECT_EQ(DatabaseOf(l1), a.name());
    l1 = ConnectionPool::Lease();
    EXPECT_EQ(pool.OpenConnections(), 2u);
    l2 = ConnectionPool::Lease();
    EXPECT_EQ(pool.OpenConnections(), 1u);
    l3 = ConnectionPool::Lease();
    EXPECT_EQ(pool.OpenConnections(), 1u) << "the last one is within the size: kept";
  }
  EXPECT_TRUE(Eventually([&] { return OtherBackends(a) == "1"; })) << OtherBackends(a);

  // Idle connections beyond a smaller size close at once.
  pool.Reconfigure(a.url(), 3);
  {
    ConnectionPool::Lease l1, l2, l3;
    ASSERT_TRUE(pool.Acquire(l1).ok());
    ASSERT_TRUE(pool.Acquire(l2).ok());
    ASSERT_TRUE(pool.Acquire(l3).ok());
  }
  ASSERT_EQ(pool.OpenConnections(), 3u);
  pool.Reconfigure(a.url(), 1);
  EXPECT_EQ(pool.OpenConnections(), 1u);
  EXPECT_TRUE(Eventually([&] { return OtherBackends(a) == "1"; })) << OtherBackends(a);
}

TEST(ConnectionPoolReconfigure, GrowingServesACallerWaitingForAConnection) {
  TestDatabase a;
  ConnectionPool pool = NewPool(a.url(), 1);
  ConnectionPool::Lease held;
  ASSERT_TRUE(pool.Acquire(held).ok());
  std::atomic<bool> served{false};
  std::string database;
  std::thread waiter([&] {
    ConnectionPool::Lease lease;
    if (!pool.Acquire(lease).ok()) return;
    database = DatabaseOf(lease);
    served = true;
  });
  pool.Reconfigure(a.url(), 2);
  const bool got = Eventually([&] { return served.load(); });
  // On failure the waiter still waits: free the connection so that it can end.
  if (!got) held = ConnectionPool::Lease();
  waiter.join();
  EXPECT_TRUE(got) << "the waiter got no connection while the first was held";
  EXPECT_EQ(database, a.name());
}

TEST(PgStoreReconfigure, LaterCallsUseTheNewDatabaseWithItsPreparedStatements) {
  TestDatabase a;
  TestDatabase b;
  ASSERT_TRUE(Migrate(a.url()).ok());
  ASSERT_TRUE(Migrate(b.url()).ok());
  PgStore store(a.url(), 2);
  const absl::StatusOr<int64_t> in_a = store.CreateUser(Role::kMember, "ann", "hash-a");
  ASSERT_TRUE(in_a.ok()) << in_a.status().ToString();
  ASSERT_TRUE(store.FindUserByApiKeyHash("hash-a").ok());

  store.Reconfigure(b.url(), 1);
  EXPECT_EQ(store.FindUserByApiKeyHash("hash-a").status().code(), absl::StatusCode::kNotFound);
  const absl::StatusOr<int64_t> from = store.CreateUser(Role::kMember, "bob", "hash-b");
  const absl::StatusOr<int64_t> to = store.CreateUser(Role::kPro, "shop", "hash-shop");
  ASSERT_TRUE(from.ok() && to.ok());
  const absl::StatusOr<Message> sent =
      store.InsertMessage(*from, *to, "bonjour", absl::Now(), SendLimits{0, 0});
  ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  EXPECT_EQ(b.Query("SELECT string_agg(name, ',' ORDER BY id) FROM users"), "bob,shop");
  EXPECT_EQ(b.Query("SELECT content FROM messages"), "bonjour");
  EXPECT_EQ(a.Query("SELECT string_agg(name, ',' ORDER BY id) FROM users"), "ann");
  EXPECT_EQ(a.Query("SELECT count(*) FROM messages"), "0");
}

}  // namespace
}  // namespace tchatator::storage
