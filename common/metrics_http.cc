#include "common/metrics_http.h"

#include <algorithm>

#include "common/strings.h"

namespace tchatator {
namespace {

std::string Answer(std::string_view status, std::string_view content_type, std::string_view body,
                   bool send_body = true, std::string_view extra_headers = {}) {
  return StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", content_type,
                "\r\nContent-Length: ", body.size(), "\r\n", extra_headers,
                "Connection: close\r\n\r\n", send_body ? body : std::string_view());
}

std::string Plain(std::string_view status, std::string_view text,
                  std::string_view extra_headers = {}) {
  return Answer(status, "text/plain; charset=utf-8", StrCat(text, "\n"), true, extra_headers);
}

}  // namespace

std::string AnswerMetricsRequest(std::string_view head, const std::function<std::string()>& body) {
  head.remove_prefix(std::min(head.size(), head.find_first_not_of("\r\n")));
  const std::string_view line = head.substr(0, head.find_first_of("\r\n"));
  // METHOD SP TARGET SP HTTP/1.x, nothing else.
  const size_t first = line.find(' ');
  const size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
  if (second == std::string_view::npos || line.find(' ', second + 1) != std::string_view::npos ||
      !line.substr(second + 1).starts_with("HTTP/1.") || first == 0 || second == first + 1) {
    return Plain("400 Bad Request", "bad request");
  }
  const std::string_view method = line.substr(0, first);
  std::string_view target = line.substr(first + 1, second - first - 1);
  target = target.substr(0, target.find('?'));
  if (method != "GET" && method != "HEAD") {
    return Plain("405 Method Not Allowed", "GET /metrics only", "Allow: GET, HEAD\r\n");
  }
  if (target != "/metrics") return Plain("404 Not Found", "GET /metrics only");
  return Answer("200 OK", "text/plain; version=0.0.4; charset=utf-8", body(), method == "GET");
}

std::string MetricsServerBusy() {
  return Plain("503 Service Unavailable", "busy, retry later", "Retry-After: 1\r\n");
}

std::string MetricsRequestTooLarge() {
  return Plain("431 Request Header Fields Too Large", "request head too large");
}

}  // namespace tchatator
