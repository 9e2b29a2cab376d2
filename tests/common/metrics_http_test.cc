#include "common/metrics_http.h"

#include <gtest/gtest.h>

#include <string>

namespace tchatator {
namespace {

std::string Body() { return "up 1\n"; }

TEST(MetricsHttpTest, GetMetricsIsTheBodyInTheTextFormat) {
  EXPECT_EQ(AnswerMetricsRequest("GET /metrics HTTP/1.1\r\nHost: x", Body),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: 5\r\n"
            "Connection: close\r\n\r\n"
            "up 1\n");
  EXPECT_EQ(AnswerMetricsRequest("GET /metrics?name[]=up HTTP/1.0", Body),
            AnswerMetricsRequest("GET /metrics HTTP/1.1", Body));
}

TEST(MetricsHttpTest, HeadHasTheLengthAndNoBody) {
  EXPECT_EQ(AnswerMetricsRequest("HEAD /metrics HTTP/1.1\r\n", Body),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: 5\r\n"
            "Connection: close\r\n\r\n");
}

TEST(MetricsHttpTest, OtherPathsMethodsAndGarbageAreRefusedWithoutTheBody) {
  int rendered = 0;
  auto body = [&] {
    ++rendered;
    return std::string("secret");
  };
  const std::string not_found = AnswerMetricsRequest("GET /metricsx HTTP/1.1", body);
  EXPECT_TRUE(not_found.starts_with("HTTP/1.1 404 Not Found\r\n")) << not_found;
  const std::string post = AnswerMetricsRequest("POST /metrics HTTP/1.1", body);
  EXPECT_TRUE(post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n")) << post;
  EXPECT_NE(post.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos) << post;
  for (const char* head :
       {"", "GET", "GET /metrics", "GET  /metrics HTTP/1.1", "GET /metrics HTTP/1.1 extra",
        "GET /metrics SMTP/1.0", " /metrics HTTP/1.1", "\x16\x03\x01\x02\x00"}) {
    const std::string answer = AnswerMetricsRequest(head, body);
    EXPECT_EQ(answer,
              "HTTP/1.1 400 Bad Request\r\n"
              "Content-Type: text/plain; charset=utf-8\r\n"
              "Content-Length: 12\r\n"
              "Connection: close\r\n\r\n"
              "bad request\n")
        << head;
  }
  EXPECT_EQ(rendered, 0);
  EXPECT_TRUE(MetricsRequestTooLarge().starts_with("HTTP/1.1 431 "));
}

}  // namespace
}  // namespace tchatator
