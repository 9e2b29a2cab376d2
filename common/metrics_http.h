#ifndef TCHATATOR_COMMON_METRICS_HTTP_H_
#define TCHATATOR_COMMON_METRICS_HTTP_H_

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace tchatator {

// The most bytes of a request's head (request line and headers) the metrics endpoint
// reads; a longer head is answered 431 and the connection closed.
inline constexpr size_t kMaxMetricsRequestBytes = 8192;

// The HTTP/1.1 answer to one request to the metrics endpoint, whose head (up to the
// empty line; CR LF or LF line ends; empty lines before it are skipped) is `head`: GET or HEAD of
// /metrics (any query string) is 200 with `body()` (HEAD: its length, no body), in Prometheus' text
// format; another path is 404; another method 405; a head that is not a request line 400. Every
// answer closes the connection. No I/O: common/metrics_server.h serves it.
std::string AnswerMetricsRequest(std::string_view head, const std::function<std::string()>& body);

// The answer to a head longer than kMaxMetricsRequestBytes.
std::string MetricsRequestTooLarge();

// The answer to a connection beyond those the endpoint serves at once.
std::string MetricsServerBusy();

}  // namespace tchatator

#endif  // TCHATATOR_COMMON_METRICS_HTTP_H_
