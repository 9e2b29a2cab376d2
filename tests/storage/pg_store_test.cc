// Integration tests of storage::PgStore (real PostgreSQL): every Store method, its
// NotFound cases, concurrent TakeUnread and byte-exact round trips of contents,
// SendMessage's checks and group commit, and the NOTIFY hints sent after each commit.

#include "storage/pg_store.h"

#include <gtest/gtest.h>

#include <asio/post.hpp>
#include <asio/thread_pool.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "pqxx/pqxx"
#include "storage/combiner.h"
#include "storage/migrations.h"
#include "tests/support/test_database.h"

namespace tchatator::storage {
namespace {

using ::tchatator::testing::TestDatabase;

// 2026-11-26T10:15:00Z plus a sub-second part: times travel as microseconds.
const absl::Time kT0 =
    absl::FromCivil(absl::CivilSecond(2026, 11, 26, 10, 15, 0), absl::UTCTimeZone()) +
    absl::Microseconds(123456);

constexpr SendLimits kUnlimited{0, 0};

// The deadline of a take whose caller waits as long as it takes.
const absl::Time kNoDeadline = absl::InfiniteFuture();
// No bound on the contents of a page of changes.
constexpr int64_t kAnyBytes = std::numeric_limits<int64_t>::max();

// One database for the whole suite (creating one costs more than most tests): each
// test works with its own users, and secrets prefixed by the test's name.
class PgStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = new TestDatabase();
    const absl::Status migrated = Migrate(db_->url());
    ASSERT_TRUE(migrated.ok()) << migrated.ToString();
    store_ = new PgStore(db_->url(), 4);
  }
  static void TearDownTestSuite() {
    delete store_;
    store_ = nullptr;
    delete db_;
    db_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(store_, nullptr) << "the suite's database is not ready"; }

  // `s`, made unique to this test.
  static std::string Key(const std::string& s) {
    return std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "/" + s;
  }

  int64_t NewUser(Role role, const std::string& name = "someone") {
    std::string key_hash = Key("hash-" + std::to_string(++n_));
    absl::StatusOr<int64_t> id = store_->CreateUser(role, name, key_hash);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    key_hashes_[id.value_or(0)] = std::move(key_hash);
    return id.value_or(0);
  }

  // The key hash NewUser gave `user`.
  const std::string& KeyOf(int64_t user) { return key_hashes_[user]; }

  Message Insert(int64_t from, int64_t to, const std::string& content, absl::Time at) {
    absl::StatusOr<Message> m = store_->InsertMessage(from, to, content, at, kUnlimited);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.value_or(Message{});
  }

  static std::string Query(const std::string& sql) { return db_->Query(sql); }

  static TestDatabase* db_;
  static PgStore* store_;
  int n_ = 0;
  std::map<int64_t, std::string> key_hashes_;
};

TestDatabase* PgStoreTest::db_ = nullptr;
PgStore* PgStoreTest::store_ = nullptr;

// ---------------------------------------------------------------------------
// Roles

TEST(RoleName, NamesEveryRoleAndParsesItBack) {
  EXPECT_EQ(RoleName(Role::kMember), "member");
  EXPECT_EQ(RoleName(Role::kPro), "pro");
  EXPECT_EQ(RoleName(Role::kAdmin), "admin");
  for (Role role : {Role::kMember, Role::kPro, Role::kAdmin}) {
    EXPECT_EQ(RoleFromName(RoleName(role)), role);
  }
  EXPECT_EQ(RoleFromName("Member"), std::nullopt);
  EXPECT_EQ(RoleFromName(""), std::nullopt);
  EXPECT_EQ(RoleFromName("root"), std::nullopt);
}

// ---------------------------------------------------------------------------
// Users

TEST_F(PgStoreTest, CreateUserThenGetUserReturnsNameAndRole) {
  const int64_t member = NewUser(Role::kMember, "Alice");
  const int64_t pro = NewUser(Role::kPro, "Boulangerie Dupont");
  const int64_t admin = NewUser(Role::kAdmin, "Root");
  EXPECT_GT(member, 0);
  EXPECT_NE(member, pro);
  EXPECT_NE(pro, admin);
  EXPECT_NE(member, admin);

  absl::StatusOr<User> u = store_->GetUser(member);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->id, member);
  EXPECT_EQ(u->name, "Alice");
  EXPECT_EQ(u->role, Role::kMember);

  u = store_->GetUser(pro);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->name, "Boulangerie Dupont");
  EXPECT_EQ(u->role, Role::kPro);

  u = store_->GetUser(admin);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->name, "Root");
  EXPECT_EQ(u->role, Role::kAdmin);
}

TEST_F(PgStoreTest, GetUserOfUnknownIdIsNotFound) {
  const int64_t id = NewUser(Role::kMember);
  EXPECT_EQ(store_->GetUser(id + 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetUser(0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetUser(-5).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PgStoreTest, CreateUserWithATakenKeyHashIsAlreadyExists) {
  ASSERT_TRUE(store_->CreateUser(Role::kMember, "first", Key("same-hash")).ok());
  const absl::StatusOr<int64_t> second = store_->CreateUser(Role::kPro, "second", Key("same-hash"));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists) << second.status().ToString();
  EXPECT_EQ(Query("SELECT count(*) FROM users WHERE api_key_hash = '" + Key("same-hash") + "'"),
            "1");
}

TEST_F(PgStoreTest, StoresOnlyTheHashGiven) {
  const int64_t id = NewUser(Role::kMember);
  EXPECT_EQ(Query("SELECT api_key_hash FROM users WHERE id = " + std::to_string(id)),
            Key("hash-1"));
}

TEST_F(PgStoreTest, UserNameWithApostropheAndQuotesRoundTrips) {
  const std::string name = "L'Auberge du \"Vieux\" Moulin \\ ç 🏰";
  absl::StatusOr<int64_t> id = store_->CreateUser(Role::kPro, name, Key("k'ey\"hash"));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  absl::StatusOr<User> u = store_->GetUser(*id);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->name, name);
  u = store_->FindUserByApiKeyHash(Key("k'ey\"hash"));
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->id, *id);
  EXPECT_EQ(u->name, name);
  EXPECT_EQ(Query("SELECT name FROM users WHERE id = " + std::to_string(*id)), name);
}

TEST_F(PgStoreTest, FindUserByApiKeyHash) {
  const int64_t a = NewUser(Role::kMember, "a");  // hash-1
  const int64_t b = NewUser(Role::kPro, "b");     // hash-2
  absl::StatusOr<User> u = store_->FindUserByApiKeyHash(Key("hash-2"));
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->id, b);
  EXPECT_EQ(u->name, "b");
  EXPECT_EQ(u->role, Role::kPro);
  u = store_->FindUserByApiKeyHash(Key("hash-1"));
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->id, a);
  EXPECT_EQ(store_->FindUserByApiKeyHash(Key("hash-3")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->FindUserByApiKeyHash("").status().code(), absl::StatusCode::kNotFound);
}

// Failed LOGINs of an address (limit 3 here): a key not found counts one; at the limit,
// neither a right key nor a wrong one is judged (retry_after), and nothing more counts,
// until the oldest failure is 60 s old. A right key never counts.
TEST_F(PgStoreTest, LoginFailuresCountPerAddressUpToTheLimit) {
  const int64_t a = NewUser(Role::kMember, "a");
  const std::string ip = "192.0.2." + std::to_string(a % 200);
  const std::string failures = "SELECT count(*) FROM login_failures WHERE ip = '" + ip + "'";
  absl::StatusOr<LoginLookup> found = store_->FindUserForLogin(ip, 3, KeyOf(a), kT0);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->retry_after, 0);
  ASSERT_TRUE(found->user.has_value());
  EXPECT_EQ(found->user->id, a);
  EXPECT_EQ(Query(failures), "0");

  found = store_->FindUserForLogin(ip, 3, Key("nobody"), kT0);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->retry_after, 0);
  EXPECT_FALSE(found->user.has_value());
  EXPECT_EQ(store_->CountLoginFailure(ip, 3, kT0 + absl::Seconds(10)).value_or(-1), 0);
  EXPECT_EQ(store_->LoginRetryAfter(ip, 3, kT0 + absl::Seconds(10)).value_or(-1), 0);
  EXPECT_EQ(store_->CountLoginFailure(ip, 3, kT0 + absl::Seconds(20)).value_or(-1), 0);
  EXPECT_EQ(Query(failures), "3");

  // The first failure frees the address at kT0 + 60 s.
  EXPECT_EQ(store_->LoginRetryAfter(ip, 3, kT0 + absl::Seconds(30)).value_or(-1), 30);
  EXPECT_EQ(store_->CountLoginFailure(ip, 3, kT0 + absl::Seconds(30)).value_or(-1), 30);
  found = store_->FindUserForLogin(ip, 3, KeyOf(a), kT0 + absl::Seconds(59.5));
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->retry_after, 1);
  EXPECT_FALSE(found->user.has_value());
  found = store_->FindUserForLogin(ip, 3, Key("nobody"), kT0 + absl::Seconds(40));
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->retry_after, 20);
  EXPECT_EQ(Query(failures), "3");
  // Another address is not held.
  EXPECT_EQ(store_->LoginRetryAfter(ip + "0", 3, kT0 + absl::Seconds(30)).value_or(-1), 0);

  found = store_->FindUserForLogin(ip, 3, KeyOf(a), kT0 + absl::Seconds(60));
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->retry_after, 0);
  ASSERT_TRUE(found->user.has_value());
  EXPECT_EQ(Query(failures), "3");
}

// The latest claim wins: a marker is superseded once another (but the ignored one)
// claimed the row after it; recording again keeps a claim, renewing moves it to now.
TEST_F(PgStoreTest, AnAdminMarkerIsSupersededByALaterClaimOnly) {
  auto superseded = [&](const std::string& marker) {
    absl::StatusOr<bool> s = store_->AdminMarkerSuperseded(marker, "built-in-admin:none");
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() && *s;
  };
  EXPECT_FALSE(superseded("built-in-admin:a"));  // nothing recorded
  ASSERT_TRUE(store_->RecordAdminMarker("built-in-admin:a", false).ok());
  EXPECT_FALSE(superseded("built-in-admin:a"));
  ASSERT_TRUE(store_->RecordAdminMarker("built-in-admin:b", false).ok());
  EXPECT_TRUE(superseded("built-in-admin:a"));   // b claimed after a
  EXPECT_FALSE(superseded("built-in-admin:b"));
  EXPECT_FALSE(superseded("built-in-admin:c"));  // never claimed: a new key
  ASSERT_TRUE(store_->RecordAdminMarker("built-in-admin:a", false).ok());  // kept
  EXPECT_TRUE(superseded("built-in-admin:a"));
  ASSERT_TRUE(store_->RecordAdminMarker("built-in-admin:a", true).ok());  // renewed
  EXPECT_FALSE(superseded("built-in-admin:a"));
  EXPECT_TRUE(superseded("built-in-admin:b"));
  ASSERT_TRUE(store_->RecordAdminMarker("built-in-admin:none", true).ok());  // ignored
  EXPECT_FALSE(superseded("built-in-admin:a"));
}

