#include "common/metrics_server.h"

#include <asio/post.hpp>
#include <asio/read_until.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>

#include "common/log.h"
#include "common/metrics_http.h"
#include "common/strings.h"

namespace tchatator {

// One scrape: the head read (bounded, within kTimeout), one answer written, closed.
class MetricsServer::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(MetricsServer& server, asio::ip::tcp::socket socket)
      : server_(server),
        socket_(std::move(socket)),
        timer_(server.io_),
        head_(kMaxMetricsRequestBytes + 4) {
    ++server_.open_;
  }
  ~Connection() { --server_.open_; }

  void Start() {
    timer_.expires_after(kTimeout);
    timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (ec) return;
      asio::error_code ignored;
      self->socket_.close(ignored);
    });
    asio::async_read_until(
        socket_, head_, "\r\n\r\n",
        [self = shared_from_this()](const asio::error_code& ec, size_t length) {
          self->Read(ec, length);
        });
  }

 private:
  void Read(const asio::error_code& ec, size_t length) {
    if (ec == asio::error::not_found) {
      answer_ = MetricsRequestTooLarge();
    } else if (ec) {
      Close();
      return;
    } else {
      const std::string head(asio::buffers_begin(head_.data()),
                             asio::buffers_begin(head_.data()) + static_cast<ptrdiff_t>(length));
      answer_ = AnswerMetricsRequest(head, [this] { return server_.metrics_.Render(); });
    }
    asio::async_write(socket_, asio::buffer(answer_),
                      [self = shared_from_this()](const asio::error_code& written, size_t) {
                        if (written) {
                          self->Close();
                          return;
                        }
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

  void Close() {
    asio::error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
  }

  MetricsServer& server_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  asio::streambuf head_;
  std::string answer_;
  char discard_[1024];
};

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& address,
                                                                    int port, Metrics& metrics) {
  std::unique_ptr<MetricsServer> server(new MetricsServer(metrics));
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
  server->thread_ = std::thread([s = server.get()] { s->io_.run(); });
  return server;
}

MetricsServer::~MetricsServer() {
  asio::post(io_, [this] {
    asio::error_code ignored;
    acceptor_.close(ignored);
  });
  // Connections end within kTimeout; the server does not wait for them.
  io_.stop();
  if (thread_.joinable()) thread_.join();
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
    if (open_ < kMaxConnections) {
      std::make_shared<Connection>(*this, std::move(socket))->Start();
    } else {
      asio::error_code ignored;
      socket.close(ignored);
    }
    Accept();
  });
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
