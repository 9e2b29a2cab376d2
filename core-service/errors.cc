#include "core-service/errors.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/time/clock.h"
#include "common/time_text.h"
#include "common/utf8.h"
#include "storage/store.h"

namespace tchatator::core {
namespace {
constexpr char kTokenPayload[] = "tchatator/error";
constexpr char kUntilPayload[] = "tchatator/until";

// `text` if it is UTF-8, else its ASCII bytes with '?' for each other byte: a message
// travels in a protobuf string (SendMessageOutcome), which a parser refuses unless it
// is UTF-8, and a database error can quote any byte.
std::string Utf8Message(absl::string_view message) {
  std::string out(message.data(), message.size());
  if (Utf8Length(out)) return out;
  for (char& c : out) {
    if (static_cast<unsigned char>(c) >= 0x80) c = '?';
  }
  return out;
}

// Every code the contract names keeps its meaning; the rest is an internal failure.
grpc::StatusCode GrpcCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return grpc::StatusCode::OK;
    case absl::StatusCode::kUnauthenticated:
      return grpc::StatusCode::UNAUTHENTICATED;
    case absl::StatusCode::kPermissionDenied:
      return grpc::StatusCode::PERMISSION_DENIED;
    case absl::StatusCode::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case absl::StatusCode::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case absl::StatusCode::kResourceExhausted:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case absl::StatusCode::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case absl::StatusCode::kDeadlineExceeded:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kDoNotUseReservedForFutureExpansionUseDefaultInSwitchInstead_:
      return grpc::StatusCode::INTERNAL;
  }
  return grpc::StatusCode::INTERNAL;
}

}  // namespace

absl::Status Error(absl::StatusCode code, std::string_view token, std::string_view message) {
  absl::Status status(code, std::string(message));
  status.SetPayload(kTokenPayload, absl::Cord(std::string(token)));
  return status;
}

absl::Status WithUntil(absl::Status status, absl::Time until) {
  status.SetPayload(kUntilPayload, absl::Cord(UtcTimeText(until)));
  return status;
}

std::string TokenOf(const absl::Status& status) {
  if (auto payload = status.GetPayload(kTokenPayload)) {
    return std::string(*payload);
  }
  switch (GrpcCode(status.code())) {
    case grpc::StatusCode::UNAUTHENTICATED:
      return "not-authenticated";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "forbidden";
    case grpc::StatusCode::NOT_FOUND:
      return "not-found";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "bad-value";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "rate-limited";
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "unavailable";
    default:
      return "internal";
  }
}

GrpcError ToGrpcError(const absl::Status& status) {
  GrpcError error;
  if (status.ok()) return error;
  error.code = GrpcCode(status.code());
  error.token = TokenOf(status);
  if (auto retry = status.GetPayload(storage::kRetryAfterPayload)) {
    error.retry_after = std::string(*retry);
  }
  if (auto until = status.GetPayload(kUntilPayload)) error.until = std::string(*until);
  // Internal failures keep their details in the log only. So do failures from below the
  // logic (no token: the database driver's), whose message reads "what: detail", the
  // detail naming hosts, sockets and the server's own text.
  absl::string_view message = status.message();
  if (!status.GetPayload(kTokenPayload)) message = message.substr(0, message.find(": "));
  error.message =
      error.code == grpc::StatusCode::INTERNAL ? "internal error" : Utf8Message(message);
  return error;
}

grpc::Status ToGrpcStatus(const absl::Status& status, grpc::ServerContextBase& context) {
  if (status.ok()) return grpc::Status::OK;
  GrpcError error = ToGrpcError(status);
  context.AddTrailingMetadata(kErrorTokenKey, error.token);
  if (!error.retry_after.empty()) context.AddTrailingMetadata(kRetryAfterKey, error.retry_after);
  if (!error.until.empty()) context.AddTrailingMetadata(kUntilKey, error.until);
  return grpc::Status(error.code, std::move(error.message));
}

}  // namespace tchatator::core
