// The daemons' Prometheus endpoints (gateway-metrics-port, core-metrics-port): what a
// scrape shows after requests through the real stack.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "tests/e2e/stack.h"
#include "tests/support/process.h"

namespace tchatator::e2e {
namespace {

// The body of GET /metrics on 127.0.0.1:`port`, or "" (with a test failure) if the
// answer is not 200.
std::string Scrape(int port) {
  Client scrape(port);
  std::string answer;
  EXPECT_TRUE(scrape.Send("GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n"));
  EXPECT_TRUE(scrape.WaitClosed(5s, &answer));
  const size_t body = answer.find("\r\n\r\n");
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 OK\r\n") && body != std::string::npos) << answer;
  return body == std::string::npos ? "" : answer.substr(body + 4);
}

// The value of the sample `series` (name and labels, exactly) in `text`; -1 if absent.
double Sample(const std::string& text, const std::string& series) {
  const std::string line_start = series + " ";
  for (size_t at = 0; at < text.size();) {
    const size_t end = text.find('\n', at);
    const std::string line = text.substr(at, end - at);
    if (line.starts_with(line_start)) return std::stod(line.substr(line_start.size()));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return -1;
}

TEST(MetricsTest, ScrapesCountTheRequestsAndCallsOfBothDaemons) {
  const int gateway_metrics = testing::FreePort();
  const int core_metrics = testing::FreePort();
  StackOptions options;
  options.core_env = {{"TCHATATOR_CORE_METRICS_PORT", std::to_string(core_metrics)}};
  options.gateway_env = {{"TCHATATOR_GATEWAY_METRICS_PORT", std::to_string(gateway_metrics)}};
  Stack stack(options);
  ASSERT_TRUE(testing::WaitForPort(gateway_metrics, std::chrono::seconds(10)));
  ASSERT_TRUE(testing::WaitForPort(core_metrics, std::chrono::seconds(10)));

  Session member = LoginNew(stack, "member");
  Session pro = LoginNew(stack, "pro");
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(SendMsg(member.conn, member.token, pro.user.id, "bonjour").status, "200/OK");
  }
  ASSERT_EQ(SendMsg(member.conn, member.token, member.user.id, "moi").status, "403/DENIED");
  member.conn.Send("NOPE\n\n");
  ASSERT_EQ(member.conn.Read().status, "416/MISFMT");

  const std::string gateway = Scrape(gateway_metrics);
  EXPECT_EQ(Sample(gateway, R"(tchatator_gateway_requests_total{command="LOGIN",status="200"})"), 2)
      << gateway;
  EXPECT_EQ(Sample(gateway, R"(tchatator_gateway_requests_total{command="SEND_MSG",status="200"})"),
            3);
  EXPECT_EQ(Sample(gateway, R"(tchatator_gateway_requests_total{command="SEND_MSG",status="403"})"),
            1);
  // Client text never becomes a label: an unknown command is "-".
  EXPECT_EQ(Sample(gateway, R"(tchatator_gateway_requests_total{command="-",status="416"})"), 1);
  EXPECT_EQ(gateway.find("NOPE"), std::string::npos);
  EXPECT_EQ(Sample(gateway, R"(tchatator_gateway_request_seconds_count{command="SEND_MSG"})"), 4);
  EXPECT_EQ(
      Sample(gateway, R"(tchatator_gateway_request_seconds_bucket{command="SEND_MSG",le="+Inf"})"),
      4);
  EXPECT_EQ(Sample(gateway, "tchatator_gateway_connections"), 2);

  const std::string core = Scrape(core_metrics);
  EXPECT_EQ(Sample(core, R"(tchatator_core_calls_total{method="Login",code="OK"})"), 2) << core;
  EXPECT_EQ(Sample(core, R"(tchatator_core_calls_total{method="SendMessage",code="OK"})"), 3);
  EXPECT_EQ(
      Sample(core, R"(tchatator_core_calls_total{method="SendMessage",code="PERMISSION_DENIED"})"),
      1);
  EXPECT_EQ(Sample(core, "tchatator_core_database_up"), 1);

  member.conn.Close();
  // The gauge follows the connections the gateway holds.
  double open = -1;
  for (int i = 0; i < 100 && open != 1; ++i) {
    open = Sample(Scrape(gateway_metrics), "tchatator_gateway_connections");
    if (open != 1) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(open, 1);
}

TEST(MetricsTest, APortInUseStopsTheDaemonSayingWhy) {
  const int taken = testing::FreePort();
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_port = htons(static_cast<uint16_t>(taken));
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  StackOptions options;
  options.gateway_env = {{"TCHATATOR_GATEWAY_METRICS_PORT", std::to_string(taken)}};
  EXPECT_THROW(
      {
        try {
          Stack stack(options);
        } catch (const std::runtime_error& e) {
          EXPECT_NE(std::string(e.what()).find("metrics: cannot listen on 127.0.0.1:" +
                                               std::to_string(taken)),
                    std::string::npos)
              << e.what();
          throw;
        }
      },
      std::runtime_error);
  close(fd);
}

}  // namespace
}  // namespace tchatator::e2e