TEST_F(PgStoreTest, SetApiKeyHashReplacesTheOldHash) {
  const int64_t id = NewUser(Role::kMember);  // hash-1
  ASSERT_TRUE(store_->SetApiKeyHash(id, Key("new-hash"), kNoDeadline).ok());
  EXPECT_EQ(store_->FindUserByApiKeyHash(Key("hash-1")).status().code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<User> u = store_->FindUserByApiKeyHash(Key("new-hash"));
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->id, id);
}

TEST_F(PgStoreTest, SetApiKeyHashEndsEverySessionOfTheUserAndNoOther) {
  const int64_t id = NewUser(Role::kMember);
  const int64_t other = NewUser(Role::kMember);
  ASSERT_TRUE(store_->CreateSession(Key("phone"), id, KeyOf(id), kT0, kT0 + absl::Hours(1)).ok());
  ASSERT_TRUE(store_->CreateSession(Key("laptop"), id, KeyOf(id), kT0, kT0 + absl::Hours(1)).ok());
  ASSERT_TRUE(
      store_->CreateSession(Key("other"), other, KeyOf(other), kT0, kT0 + absl::Hours(1)).ok());
  ASSERT_TRUE(store_->SetApiKeyHash(id, Key("new-hash"), kNoDeadline).ok());
  EXPECT_EQ(store_->FindSession(Key("phone"), kT0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->FindSession(Key("laptop"), kT0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->FindSession(Key("other"), kT0).ok());
  // The new key opens sessions again; the old one no longer does.
  EXPECT_TRUE(
      store_->CreateSession(Key("again"), id, Key("new-hash"), kT0, kT0 + absl::Hours(1)).ok());
  EXPECT_TRUE(store_->FindSession(Key("again"), kT0).ok());
}

// Two cores moving the built-in administrator to the same marker at once: the second
// move must not end the session opened under the marker after the first.
TEST_F(PgStoreTest, SetApiKeyHashToTheHashTheUserHoldsEndsNoSession) {
  const int64_t id = NewUser(Role::kAdmin);
  ASSERT_TRUE(store_->SetApiKeyHash(id, Key("marker"), kNoDeadline).ok());
  ASSERT_TRUE(
      store_->CreateSession(Key("fresh"), id, Key("marker"), kT0, kT0 + absl::Hours(1)).ok());
  ASSERT_TRUE(store_->SetApiKeyHash(id, Key("marker"), kNoDeadline).ok());
  EXPECT_TRUE(store_->FindSession(Key("fresh"), kT0).ok());
  absl::StatusOr<User> u = store_->FindUserByApiKeyHash(Key("marker"));
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->id, id);
}

// A core without an admin key ends the built-in administrators' sessions every second:
// theirs only, with how many each had, and their rows unchanged.
TEST_F(PgStoreTest, EndAdminSessionsByKeyPrefixEndsThoseAdminsSessionsOnly) {
  const absl::StatusOr<int64_t> built_in =
      store_->CreateUser(Role::kAdmin, "built-in", "built-in-admin:0123456789abcdef");
  const absl::StatusOr<int64_t> legacy = store_->CreateUser(Role::kAdmin, "legacy", "built-in-admin");
  ASSERT_TRUE(built_in.ok() && legacy.ok());
  const int64_t admin = NewUser(Role::kAdmin);
  // A member's hash starting with the prefix (no key's SHA-256 can): not an admin.
  const absl::StatusOr<int64_t> member =
      store_->CreateUser(Role::kMember, "member", "built-in-admin:member");
  ASSERT_TRUE(member.ok());
  const absl::Time until = kT0 + absl::Hours(1);
  ASSERT_TRUE(store_->CreateSession(Key("a"), *built_in, "built-in-admin:0123456789abcdef", kT0,
                                    until).ok());
  ASSERT_TRUE(store_->CreateSession(Key("b"), *built_in, "built-in-admin:0123456789abcdef", kT0,
                                    until).ok());
  ASSERT_TRUE(store_->CreateSession(Key("c"), *legacy, "built-in-admin", kT0, until).ok());
  ASSERT_TRUE(store_->CreateSession(Key("d"), admin, KeyOf(admin), kT0, until).ok());
  ASSERT_TRUE(
      store_->CreateSession(Key("e"), *member, "built-in-admin:member", kT0, until).ok());

  absl::StatusOr<std::map<int64_t, int64_t>> ended =
      store_->EndAdminSessionsByKeyPrefix("built-in-admin");
  ASSERT_TRUE(ended.ok()) << ended.status().ToString();
  EXPECT_EQ(*ended, (std::map<int64_t, int64_t>{{*built_in, 2}, {*legacy, 1}}));
  for (const char* gone : {"a", "b", "c"}) {
    EXPECT_EQ(store_->FindSession(Key(gone), kT0).status().code(), absl::StatusCode::kNotFound)
        << gone;
  }
  EXPECT_TRUE(store_->FindSession(Key("d"), kT0).ok());
  EXPECT_TRUE(store_->FindSession(Key("e"), kT0).ok());
  EXPECT_TRUE(store_->FindUserByApiKeyHash("built-in-admin:0123456789abcdef").ok());

  ended = store_->EndAdminSessionsByKeyPrefix("built-in-admin");
  ASSERT_TRUE(ended.ok()) << ended.status().ToString();
  EXPECT_TRUE(ended->empty());
}

TEST_F(PgStoreTest, CreateSessionWithAReplacedKeyIsNotFoundAndOpensNothing) {
  const int64_t id = NewUser(Role::kMember);
  const std::string old_hash = KeyOf(id);
  ASSERT_TRUE(store_->SetApiKeyHash(id, Key("new-hash"), kNoDeadline).ok());
  EXPECT_EQ(store_->CreateSession(Key("tok"), id, old_hash, kT0, kT0 + absl::Hours(1)).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->FindSession(Key("tok"), kT0).status().code(), absl::StatusCode::kNotFound);
  // Another user's key does not open this user's session either.
  const int64_t other = NewUser(Role::kMember);
  EXPECT_EQ(store_->CreateSession(Key("tok"), id, KeyOf(other), kT0, kT0 + absl::Hours(1)).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->FindSession(Key("tok"), kT0).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PgStoreTest, ASessionOpenedWhileItsKeyIsBeingReplacedDoesNotOutliveTheOldKey) {
  // A LOGIN that looked the old key up just before a regeneration commits: its session
  // must not survive (it would keep the old key working).
  const int64_t id = NewUser(Role::kMember);
  const std::string old_hash = KeyOf(id);
  pqxx::connection regen(db_->url());
  pqxx::work txn(regen);
  txn.exec_params("UPDATE users SET api_key_hash = $2 WHERE id = $1", id, Key("new-hash"));
  txn.exec_params("DELETE FROM sessions WHERE user_id = $1", id);
  std::atomic<bool> returned = false;
  absl::Status opened;
  std::thread login([&] {
    opened = store_->CreateSession(Key("tok"), id, old_hash, kT0, kT0 + absl::Hours(1));
    returned = true;
  });
  // Commit only once the login waits on the replacement's lock: then the race this test
  // is about really happens.
  pqxx::connection observer(db_->url());
  bool waiting = false;
  for (int i = 0; i < 1000 && !waiting && !returned; ++i) {
    pqxx::nontransaction look(observer);
    waiting = look.exec("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                        "current_database() AND wait_event_type = 'Lock'")[0][0]
                  .as<int>() > 0;
    if (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(waiting) << "the login never waited for the key's replacement";
  txn.commit();
  login.join();
  EXPECT_EQ(opened.code(), absl::StatusCode::kNotFound) << opened.ToString();
  EXPECT_EQ(store_->FindSession(Key("tok"), kT0).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PgStoreTest, SetApiKeyHashOfUnknownUserIsNotFound) {
  const int64_t id = NewUser(Role::kMember);
  EXPECT_EQ(store_->SetApiKeyHash(id + 1, "x", kNoDeadline).code(),
            absl::StatusCode::kNotFound);
  // Nothing changed for the existing user.
  EXPECT_TRUE(store_->FindUserByApiKeyHash(Key("hash-1")).ok());
}

// ---------------------------------------------------------------------------
// Sessions

TEST_F(PgStoreTest, FindSessionReturnsUserRoleAndExpiry) {
  const int64_t pro = NewUser(Role::kPro);
  const absl::Time expires = kT0 + absl::Hours(168);
  ASSERT_TRUE(store_->CreateSession(Key("tok"), pro, KeyOf(pro), kT0, expires).ok());
  absl::StatusOr<Session> s = store_->FindSession(Key("tok"), kT0);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->user_id, pro);
  EXPECT_EQ(s->role, Role::kPro);
  EXPECT_EQ(s->expires_at, expires);
}

TEST_F(PgStoreTest, FindSessionOfUnknownTokenIsNotFound) {
  const int64_t id = NewUser(Role::kMember);
  ASSERT_TRUE(store_->CreateSession(Key("tok"), id, KeyOf(id), kT0, kT0 + absl::Hours(1)).ok());
  EXPECT_EQ(store_->FindSession("other", kT0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->FindSession("", kT0).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PgStoreTest, FindSessionAtOrAfterExpiryIsNotFound) {
  const int64_t id = NewUser(Role::kMember);
  const absl::Time expires = kT0 + absl::Hours(2);
  ASSERT_TRUE(store_->CreateSession(Key("tok"), id, KeyOf(id), kT0, expires).ok());
  EXPECT_TRUE(store_->FindSession(Key("tok"), expires - absl::Microseconds(1)).ok());
  EXPECT_EQ(store_->FindSession(Key("tok"), expires).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->FindSession(Key("tok"), expires + absl::Hours(1)).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(PgStoreTest, SessionsOfOneUserAreIndependent) {
  const int64_t id = NewUser(Role::kMember);
  ASSERT_TRUE(store_->CreateSession(Key("phone"), id, KeyOf(id), kT0, kT0 + absl::Hours(1)).ok());
  ASSERT_TRUE(store_->CreateSession(Key("laptop"), id, KeyOf(id), kT0, kT0 + absl::Hours(1)).ok());
  ASSERT_TRUE(store_->DeleteSession(Key("phone")).ok());
  EXPECT_EQ(store_->FindSession(Key("phone"), kT0).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<Session> s = store_->FindSession(Key("laptop"), kT0);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->user_id, id);
}

TEST_F(PgStoreTest, DeleteSessionOfUnknownTokenIsOk) {
  EXPECT_TRUE(store_->DeleteSession("never-created").ok());
}

// ---------------------------------------------------------------------------
// Messages

TEST_F(PgStoreTest, InsertMessageReturnsTheStoredMessage) {
  const int64_t member = NewUser(Role::kMember);
  const int64_t pro = NewUser(Role::kPro);
  absl::StatusOr<Message> m =
      store_->InsertMessage(member, pro, "Bonjour, comment ça va ?", kT0, kUnlimited);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_GT(m->id, 0);
  EXPECT_EQ(m->sender_id, member);
  EXPECT_EQ(m->recipient_id, pro);
  EXPECT_EQ(m->content, "Bonjour, comment ça va ?");
  EXPECT_EQ(m->sent_at, kT0);
  EXPECT_EQ(m->modified_at, std::nullopt);
  EXPECT_FALSE(m->deleted);
  EXPECT_FALSE(m->read);
  // Committed: visible from another connection.
  EXPECT_EQ(Query("SELECT content FROM messages WHERE id = " + std::to_string(m->id)),
            "Bonjour, comment ça va ?");
}

TEST_F(PgStoreTest, InsertMessageGivesIncreasingIds) {
  const int64_t a = NewUser(Role::kMember);
  const int64_t b = NewUser(Role::kPro);
  const Message first = Insert(a, b, "1", kT0);
  const Message second = Insert(b, a, "2", kT0);
  const Message third = Insert(a, b, "3", kT0 + absl::Seconds(1));
  EXPECT_LT(first.id, second.id);
  EXPECT_LT(second.id, third.id);
}

// Compiling a statement with JIT costs tens of milliseconds: 42 ms for each batch of 16
// sends once the planner's estimates of messages per sender crossed jit_above_cost
// (pgbench of tch_send_batch, 2026-11-29), against 0.6 ms without. The store's
// connections turn it off, whatever the server's setting; a trigger on messages sees
// the setting of the connection that inserts.
TEST_F(PgStoreTest, StatementsRunWithJitOff) {
  ASSERT_EQ(Query("SHOW jit"), "on") << "the test cluster's default, which the store overrides";
  Query("CREATE TABLE jit_seen (setting text)");
  Query(
      "CREATE FUNCTION note_jit() RETURNS trigger LANGUAGE plpgsql AS $$"
      " BEGIN INSERT INTO jit_seen VALUES (current_setting('jit')); RETURN NULL; END $$");
  Query("CREATE TRIGGER note_jit AFTER INSERT ON messages"
        " FOR EACH STATEMENT EXECUTE FUNCTION note_jit()");
  Insert(NewUser(Role::kMember), NewUser(Role::kPro), "jit", kT0);
  const std::string seen = Query("SELECT string_agg(setting, ',') FROM jit_seen");
  Query("DROP TRIGGER note_jit ON messages; DROP FUNCTION note_jit(); DROP TABLE jit_seen");
  EXPECT_EQ(seen, "off");
}

TEST_F(PgStoreTest, GetMessageReturnsEveryField) {
  const int64_t a = NewUser(Role::kMember);
  const int64_t b = NewUser(Role::kPro);
  const Message sent = Insert(a, b, "hello", kT0);
  absl::StatusOr<Message> m = store_->GetMessage(sent.id);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->id, sent.id);
  EXPECT_EQ(m->sender_id, a);
  EXPECT_EQ(m->recipient_id, b);
  EXPECT_EQ(m->content, "hello");
  EXPECT_EQ(m->sent_at, kT0);
  EXPECT_EQ(m->modified_at, std::nullopt);
  EXPECT_FALSE(m->deleted);
  EXPECT_FALSE(m->read);
}

TEST_F(PgStoreTest, GetMessageOfUnknownIdIsNotFound) {
  const int64_t a = NewUser(Role::kMember);
  const int64_t b = NewUser(Role::kPro);
  const Message sent = Insert(a, b, "hello", kT0);
  EXPECT_EQ(store_->GetMessage(sent.id + 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetMessage(0).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PgStoreTest, UpdateMessageContentSetsContentAndModifiedAt) {
  const int64_t a = NewUser(Role::kMember);
  const int64_t b = NewUser(Role::kPro);
  const Message sent = Insert(a, b, "before", kT0);
  const absl::Time later = kT0 + absl::Minutes(3) + absl::Microseconds(7);
  absl::StatusOr<Message> m = store_->UpdateMessageContent(sent.id, "after", later);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->id, sent.id);
  EXPECT_EQ(m->content, "after");
  EXPECT_EQ(m->sent_at, kT0);
  EXPECT_EQ(m->modified_at, later);
  absl::StatusOr<Message> stored = store_->GetMessage(sent.id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->content, "after");
  EXPECT_EQ(stored->modified_at, later);
  EXPECT_EQ(stored->sent_at, kT0);
}

TEST_F(PgStoreTest, UpdateMessageContentOfUnknownOrDeletedIsNotFound) {
  const int64_t a = NewUser(Role::kMember);
  const int64_t b = NewUser(Role::kPro);
  const Message sent = Insert(a, b, "before", kT0);
  EXPECT_EQ(store_->UpdateMessageContent(sent.id + 1, "x", kT0).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->SoftDeleteMessage(sent.id, kT0, kNoDeadline).ok());
  EXPECT_EQ(store_->UpdateMessageContent(sent.id, "x", kT0).status().code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<Message> stored = store_->GetMessage(sent.id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->content, "before");
  EXPECT_EQ(stored->modified_at, std::nullopt);
}

TEST_F(PgStoreTest, SoftDeleteKeepsTheRowAndMarksItDeleted) {
  const int64_t a = NewUser(Role::kMember);
  const int64_t b = NewUser(Role::kPro);
  const Message sent = Insert(a, b, "secret", kT0);
  ASSERT_TRUE(store_->SoftDeleteMessage(sent.id, kT0 + absl::Seconds(5), kNoDeadline).ok());
  absl::StatusOr<Message> m = store_->GetMessage(sent.id);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(m->deleted);
  EXPECT_EQ(m->content, "secret");
  const std::string where = " FROM messages WHERE id = " + std::to_string(sent.id);
  EXPECT_EQ(Query("SELECT count(*)" + where), "1");
  EXPECT_EQ(Query("SELECT deleted_at IS NOT NULL" + where), "t");
}

TEST_F(PgStoreTest, SoftDeleteOfUnknownOrAlreadyDeletedIsNotFound) {
  const int64_t a = NewUser(Role::kMember);
  const int64_t b = NewUser(Role::kPro);
  const Message sent = Insert(a, b, "x", kT0);
  EXPECT_EQ(store_->SoftDeleteMessage(sent.id + 1, kT0, kNoDeadline).code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->SoftDeleteMessage(sent.id, kT0, kNoDeadline).ok());
  EXPECT_EQ(store_->SoftDeleteMessage(sent.id, kT0, kNoDeadline).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(PgStoreTest, TakeUnreadReturnsOldestFirstAndMarksRead) {
  const int64_t member = NewUser(Role::kMember);
  const int64_t pro1 = NewUser(Role::kPro);
  const int64_t pro2 = NewUser(Role::kPro);
  const Message m1 = Insert(pro1, member, "one", kT0);
  const Message m2 = Insert(pro2, member, "two", kT0 + absl::Seconds(1));
  const Message other = Insert(member, pro1, "to pro1", kT0 + absl::Seconds(2));
  const Message m3 = Insert(pro1, member, "three", kT0 + absl::Seconds(3));

  absl::StatusOr<std::vector<Message>> unread =
      store_->TakeUnread(member, kT0 + absl::Seconds(10), kNoDeadline);
  ASSERT_TRUE(unread.ok()) << unread.status().ToString();
  ASSERT_EQ(unread->size(), 3u);
  EXPECT_EQ((*unread)[0].id, m1.id);
  EXPECT_EQ((*unread)[0].content, "one");
  EXPECT_EQ((*unread)[0].sender_id, pro1);
  EXPECT_EQ((*unread)[0].recipient_id, member);
  EXPECT_EQ((*unread)[0].sent_at, kT0);
  EXPECT_EQ((*unread)[1].id, m2.id);
  EXPECT_EQ((*unread)[1].sender_id, pro2);
  EXPECT_EQ((*unread)[2].id, m3.id);
  EXPECT_EQ((*unread)[2].content, "three");

  // Marked read: not delivered again, and read for GetMessage.
  unread = store_->TakeUnread(member, kT0 + absl::Seconds(11), kNoDeadline);
  ASSERT_TRUE(unread.ok());
  EXPECT_TRUE(unread->empty());
  absl::StatusOr<Message> m = store_->GetMessage(m1.id);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->read);
  // The message the member sent is still unread by its recipient.
  m = store_->GetMessage(other.id);
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->read);
  unread = store_->TakeUnread(pro1, kT0 + absl::Seconds(12), kNoDeadline);
  ASSERT_TRUE(unread.ok());
  ASSERT_EQ(unread->size(), 1u);
  EXPECT_EQ((*unread)[0].id, other.id);
}

TEST_F(PgStoreTest, TakeUnreadKeepsArrivalOrderOfMessagesSentInTheSameInstant) {
  const int64_t member = NewUser(Role::kMember);
  const int64_t pro = NewUser(Role::kPro);
  std::vector<int64_t> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(Insert(pro, member, std::to_string(i), kT0).id);
  absl::StatusOr<std::vector<Message>> unread = store_->TakeUnread(member, kT0, kNoDeadline);
  ASSERT_TRUE(unread.ok());
  ASSERT_EQ(unread->size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ((*unread)[i].id, ids[i]);
    EXPECT_EQ((*unread)[i].content, std::to_string(i));
  }
}

TEST_F(PgStoreTest, TakeUnreadSkipsDeletedMessages) {
  const int64_t member = NewUser(Role::kMember);
  const int64_t pro = NewUser(Role::kPro);
  const Message kept = Insert(pro, member, "kept", kT0);
  const Message gone = Insert(pro, member, "gone", kT0);
  ASSERT_TRUE(store_->SoftDeleteMessage(gone.id, kT0, kNoDeadline).ok());
  absl::StatusOr<std::vector<Message>> unread = store_->TakeUnread(member, kT0, kNoDeadline);
  ASSERT_TRUE(unread.ok());
  ASSERT_EQ(unread->size(), 1u);
  EXPECT_EQ((*unread)[0].id, kept.id);
  // The deleted message is never delivered later either.
  unread = store_->TakeUnread(member, kT0, kNoDeadline);
  ASSERT_TRUE(unread.ok());
  EXPECT_TRUE(unread->empty());
}

// A take whose caller has given up (its deadline passed while it ran) commits nothing:
// the messages stay unread and the session's cursor stays, for the caller's next try.
TEST_F(PgStoreTest, WorkPastItsDeadlineCommitsNothing) {
  const int64_t member = NewUser(Role::kMember);
  const int64_t pro = NewUser(Role::kPro);
  ASSERT_TRUE(store_->CreateSession(Key("tok"), pro, KeyOf(pro), kT0, kT0 + absl::Hours(1)).ok());
  const Message m = Insert(member, pro, "pour plus tard", kT0);
  const absl::Time gone_by = absl::Now() - absl::Seconds(1);
  const std::string changes =
      "SELECT count(*) FROM changes WHERE message_id = " + std::to_string(m.id);
  const std::string changes_before = Query(changes);

  // A new key, a deletion.
  EXPECT_EQ(store_->SetApiKeyHash(pro, Key("new"), gone_by).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(store_->FindUserByApiKeyHash(KeyOf(pro)).value_or(User{}).id, pro);
  EXPECT_TRUE(store_->FindSession(Key("tok"), kT0).ok());
  EXPECT_EQ(store_->SoftDeleteMessage(m.id, kT0, gone_by).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Query("SELECT deleted_at IS NULL FROM messages WHERE id = " + std::to_string(m.id)),
            "t");
  EXPECT_EQ(Query(changes), changes_before);

  // The takes.
  absl::StatusOr<std::vector<Message>> unread = store_->TakeUnread(pro, kT0, gone_by);
  EXPECT_EQ(unread.status().code(), absl::StatusCode::kDeadlineExceeded) << unread.status();
  absl::StatusOr<TakenChanges> polled =
      store_->PollChanges(Key("tok"), pro, 10, kAnyBytes, kT0, gone_by);
  EXPECT_EQ(polled.status().code(), absl::StatusCode::kDeadlineExceeded) << polled.status();
  EXPECT_EQ(Query("SELECT read_at IS NULL FROM messages WHERE id = " + std::to_string(m.id)), "t");

  polled = store_->PollChanges(Key("tok"), pro, 10, kAnyBytes, kT0, kNoDeadline);
  ASSERT_TRUE(polled.ok()) << polled.status();
  ASSERT_EQ(polled->changes.size(), 1u);
  EXPECT_EQ(polled->changes[0].message.id, m.id);
  const Message m2 = Insert(member, pro, "et encore", kT0);
  unread = store_->TakeUnread(pro, kT0, kNoDeadline);
  ASSERT_TRUE(unread.ok()) << unread.status();
  ASSERT_EQ(unread->size(), 1u);
  EXPECT_EQ((*unread)[0].id, m2.id);

  ASSERT_TRUE(store_->SoftDeleteMessage(m.id, kT0, kNoDeadline).ok());
  ASSERT_TRUE(store_->SetApiKeyHash(pro, Key("new"), kNoDeadline).ok());
  EXPECT_EQ(store_->FindUserByApiKeyHash(Key("new")).value_or(User{}).id, pro);
  EXPECT_FALSE(store_->FindSession(Key("tok"), kT0).ok());
}

TEST_F(PgStoreTest, TakeUnreadDeliversTheEditedContent) {
  const int64_t member = NewUser(Role::kMember);
  const int64_t pro = NewUser(Role::kPro);
  const Message sent = Insert(pro, member, "draft", kT0);
  const absl::Time edited = kT0 + absl::Seconds(30);
  ASSERT_TRUE(store_->UpdateMessageContent(sent.id, "final", edited).ok());
  absl::StatusOr<std::vector<Message>> unread =
      store_->TakeUnread(member, kT0 + absl::Minutes(1), kNoDeadline);
  ASSERT_TRUE(unread.ok());
  ASSERT_EQ(unread->size(), 1u);
  EXPECT_EQ((*unread)[0].content, "final");
  EXPECT_EQ((*unread)[0].modified_at, edited);
  EXPECT_EQ((*unread)[0].sent_at, kT0);
}

TEST_F(PgStoreTest, TakeUnreadOfUserWithoutMessagesIsEmpty) {
  const int64_t member = NewUser(Role::kMember);
  absl::StatusOr<std::vector<Message>> unread = store_->TakeUnread(member, kT0, kNoDeadline);
  ASSERT_TRUE(unread.ok()) << unread.status().ToString();
  EXPECT_TRUE(unread->empty());
  unread = store_->TakeUnread(member + 100, kT0, kNoDeadline);
  ASSERT_TRUE(unread.ok());
  EXPECT_TRUE(unread->empty());
}

TEST_F(PgStoreTest, ConcurrentTakeUnreadNeverDeliversAMessageTwice) {
  const int64_t member = NewUser(Role::kMember);
  const int64_t pro = NewUser(Role::kPro);
  for (int round = 0; round < 3; ++round) {
    std::set<int64_t> sent;
    for (int i = 0; i < 200; ++i) sent.insert(Insert(pro, member, "m", kT0).id);
    ASSERT_EQ(sent.size(), 200u);

    std::atomic<int> ready{0};
    absl::StatusOr<std::vector<Message>> got[2];
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        ready.fetch_add(1);
        while (ready.load() < 2) {
        }
        got[t] = store_->TakeUnread(member, kT0, kNoDeadline);
      });
    }
    for (std::thread& t : threads) t.join();
    ASSERT_TRUE(got[0].ok()) << got[0].status().ToString();
    ASSERT_TRUE(got[1].ok()) << got[1].status().ToString();

    std::multiset<int64_t> all;
    for (const auto& list : got) {
      for (const Message& m : *list) all.insert(m.id);
    }
    EXPECT_EQ(all.size(), 200u) << "round " << round;
    EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()), sent) << "round " << round;
    for (int64_t id : sent) EXPECT_EQ(all.count(id), 1u) << "message " << id;
    EXPECT_EQ(Query("SELECT count(*) FROM messages WHERE read_at IS NULL AND recipient_id = " +
                    std::to_string(member)),
              "0");
  }
}

// ---------------------------------------------------------------------------
// Contents travel byte for byte (prepared statements, no quoting surprises).

TEST_F(PgStoreTest, ContentWithSpecialCharactersRoundTripsByteForByte) {
  const int64_t member = NewUser(Role::kMember);
  const int64_t pro = NewUser(Role::kPro);
  const std::vector<std::string> contents = {
      "l'hôtel d'été",
      "il a dit \"oui\" puis 'non'",
      "C:\\Users\\tchatator\\n n'est pas un saut de ligne \\\\",
      "ligne 1\nligne 2\n\nligne 4\n",
      "windows\r\nline\r\n",
      "\ttab et espaces  ",
      "emoji 😀🎉👍🏽 et drapeau 🇫🇷",
      "'; DROP TABLE messages; --",
      "$1 $2 %s %d {} ${x} E'\\x41'",
      "Bonjour, comment ça va ?",
      std::string(1000, 'x'),
  };
  std::vector<int64_t> ids;
  for (size_t i = 0; i < contents.size(); ++i) {
    const Message m = Insert(pro, member, contents[i], kT0 + absl::Seconds(static_cast<int>(i)));
    EXPECT_EQ(m.content, contents[i]);
    ids.push_back(m.id);
    absl::StatusOr<Message> got = store_->GetMessage(m.id);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->content, contents[i]);
    EXPECT_EQ(got->content.size(), contents[i].size());
  }
  absl::StatusOr<std::vector<Message>> unread = store_->TakeUnread(member, kT0, kNoDeadline);
  ASSERT_TRUE(unread.ok());
  ASSERT_EQ(unread->size(), contents.size());
  for (size_t i = 0; i < contents.size(); ++i) {
    EXPECT_EQ((*unread)[i].content, contents[i]) << i;
  }
  // Updates too.
  for (size_t i = 0; i < contents.size(); ++i) {
    const std::string edited = contents[i] + "\n'édité' \\ \"";
    absl::StatusOr<Message> m = store_->UpdateMessageContent(ids[i], edited, kT0);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->content, edited);
    absl::StatusOr<Message> got = store_->GetMessage(ids[i]);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->content, edited);
  }
  EXPECT_EQ(Query("SELECT count(*) FROM messages WHERE recipient_id = " + std::to_string(member)),
            std::to_string(contents.size()));
}

// ---------------------------------------------------------------------------
// SendMessage: the rules checked in the transaction that stores

TEST_F(PgStoreTest, SendMessageStoresAndReturnsTheMessage) {
  const int64_t member = NewUser(Role::kMember);
  const int64_t pro = NewUser(Role::kPro);
  absl::StatusOr<SendOutcome> out =
      store_->SendMessage(member, pro, Role::kPro, "{a,\"b\"} NULL", kT0, kUnlimited);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->kind, SendOutcome::Kind::kSent);
  EXPECT_GT(out->message.id, 0);
  EXPECT_EQ(out->message.sender_id, member);
  EXPECT_EQ(out->message.recipient_id, pro);
  EXPECT_EQ(out->message.content, "{a,\"b\"} NULL");
  EXPECT_EQ(out->message.sent_at, kT0);
  EXPECT_FALSE(out->message.read);
  absl::StatusOr<Message> got = store_->GetMessage(out->message.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->content, "{a,\"b\"} NULL");
  EXPECT_EQ(got->sent_at, kT0);
  // And the recipient's change, for live delivery.
  EXPECT_EQ(Query("SELECT kind || ' ' || message_id FROM changes WHERE user_id = " +
                  std::to_string(pro)),
            "new_message " + std::to_string(out->message.id));
}

TEST_F(PgStoreTest, SendMessageRefusalsWriteNothing) {
  const int64_t member = NewUser(Role::kMember);
  const int64_t other_member = NewUser(Role::kMember);
  const int64_t pro = NewUser(Role::kPro);
  auto kind = [&](int64_t from, int64_t to, std::optional<Role> role) {
    absl::StatusOr<SendOutcome> out = store_->SendMessage(from, to, role, "x", kT0, kUnlimited);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() ? out->kind : SendOutcome::Kind::kSent;
  };
  EXPECT_EQ(kind(member, pro + 1000000, Role::kPro), SendOutcome::Kind::kUnknownRecipient);
  EXPECT_EQ(kind(member, member, Role::kPro), SendOutcome::Kind::kRecipientNotAllowed);
  EXPECT_EQ(kind(member, member, std::nullopt), SendOutcome::Kind::kRecipientNotAllowed);
  EXPECT_EQ(kind(member, other_member, Role::kPro), SendOutcome::Kind::kRecipientNotAllowed);
  // No required role (an admin's send): any other user.
  EXPECT_EQ(kind(member, other_member, std::nullopt), SendOutcome::Kind::kSent);

  // A block by the pro, then a ban by an admin: the ban wins.
  const absl::Time until = kT0 + absl::Hours(24);
  ASSERT_TRUE(store_->AddRestriction(member, pro, pro, RestrictionKind::kBlock, until, kT0).ok());
  absl::StatusOr<SendOutcome> blocked =
      store_->SendMessage(member, pro, Role::kPro, "x", kT0, kUnlimited);
  ASSERT_TRUE(blocked.ok());
  EXPECT_EQ(blocked->kind, SendOutcome::Kind::kBlocked);
  EXPECT_EQ(blocked->until, until);
  // The block is over at `until`.
  absl::StatusOr<SendOutcome> after = store_->SendMessage(member, pro, Role::kPro, "later", until,
                                                          kUnlimited);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->kind, SendOutcome::Kind::kSent);
  ASSERT_TRUE(
      store_->AddRestriction(member, pro, std::nullopt, RestrictionKind::kBan, std::nullopt, kT0)
          .ok());
  EXPECT_EQ(kind(member, pro, Role::kPro), SendOutcome::Kind::kBanned);

  // Rate limited: 2 per minute.
  const int64_t sender = NewUser(Role::kPro);
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<SendOutcome> ok =
        store_->SendMessage(sender, member, Role::kMember, "r", kT0, SendLimits{2, 0});
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(ok->kind, SendOutcome::Kind::kSent);
  }
  absl::StatusOr<SendOutcome> limited = store_->SendMessage(
      sender, member, Role::kMember, "r", kT0 + absl::Milliseconds(20500), SendLimits{2, 0});
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->kind, SendOutcome::Kind::kRateLimited);
  EXPECT_EQ(limited->retry_after_seconds, 40);  // 39.5 s, rounded up

  // Only the sends that went through are stored.
  EXPECT_EQ(Query("SELECT string_agg(content, ',' ORDER BY id) FROM messages WHERE sender_id IN (" +
                  std::to_string(member) + ", " + std::to_string(sender) + ")"),
            "x,later,r,r");
}

