// Integration tests of the sliding-window send limits of PgStore::InsertMessage and
// SendMessage (contract 2.6), with controlled `now` values and under concurrency, where
// concurrent sends share batches (group commit).

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "storage/migrations.h"
#include "storage/pg_store.h"
#include "tests/support/test_database.h"

namespace tchatator::storage {
namespace {

using ::tchatator::testing::TestDatabase;

const absl::Time kT0 =
    absl::FromCivil(absl::CivilSecond(2026, 11, 26, 10, 15, 0), absl::UTCTimeZone());

constexpr SendLimits kDefaultLimits{12, 90};

// The retry-after payload of `status`, or nullopt.
std::optional<std::string> RetryAfter(const absl::Status& status) {
  auto payload = status.GetPayload(kRetryAfterPayload);
  if (!payload) return std::nullopt;
  return std::string(*payload);
}

// One database for the whole suite; each test has its own sender and recipient.
class RateLimitTest : public ::testing::Test {
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

  void SetUp() override {
    ASSERT_NE(store_, nullptr) << "the suite's database is not ready";
    sender_ = NewUser(Role::kMember);
    recipient_ = NewUser(Role::kPro);
  }

  int64_t NewUser(Role role) {
    const std::string hash =
        std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "/" +
        std::to_string(++n_);
    absl::StatusOr<int64_t> id = store_->CreateUser(role, "user", hash);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.value_or(0);
  }

  absl::Status Send(absl::Time now, SendLimits limits = kDefaultLimits) {
    return store_->InsertMessage(sender_, recipient_, "hi", now, limits).status();
  }

  // Sends at `now`, expecting a refusal; returns its retry-after ("" if none or not refused).
  std::string Refusal(absl::Time now, SendLimits limits = kDefaultLimits) {
    const absl::Status status = Send(now, limits);
    EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status.ToString();
    return RetryAfter(status).value_or("");
  }

  std::string SentCount() {
    return db_->Query("SELECT count(*) FROM messages WHERE sender_id = " + std::to_string(sender_));
  }

