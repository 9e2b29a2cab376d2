#ifndef TCHATATOR_COMMON_METRICS_SERVER_H_
#define TCHATATOR_COMMON_METRICS_SERVER_H_

#include <chrono>
#include <cstdint>
#include <list>
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
// own, so that a scrape never waits for the daemon's work. A connection has kHeadTimeout
// to send its request and kTimeout in all; at most kMaxConnections are served at once: a
// newcomer beyond them takes the place of the oldest that has not sent its whole request
// yet or has had its answer (clients that hold connections cannot keep scrapes out), else
// it is answered 503.
class MetricsServer {
 public:
  static constexpr int kMaxConnections = 8;
  static constexpr std::chrono::seconds kHeadTimeout{2};
  static constexpr std::chrono::seconds kTimeout{5};

  // Listens on `address` (an IP literal) and `port` (0: any free port); `metrics` must
  // outlive the server. `timeout` replaces kTimeout (tests).
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& address, int port, Metrics& metrics,
      std::chrono::steady_clock::duration timeout = kTimeout);
  // Stops the thread, then closes the listening socket and every connection.
  ~MetricsServer();

  int port() const { return port_; }

 private:
  class Connection;
  MetricsServer(Metrics& metrics, std::chrono::steady_clock::duration timeout)
      : metrics_(metrics), timeout_(timeout), acceptor_(io_), accept_pause_(io_) {}
  void Accept();
  // Takes the newly accepted `socket` in, or answers it 503.
  void Admit(asio::ip::tcp::socket socket);

  Metrics& metrics_;
  const std::chrono::steady_clock::duration timeout_;
  // On the server's thread only. Declared before io_, whose destruction destroys the
  // connections its handlers still hold: they count themselves out.
  int open_ = 0;
  std::list<std::weak_ptr<Connection>> places_;  // the connections, oldest first
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
