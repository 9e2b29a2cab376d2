#include "common/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

#include "common/strings.h"

namespace tchatator {
namespace {

std::vector<std::string> Values(std::initializer_list<std::string_view> labels) {
  return std::vector<std::string>(labels.begin(), labels.end());
}

// A label value or help text in the exposition format: a backslash, a line break and
// (in a label value) a double quote are escaped.
std::string Escape(std::string_view text, bool quote) {
  std::string out;
  out.reserve(text.size());
  size_t plain = 0;  // start of the run not yet copied
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '\\' && c != '\n' && (c != '"' || !quote)) continue;
    out.append(text.data() + plain, i - plain);
    out += c == '\n' ? "\\n" : c == '"' ? "\\\"" : "\\\\";
    plain = i + 1;
  }
  out.append(text.data() + plain, text.size() - plain);
  return out;
}

// `{a="x",b="y"}` from the names and values, with `extra` (already formatted) last; empty
// when there is nothing.
std::string Labels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                   std::string_view extra = {}) {
  std::string out;
  const size_t n = std::min(names.size(), values.size());
  for (size_t i = 0; i < n; ++i) {
    StrAppend(&out, out.empty() ? "" : ",", names[i], "=\"", Escape(values[i], true), "\"");
  }
  if (!extra.empty()) StrAppend(&out, out.empty() ? "" : ",", extra);
  return out.empty() ? out : StrCat("{", out, "}");
}

std::string Number(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::isnan(value)) return "NaN";
  char text[32];
  const int n = std::snprintf(text, sizeof text, "%.15g", value);
  return std::string(text, static_cast<size_t>(n));
}

void Header(std::string* out, std::string_view name, std::string_view help, std::string_view type) {
  StrAppend(out, "# HELP ", name, " ", Escape(help, false), "\n# TYPE ", name, " ", type, "\n");
}

}  // namespace

void Metrics::Counter::Add(LabelValues labels, uint64_t n) {
  std::lock_guard lock(mu_);
  auto it = series_.find(labels);
  if (it == series_.end()) it = series_.try_emplace(Values(labels), 0).first;
  it->second += n;
}

void Metrics::Histogram::Observe(LabelValues labels, double value) {
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  std::lock_guard lock(mu_);
  auto it = series_.find(labels);
  if (it == series_.end()) it = series_.try_emplace(Values(labels), bounds_.size()).first;
  Series& series = it->second;
  ++series.counts[bucket];
  series.sum_nanos += static_cast<uint64_t>(std::max(0.0, value) * 1e9);
}

Metrics::GaugeHandle::GaugeHandle(GaugeHandle&& other) noexcept
    : metrics_(std::exchange(other.metrics_, nullptr)), id_(other.id_) {}

Metrics::GaugeHandle& Metrics::GaugeHandle::operator=(GaugeHandle&& other) noexcept {
  if (this != &other) {
    if (metrics_ != nullptr) metrics_->RemoveGauge(id_);
    metrics_ = std::exchange(other.metrics_, nullptr);
    id_ = other.id_;
  }
  return *this;
}

Metrics::GaugeHandle::~GaugeHandle() {
  if (metrics_ != nullptr) metrics_->RemoveGauge(id_);
}

Metrics& Metrics::Global() {
  static Metrics* const metrics = new Metrics;  // never destroyed: used until exit
  return *metrics;
}

Metrics::Counter& Metrics::GetCounter(std::string_view name, std::string_view help,
                                      std::initializer_list<std::string_view> label_names) {
  std::lock_guard lock(mu_);
  auto [it, added] = families_.try_emplace(std::string(name));
  if (added) {
    it->second = Family{Kind::kCounter, std::string(help), Values(label_names),
                        std::make_unique<Counter>(), nullptr};
  } else if (it->second.counter == nullptr) {
    it->second.counter = std::make_unique<Counter>();  // a histogram's name
  }
  return *it->second.counter;
}

Metrics::Histogram& Metrics::GetHistogram(std::string_view name, std::string_view help,
                                          std::initializer_list<std::string_view> label_names,
                                          std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  auto [it, added] = families_.try_emplace(std::string(name));
  std::sort(bounds.begin(), bounds.end());
  if (added) {
    it->second = Family{Kind::kHistogram, std::string(help), Values(label_names), nullptr,
                        std::make_unique<Histogram>(std::move(bounds))};
  } else if (it->second.histogram == nullptr) {
    it->second.histogram = std::make_unique<Histogram>(std::move(bounds));  // a counter's name
  }
  return *it->second.histogram;
}

Metrics::GaugeHandle Metrics::AddGauge(std::string_view name, std::string_view help,
                                       std::function<double()> read) {
  std::lock_guard lock(mu_);
  const uint64_t id = next_gauge_++;
  gauges_.emplace(id, Gauge{std::string(name), std::string(help), std::move(read)});
  return GaugeHandle(this, id);
}

void Metrics::RemoveGauge(uint64_t id) {
  std::lock_guard lock(mu_);
  gauges_.erase(id);
}

std::string Metrics::Render() {
  std::string out;
  std::lock_guard lock(mu_);
  for (auto& [name, family] : families_) {
    if (family.kind == Kind::kCounter) {
      Header(&out, name, family.help, "counter");
      std::lock_guard series_lock(family.counter->mu_);
      for (const auto& [values, count] : family.counter->series_) {
        StrAppend(&out, name, Labels(family.label_names, values), " ", count, "\n");
      }
      continue;
    }
    Header(&out, name, family.help, "histogram");
    Histogram& histogram = *family.histogram;
    std::lock_guard series_lock(histogram.mu_);
    for (const auto& [values, series] : histogram.series_) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i <= histogram.bounds_.size(); ++i) {
        cumulative += series.counts[i];
        const std::string le = i < histogram.bounds_.size() ? Number(histogram.bounds_[i]) : "+Inf";
        StrAppend(&out, name, "_bucket",
                  Labels(family.label_names, values, StrCat("le=\"", le, "\"")), " ", cumulative,
                  "\n");
      }
      StrAppend(&out, name, "_sum", Labels(family.label_names, values), " ",
                Number(static_cast<double>(series.sum_nanos) / 1e9), "\n");
      StrAppend(&out, name, "_count", Labels(family.label_names, values), " ", cumulative, "\n");
    }
  }
  // Gauges of one name (one per server a process runs, as in tests) add up.
  std::map<std::string, std::pair<std::string, double>> gauges;
  for (const auto& [id, gauge] : gauges_) {
    auto [it, added] = gauges.try_emplace(gauge.name, gauge.help, 0.0);
    it->second.second += gauge.read();
  }
  for (const auto& [name, gauge] : gauges) {
    Header(&out, name, gauge.first, "gauge");
    StrAppend(&out, name, " ", Number(gauge.second), "\n");
  }
  return out;
}

std::vector<double> LatencyBounds() {
  return {0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

}  // namespace tchatator