  static TestDatabase* db_;
  static PgStore* store_;
  int n_ = 0;
  int64_t sender_ = 0;
  int64_t recipient_ = 0;
};

TestDatabase* RateLimitTest::db_ = nullptr;
PgStore* RateLimitTest::store_ = nullptr;

TEST_F(RateLimitTest, TwelvePerMinuteAtAFixedTime) {
  for (int i = 0; i < 12; ++i) {
    const absl::Status s = Send(kT0);
    ASSERT_TRUE(s.ok()) << "send " << i + 1 << ": " << s.ToString();
  }
  const absl::Status thirteenth = Send(kT0);
  EXPECT_EQ(thirteenth.code(), absl::StatusCode::kResourceExhausted) << thirteenth.ToString();
  // All twelve were sent at kT0: the oldest leaves the window 60 s later.
  EXPECT_EQ(RetryAfter(thirteenth), "60");
  // A refused send changes nothing.
  EXPECT_EQ(SentCount(), "12");
}

TEST_F(RateLimitTest, RetryAfterIsTheTimeUntilTheOldestLeavesTheWindow) {
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(Send(kT0 + absl::Seconds(i)).ok()) << i;
  EXPECT_EQ(Refusal(kT0 + absl::Seconds(12)), "48");
  EXPECT_EQ(Refusal(kT0 + absl::Seconds(30)), "30");
  // Whole seconds, rounded up: the client never retries too early.
  EXPECT_EQ(Refusal(kT0 + absl::Milliseconds(30500)), "30");
  EXPECT_EQ(Refusal(kT0 + absl::Milliseconds(59500)), "1");
  EXPECT_EQ(Refusal(kT0 + absl::Seconds(60) - absl::Microseconds(1)), "1");
  EXPECT_EQ(SentCount(), "12");
  // At kT0 + 60 s the first message is 60 s old: out of the window.
  ASSERT_TRUE(Send(kT0 + absl::Seconds(60)).ok());
  // Now the oldest in the window is the one of kT0 + 1 s.
  EXPECT_EQ(Refusal(kT0 + absl::Seconds(60)), "1");
  ASSERT_TRUE(Send(kT0 + absl::Seconds(61)).ok());
  EXPECT_EQ(SentCount(), "14");
}

TEST_F(RateLimitTest, RefusedSendsDoNotMoveTheWindow) {
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(Send(kT0).ok());
  for (int i = 1; i <= 5; ++i) {
    EXPECT_EQ(Refusal(kT0 + absl::Seconds(10 * i)), std::to_string(60 - 10 * i));
  }
  ASSERT_TRUE(Send(kT0 + absl::Seconds(60)).ok());
  EXPECT_EQ(SentCount(), "13");
}

TEST_F(RateLimitTest, NinetyPerHour) {
  // One message every 6 s stays under 12 per minute.
  for (int i = 0; i < 90; ++i) {
    const absl::Status s = Send(kT0 + absl::Seconds(6 * i));
    ASSERT_TRUE(s.ok()) << "send " << i + 1 << ": " << s.ToString();
  }
  // The 91st: the first (kT0) leaves the hour window at kT0 + 3600 s.
  EXPECT_EQ(Refusal(kT0 + absl::Seconds(540)), "3060");
  EXPECT_EQ(Refusal(kT0 + absl::Seconds(3599)), "1");
  EXPECT_EQ(SentCount(), "90");
  ASSERT_TRUE(Send(kT0 + absl::Seconds(3600)).ok());
  // Then the second one (kT0 + 6 s) is the oldest of the window.
  EXPECT_EQ(Refusal(kT0 + absl::Seconds(3600)), "6");
}

TEST_F(RateLimitTest, RetryAfterIsTheLaterOfBothWindows) {
  const SendLimits limits{2, 3};
  ASSERT_TRUE(Send(kT0, limits).ok());
  ASSERT_TRUE(Send(kT0 + absl::Seconds(61), limits).ok());
  ASSERT_TRUE(Send(kT0 + absl::Seconds(62), limits).ok());
  // Minute window full until kT0 + 121 s (58 s), hour window until kT0 + 3600 s (3537 s).
  EXPECT_EQ(Refusal(kT0 + absl::Seconds(63), limits), "3537");
  // Only the minute window is full.
  const SendLimits minute_only{2, 0};
  EXPECT_EQ(Refusal(kT0 + absl::Seconds(63), minute_only), "58");
}

TEST_F(RateLimitTest, DeletedMessagesStillCount) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 12; ++i) {
    absl::StatusOr<Message> m =
        store_->InsertMessage(sender_, recipient_, "x", kT0, kDefaultLimits);
    ASSERT_TRUE(m.ok());
    ids.push_back(m->id);
  }
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store_->SoftDeleteMessage(ids[i], kT0, absl::InfiniteFuture()).ok());
  }
  EXPECT_EQ(Refusal(kT0 + absl::Seconds(1)), "59");
}

