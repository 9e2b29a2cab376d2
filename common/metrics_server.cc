#include "common/metrics_server.h"

#include <signal.h>

#include <algorithm>
#include <string_view>
#include <system_error>
#include <utility>

#include <asio/read_until.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>

#include "common/log.h"
#include "common/metrics_http.h"
#include "common/strings.h"

namespace tchatator {
namespace {

// The end of a request head: an empty line, with CR LF or LF line ends. Not found, the
// next search (once more bytes came) starts at the last LF, so as to know what follows it.
std::pair<asio::buffers_iterator<asio::streambuf::const_buffers_type>, bool> HeadEnd(
    asio::buffers_iterator<asio::streambuf::const_buffers_type> begin,
    asio::buffers_iterator<asio::streambuf::const_buffers_type> end) {
  bool line_start = false;  // just after a '\n', maybe and a '\r'
  auto last_newline = end;
  for (auto it = begin; it != end; ++it) {
    if (*it == '\n') {
      if (line_start) return {it + 1, true};
      line_start = true;
      last_newline = it;
    } else if (*it != '\r') {
      line_start = false;
    }
  }
  // Only an LF followed by nothing but CRs leaves the state unsettled.
  return {line_start ? last_newline : end, false};
}

}  // namespace

// One scrape: the head read (bounded, within kHeadTimeout), one answer written, then
// what the client still sends read until it closes, all within the server's timeout.
class MetricsServer::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(MetricsServer& server, asio::ip::tcp::socket socket)
      : server_(server),
        socket_(std::move(socket)),
        timer_(server.io_),
        head_(kMaxMetricsRequestBytes) {
    ++server_.open_;
  }
  ~Connection() { --server_.open_; }

  void Start() {
    started_ = std::chrono::steady_clock::now();
    Expire(kHeadTimeout);
    asio::async_read_until(socket_, head_, &HeadEnd,
                           [self = shared_from_this()](const asio::error_code& ec, size_t length) {
                             self->Read(ec, length);
                           });
  }

  void Close() {
    asio::error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
  }

  // Whether it may give its place to a newcomer: it has not sent its whole request yet,
  // or has been answered and only waits for its client to close.
  bool evictable() const { return !head_read_ || answered_; }

 private:
  // Closes the connection `after` its start, unless something sooner closes it.
  void Expire(std::chrono::steady_clock::duration after) {
    timer_.expires_at(started_ + after);
    timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (ec) return;
      asio::error_code ignored;
      self->socket_.close(ignored);
    });
  }

  void Read(const asio::error_code& ec, size_t length) {
    head_read_ = true;
    if (ec == asio::error::not_found) {
      answer_ = MetricsRequestTooLarge();
    } else if (ec) {
      Close();
      return;
    } else {
      const auto data = head_.data();
      const std::string head(asio::buffers_begin(data),
                             asio::buffers_begin(data) + static_cast<ptrdiff_t>(length));
      answer_ = AnswerMetricsRequest(head, [this] { return server_.metrics_.Render(); });
    }
    Expire(server_.timeout_);
    asio::async_write(socket_, asio::buffer(answer_),
                      [self = shared_from_this()](const asio::error_code& written, size_t) {
                        if (written) {
                          self->Close();
                          return;
                        }
                        self->answered_ = true;
                        asio::error_code ignored;
                        self->socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
                        self->Drain();
                      });
  }

  // Reads what the client still sends until it closes (or the timer does): closing
  // with unread input would reset the connection, and the client could lose the answer.
  void Drain() {
    socket_.async_read_some(asio::buffer(discard_),
                            [self = shared_from_this()](const asio::error_code& ec, size_t) {
                              if (ec) {
                                self->Close();
                              } else {
                                self->Drain();
                              }
                            });
  }

  MetricsServer& server_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point started_;
  bool head_read_ = false;
  bool answered_ = false;
  asio::streambuf head_;
  std::string answer_;
  char discard_[1024];
};

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& address, int port, Metrics& metrics,
    std::chrono::steady_clock::duration timeout) {
  std::unique_ptr<MetricsServer> server(new MetricsServer(metrics, timeout));
  asio::error_code ec;
  const asio::ip::address ip = asio::ip::make_address(address, ec);
  const asio::ip::tcp::endpoint endpoint(ip, static_cast<unsigned short>(port));
  if (!ec) server->acceptor_.open(endpoint.protocol(), ec);
  if (!ec) server->acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) server->acceptor_.bind(endpoint, ec);
  if (!ec) server->acceptor_.listen(16, ec);
  if (ec) {
    return absl::UnavailableError(
        StrCat("metrics: cannot listen on ", address, ":", port, ": ", ec.message()));
  }
  server->port_ = server->acceptor_.local_endpoint().port();
  server->Accept();
  // With every signal blocked: a daemon that takes its signals with sigwait must not
  // have them delivered here.
  sigset_t all;
  sigset_t before;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &before);
  try {
    server->thread_ = std::thread([s = server.get()] { s->io_.run(); });
  } catch (const std::system_error& e) {
    pthread_sigmask(SIG_SETMASK, &before, nullptr);
    return absl::ResourceExhaustedError(StrCat("metrics: cannot start a thread: ", e.what()));
  }
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  return server;
}

MetricsServer::~MetricsServer() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
  // The thread is gone: the sockets are ours. The connections close as io_, destroyed
  // next, destroys the handlers that hold them.
  asio::error_code ignored;
  acceptor_.close(ignored);
}

void MetricsServer::Accept() {
  acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of descriptors, say: the connection waits in the backlog; retrying at once
      // would only spin.
      accept_pause_.expires_after(std::chrono::milliseconds(100));
      accept_pause_.async_wait([this](const asio::error_code& paused) {
        if (!paused) Accept();
      });
      return;
    }
    Admit(std::move(socket));
    Accept();
  });
}

void MetricsServer::Admit(asio::ip::tcp::socket socket) {
  std::erase_if(places_, [](const std::weak_ptr<Connection>& c) { return c.expired(); });
  if (open_ >= kMaxConnections) {
    const auto oldest = std::find_if(places_.begin(), places_.end(), [](const auto& c) {
      const std::shared_ptr<Connection> connection = c.lock();
      return connection != nullptr && connection->evictable();
    });
    if (oldest == places_.end()) {
      // Every place is a request being answered: this one retries later. Without
      // waiting: a short answer goes into the new socket's empty send buffer, and the
      // request that came is read first, as a close with unread input would reset the
      // connection.
      const std::string busy = MetricsServerBusy();
      asio::error_code ignored;
      socket.non_blocking(true, ignored);
      char request[1024];
      socket.read_some(asio::buffer(request), ignored);
      socket.write_some(asio::buffer(busy), ignored);
      socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
      socket.close(ignored);
      return;
    }
    // Its close aborts its read, and it goes; the newcomer counts meanwhile.
    oldest->lock()->Close();
    places_.erase(oldest);
  }
  auto connection = std::make_shared<Connection>(*this, std::move(socket));
  places_.push_back(connection);
  connection->Start();
}

absl::StatusOr<std::unique_ptr<MetricsServer>> ServeMetrics(const std::string& address,
                                                            int64_t port) {
  if (port == 0) return nullptr;
  absl::StatusOr<std::unique_ptr<MetricsServer>> server =
      MetricsServer::Start(address, static_cast<int>(port), Metrics::Global());
  if (server.ok()) {
    Log::Info(StrCat("metrics on http://", HostPort(address, (*server)->port()), "/metrics"));
  }
  return server;
}

}  // namespace tchatator
