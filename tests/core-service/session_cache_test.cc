#include "core-service/session_cache.h"

#include <gtest/gtest.h>

#include <string>

namespace tchatator::core {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'795'000'000);

storage::Session SessionOf(int64_t user, absl::Time expires, bool banned = false) {
  return storage::Session{user, storage::Role::kPro, expires, banned};
}

TEST(SessionCacheTest, FindsWhatWasPutUntilItExpires) {
  SessionCache cache;
  EXPECT_EQ(cache.Find("h", kNow), std::nullopt);
  cache.Put("h", SessionOf(7, kNow + absl::Hours(1)));
  std::optional<storage::Session> found = cache.Find("h", kNow);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->user_id, 7);
  EXPECT_EQ(found->role, storage::Role::kPro);
  EXPECT_EQ(found->expires_at, kNow + absl::Hours(1));
  EXPECT_TRUE(cache.Find("h", kNow + absl::Hours(1) - absl::Microseconds(1)).has_value());
  EXPECT_EQ(cache.Find("h", kNow + absl::Hours(1)), std::nullopt);
  EXPECT_EQ(cache.size(), 0u) << "an expired session is dropped when found";
}

TEST(SessionCacheTest, EraseForgetsOneSession) {
  SessionCache cache;
  cache.Put("a", SessionOf(1, kNow + absl::Hours(1)));
  cache.Put("b", SessionOf(2, kNow + absl::Hours(1)));
  cache.Erase("a");
  EXPECT_EQ(cache.Find("a", kNow), std::nullopt);
  ASSERT_TRUE(cache.Find("b", kNow).has_value());
  EXPECT_EQ(cache.Find("b", kNow)->user_id, 2);
}

TEST(SessionCacheTest, NeverKeepsABanWhichCanBeLifted) {
  SessionCache cache;
  cache.Put("h", SessionOf(7, kNow + absl::Hours(1), /*banned=*/true));
  ASSERT_TRUE(cache.Find("h", kNow).has_value());
  EXPECT_FALSE(cache.Find("h", kNow)->banned);
}

TEST(SessionCacheTest, StaysBoundedByEmptyingWhenFull) {
  SessionCache cache;
  for (size_t i = 0; i < SessionCache::kMaxEntries; ++i) {
    cache.Put("s" + std::to_string(i), SessionOf(1, kNow + absl::Hours(1)));
  }
  EXPECT_EQ(cache.size(), SessionCache::kMaxEntries);
  cache.Put("s0", SessionOf(2, kNow + absl::Hours(1)));  // already there: replaced
  EXPECT_EQ(cache.size(), SessionCache::kMaxEntries);
  EXPECT_EQ(cache.Find("s0", kNow)->user_id, 2);
  cache.Put("one more", SessionOf(3, kNow + absl::Hours(1)));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.Find("one more", kNow)->user_id, 3);
}

}  // namespace
}  // namespace tchatator::core