TEST_F(PgStoreTest, ConcurrentSendsGetTheirOwnOutcomes) {
  // Sends from many threads share batches (group commit): each still gets its own
  // outcome, and a refused one never commits.
  constexpr int kThreads = 24;
  const int64_t pro = NewUser(Role::kPro);
  std::vector<int64_t> members;
  for (int t = 0; t < kThreads; ++t) members.push_back(NewUser(Role::kMember));
  std::atomic<int> ready{0};
  std::vector<absl::StatusOr<SendOutcome>> outcomes(kThreads, absl::InternalError("not run"));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) {
      }
      // Every third one writes to itself: refused.
      const int64_t to = t % 3 == 0 ? members[t] : pro;
      outcomes[t] = store_->SendMessage(members[t], to, Role::kPro, "n" + std::to_string(t), kT0,
                                        kUnlimited);
    });
  }
  for (std::thread& t : threads) t.join();
  std::set<int64_t> ids;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(outcomes[t].ok()) << t << ": " << outcomes[t].status().ToString();
    if (t % 3 == 0) {
      EXPECT_EQ(outcomes[t]->kind, SendOutcome::Kind::kRecipientNotAllowed) << t;
      continue;
    }
    ASSERT_EQ(outcomes[t]->kind, SendOutcome::Kind::kSent) << t;
    EXPECT_EQ(outcomes[t]->message.sender_id, members[t]);
    EXPECT_EQ(outcomes[t]->message.content, "n" + std::to_string(t));
    EXPECT_EQ(Query("SELECT sender_id || ' ' || content FROM messages WHERE id = " +
                    std::to_string(outcomes[t]->message.id)),
              std::to_string(members[t]) + " n" + std::to_string(t));
    ids.insert(outcomes[t]->message.id);
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kThreads - kThreads / 3));
  EXPECT_EQ(Query("SELECT count(*) FROM messages WHERE recipient_id = " + std::to_string(pro)),
            std::to_string(kThreads - kThreads / 3));
  EXPECT_EQ(Query("SELECT count(*) FROM changes WHERE user_id = " + std::to_string(pro)),
            std::to_string(kThreads - kThreads / 3));
}

