#include "common/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace tchatator {
namespace {

TEST(MetricsTest, CountersRenderOneSeriesPerLabelValuesWithHelpAndType) {
  Metrics metrics;
  Metrics::Counter& requests =
      metrics.GetCounter("app_requests_total", "Requests answered.", {"command", "status"});
  requests.Add({"SEND_MSG", "200"});
  requests.Add({"SEND_MSG", "200"}, 2);
  requests.Add({"LOGIN", "403"});
  EXPECT_EQ(&metrics.GetCounter("app_requests_total", "ignored", {"x"}), &requests);
  EXPECT_EQ(metrics.Render(),
            "# HELP app_requests_total Requests answered.\n"
            "# TYPE app_requests_total counter\n"
            "app_requests_total{command=\"LOGIN\",status=\"403\"} 1\n"
            "app_requests_total{command=\"SEND_MSG\",status=\"200\"} 3\n");
}

TEST(MetricsTest, LabelValuesAndHelpAreEscaped) {
  Metrics metrics;
  metrics.GetCounter("c_total", "a \\ b\nc \"q\"", {"v"}).Add({"x\"y\\z\nw"});
  EXPECT_EQ(metrics.Render(),
            "# HELP c_total a \\\\ b\\nc \"q\"\n"
            "# TYPE c_total counter\n"
            "c_total{v=\"x\\\"y\\\\z\\nw\"} 1\n");
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithSumAndCount) {
  Metrics metrics;
  Metrics::Histogram& h = metrics.GetHistogram("lat_seconds", "Latency.", {"op"}, {0.5, 0.1, 1});
  h.Observe({"a"}, 0.05);
  h.Observe({"a"}, 0.1);  // on a bound: counted in that bucket (le)
  h.Observe({"a"}, 0.7);
  h.Observe({"a"}, 3);
  EXPECT_EQ(metrics.Render(),
            "# HELP lat_seconds Latency.\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{op=\"a\",le=\"0.1\"} 2\n"
            "lat_seconds_bucket{op=\"a\",le=\"0.5\"} 2\n"
            "lat_seconds_bucket{op=\"a\",le=\"1\"} 3\n"
            "lat_seconds_bucket{op=\"a\",le=\"+Inf\"} 4\n"
            "lat_seconds_sum{op=\"a\"} 3.85\n"
            "lat_seconds_count{op=\"a\"} 4\n");
}

TEST(MetricsTest, GaugesAreReadWhenRenderedAddUpByNameAndLeaveWithTheirHandle) {
  Metrics metrics;
  double open = 3;
  Metrics::GaugeHandle first = metrics.AddGauge("open", "Open now.", [&] { return open; });
  {
    Metrics::GaugeHandle second = metrics.AddGauge("open", "Open now.", [] { return 2.5; });
    open = 4;
    EXPECT_EQ(metrics.Render(), "# HELP open Open now.\n# TYPE open gauge\nopen 6.5\n");
  }
  EXPECT_EQ(metrics.Render(), "# HELP open Open now.\n# TYPE open gauge\nopen 4\n");
  Metrics::GaugeHandle moved = std::move(first);
  EXPECT_EQ(metrics.Render(), "# HELP open Open now.\n# TYPE open gauge\nopen 4\n");
  moved = Metrics::GaugeHandle();
  EXPECT_EQ(metrics.Render(), "");
}

TEST(MetricsTest, ConcurrentUpdatesAreAllCounted) {
  Metrics metrics;
  Metrics::Counter& c = metrics.GetCounter("n_total", "N.", {"t"});
  Metrics::Histogram& h = metrics.GetHistogram("d_seconds", "D.", {}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        c.Add({t % 2 == 0 ? "even" : "odd"});
        h.Observe({}, 0.5);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const std::string text = metrics.Render();
  EXPECT_NE(text.find("n_total{t=\"even\"} 20000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("n_total{t=\"odd\"} 20000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("d_seconds_count 40000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("d_seconds_bucket{le=\"1\"} 40000\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace tchatator