TEST_F(RateLimitTest, LimitsArePerSender) {
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(Send(kT0).ok());
  EXPECT_EQ(Refusal(kT0), "60");
  // Another sender is not affected, nor is the recipient when it answers.
  const int64_t other = NewUser(Role::kMember);
  for (int i = 0; i < 12; ++i) {
    EXPECT_TRUE(store_->InsertMessage(other, recipient_, "x", kT0, kDefaultLimits).ok()) << i;
    EXPECT_TRUE(store_->InsertMessage(recipient_, sender_, "y", kT0, kDefaultLimits).ok()) << i;
  }
  // Messages to different recipients count together.
  const int64_t another_pro = NewUser(Role::kPro);
  const absl::Status s =
      store_->InsertMessage(sender_, another_pro, "z", kT0, kDefaultLimits).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(RateLimitTest, ZeroMeansUnlimited) {
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(Send(kT0, SendLimits{0, 0}).ok()) << i;
  EXPECT_EQ(SentCount(), "100");
  // Minute unlimited, hour limited to 100: full.
  EXPECT_EQ(Refusal(kT0 + absl::Seconds(100), SendLimits{0, 100}), "3500");
  // Minute limited, hour unlimited.
  EXPECT_EQ(Refusal(kT0 + absl::Seconds(1), SendLimits{100, 0}), "59");
  ASSERT_TRUE(Send(kT0 + absl::Seconds(1), SendLimits{101, 0}).ok());
}

TEST_F(RateLimitTest, ConcurrentSendsOfOneSenderAreLimitedExactly) {
  // Two stores, as two core-service replicas: the limit holds across processes.
  PgStore replica_a(db_->url(), 10);
  PgStore replica_b(db_->url(), 10);
  for (int round = 0; round < 2; ++round) {
    const absl::Time now = kT0 + absl::Hours(round);
    std::atomic<int> ready{0};
    std::atomic<int> accepted{0};
    std::atomic<int> limited{0};
    std::atomic<int> other{0};
    std::atomic<int> right_retry_after{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 20; ++t) {
      threads.emplace_back([&, t] {
        PgStore& store = t % 2 == 0 ? replica_a : replica_b;
        ready.fetch_add(1);
        while (ready.load() < 20) {
        }
        const absl::Status s =
            store.InsertMessage(sender_, recipient_, "race", now, SendLimits{12, 0}).status();
        if (s.ok()) {
          accepted.fetch_add(1);
        } else if (s.code() == absl::StatusCode::kResourceExhausted) {
          limited.fetch_add(1);
          if (RetryAfter(s) == "60") right_retry_after.fetch_add(1);
        } else {
          other.fetch_add(1);
          ADD_FAILURE() << s.ToString();
        }
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(accepted.load(), 12) << "round " << round;
    EXPECT_EQ(limited.load(), 8) << "round " << round;
    EXPECT_EQ(right_retry_after.load(), 8) << "round " << round;
    EXPECT_EQ(other.load(), 0);
    EXPECT_EQ(SentCount(), std::to_string(12 * (round + 1)));
  }
}

TEST_F(RateLimitTest, ManySendersAtOnceEachGetExactlyTheirLimit) {
  // Concurrent sends of several senders go into shared batches; a sender's second send
  // never shares a batch with its first, so each limit stays exact.
  constexpr int kSenders = 6;
  constexpr int kPerSender = 5;
  PgStore store(db_->url(), 8);
  std::vector<int64_t> senders;
  for (int i = 0; i < kSenders; ++i) senders.push_back(NewUser(Role::kMember));
  std::atomic<int> ready{0};
  std::vector<std::atomic<int>> accepted(kSenders);
  std::vector<std::atomic<int>> limited(kSenders);
  std::vector<std::thread> threads;
  for (int t = 0; t < kSenders * kPerSender; ++t) {
    threads.emplace_back([&, t] {
      const int who = t % kSenders;
      ready.fetch_add(1);
      while (ready.load() < kSenders * kPerSender) {
      }
      const absl::StatusOr<SendOutcome> out = store.SendMessage(
          senders[who], recipient_, Role::kPro, "many", kT0, SendLimits{3, 0});
      if (!out.ok()) {
        ADD_FAILURE() << out.status().ToString();
      } else if (out->kind == SendOutcome::Kind::kSent) {
        accepted[who].fetch_add(1);
      } else if (out->kind == SendOutcome::Kind::kRateLimited &&
                 out->retry_after_seconds == 60) {
        limited[who].fetch_add(1);
      } else {
        ADD_FAILURE() << "unexpected outcome " << static_cast<int>(out->kind);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kSenders; ++i) {
    EXPECT_EQ(accepted[i].load(), 3) << "sender " << i;
    EXPECT_EQ(limited[i].load(), kPerSender - 3) << "sender " << i;
    EXPECT_EQ(db_->Query("SELECT count(*) FROM messages WHERE sender_id = " +
                         std::to_string(senders[i])),
              "3");
  }
}

}  // namespace
}  // namespace tchatator::storage