TEST_F(PgStoreTest, SendsFromOrToAUserThatDoesNotExistWriteNothing) {
  // The tables written by sends have no foreign keys (migration 0008): the send
  // statement itself refuses ids that name no user.
  const int64_t member = NewUser(Role::kMember);
  const int64_t nobody = member + 1000000;
  absl::StatusOr<SendOutcome> to_nobody =
      store_->SendMessage(member, nobody, std::nullopt, "x", kT0, kUnlimited);
  ASSERT_TRUE(to_nobody.ok()) << to_nobody.status().ToString();
  EXPECT_EQ(to_nobody->kind, SendOutcome::Kind::kUnknownRecipient);
  absl::StatusOr<SendOutcome> from_nobody =
      store_->SendMessage(nobody, member, std::nullopt, "x", kT0, kUnlimited);
  EXPECT_EQ(from_nobody.status().code(), absl::StatusCode::kInternal)
      << from_nobody.status().ToString();
  EXPECT_EQ(store_->InsertMessage(member, nobody, "x", kT0, kUnlimited).status().code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(store_->InsertMessage(nobody, member, "x", kT0, kUnlimited).status().code(),
            absl::StatusCode::kInternal);
  const std::string ids = std::to_string(member) + ", " + std::to_string(nobody);
  EXPECT_EQ(Query("SELECT count(*) FROM messages WHERE sender_id IN (" + ids +
                  ") OR recipient_id IN (" + ids + ")"),
            "0");
  EXPECT_EQ(Query("SELECT count(*) FROM changes WHERE user_id IN (" + ids + ")"), "0");
}

TEST_F(PgStoreTest, TakeChangesReturnsNewChangesOnceAndMarksNewMessagesRead) {
  const int64_t member = NewUser(Role::kMember);
  const int64_t pro = NewUser(Role::kPro);
  ASSERT_TRUE(store_->CreateSession(Key("tok"), pro, KeyOf(pro), kT0, kT0 + absl::Hours(1)).ok());
  absl::StatusOr<Message> m = store_->InsertMessage(member, pro, "Bonjour", kT0, kUnlimited);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  absl::StatusOr<TakenChanges> taken = store_->TakeChanges(Key("tok"), pro, 0, 10, kT0);
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  EXPECT_EQ(taken->session.user_id, pro);
  EXPECT_FALSE(taken->session.banned);
  ASSERT_EQ(taken->changes.size(), 1u);
  EXPECT_EQ(taken->changes[0].kind, ChangeKind::kNewMessage);
  EXPECT_EQ(taken->changes[0].message.id, m->id);
  EXPECT_EQ(taken->changes[0].message.content, "Bonjour");
  EXPECT_TRUE(taken->changes[0].message.read);
  EXPECT_EQ(Query("SELECT read_at IS NOT NULL FROM messages WHERE id = " + std::to_string(m->id)),
            "t");
  taken = store_->TakeChanges(Key("tok"), pro, taken->changes[0].id, 10, kT0);
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  EXPECT_TRUE(taken->changes.empty());
}

// `more` says whether changes follow those returned; the one read to know it is neither
// returned, nor marked read, nor passed by the cursor.
TEST_F(PgStoreTest, PollChangesSaysWhetherMoreFollowTheLimit) {
  const int64_t member = NewUser(Role::kMember);
  const int64_t pro = NewUser(Role::kPro);
  ASSERT_TRUE(store_->CreateSession(Key("tok"), pro, KeyOf(pro), kT0, kT0 + absl::Hours(1)).ok());
  const Message m1 = Insert(member, pro, "1", kT0);
  const Message m2 = Insert(member, pro, "2", kT0);
  const Message m3 = Insert(member, pro, "3", kT0);

  absl::StatusOr<TakenChanges> polled =
      store_->PollChanges(Key("tok"), pro, 2, kAnyBytes, kT0, kNoDeadline);
  ASSERT_TRUE(polled.ok()) << polled.status().ToString();
  ASSERT_EQ(polled->changes.size(), 2u);
  EXPECT_EQ(polled->changes[0].message.id, m1.id);
  EXPECT_EQ(polled->changes[1].message.id, m2.id);
  EXPECT_TRUE(polled->more);
  EXPECT_EQ(Query("SELECT read_at IS NULL FROM messages WHERE id = " + std::to_string(m3.id)),
            "t");

  polled = store_->PollChanges(Key("tok"), pro, 2, kAnyBytes, kT0, kNoDeadline);
  ASSERT_TRUE(polled.ok()) << polled.status().ToString();
  ASSERT_EQ(polled->changes.size(), 1u);
  EXPECT_EQ(polled->changes[0].message.id, m3.id);
  EXPECT_FALSE(polled->more);

  // Exactly as many as the limit: none follow.
  const Message m4 = Insert(member, pro, "4", kT0);
  const Message m5 = Insert(member, pro, "5", kT0);
  polled = store_->PollChanges(Key("tok"), pro, 2, kAnyBytes, kT0, kNoDeadline);
  ASSERT_TRUE(polled.ok()) << polled.status().ToString();
  ASSERT_EQ(polled->changes.size(), 2u);
  EXPECT_EQ(polled->changes[0].message.id, m4.id);
  EXPECT_EQ(polled->changes[1].message.id, m5.id);
  EXPECT_FALSE(polled->more);
}

// A take whose answer is long commits early enough for it to travel (TakeCommitDeadline):
// 96 messages of 1 MiB, about 3 s at 32 MiB/s (few rows: a take of them is quick, even
// under the sanitizers). Held by a row lock until 2.5 s before its deadline, the take
// commits nothing, though it ends in time, where it used to commit an answer its caller
// would not get; not held, it commits.
TEST_F(PgStoreTest, ALongTakeCommitsEarlyEnoughForItsAnswerToTravel) {
  const int64_t member = NewUser(Role::kMember);
  const int64_t pro = NewUser(Role::kPro);
  const std::string to = std::to_string(pro);
  Query("INSERT INTO messages (sender_id, recipient_id, content, sent_at) SELECT " +
        std::to_string(member) + ", " + to + ", repeat('x', 1048576), now()" +
        " FROM generate_series(1, 96)");
  const std::string unread =
      "SELECT count(*) FROM messages WHERE read_at IS NULL AND recipient_id = " + to;
  ASSERT_EQ(Query(unread), "96");
  pqxx::connection blocker(db_->url());
  auto hold = std::make_unique<pqxx::work>(blocker);
  hold->exec("SELECT 1 FROM messages WHERE recipient_id = " + to + " LIMIT 1 FOR UPDATE");
  const absl::Time deadline = absl::Now() + absl::Seconds(8);
  std::future<absl::StatusOr<std::vector<Message>>> taken =
      std::async(std::launch::async, [&] { return store_->TakeUnread(pro, kT0, deadline); });
  std::this_thread::sleep_until(absl::ToChronoTime(deadline - absl::Milliseconds(2500)));
  hold->abort();
  const absl::StatusOr<std::vector<Message>> late = taken.get();
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded) << late.status();
  // Past its deadline, any take commits nothing: that would prove nothing here.
  if (absl::Now() >= deadline) {
    GTEST_SKIP() << "the take ended " << absl::Now() - deadline << " past its deadline";
  }
  EXPECT_EQ(Query(unread), "96");

  const absl::StatusOr<std::vector<Message>> quick =
      store_->TakeUnread(pro, kT0, absl::Now() + absl::Seconds(8));
  ASSERT_TRUE(quick.ok()) << quick.status();
  EXPECT_EQ(quick->size(), 96u);
  EXPECT_EQ(Query(unread), "0");
}

