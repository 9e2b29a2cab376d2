#ifndef TCHATATOR_COMMON_METRICS_SERVER_H_
#define TCHATATOR_COMMON_METRICS_SERVER_H_

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "absl/status/statusor.h"
#include "common/metrics.h"

namespace tchatator {

// Serves `metrics` over HTTP (GET /metrics, common/metrics_http.h) on a thread of its
// own, so that a scrape never waits on the daemon's work nor delays it. At most
// kMaxConnections at once (more are closed unanswered); each has kTimeout to send its
// request and take its answer.
class MetricsServer {
 public:
  static constexpr int kMaxConnections = 8;
  static constexpr std::chrono::seconds kTimeout{5};

  // Listens on `address` (an IP literal) and `port` (0: any free port); `metrics` must
  // outlive the server.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& address,
                                                              int port, Metrics& metrics);
  // Stops listening, closes the connections and joins the thread.
  ~MetricsServer();

  int port() const { return port_; }

 private:
  class Connection;
  explicit MetricsServer(Metrics& metrics)
      : metrics_(metrics), acceptor_(io_), accept_pause_(io_) {}
  void Accept();

  Metrics& metrics_;
  int open_ = 0;  // connections open, on the server's thread only
  // Destroyed before open_: the connections its handlers still hold count down.
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer accept_pause_;
  int port_ = 0;
  std::thread thread_;
};

// A daemon's metrics endpoint: Metrics::Global() served on `address`:`port`, logged;
// nullptr when `port` is 0 (none configured).
absl::StatusOr<std::unique_ptr<MetricsServer>> ServeMetrics(const std::string& address,
                                                            int64_t port);

}  // namespace tchatator

#endif  // TCHATATOR_COMMON_METRICS_SERVER_H_
