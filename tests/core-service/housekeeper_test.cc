// The core's periodic purge, over a fresh PostgreSQL database (TCHATATOR_TEST_PG). What a
// purge deletes is tested with the store (tests/storage/pg_store_test.cc).
#include "core-service/housekeeper.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "storage/migrations.h"
#include "storage/pg_store.h"
#include "tests/support/test_database.h"

namespace tchatator::core {
namespace {

const absl::Time kNow = absl::FromCivil(absl::CivilSecond(2026, 11, 26, 10, 15, 0),
                                        absl::UTCTimeZone());

class HousekeeperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(storage::Migrate(db_.url()).ok());
    const int64_t user =
        store_.CreateUser(storage::Role::kMember, "m", "key").value_or(0);
    ASSERT_GT(user, 0);
    ASSERT_TRUE(store_.CreateSession("expired", user, "key", kNow - absl::Hours(2),
                                     kNow - absl::Hours(1)).ok());
    ASSERT_TRUE(store_.CreateSession("live", user, "key", kNow, kNow + absl::Hours(1)).ok());
  }

  SettingsHolder SettingsWithInterval(int64_t seconds) {
    absl::StatusOr<Settings> settings = LoadSettings("", {});
    EXPECT_TRUE(settings.ok()) << settings.status().ToString();
    settings->purge_interval_seconds = seconds;
    return SettingsHolder(*settings);
  }

  std::string Sessions() {
    return db_.Query("SELECT string_agg(token_hash, ',' ORDER BY token_hash) FROM sessions");
  }

  // The sessions left once they are `expected`, or after 20 s.
  std::string WaitForSessions(const std::string& expected) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (Sessions() != expected && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return Sessions();
  }

  testing::TestDatabase db_;
  storage::PgStore store_{db_.url(), 2};
  FakeClock clock_{kNow};
};

TEST_F(HousekeeperTest, PurgesEveryIntervalOnceStarted) {
  SettingsHolder settings = SettingsWithInterval(1);
  Housekeeper housekeeper(store_, clock_, settings);
  housekeeper.Start();
  EXPECT_EQ(WaitForSessions("live"), "live");
  // The next purge, an interval later, sees the clock moved past the live one's expiry.
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(WaitForSessions(""), "");
  housekeeper.Stop();
}

TEST_F(HousekeeperTest, StopsAtOnceWithoutWaitingForTheInterval) {
  SettingsHolder settings = SettingsWithInterval(3600);
  Housekeeper housekeeper(store_, clock_, settings);
  housekeeper.Start();
  const auto start = std::chrono::steady_clock::now();
  housekeeper.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(Sessions(), "expired,live") << "nothing is purged before the first interval";
}

TEST_F(HousekeeperTest, AReloadedIntervalAppliesWithoutWaitingOutTheOldOne) {
  SettingsHolder settings = SettingsWithInterval(86400);
  Housekeeper housekeeper(store_, clock_, settings);
  housekeeper.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(Sessions(), "expired,live");
  Settings shorter = *settings.Get();
  shorter.purge_interval_seconds = 1;
  settings.Set(shorter);
  EXPECT_EQ(WaitForSessions("live"), "live");
  housekeeper.Stop();
}

TEST_F(HousekeeperTest, PurgeNowPurgesInBatchesUntilNoneIsFull) {
  SettingsHolder settings = SettingsWithInterval(0);
  Housekeeper housekeeper(store_, clock_, settings);
  // More expired sessions than one batch holds.
  ASSERT_EQ(db_.Query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at)"
                      " SELECT 'old-' || i, user_id, created_at, expires_at FROM sessions,"
                      " generate_series(1, " +
                      std::to_string(Housekeeper::kPurgeBatch + 5) +
                      ") i WHERE token_hash = 'expired' RETURNING 'done'"),
            "done");
  EXPECT_TRUE(housekeeper.PurgeNow());
  EXPECT_EQ(Sessions(), "live");
}

}  // namespace
}  // namespace tchatator::core
