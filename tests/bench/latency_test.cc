#include "tests/bench/latency.h"

#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

namespace tchatator::bench {
namespace {

std::vector<int64_t> Millis(int from, int to) {
  std::vector<int64_t> ns;
  for (int ms = from; ms <= to; ++ms) ns.push_back(int64_t{ms} * 1000000);
  return ns;
}

TEST(SummarizeTest, NoSampleGivesZeroes) {
  std::vector<int64_t> none;
  const LatencySummary s = Summarize(none);
  EXPECT_EQ(s.count, 0);
  EXPECT_EQ(s.p50_ms, 0);
  EXPECT_EQ(s.max_ms, 0);
}

TEST(SummarizeTest, PercentileIsTheSampleOfRankCeilQN) {
  // 1..1000 ms, shuffled: the sample of rank k is k ms.
  std::vector<int64_t> ns = Millis(1, 1000);
  for (size_t i = 0; i < ns.size(); ++i) std::swap(ns[i], ns[(i * 7919) % ns.size()]);
  const LatencySummary s = Summarize(ns);
  EXPECT_EQ(s.count, 1000);
  EXPECT_EQ(s.min_ms, 1);
  EXPECT_EQ(s.p50_ms, 500);
  EXPECT_EQ(s.p90_ms, 900);
  EXPECT_EQ(s.p99_ms, 990);
  EXPECT_EQ(s.p999_ms, 999);
  EXPECT_EQ(s.max_ms, 1000);
  EXPECT_DOUBLE_EQ(s.mean_ms, 500.5);
}

TEST(SummarizeTest, RanksRoundUpBetweenSamples) {
  // n = 10: p50 is rank 5, p90 rank 9, p99 and p99.9 rank 10 (ceil of 9.9 and 9.99).
  std::vector<int64_t> ns = Millis(1, 10);
  const LatencySummary s = Summarize(ns);
  EXPECT_EQ(s.p50_ms, 5);
  EXPECT_EQ(s.p90_ms, 9);
  EXPECT_EQ(s.p99_ms, 10);
  EXPECT_EQ(s.p999_ms, 10);
  // n = 7: p50 is rank 4 (ceil of 3.5).
  std::vector<int64_t> seven = Millis(1, 7);
  EXPECT_EQ(Summarize(seven).p50_ms, 4);
}

TEST(SummarizeTest, OneSampleIsEveryPercentile) {
  std::vector<int64_t> ns = {1500000};
  const LatencySummary s = Summarize(ns);
  EXPECT_EQ(s.count, 1);
  EXPECT_DOUBLE_EQ(s.p50_ms, 1.5);
  EXPECT_DOUBLE_EQ(s.p999_ms, 1.5);
  EXPECT_DOUBLE_EQ(s.min_ms, 1.5);
  EXPECT_DOUBLE_EQ(s.mean_ms, 1.5);
}

}  // namespace
}  // namespace tchatator::bench
