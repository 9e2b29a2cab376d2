#include "gateway/server.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/dispatch.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "common/daemon_options.h"
#include "common/log.h"
#include "common/strings.h"
#include "gateway/response.h"

namespace tchatator::gateway {

namespace {

// Files the gateway keeps open besides its connections: standard streams, the log, the
// listening socket, epoll and timers, the channels to the cores, a reload's new listener.
constexpr uint64_t kOtherFiles = 64;

size_t FileCapacity() {
  const uint64_t limit = OpenFileLimit();
  return static_cast<size_t>(limit > kOtherFiles ? limit - kOtherFiles : 0);
}

}  // namespace

Server::Server(asio::io_context& io, Dispatcher& dispatcher, const SettingsHolder& settings)
    : io_(io),
      dispatcher_(dispatcher),
      settings_(settings),
      strand_(asio::make_strand(io)),
      file_capacity_(FileCapacity()),
      connections_gauge_(Metrics::Global().AddGauge(
          "tchatator_gateway_connections", "Client connections open now.",
          [connections = connections_] {
            std::lock_guard lock(connections->mu);
            return static_cast<double>(connections->total);
          })) {
  const int64_t wanted = settings.Get()->max_connections;
  if (static_cast<uint64_t>(wanted) > file_capacity_) {
    Log::Info(StrCat("warning: max-connections is ", wanted, " but the open-file limit (",
                     OpenFileLimit(), ") leaves room for ", file_capacity_,
                     " connections: beyond, new ones are refused (503 too-many-connections); "
                     "raise the hard limit (ulimit -Hn, LimitNOFILE=) to hold more"));
  }
}

absl::StatusOr<std::shared_ptr<Server::Acceptor>> Server::Open(const std::string& address,
                                                               int port) {
  asio::error_code ec;
  const asio::ip::address ip = asio::ip::make_address(address, ec);
  if (ec) return absl::InvalidArgumentError(StrCat("bad listen-address ", address));
  const asio::ip::tcp::endpoint endpoint(ip, static_cast<unsigned short>(port));
  auto acceptor = std::make_shared<Acceptor>(strand_);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(Acceptor::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(static_cast<int>(settings_.Get()->listen_backlog), ec);
  if (ec) {
    return absl::UnavailableError(StrCat("cannot listen on ", address, ":", port, ": ",
                                         ec.message()));
  }
  return acceptor;
}

absl::StatusOr<int> Server::Listen(const std::string& address, int port) {
  absl::StatusOr<std::shared_ptr<Acceptor>> acceptor = Open(address, port);
  if (!acceptor.ok()) return acceptor.status();
  acceptor_ = *std::move(acceptor);
  address_ = address;
  port_ = acceptor_->local_endpoint().port();
  return port_;
}

absl::Status Server::Rebind(const std::string& address) {
  if (acceptor_ == nullptr || draining_) return absl::OkStatus();
  // Unless a failed Rebind left it listening nowhere: then the same address is retried.
  if (address == address_ && acceptor_->is_open()) return absl::OkStatus();
  asio::error_code ec;
  asio::ip::make_address(address, ec);
  if (ec) return absl::InvalidArgumentError(StrCat("bad listen-address ", address));
  // The old socket goes first, as the new address may cover it (0.0.0.0 covers
  // 127.0.0.1): connections that arrive meanwhile are refused by the system.
  // Connections in the old socket's backlog, not yet accepted, are reset.
  asio::error_code ignored;
  acceptor_->close(ignored);
  absl::StatusOr<std::shared_ptr<Acceptor>> next = Open(address, port_);
  if (!next.ok()) {
    absl::StatusOr<std::shared_ptr<Acceptor>> old = Open(address_, port_);
    if (old.ok()) {
      acceptor_ = *std::move(old);
      Start();
    } else {
      Log::Info(StrCat("cannot listen again on ", address_, ":", port_, ": ",
                       old.status().message(), "; no new connection will be accepted"));
    }
    return next.status();
  }
  acceptor_ = *std::move(next);
  address_ = address;
  Start();
  Log::Info(StrCat("listening on ", address_, ":", port_));
  return absl::OkStatus();
}

// The accept loop runs on the acceptor's strand, as Drain() does: with several io
// threads, a connection is either registered before Drain() (and drained) or refused.
void Server::Start() { asio::co_spawn(strand_, AcceptLoop(acceptor_), asio::detached); }

asio::awaitable<void> Server::AcceptLoop(std::shared_ptr<Acceptor> acceptor) {
  while (acceptor->is_open()) {
    asio::error_code ec;
    // Each connection gets a strand: its coroutines never run concurrently.
    asio::ip::tcp::socket socket = co_await acceptor->async_accept(
        asio::make_strand(io_), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) break;
      if (ec == asio::error::no_descriptors || ec.value() == ENFILE) {
        // The connection waits in the backlog: retrying at once would only spin.
        const auto now = std::chrono::steady_clock::now();
        if (now - out_of_files_logged_ >= std::chrono::seconds(10)) {
          out_of_files_logged_ = now;
          Log::Info(StrCat("accept: ", ec.message(), "; new connections wait"));
        }
        asio::steady_timer pause(strand_, std::chrono::milliseconds(100));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      continue;  // keep serving the others
    }
    if (draining_) {
      asio::error_code ignored;
      socket.close(ignored);
      break;
    }
    asio::error_code peer_ec;
    const std::string ip = socket.remote_endpoint(peer_ec).address().to_string();
    if (peer_ec) continue;
    if (!Admit(ip)) {
      Log::Write("", ip, "refused: too many connections");
      const std::string answer =
          ErrorResponse(kUnavailable, "too-many-connections", "too many connections, retry later");
      asio::error_code ignored;
      asio::write(socket, asio::buffer(answer), ignored);
      socket.close(ignored);
      continue;
    }
    auto session = std::make_shared<Session>(std::move(socket), ip, dispatcher_, settings_,
                                             [connections = connections_, ip] { Forget(*connections, ip); });
    {
      std::lock_guard lock(connections_->mu);
      std::erase_if(connections_->sessions,
                    [](const std::weak_ptr<Session>& s) { return s.expired(); });
      connections_->sessions.push_back(session);
    }
    session->Start();
  }
}

bool Server::Admit(const std::string& ip) {
  const std::shared_ptr<const Settings> settings = settings_.Get();
  std::lock_guard lock(connections_->mu);
  size_t& from_ip = connections_->per_ip[ip];
  const size_t most = std::min(static_cast<size_t>(settings->max_connections), file_capacity_);
  if (connections_->total >= most ||
      from_ip >= static_cast<size_t>(settings->max_connections_per_ip)) {
    if (from_ip == 0) connections_->per_ip.erase(ip);
    return false;
  }
  ++from_ip;
  ++connections_->total;
  return true;
}

void Server::Forget(Connections& connections, const std::string& ip) {
  std::lock_guard lock(connections.mu);
  auto it = connections.per_ip.find(ip);
  if (it != connections.per_ip.end() && --it->second == 0) connections.per_ip.erase(it);
  --connections.total;
}

std::vector<std::shared_ptr<Session>> Server::LiveSessions() const {
  std::vector<std::shared_ptr<Session>> live;
  std::lock_guard lock(connections_->mu);
  for (const auto& weak : connections_->sessions) {
    if (auto session = weak.lock()) live.push_back(std::move(session));
  }
  return live;
}

void Server::Drain() {
  asio::dispatch(strand_, [this] {
    draining_ = true;
    asio::error_code ignored;
    if (acceptor_ != nullptr) acceptor_->close(ignored);
    for (const auto& session : LiveSessions()) session->Drain();
  });
}

void Server::Rewatch() {
  for (const auto& session : LiveSessions()) session->Rewatch();
}

size_t Server::open_connections() const {
  std::lock_guard lock(connections_->mu);
  return connections_->total;
}

}  // namespace tchatator::gateway
