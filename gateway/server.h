#ifndef TCHATATOR_GATEWAY_SERVER_H_
#define TCHATATOR_GATEWAY_SERVER_H_

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/strand.hpp>

#include "absl/status/statusor.h"
#include "common/metrics.h"
#include "common/settings.h"
#include "gateway/dispatcher.h"
#include "gateway/session.h"

namespace tchatator::gateway {

// Accepts TCP connections and gives each one a Session, within the limits on
// connections in total and per client IP.
class Server {
 public:
  Server(asio::io_context& io, Dispatcher& dispatcher, const SettingsHolder& settings);

  // Binds `address`:`port` with the configured backlog; returns the bound port.
  absl::StatusOr<int> Listen(const std::string& address, int port);

  // Listens on `address` instead, on the same port; connections already open stay.
  // On failure, keeps listening where it did and says why. Runs on executor() only
  // (the gateway handles its signals there).
  absl::Status Rebind(const std::string& address);

  // The acceptor's strand: where Rebind() runs and where Drain() takes effect.
  asio::strand<asio::io_context::executor_type> executor() const { return strand_; }

  // Starts accepting (on the io_context's threads).
  void Start();

  // Stops accepting (new connections are refused) and drains every session: requests
  // in flight are answered, then connections close. Safe from any thread; takes effect
  // on the acceptor's strand, possibly after it returns.
  void Drain();

  // Has every open connection check its deadlines under the settings now in force
  // (after a reload). Safe from any thread.
  void Rewatch();

  // Connections open now.
  size_t open_connections() const;

 private:
  using Acceptor = asio::ip::tcp::acceptor;
  // Opens, binds and listens a new acceptor on the strand.
  absl::StatusOr<std::shared_ptr<Acceptor>> Open(const std::string& address, int port);
  // Accepts on `acceptor` until it is closed.
  asio::awaitable<void> AcceptLoop(std::shared_ptr<Acceptor> acceptor);
  // Registers a connection from `ip`; false when a limit forbids it: max-connections,
  // max-connections-per-ip, or the connections the open-file limit leaves room for.
  bool Admit(const std::string& ip);
  // The sessions still open.
  std::vector<std::shared_ptr<Session>> LiveSessions() const;
  // The connections open now. Shared with each session's on_close, which may run after
  // the server is gone (a session outliving the drain is destroyed with the io_context).
  struct Connections {
    std::mutex mu;
    std::map<std::string, size_t> per_ip;
    size_t total = 0;
    std::vector<std::weak_ptr<Session>> sessions;
  };
  static void Forget(Connections& connections, const std::string& ip);

  asio::io_context& io_;
  Dispatcher& dispatcher_;
  const SettingsHolder& settings_;
  asio::strand<asio::io_context::executor_type> strand_;
  // The rest is used on strand_ only.
  std::shared_ptr<Acceptor> acceptor_;
  std::string address_;  // where acceptor_ listens
  int port_ = 0;
  bool draining_ = false;
  // Connections the open-file limit leaves room for (the gateway's other files apart).
  const size_t file_capacity_;
  // When the accept loop last logged running out of file descriptors.
  std::chrono::steady_clock::time_point out_of_files_logged_;
  const std::shared_ptr<Connections> connections_ = std::make_shared<Connections>();
  // tchatator_gateway_connections, while the server lives.
  Metrics::GaugeHandle connections_gauge_;
};

}  // namespace tchatator::gateway

#endif  // TCHATATOR_GATEWAY_SERVER_H_
