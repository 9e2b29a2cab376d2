#include "gateway/server.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/dispatch.hpp>
#include <asio/redirect_error.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "common/log.h"
#include "common/strings.h"
#include "gateway/response.h"

namespace tchatator::gateway {

Server::Server(asio::io_context& io, Dispatcher& dispatcher, const SettingsHolder& settings)
    : io_(io), dispatcher_(dispatcher), settings_(settings), acceptor_(asio::make_strand(io)) {}

absl::StatusOr<int> Server::Listen(const std::string& address, int port) {
  asio::error_code ec;
  const asio::ip::address ip = asio::ip::make_address(address, ec);
  if (ec) return absl::InvalidArgumentError(StrCat("bad listen-address ", address));
  const asio::ip::tcp::endpoint endpoint(ip, static_cast<unsigned short>(port));
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(static_cast<int>(settings_.Get()->listen_backlog), ec);
  if (ec) {
    return absl::UnavailableError(StrCat("cannot listen on ", address, ":", port, ": ",
                                         ec.message()));
  }
  return acceptor_.local_endpoint().port();
}

// The accept loop runs on the acceptor's strand, as Drain() does: with several io
// threads, a connection is either registered before Drain() (and drained) or refused.
void Server::Start() { asio::co_spawn(acceptor_.get_executor(), AcceptLoop(), asio::detached); }

asio::awaitable<void> Server::AcceptLoop() {
  while (acceptor_.is_open()) {
    asio::error_code ec;
    // Each connection gets a strand: its coroutines never run concurrently.
    asio::ip::tcp::socket socket = co_await acceptor_.async_accept(
        asio::make_strand(io_), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) break;
      continue;  // e.g. out of file descriptors: keep serving the others
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
                                             [this, ip] { Forget(ip); });
    {
      std::lock_guard lock(mu_);
      std::erase_if(sessions_, [](const std::weak_ptr<Session>& s) { return s.expired(); });
      sessions_.push_back(session);
    }
    session->Start();
  }
}

bool Server::Admit(const std::string& ip) {
  const std::shared_ptr<const Settings> settings = settings_.Get();
  std::lock_guard lock(mu_);
  size_t& from_ip = per_ip_[ip];
  if (total_ >= static_cast<size_t>(settings->max_connections) ||
      from_ip >= static_cast<size_t>(settings->max_connections_per_ip)) {
    if (from_ip == 0) per_ip_.erase(ip);
    return false;
  }
  ++from_ip;
  ++total_;
  return true;
}

void Server::Forget(const std::string& ip) {
  std::lock_guard lock(mu_);
  auto it = per_ip_.find(ip);
  if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
  --total_;
}

void Server::Drain() {
  asio::dispatch(acceptor_.get_executor(), [this] {
    draining_ = true;
    asio::error_code ignored;
    acceptor_.close(ignored);
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard lock(mu_);
      for (const auto& weak : sessions_) {
        if (auto session = weak.lock()) live.push_back(std::move(session));
      }
    }
    for (const auto& session : live) session->Drain();
  });
}

size_t Server::open_connections() const {
  std::lock_guard lock(mu_);
  return total_;
}

}  // namespace tchatator::gateway
