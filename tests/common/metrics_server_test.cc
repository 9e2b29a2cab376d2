#include "common/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics_http.h"

namespace tchatator {
namespace {

// A TCP connection to 127.0.0.1:port; -1 if it cannot be made.
int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
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
  EXPECT_EQ(answer, "HTTP/1.1 200 OK\r\n"
                    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                    "Content-Length: " + std::to_string(body.size()) +
                        "\r\nConnection: close\r\n\r\n" + body);
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
TEST_F(MetricsServerTest, ConnectionsThatSendNothingGiveTheirPlaceToNewcomers) {
  std::vector<int> idle;
  for (int i = 0; i < 3 * MetricsServer::kMaxConnections; ++i) {
    idle.push_back(Connect(server_->port()));
  }
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(Exchange(Connect(server_->port()), "GET /metrics HTTP/1.1\r\n\r\n")
                    .starts_with("HTTP/1.1 200 OK\r\n"));
  }
  for (int fd : idle) close(fd);
}

// Beyond kMaxConnections that have all sent their request (their clients neither read
// nor close), a newcomer is told to retry.
TEST_F(MetricsServerTest, BeyondTheLimitOfScrapesUnderWayANewcomerGets503) {
  std::vector<int> held;
  for (int i = 0; i < MetricsServer::kMaxConnections; ++i) {
    held.push_back(Connect(server_->port()));
    const std::string request = "GET /metrics HTTP/1.1\r\n\r\n";
    ASSERT_EQ(send(held.back(), request.data(), request.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(request.size()));
    char first;  // the server has read the request once its answer starts
    ASSERT_EQ(recv(held.back(), &first, 1, 0), 1);
  }
  const std::string busy = Exchange(Connect(server_->port()), "GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(busy.starts_with("HTTP/1.1 503 Service Unavailable\r\n")) << busy;
  EXPECT_NE(busy.find("\r\nRetry-After: 1\r\n"), std::string::npos) << busy;
  for (int fd : held) close(fd);
  std::string answer;
  for (int attempt = 0; attempt < 200 && !answer.starts_with("HTTP/1.1 200 "); ++attempt) {
    answer = Exchange(Connect(server_->port()), "GET /metrics HTTP/1.1\r\n\r\n");
    if (!answer.starts_with("HTTP/1.1 200 ")) usleep(10000);
  }
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 ")) << answer;
}

TEST_F(MetricsServerTest, DestroyedWithConnectionsUnderWayItClosesThem) {
  const int idle = Connect(server_->port());
  const int partial = Connect(server_->port());
  ASSERT_EQ(send(partial, "GET /met", 8, MSG_NOSIGNAL), 8);
  const int answered = Connect(server_->port());
  const std::string request = "GET /metrics HTTP/1.1\r\n\r\n";
  ASSERT_EQ(send(answered, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  char first;
  ASSERT_EQ(recv(answered, &first, 1, 0), 1);
  server_.reset();
  for (int fd : {idle, partial, answered}) {
    char rest[4096];
    ssize_t n;
    while ((n = recv(fd, rest, sizeof rest, 0)) > 0) {
    }
    EXPECT_LE(n, 0) << "closed";
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
