#include "core-service/rpc_runner.h"

#include <arpa/inet.h>

#include "absl/strings/ascii.h"
#include "common/metrics.h"

namespace tchatator::core {

std::string PrintableLine(std::string_view value) {
  std::string line(value.substr(0, 128));
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return line;
}

std::string ClientMetadata(const grpc::ServerContextBase& context, std::string_view key) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  if (it == metadata.end()) return "";
  // Metadata comes from the network.
  return PrintableLine(std::string_view(it->second.data(), it->second.size()));
}

namespace {

// Every character of `text` is an ASCII letter or digit, or one of `others`.
bool OnlyAlnumOr(std::string_view text, std::string_view others) {
  for (char c : text) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        others.find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string IpAddressIn(std::string_view value) {
  const std::string address(value.substr(0, value.find('%')));
  const std::string_view zone = value.substr(address.size());
  // Checked byte by byte: inet_pton would stop at a NUL, and the rest reach the log.
  for (char c : address) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) && c != '.' && c != ':') return "";
  }
  if (zone.size() == 1 || zone.size() > 64 || address.size() > 45) return "";
  if (!zone.empty() && !OnlyAlnumOr(zone.substr(1), "._-")) return "";
  in6_addr parsed;
  const bool v4 = inet_pton(AF_INET, address.c_str(), &parsed) == 1;
  if (v4 ? !zone.empty() : inet_pton(AF_INET6, address.c_str(), &parsed) != 1) return "";
  return std::string(value);
}

std::string RequestIdIn(std::string_view value) {
  if (value.empty() || value.size() > 128 || !OnlyAlnumOr(value, "._:-")) return "";
  return std::string(value);
}

std::string ClientIp(const grpc::ServerContextBase& context) {
  std::string ip = IpAddressIn(ClientMetadata(context, kClientIpKey));
  if (!ip.empty()) return ip;
  return PeerIp(context);
}

std::string PeerIp(const grpc::ServerContextBase& context) {
  // "ipv4:127.0.0.1:5000" or "ipv6:[::1]:5000".
  std::string peer = context.peer();
  const size_t scheme = peer.find(':');
  const size_t port = peer.rfind(':');
  if (scheme == std::string::npos || port == scheme) return peer;
  std::string address = peer.substr(scheme + 1, port - scheme - 1);
  if (address.size() >= 2 && address.front() == '[') {
    address = address.substr(1, address.size() - 2);
  }
  return address;
}

std::string BearerToken(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return "";
  std::string_view value(it->second.data(), it->second.size());
  constexpr std::string_view kBearer = "Bearer ";
  if (!value.starts_with(kBearer)) return "";
  return std::string(value.substr(kBearer.size()));
}

absl::Time FromSystemTime(std::chrono::system_clock::time_point t) {
  return t == std::chrono::system_clock::time_point::max() ? absl::InfiniteFuture()
                                                           : absl::FromChrono(t);
}

absl::Time CommitBy(const grpc::ServerContextBase& context) {
  const absl::Time deadline = FromSystemTime(context.deadline());
  if (deadline == absl::InfiniteFuture()) return deadline;
  const absl::Duration left = std::max(absl::ZeroDuration(), deadline - absl::Now());
  return deadline - std::min(absl::Milliseconds(100), left / 10);
}

void RpcRunner::LogCall(std::string_view method, const std::string& user, const std::string& ip,
                        const std::string& request_id, const absl::Status& status) {
  std::string line = StrCat(method, " ", absl::StatusCodeToString(status.code()));
  if (!status.ok()) StrAppend(&line, " ", TokenOf(status), " (", status.message(), ")");
  if (!request_id.empty()) StrAppend(&line, " request=", request_id);
  Log::Write(user, ip, line);
  static Metrics::Counter& calls = Metrics::Global().GetCounter(
      "tchatator_core_calls_total",
      "Requests answered by the gRPC API, by method and status code (each send of a "
      "SendMessages call counts as a SendMessage; Subscribe streams are not counted).",
      {"method", "code"});
  calls.Add({method, absl::StatusCodeToString(status.code())});
}

void RpcRunner::Finish(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
                       std::string_view method, const std::string& user,
                       const absl::Status& status) {
  LogCall(method, user, ClientIp(*context), RequestIdIn(ClientMetadata(*context, kRequestIdKey)),
          status);
  reactor->Finish(ToGrpcStatus(status, *context));
}

}  // namespace tchatator::core
