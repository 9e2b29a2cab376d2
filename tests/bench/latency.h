// Latency samples and their summary (percentiles by rank over the sorted samples).
#ifndef TCHATATOR_TESTS_BENCH_LATENCY_H_
#define TCHATATOR_TESTS_BENCH_LATENCY_H_

#include <algorithm>
#include <cstdint>
#include <vector>

namespace tchatator::bench {

struct LatencySummary {
  int64_t count = 0;
  double mean_ms = 0, p50_ms = 0, p90_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0, min_ms = 0;
};

// Sorts `ns` (nanoseconds) in place. Percentile q is the sample of rank ceil(q * n).
inline LatencySummary Summarize(std::vector<int64_t>& ns) {
  LatencySummary s;
  s.count = static_cast<int64_t>(ns.size());
  if (ns.empty()) return s;
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    size_t rank = static_cast<size_t>(q * static_cast<double>(ns.size()) + 0.999999);
    rank = std::clamp<size_t>(rank, 1, ns.size());
    return static_cast<double>(ns[rank - 1]) / 1e6;
  };
  long double sum = 0;
  for (int64_t v : ns) sum += v;
  s.mean_ms = static_cast<double>(sum / ns.size()) / 1e6;
  s.p50_ms = at(0.50);
  s.p90_ms = at(0.90);
  s.p99_ms = at(0.99);
  s.p999_ms = at(0.999);
  s.min_ms = static_cast<double>(ns.front()) / 1e6;
  s.max_ms = static_cast<double>(ns.back()) / 1e6;
  return s;
}

}  // namespace tchatator::bench

#endif  // TCHATATOR_TESTS_BENCH_LATENCY_H_
