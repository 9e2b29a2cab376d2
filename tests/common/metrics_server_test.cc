#include "common/metrics_server.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics_http.h"

namespace tchatator {
namespace {

// A TCP connection to 127.0.0.1:port, with a `receive_buffer` (SO_RCVBUF) other than 0
// if given; -1 if it cannot be made.
int Connect(int port, int receive_buffer = 0) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (receive_buffer != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends `request` on `fd`, then reads until the server closes; closes `fd`.
std::string Exchange(int fd, const std::string& request) {
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string answer;
  char buffer[4096];
  for (ssize_t n; (n = recv(fd, buffer, sizeof buffer, 0)) > 0;) {
    answer.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return answer;
}

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    metrics_.GetCounter("scrapes_total", "Scrapes.", {"kind"}).Add({"test"}, 7);
    auto server = MetricsServer::Start("127.0.0.1", 0, metrics_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = *std::move(server);
    ASSERT_GT(server_->port(), 0);
  }

  Metrics metrics_;
  std::unique_ptr<MetricsServer> server_;
};

TEST_F(MetricsServerTest, AScrapeGetsTheRegistryRenderedThenTheConnectionCloses) {
  const std::string body = metrics_.Render();
  const std::string answer =
      Exchange(Connect(server_->port()), "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(answer,
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: " +
                std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  EXPECT_NE(body.find("scrapes_total{kind=\"test\"} 7\n"), std::string::npos) << body;
}

TEST_F(MetricsServerTest, ARequestSentOneByteAtATimeIsAnswered) {
  const int fd = Connect(server_->port());
  const std::string request = "GET /nothing HTTP/1.1\r\n\r\n";
  for (size_t i = 0; i + 1 < request.size(); ++i) {
    ASSERT_EQ(send(fd, &request[i], 1, MSG_NOSIGNAL), 1);
    // Each byte its own read on the server's side.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_TRUE(Exchange(fd, request.substr(request.size() - 1)).starts_with("HTTP/1.1 404 "));
}

TEST_F(MetricsServerTest, AHeadLongerThanTheLimitIsAnswered431) {
  const std::string request =
      "GET /metrics HTTP/1.1\r\nX: " + std::string(kMaxMetricsRequestBytes, 'a') + "\r\n\r\n";
  EXPECT_TRUE(Exchange(Connect(server_->port()), request).starts_with("HTTP/1.1 431 "));
}

TEST_F(MetricsServerTest, ARequestWithBareLineFeedsIsAnswered) {
  EXPECT_TRUE(Exchange(Connect(server_->port()), "\r\nGET /metrics HTTP/1.0\n\n")
                  .starts_with("HTTP/1.1 200 OK\r\n"));
}

TEST_F(MetricsServerTest, AConnectionThatSendsNothingIsClosedAfterTheHeadTimeout) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Exchange(Connect(server_->port()), ""), "");
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, MetricsServer::kHeadTimeout - std::chrono::milliseconds(100));
  EXPECT_LT(waited, MetricsServer::kTimeout);
}

// Clients that connect and send nothing cannot keep scrapes out: a newcomer takes the
// place of the oldest of them.
// Sends `request` on `fd` and waits for the first byte of its answer: the server has
// read the request.
void RequestAndAwaitAnswer(int fd, const std::string& request) {
  ASSERT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  char first;
  ASSERT_EQ(recv(fd, &first, 1, 0), 1);
}

// Clients that connect and send nothing, or a part of a request, cannot keep scrapes
// out: a newcomer takes the place of the oldest of them.
TEST_F(MetricsServerTest, ConnectionsThatSendNoWholeRequestGiveTheirPlaceToNewcomers) {
  std::vector<int> idle;
  for (int i = 0; i < 3 * MetricsServer::kMaxConnections; ++i) {
    idle.push_back(Connect(server_->port()));
    if (i % 2 == 1) {
      ASSERT_EQ(send(idle.back(), "GET /me", 7, MSG_NOSIGNAL), 7);
    }
  }
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(Exchange(Connect(server_->port()), "GET /metrics HTTP/1.1\r\n\r\n")
                    .starts_with("HTTP/1.1 200 OK\r\n"));
  }
  for (int fd : idle) close(fd);
}

// Nor can clients that hold their connections open once answered.
TEST_F(MetricsServerTest, ConnectionsAnsweredButHeldOpenGiveTheirPlaceToNewcomers) {
  std::vector<int> held;
  for (int i = 0; i < 2 * MetricsServer::kMaxConnections; ++i) {
    held.push_back(Connect(server_->port()));
    RequestAndAwaitAnswer(held.back(), "GET /metrics HTTP/1.1\r\n\r\n");
  }
  EXPECT_TRUE(Exchange(Connect(server_->port()), "GET /metrics HTTP/1.1\r\n\r\n")
                  .starts_with("HTTP/1.1 200 OK\r\n"));
  for (int fd : held) close(fd);
}

// Beyond kMaxConnections whose answers are being written (their clients read nothing of
// a long one), a newcomer is told to retry.
TEST_F(MetricsServerTest, BeyondTheLimitOfAnswersBeingWrittenANewcomerGets503) {
  // Its own server, whose timeout does not end the first answers while the last places
  // fill (8 renderings of 8 MB take seconds under a sanitizer).
  auto server = MetricsServer::Start("127.0.0.1", 0, metrics_, std::chrono::seconds(60));
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  server_ = *std::move(server);
  // Some 8 MB to render: more than the kernel buffers of a connection hold (the
  // server's send buffer grows to 4 MiB at most; the clients' receive buffers are small).
  Metrics::Counter& big = metrics_.GetCounter("big_total", "Big.", {"v"});
  for (int i = 0; i < 8; ++i) big.Add({std::to_string(i) + std::string(1 << 20, 'x')});
  std::vector<int> held;
  for (int i = 0; i < MetricsServer::kMaxConnections; ++i) {
    held.push_back(Connect(server_->port(), 4096));
    RequestAndAwaitAnswer(held.back(), "GET /metrics HTTP/1.1\r\n\r\n");
  }
  const std::string busy = Exchange(Connect(server_->port()), "GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(busy.starts_with("HTTP/1.1 503 Service Unavailable\r\n")) << busy.substr(0, 200);
  EXPECT_NE(busy.find("\r\nRetry-After: 1\r\n"), std::string::npos) << busy.substr(0, 200);
  for (int fd : held) close(fd);
  std::string answer;
  for (int attempt = 0; attempt < 200 && !answer.starts_with("HTTP/1.1 200 "); ++attempt) {
    answer = Exchange(Connect(server_->port()), "GET /metrics HTTP/1.1\r\n\r\n");
    if (!answer.starts_with("HTTP/1.1 200 ")) usleep(10000);
  }
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 ")) << answer.substr(0, 200);
}

TEST_F(MetricsServerTest, DestroyedWithConnectionsUnderWayItClosesThem) {
  const int idle = Connect(server_->port());
  const int partial = Connect(server_->port());
  ASSERT_EQ(send(partial, "GET /met", 8, MSG_NOSIGNAL), 8);
  const int answered = Connect(server_->port());
  RequestAndAwaitAnswer(answered, "GET /metrics HTTP/1.1\r\n\r\n");
  server_.reset();
  for (int fd : {idle, partial, answered}) {
    const timeval wait{3, 0};  // a hang would be a failure, not a stuck test
    ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait), 0);
    char rest[4096];
    ssize_t n;
    while ((n = recv(fd, rest, sizeof rest, 0)) > 0) {
    }
    EXPECT_TRUE(n == 0 || errno == ECONNRESET) << "not closed: " << std::strerror(errno);
    close(fd);
  }
}

TEST(MetricsServerStartTest, AnAddressInUseOrNotAnAddressIsAnError) {
  Metrics metrics;
  auto first = MetricsServer::Start("127.0.0.1", 0, metrics);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = MetricsServer::Start("127.0.0.1", (*first)->port(), metrics);
  EXPECT_FALSE(second.ok());
  EXPECT_FALSE(MetricsServer::Start("localhost", 0, metrics).ok());
}

}  // namespace
}  // namespace tchatator