// A page also stops before its contents pass max_bytes, and says more follow; its first
// change comes whatever its size. What it left is neither marked read nor passed.
TEST_F(PgStoreTest, PollChangesStopsBeforeItsContentsPassMaxBytes) {
  const int64_t member = NewUser(Role::kMember);
  const int64_t pro = NewUser(Role::kPro);
  ASSERT_TRUE(store_->CreateSession(Key("tok"), pro, KeyOf(pro), kT0, kT0 + absl::Hours(1)).ok());
  const Message m1 = Insert(member, pro, std::string(40, 'a'), kT0);
  const Message m2 = Insert(member, pro, std::string(60, 'b'), kT0);
  const Message m3 = Insert(member, pro, std::string(150, 'c'), kT0);
  const Message m4 = Insert(member, pro, std::string(10, 'd'), kT0);

  // 40 + 60 fit in 100 bytes; 150 more would not.
  absl::StatusOr<TakenChanges> polled =
      store_->PollChanges(Key("tok"), pro, 10, 100, kT0, kNoDeadline);
  ASSERT_TRUE(polled.ok()) << polled.status().ToString();
  ASSERT_EQ(polled->changes.size(), 2u);
  EXPECT_EQ(polled->changes[0].message.id, m1.id);
  EXPECT_EQ(polled->changes[1].message.id, m2.id);
  EXPECT_TRUE(polled->more);
  EXPECT_EQ(Query("SELECT count(*) FROM messages WHERE read_at IS NULL AND recipient_id = " +
                  std::to_string(pro)),
            "2");

  // Alone over the bound, a change still comes, then the page stops.
  polled = store_->PollChanges(Key("tok"), pro, 10, 100, kT0, kNoDeadline);
  ASSERT_TRUE(polled.ok()) << polled.status().ToString();
  ASSERT_EQ(polled->changes.size(), 1u);
  EXPECT_EQ(polled->changes[0].message.id, m3.id);
  EXPECT_EQ(polled->changes[0].message.content, std::string(150, 'c'));
  EXPECT_TRUE(polled->more);
  EXPECT_EQ(Query("SELECT read_at IS NULL FROM messages WHERE id = " + std::to_string(m4.id)),
            "t");

  polled = store_->PollChanges(Key("tok"), pro, 10, 100, kT0, kNoDeadline);
  ASSERT_TRUE(polled.ok()) << polled.status().ToString();
  ASSERT_EQ(polled->changes.size(), 1u);
  EXPECT_EQ(polled->changes[0].message.id, m4.id);
  EXPECT_FALSE(polled->more);

  // A deletion's record holds no content: it counts nothing.
  const Message m5 = Insert(member, pro, std::string(150, 'e'), kT0);
  ASSERT_TRUE(store_->SoftDeleteMessage(m5.id, kT0, kNoDeadline).ok());
  const Message m6 = Insert(member, pro, std::string(90, 'f'), kT0);
  polled = store_->PollChanges(Key("tok"), pro, 10, 100, kT0, kNoDeadline);
  ASSERT_TRUE(polled.ok()) << polled.status().ToString();
  ASSERT_EQ(polled->changes.size(), 2u);
  EXPECT_EQ(polled->changes[0].kind, ChangeKind::kMessageDeleted);
  EXPECT_EQ(polled->changes[0].message.id, m5.id);
  EXPECT_EQ(polled->changes[0].message.content, "");  // not read: its record shows none
  EXPECT_EQ(polled->changes[1].message.id, m6.id);
  EXPECT_FALSE(polled->more);
}

