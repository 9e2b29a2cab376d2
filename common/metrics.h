#ifndef TCHATATOR_COMMON_METRICS_H_
#define TCHATATOR_COMMON_METRICS_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace tchatator {

// A daemon's counters, gauges and histograms, rendered in Prometheus' text exposition
// format (version 0.0.4) for its /metrics endpoint (common/metrics_server.h). No I/O.
// Thread-safe: a series is found and updated under its family's mutex (a rendering holds
// it for a moment too).
class Metrics {
 public:
  using LabelValues = std::initializer_list<std::string_view>;

  // Orders series by their label values; finds one from string_views without copying.
  struct SeriesLess {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return std::lexicographical_compare(
          a.begin(), a.end(), b.begin(), b.end(),
          [](std::string_view x, std::string_view y) { return x < y; });
    }
  };

  // A family of monotonically increasing counts, one series per tuple of label values.
  class Counter {
   public:
    // Adds `n` to the series of `labels` (as many as the family's label names).
    void Add(LabelValues labels, uint64_t n = 1);

   private:
    friend class Metrics;
    std::mutex mu_;
    std::map<std::vector<std::string>, uint64_t, SeriesLess> series_;
  };

  // A family of distributions over fixed upper bounds (seconds), one series per tuple of
  // label values.
  class Histogram {
   public:
    explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {}
    // Counts `value` in the series of `labels`, in the first bucket whose upper bound is
    // at least `value` (the last, +Inf, if none).
    void Observe(LabelValues labels, double value);

   private:
    friend class Metrics;
    struct Series {
      explicit Series(size_t buckets) : counts(buckets + 1) {}
      std::vector<uint64_t> counts;  // per bound, then above the last
      uint64_t sum_nanos = 0;
    };
    const std::vector<double> bounds_;
    std::mutex mu_;
    std::map<std::vector<std::string>, Series, SeriesLess> series_;
  };

  // Removes its gauge from the registry when destroyed (or replaced).
  class GaugeHandle {
   public:
    GaugeHandle() = default;
    GaugeHandle(GaugeHandle&& other) noexcept;
    GaugeHandle& operator=(GaugeHandle&& other) noexcept;
    ~GaugeHandle();

   private:
    friend class Metrics;
    GaugeHandle(Metrics* metrics, uint64_t id) : metrics_(metrics), id_(id) {}
    Metrics* metrics_ = nullptr;
    uint64_t id_ = 0;
  };

  // The process's registry: what its daemon's /metrics shows.
  static Metrics& Global();

  // A family, made on first use and the same one after (its help and labels as first
  // given). Names and label names are the caller's constants; label values may be
  // anything (they are escaped). A name taken by the other kind gets a family that is
  // never rendered.
  Counter& GetCounter(std::string_view name, std::string_view help,
                      std::initializer_list<std::string_view> label_names);
  Histogram& GetHistogram(std::string_view name, std::string_view help,
                          std::initializer_list<std::string_view> label_names,
                          std::vector<double> bounds);

  // A value read when rendered, from `read` (called on the rendering thread, under the
  // registry's mutex: it must not touch the registry), while the handle lives.
  [[nodiscard]] GaugeHandle AddGauge(std::string_view name, std::string_view help,
                                     std::function<double()> read);

  // Every family, in the text exposition format.
  std::string Render();

 private:
  enum class Kind { kCounter, kHistogram };
  struct Family {
    Kind kind;
    std::string help;
    std::vector<std::string> label_names;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Histogram> histogram;
  };
  struct Gauge {
    std::string name;
    std::string help;
    std::function<double()> read;
  };
  void RemoveGauge(uint64_t id);

  std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;
  std::map<uint64_t, Gauge> gauges_;
  uint64_t next_gauge_ = 1;
};

// Latency bounds in seconds, from 0.25 ms to 10 s.
std::vector<double> LatencyBounds();

}  // namespace tchatator

#endif  // TCHATATOR_COMMON_METRICS_H_