TEST_F(PgStoreTest, TakeChangesShowsAMessageTheTakeMarkedReadAsReadInEachOfItsChanges) {
  // One answer, one state: a message sent then edited comes as two changes, and the
  // take marks it read, so both records say read (the edit's used to say unread).
  const int64_t member = NewUser(Role::kMember);
  const int64_t pro = NewUser(Role::kPro);
  ASSERT_TRUE(store_->CreateSession(Key("tok"), pro, KeyOf(pro), kT0, kT0 + absl::Hours(1)).ok());
  absl::StatusOr<Message> m = store_->InsertMessage(member, pro, "Bonjour", kT0, kUnlimited);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  absl::StatusOr<Message> edited = store_->UpdateMessageContent(m->id, "Bonsoir", kT0);
  ASSERT_TRUE(edited.ok()) << edited.status().ToString();
  absl::StatusOr<Message> other = store_->InsertMessage(member, pro, "Kenavo", kT0, kUnlimited);
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  absl::StatusOr<TakenChanges> taken = store_->TakeChanges(Key("tok"), pro, 0, 10, kT0);
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  ASSERT_EQ(taken->changes.size(), 3u);
  EXPECT_EQ(taken->changes[0].kind, ChangeKind::kNewMessage);
  EXPECT_EQ(taken->changes[1].kind, ChangeKind::kMessageUpdated);
  EXPECT_EQ(taken->changes[2].kind, ChangeKind::kNewMessage);
  for (const Change& c : taken->changes) {
    EXPECT_TRUE(c.message.read) << "change " << c.id << " of message " << c.message.id;
  }
  EXPECT_EQ(taken->changes[1].message.content, "Bonsoir");

  // An edit of a message taken (so read) by an earlier take: read, from the row.
  ASSERT_TRUE(store_->UpdateMessageContent(other->id, "Kenavo !", kT0).ok());
  taken = store_->TakeChanges(Key("tok"), pro, taken->changes.back().id, 10, kT0);
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  ASSERT_EQ(taken->changes.size(), 1u);
  EXPECT_EQ(taken->changes[0].kind, ChangeKind::kMessageUpdated);
  EXPECT_TRUE(taken->changes[0].message.read);

  // An edit of a message whose new_message change this take does not hold (taken past):
  // it stays unread, and its record says so.
  absl::StatusOr<Message> unread = store_->InsertMessage(member, pro, "Demat", kT0, kUnlimited);
  ASSERT_TRUE(unread.ok()) << unread.status().ToString();
  const int64_t past = std::stoll(Query("SELECT max(id) FROM changes"));
  ASSERT_TRUE(store_->UpdateMessageContent(unread->id, "Demat deoc'h", kT0).ok());
  taken = store_->TakeChanges(Key("tok"), pro, past, 10, kT0);
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  ASSERT_EQ(taken->changes.size(), 1u);
  EXPECT_EQ(taken->changes[0].kind, ChangeKind::kMessageUpdated);
  EXPECT_EQ(taken->changes[0].message.id, unread->id);
  EXPECT_FALSE(taken->changes[0].message.read);
  EXPECT_EQ(Query("SELECT read_at IS NULL FROM messages WHERE id = " + std::to_string(unread->id)),
            "t");
}

TEST_F(PgStoreTest, TakeChangesOfAnEndedOrBannedSessionTakesNothing) {
  // Live delivery checks the session within the take: a ban or logout committed before
  // a message must stop that message, though the stream was authenticated earlier.
  const int64_t member = NewUser(Role::kMember);
  const int64_t pro = NewUser(Role::kPro);
  const int64_t admin = NewUser(Role::kAdmin);
  ASSERT_TRUE(store_->CreateSession(Key("pro"), pro, KeyOf(pro), kT0, kT0 + absl::Hours(1)).ok());
  ASSERT_TRUE(store_->CreateSession(Key("member"), member, KeyOf(member),
                                    kT0, kT0 + absl::Hours(1)).ok());
  ASSERT_TRUE(store_->AddRestriction(pro, admin, std::nullopt, RestrictionKind::kBan,
                                     std::nullopt, kT0)
                  .ok());
  ASSERT_TRUE(store_->InsertMessage(member, pro, "after the ban", kT0, kUnlimited).ok());
  const std::string read_count = "SELECT count(*) FROM messages WHERE read_at IS NOT NULL AND " +
                                 std::to_string(pro) + " IN (sender_id, recipient_id)";
  absl::StatusOr<TakenChanges> taken = store_->TakeChanges(Key("pro"), pro, 0, 10, kT0);
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  EXPECT_TRUE(taken->session.banned);
  EXPECT_TRUE(taken->changes.empty());
  taken = store_->PollChanges(Key("pro"), pro, 10, kAnyBytes, kT0, kNoDeadline);
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  EXPECT_TRUE(taken->session.banned);
  EXPECT_TRUE(taken->changes.empty());
  EXPECT_EQ(Query(read_count), "0");
  EXPECT_EQ(Query("SELECT last_change_id FROM sessions WHERE user_id = " + std::to_string(pro)),
            "0");

  ASSERT_TRUE(store_->InsertMessage(pro, member, "after the logout", kT0, kUnlimited).ok());
  ASSERT_TRUE(store_->DeleteSession(Key("member")).ok());
  EXPECT_EQ(store_->TakeChanges(Key("member"), member, 0, 10, kT0).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->CreateSession(Key("expiring"), member, KeyOf(member),
                                    kT0, kT0 + absl::Hours(1)).ok());
  EXPECT_EQ(store_->TakeChanges(Key("expiring"), member, 0, 10, kT0 + absl::Hours(1))
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Query(read_count), "0");
}

TEST(PgStorePurgeTest, DeletesExpiredSessionsAndOnlyTheChangesNoSessionCanRead) {
  TestDatabase db;  // its own: a purge reaches every row
  ASSERT_TRUE(Migrate(db.url()).ok());
  PgStore store(db.url(), 2);
  const int64_t member = store.CreateUser(Role::kMember, "m", "key-m").value_or(0);
  const int64_t pro = store.CreateUser(Role::kPro, "p", "key-p").value_or(0);
  ASSERT_GT(member, 0);
  ASSERT_GT(pro, 0);
  auto send = [&](absl::Time at) {
    absl::StatusOr<Message> m = store.InsertMessage(pro, member, "x", at, kUnlimited);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
  };
  auto change_times = [&] {
    return db.Query(
        "SELECT string_agg(extract(epoch FROM created_at - '2026-11-26 10:15:00.123456+00')::"
        "int / 60 || 'min', ',' ORDER BY id) FROM changes");
  };
  ASSERT_TRUE(store.CreateSession("gone", pro, "key-p",
                                  kT0 - absl::Hours(5), kT0 - absl::Hours(4)).ok());
  send(kT0 - absl::Hours(3));
  send(kT0 - absl::Hours(2));
  send(kT0 - absl::Minutes(30));
  ASSERT_TRUE(store.CreateSession("live", member, "key-m", kT0, kT0 + absl::Hours(2)).ok());
  send(kT0 + absl::Hours(1));
  ASSERT_EQ(change_times(), "-180min,-120min,-30min,60min");

  // At kT0+1h the oldest session in force began at kT0: changes before kT0-1h go, at
  // most `limit` per call; the expired session goes.
  absl::StatusOr<Purged> purged = store.Purge(kT0 + absl::Hours(1), 1);
  ASSERT_TRUE(purged.ok()) << purged.status().ToString();
  EXPECT_EQ(purged->sessions, 1);
  EXPECT_EQ(purged->changes, 1);
  EXPECT_EQ(change_times(), "-120min,-30min,60min");
  purged = store.Purge(kT0 + absl::Hours(1), 10);
  ASSERT_TRUE(purged.ok()) << purged.status().ToString();
  EXPECT_EQ(purged->sessions, 0);
  EXPECT_EQ(purged->changes, 1);
  EXPECT_EQ(change_times(), "-30min,60min");
  EXPECT_EQ(db.Query("SELECT string_agg(token_hash, ',') FROM sessions"), "live");
  purged = store.Purge(kT0 + absl::Hours(1), 10);
  ASSERT_TRUE(purged.ok()) << purged.status().ToString();
  EXPECT_EQ(purged->sessions, 0);
  EXPECT_EQ(purged->changes, 0);
  // The live session still reads every change since its LOGIN.
  absl::StatusOr<TakenChanges> polled =
      store.PollChanges("live", member, 10, kAnyBytes, kT0 + absl::Hours(1), kNoDeadline);
  ASSERT_TRUE(polled.ok()) << polled.status().ToString();
  ASSERT_EQ(polled->changes.size(), 1u);
  EXPECT_EQ(polled->changes[0].message.sent_at, kT0 + absl::Hours(1));

  // Once no session is in force, changes over an hour old go.
  purged = store.Purge(kT0 + absl::Hours(2), 10);
  ASSERT_TRUE(purged.ok()) << purged.status().ToString();
  EXPECT_EQ(purged->sessions, 1);
  EXPECT_EQ(purged->changes, 1);
  EXPECT_EQ(change_times(), "60min");
  EXPECT_EQ(db.Query("SELECT count(*) FROM sessions"), "0");
  // Messages themselves stay.
  EXPECT_EQ(db.Query("SELECT count(*) FROM messages"), "4");
  EXPECT_EQ(purged->leases, 0);
}

TEST(PgStorePurgeTest, DeletesLeasesOfLiveStreamsOverForAnHour) {
  TestDatabase db;  // its own: a purge reaches every row
  ASSERT_TRUE(Migrate(db.url()).ok());
  PgStore store(db.url(), 2);
  ASSERT_TRUE(store.MarkLive({1, 2}, -absl::Minutes(61)).ok());
  ASSERT_TRUE(store.MarkLive({3}, -absl::Minutes(59)).ok());
  ASSERT_TRUE(store.MarkLive({4}, absl::Minutes(1)).ok());
  auto leases = [&] {
    return db.Query("SELECT string_agg(user_id::text, ',' ORDER BY user_id) FROM live_users");
  };
  // At most `limit` per call, by the database's clock (the time given is for sessions).
  absl::StatusOr<Purged> purged = store.Purge(kT0, 1);
  ASSERT_TRUE(purged.ok()) << purged.status().ToString();
  EXPECT_EQ(purged->leases, 1);
  purged = store.Purge(kT0, 10);
  ASSERT_TRUE(purged.ok()) << purged.status().ToString();
  EXPECT_EQ(purged->leases, 1);
  EXPECT_EQ(leases(), "3,4");
}

TEST_F(PgStoreTest, AReaderFollowingARecipientsChangesMissesNoneWhileManyWrite) {
  // Change ids for one recipient must increase in commit order (writers serialize on
  // the recipient, migration 0008), else a reader that has seen id n skips an id below
  // n committed later. 16 threads send to one pro and edit what they sent, in batches
  // that commit concurrently, while a reader takes the pro's changes after the last id
  // it saw, as live delivery and NEW_CHG_AVAILABLE do.
  constexpr int kWriters = 16;
  constexpr int kRounds = 25;
  PgStore store(db_->url(), 16);  // up to 4 batches of sends at once
  const int64_t pro = NewUser(Role::kPro);
  ASSERT_TRUE(store.CreateSession(Key("reader"), pro, KeyOf(pro), kT0, kT0 + absl::Hours(1)).ok());
  std::vector<int64_t> members;
  for (int t = 0; t < kWriters; ++t) members.push_back(NewUser(Role::kMember));
  std::atomic<int> writing{kWriters};
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        absl::StatusOr<SendOutcome> sent =
            store.SendMessage(members[t], pro, Role::kPro, "m", kT0, kUnlimited);
        if (!sent.ok() || sent->kind != SendOutcome::Kind::kSent) {
          failures.fetch_add(1);
          continue;
        }
        if (!store.UpdateMessageContent(sent->message.id, "edited", kT0).ok()) {
          failures.fetch_add(1);
        }
      }
      writing.fetch_sub(1);
    });
  }
  std::vector<int64_t> seen;
  int64_t last = 0;
  for (bool done = false; !done;) {
    done = writing.load() == 0;  // one more pass after the last writer ends
    absl::StatusOr<TakenChanges> taken = store.TakeChanges(Key("reader"), pro, last, 1000, kT0);
    ASSERT_TRUE(taken.ok()) << taken.status().ToString();
    for (const Change& c : taken->changes) {
      seen.push_back(c.id);
      last = c.id;
    }
  }
  for (std::thread& t : writers) t.join();
  EXPECT_EQ(failures.load(), 0);
  std::string seen_text;
  for (int64_t id : seen) seen_text += (seen_text.empty() ? "" : ",") + std::to_string(id);
  EXPECT_EQ(seen.size(), static_cast<size_t>(2 * kWriters * kRounds));
  EXPECT_EQ(seen_text, Query("SELECT string_agg(id::text, ',' ORDER BY id) FROM changes"
                             " WHERE user_id = " + std::to_string(pro)));
}

TEST_F(PgStoreTest, AsynchronousLookupsAndSendsAreAnsweredOnTheExecutor) {
  // The core's SEND_MSG path: no caller waits; each answer runs on an executor thread,
  // where the batch that carried it ended.
  constexpr int kSenders = 24;
  PgStore store(db_->url(), 8);
  asio::thread_pool pool(4);
  store.SetExecutor([&pool](std::function<void()> task) { asio::post(pool, std::move(task)); });
  const int64_t pro = NewUser(Role::kPro);
  std::vector<int64_t> members;
  for (int k = 0; k < kSenders; ++k) {
    members.push_back(NewUser(Role::kMember));
    ASSERT_TRUE(store.CreateSession(Key("tok" + std::to_string(k)), members[k], KeyOf(members[k]),
                                    kT0,
                                    kT0 + absl::Hours(1))
                    .ok());
  }
  std::mutex mu;
  std::condition_variable cv;
  int answered = 0;
  std::vector<absl::StatusOr<Session>> sessions(kSenders, absl::InternalError("no answer"));
  std::vector<absl::StatusOr<SendOutcome>> sends(kSenders, absl::InternalError("no answer"));
  absl::Status unknown = absl::InternalError("no answer");
  std::atomic<int> on_this_thread{0};
  const std::thread::id me = std::this_thread::get_id();
  auto answer = [&] {
    if (std::this_thread::get_id() == me) on_this_thread.fetch_add(1);
    std::lock_guard lock(mu);
    ++answered;
    cv.notify_all();
  };
  for (int k = 0; k < kSenders; ++k) {
    store.FindSessionAsync(Key("tok" + std::to_string(k)), kT0 + absl::Minutes(1),
                           [&, k](absl::StatusOr<Session> s) {
                             sessions[k] = std::move(s);
                             answer();
                           });
    store.SendMessageAsync(Key("tok" + std::to_string(k)), members[k], pro, Role::kPro,
                           "async " + std::to_string(k), kT0, kUnlimited,
                           absl::InfiniteFuture(), [&, k](absl::StatusOr<SendOutcome> out) {
                             sends[k] = std::move(out);
                             answer();
                           });
  }
  store.FindSessionAsync(Key("nobody"), kT0, [&](absl::StatusOr<Session> s) {
    unknown = s.status();
    answer();
  });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20),
                            [&] { return answered == 2 * kSenders + 1; }))
        << answered << " answered";
  }
  EXPECT_EQ(on_this_thread.load(), 0);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  for (int k = 0; k < kSenders; ++k) {
    ASSERT_TRUE(sessions[k].ok()) << k << ": " << sessions[k].status().ToString();
    EXPECT_EQ(sessions[k]->user_id, members[k]);
    ASSERT_TRUE(sends[k].ok()) << k << ": " << sends[k].status().ToString();
    ASSERT_EQ(sends[k]->kind, SendOutcome::Kind::kSent) << k;
    EXPECT_EQ(sends[k]->message.sender_id, members[k]);
    EXPECT_EQ(Query("SELECT sender_id || ' ' || content FROM messages WHERE id = " +
                    std::to_string(sends[k]->message.id)),
              std::to_string(members[k]) + " async " + std::to_string(k));
  }
  EXPECT_EQ(Query("SELECT count(*) FROM messages WHERE recipient_id = " + std::to_string(pro)),
            std::to_string(kSenders));

  // Without an executor, the answer comes before the call returns, on this thread.
  store.SetExecutor(nullptr);
  pool.join();
  bool inline_answer = false;
  store.SendMessageAsync(Key("tok0"), members[0], pro, Role::kPro, "inline", kT0, kUnlimited,
                         absl::InfiniteFuture(), [&](absl::StatusOr<SendOutcome> out) {
                           inline_answer = out.ok() && out->kind == SendOutcome::Kind::kSent &&
                                           std::this_thread::get_id() == me;
                         });
  EXPECT_TRUE(inline_answer);
}

TEST_F(PgStoreTest, AsynchronousSendsCheckTheirSessionInTheirOwnStatement) {
  // The core sends for sessions it has seen without looking them up again: the send's
  // statement must refuse, as the look-up would, a session ended (through any core) or
  // expired, another user's session, and a sender an admin has banned.
  PgStore store(db_->url(), 8);
  asio::thread_pool pool(2);
  auto executor = [&pool](std::function<void()> task) { asio::post(pool, std::move(task)); };
  store.SetExecutor(executor);
  const int64_t pro = NewUser(Role::kPro);
  const int64_t admin = NewUser(Role::kAdmin);
  const int64_t alice = NewUser(Role::kMember);
  const int64_t bob = NewUser(Role::kMember);
  const int64_t carol = NewUser(Role::kMember);
  ASSERT_TRUE(store.CreateSession(Key("alice"), alice, KeyOf(alice),
                                  kT0, kT0 + absl::Hours(1)).ok());
  ASSERT_TRUE(store.CreateSession(Key("bob"), bob, KeyOf(bob), kT0, kT0 + absl::Hours(1)).ok());
  ASSERT_TRUE(store.CreateSession(Key("carol"), carol, KeyOf(carol),
                                  kT0 - absl::Hours(1), kT0).ok());
  ASSERT_TRUE(store.CreateSession(Key("gone"), alice, KeyOf(alice),
                                  kT0, kT0 + absl::Hours(1)).ok());
  ASSERT_TRUE(store.DeleteSession(Key("gone")).ok());
  ASSERT_TRUE(
      store.AddRestriction(bob, admin, std::nullopt, RestrictionKind::kBan, std::nullopt, kT0)
          .ok());
  struct Case {
    std::string token_hash;
    int64_t sender;
    absl::StatusOr<SendOutcome> outcome = absl::InternalError("no answer");
  };
  std::vector<Case> cases = {
      {Key("alice"), alice},  // in force
      {Key("gone"), alice},   // logged out
      {Key("bob"), alice},    // another user's
      {Key("nobody"), alice},
      {Key("carol"), carol},  // expired at kT0
      {Key("bob"), bob},      // banned by an admin
      {"", carol},            // checks nothing
  };
  std::mutex mu;
  std::condition_variable cv;
  size_t answered = 0;
  {
    // All queued before a batch takes any: the refused sends share one batch with the
    // others (else the first send could go alone, and commit after the next batch).
    HeldBatches held(executor);
    for (Case& c : cases) {
      store.SendMessageAsync(c.token_hash, c.sender, pro, Role::kPro, "checked", kT0,
                             kUnlimited, absl::InfiniteFuture(),
                             [&](absl::StatusOr<SendOutcome> out) {
                               std::lock_guard lock(mu);
                               c.outcome = std::move(out);
                               ++answered;
                               cv.notify_all();
                             });
    }
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20),
                            [&] { return answered == cases.size(); }));
  }
  using Kind = SendOutcome::Kind;
  const Kind expected[] = {Kind::kSent,      Kind::kNoSession, Kind::kNoSession,
                           Kind::kNoSession, Kind::kNoSession, Kind::kAccountBanned,
                           Kind::kSent};
  for (size_t i = 0; i < cases.size(); ++i) {
    ASSERT_TRUE(cases[i].outcome.ok()) << i << ": " << cases[i].outcome.status().ToString();
    EXPECT_EQ(cases[i].outcome->kind, expected[i]) << "case " << i;
  }
  EXPECT_EQ(Query("SELECT string_agg(sender_id::text, ',' ORDER BY id) FROM messages"
                  " WHERE recipient_id = " + std::to_string(pro)),
            std::to_string(alice) + "," + std::to_string(carol));
  EXPECT_EQ(Query("SELECT count(*) FROM changes WHERE user_id = " + std::to_string(pro)), "2");
  store.SetExecutor(nullptr);
  pool.join();
}

TEST_F(PgStoreTest, ASendWhoseCallerGaveUpBeforeItsStatementIsNotStored) {
  // A caller told "failed" would send again: a send still queued at its deadline must
  // not be stored, while the sends of its batch that are still awaited are.
  PgStore store(db_->url(), 8);
  asio::thread_pool pool(2);
  auto executor = [&pool](std::function<void()> task) { asio::post(pool, std::move(task)); };
  store.SetExecutor(executor);
  const int64_t pro = NewUser(Role::kPro);
  const int64_t first = NewUser(Role::kMember);
  const int64_t late = NewUser(Role::kMember);
  const int64_t patient = NewUser(Role::kMember);
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, absl::StatusOr<SendOutcome>> outcomes;
  auto send = [&](int64_t sender, const std::string& content, absl::Time deadline) {
    store.SendMessageAsync("", sender, pro, Role::kPro, content, kT0, kUnlimited, deadline,
                           [&, content](absl::StatusOr<SendOutcome> out) {
                             std::lock_guard lock(mu);
                             outcomes.emplace(content, std::move(out));
                             cv.notify_all();
                           });
  };
  // Another session holds the lock that a send to `pro` takes: the first batch waits
  // in its statement, and the next sends queue behind it (one batch at a time).
  pqxx::connection blocker(db_->url());
  pqxx::nontransaction(blocker).exec_params("SELECT pg_advisory_lock($1)", pro);
  send(first, "first", absl::Now() + absl::Seconds(1));
  // Other suites share the cluster: only this database's wait on this lock counts.
  const std::string waiting =
      "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = " +
      std::to_string(pro) +
      " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
  const auto running = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (Query(waiting) == "0" && std::chrono::steady_clock::now() < running) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(Query(waiting), "1") << "the first send never waited for the lock";
  {
    HeldBatches held(executor);
    send(late, "late", absl::Now() + absl::Milliseconds(200));
    send(patient, "patient", kNoDeadline);
  }
  // Past every deadline but the patient one's, the first send's included.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  pqxx::nontransaction(blocker).exec_params("SELECT pg_advisory_unlock($1)", pro);
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return outcomes.size() == 3; }));
  }
  // The first send's statement had started: it is stored, though its caller gave up.
  ASSERT_TRUE(outcomes.at("first").ok()) << outcomes.at("first").status();
  EXPECT_EQ(outcomes.at("first")->kind, SendOutcome::Kind::kSent);
  EXPECT_EQ(outcomes.at("late").status().code(), absl::StatusCode::kDeadlineExceeded)
      << outcomes.at("late").status();
  ASSERT_TRUE(outcomes.at("patient").ok()) << outcomes.at("patient").status();
  EXPECT_EQ(outcomes.at("patient")->kind, SendOutcome::Kind::kSent);
  EXPECT_EQ(Query("SELECT string_agg(content, ',' ORDER BY id) FROM messages"
                  " WHERE recipient_id = " + std::to_string(pro)),
            "first,patient");
  EXPECT_EQ(Query("SELECT count(*) FROM changes WHERE user_id = " + std::to_string(pro)), "2");
  store.SetExecutor(nullptr);
  pool.join();
}

TEST_F(PgStoreTest, SimultaneousBlocksOfOneSetterLeaveOneInForce) {
  // Each block replaces the setter's earlier ones: two at the same moment must not both
  // stay, or the until one of them answered would not be the one in force.
  PgStore store(db_->url(), 4);
  const int64_t pro = NewUser(Role::kPro);
  for (int round = 0; round < 20; ++round) {
    const int64_t target = NewUser(Role::kMember);
    std::atomic<int> ready{0};
    auto block = [&](int hours) {
      ready.fetch_add(1);
      while (ready.load() < 2) std::this_thread::yield();
      EXPECT_TRUE(store.AddRestriction(target, pro, pro, RestrictionKind::kBlock,
                                       kT0 + absl::Hours(hours), kT0)
                      .ok());
    };
    std::thread a(block, 1), b(block, 2);
    a.join();
    b.join();
    ASSERT_EQ(Query("SELECT count(*) FROM restrictions WHERE lifted_at IS NULL AND target_id = " +
                    std::to_string(target)),
              "1")
        << "round " << round;
  }
}

TEST_F(PgStoreTest, ThePreviousReleasesSendStatementStillSends) {
  // During a rolling upgrade, cores of the previous release call the 7-argument
  // tch_send_batch (no session checks), which migration 0010 keeps.
  const int64_t member = NewUser(Role::kMember);
  const int64_t pro = NewUser(Role::kPro);
  const std::string m = std::to_string(member);
  const std::string p = std::to_string(pro);
  EXPECT_EQ(Query("SELECT string_agg(o_outcome, ',') FROM tch_send_batch(ARRAY[" + m + ", " +
                  m + "]::bigint[], ARRAY[" + p + ", " + m +
                  "]::bigint[], ARRAY['old', 'self'], ARRAY[tch_us(now()), tch_us(now())],"
                  " ARRAY['pro', 'pro'], ARRAY[0, 0]::bigint[], ARRAY[0, 0]::bigint[])"),
            "sent,recipient-not-allowed");
  EXPECT_EQ(Query("SELECT string_agg(content, ',') FROM messages WHERE sender_id = " + m),
            "old");
}

TEST_F(PgStoreTest, FindSessionAnswersConcurrentLookupsEachWithItsOwnSession) {
  constexpr int kThreads = 16;
  std::vector<int64_t> users;
  for (int t = 0; t < kThreads; ++t) {
    users.push_back(NewUser(t % 2 == 0 ? Role::kMember : Role::kPro));
    ASSERT_TRUE(store_->CreateSession(Key("tok" + std::to_string(t)), users[t], KeyOf(users[t]),
                                      kT0,
                                      kT0 + absl::Hours(t + 1))
                    .ok());
  }
  std::atomic<int> ready{0};
  std::vector<absl::StatusOr<Session>> found(kThreads, absl::InternalError("not run"));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) {
      }
      // Every fourth looks its session up after its expiry: not found.
      const absl::Time now = t % 4 == 3 ? kT0 + absl::Hours(t + 1) : kT0;
      found[t] = store_->FindSession(Key("tok" + std::to_string(t)), now);
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) {
    if (t % 4 == 3) {
      EXPECT_TRUE(absl::IsNotFound(found[t].status())) << t << ": " << found[t].status();
      continue;
    }
    ASSERT_TRUE(found[t].ok()) << t << ": " << found[t].status();
    EXPECT_EQ(found[t]->user_id, users[t]);
    EXPECT_EQ(found[t]->role, t % 2 == 0 ? Role::kMember : Role::kPro);
    EXPECT_EQ(found[t]->expires_at, kT0 + absl::Hours(t + 1));
  }
}

// ---------------------------------------------------------------------------
// NOTIFY hints, after the commit

// Listens to kChangeChannel on a connection of its own.
class HintListener {
 public:
  explicit HintListener(const std::string& url) : connection_(url) {}
  // The payloads received so far, waiting up to `timeout` for `count` of them.
  std::vector<std::string> Take(size_t count, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (payloads_.size() < count && std::chrono::steady_clock::now() < deadline) {
      connection_.await_notification(0, 50000);
    }
    return payloads_;
  }

 private:
  class Receiver : public pqxx::notification_receiver {
   public:
    Receiver(pqxx::connection_base& c, std::vector<std::string>& out)
        : pqxx::notification_receiver(c, kChangeChannel), out_(out) {}
    void operator()(const std::string& payload, int) override { out_.push_back(payload); }

   private:
    std::vector<std::string>& out_;
  };

  pqxx::connection connection_;
  std::vector<std::string> payloads_;
  Receiver receiver_{connection_, payloads_};  // LISTENs from its construction
};

TEST_F(PgStoreTest, EveryCommittedChangeIsHintedWithItsUserAndChangeId) {
  const int64_t member = NewUser(Role::kMember);
  const int64_t pro = NewUser(Role::kPro);
  ASSERT_TRUE(store_->MarkLive({pro}, absl::Minutes(1)).ok());
  HintListener listener(db_->url());
  const Message m = Insert(member, pro, "hint me", kT0);
  ASSERT_TRUE(store_->UpdateMessageContent(m.id, "edited", kT0).ok());
  ASSERT_TRUE(store_->SoftDeleteMessage(m.id, kT0, kNoDeadline).ok());
  // A refused send changes nothing: no hint.
  absl::StatusOr<SendOutcome> refused =
      store_->SendMessage(member, member, Role::kPro, "no", kT0, kUnlimited);
  ASSERT_TRUE(refused.ok());
  const std::string expected_ids = Query(
      "SELECT string_agg(id::text, ',' ORDER BY id) FROM changes WHERE user_id = " +
      std::to_string(pro));
  std::vector<std::string> want;
  for (absl::string_view id : absl::StrSplit(expected_ids, ',')) {
    want.push_back(std::to_string(pro) + ":" + std::string(id));
  }
  ASSERT_EQ(want.size(), 3u) << expected_ids;
  EXPECT_EQ(listener.Take(3, std::chrono::milliseconds(5000)), want);
  // Nothing more arrives.
  EXPECT_EQ(listener.Take(4, std::chrono::milliseconds(300)).size(), 3u);
}

// New messages are hinted to recipients with a lease in force as their batch commits;
// edits and deletions always are.
TEST_F(PgStoreTest, NewMessagesAreHintedOnlyToLiveRecipients) {
  const int64_t member = NewUser(Role::kMember);
  const int64_t live = NewUser(Role::kPro);
  const int64_t lapsed = NewUser(Role::kPro);
  const int64_t never = NewUser(Role::kPro);
  const int64_t kept = NewUser(Role::kPro);
  // Unsorted and repeated: MarkLive sorts them.
  ASSERT_TRUE(store_->MarkLive({kept, live, kept}, absl::Minutes(1)).ok());
  ASSERT_TRUE(store_->MarkLive({lapsed}, -absl::Seconds(1)).ok());
  // A shorter lease leaves the longer one in force (another core may hold it).
  ASSERT_TRUE(store_->MarkLive({kept}, -absl::Seconds(1)).ok());
  HintListener listener(db_->url());
  std::vector<std::pair<int64_t, int64_t>> sent;  // recipient, message id
  for (int64_t to : {never, live, lapsed, kept}) {
    absl::StatusOr<SendOutcome> out =
        store_->SendMessage(member, to, Role::kPro, "bonjour", kT0, kUnlimited);
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->kind, SendOutcome::Kind::kSent);
    sent.emplace_back(to, out->message.id);
  }
  auto change_of = [&](int64_t message_id, const char* kind) {
    return Query("SELECT user_id || ':' || id FROM changes WHERE message_id = " +
                 std::to_string(message_id) + " AND kind = '" + kind + "'");
  };
  const std::vector<std::string> want_sends = {change_of(sent[1].second, "new_message"),
                                               change_of(sent[3].second, "new_message")};
  ASSERT_EQ(want_sends[0].substr(0, want_sends[0].find(':')), std::to_string(live));
  EXPECT_EQ(listener.Take(2, std::chrono::milliseconds(5000)), want_sends);
  EXPECT_EQ(listener.Take(3, std::chrono::milliseconds(300)).size(), 2u);
  // An edit of the message to `never` is hinted all the same.
  ASSERT_TRUE(store_->UpdateMessageContent(sent[0].second, "modifié", kT0).ok());
  std::vector<std::string> want = want_sends;
  want.push_back(change_of(sent[0].second, "message_updated"));
  EXPECT_EQ(listener.Take(3, std::chrono::milliseconds(5000)), want);
  EXPECT_EQ(Query("SELECT string_agg(user_id::text, ',' ORDER BY user_id) FROM live_users"
                  " WHERE until > now() AND user_id >= " + std::to_string(live)),
            std::to_string(live) + "," + std::to_string(kept));
}

TEST_F(PgStoreTest, MarkLiveOfNoUserWritesNothing) {
  const std::string before = Query("SELECT count(*) FROM live_users");
  ASSERT_TRUE(store_->MarkLive({}, absl::Minutes(1)).ok());
  EXPECT_EQ(Query("SELECT count(*) FROM live_users"), before);
}

}  // namespace
}  // namespace tchatator::storage
