#ifndef TCHATATOR_CORE_SERVICE_ERRORS_H_
#define TCHATATOR_CORE_SERVICE_ERRORS_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace tchatator::core {

// Trailing metadata keys of a failed RPC (contract section 3).
inline constexpr char kErrorTokenKey[] = "tchatator-error";
inline constexpr char kRetryAfterKey[] = "retry-after";
inline constexpr char kUntilKey[] = "until";

// A failure with its contract token (`not-owner`, `content-too-long`, ...).
absl::Status Error(absl::StatusCode code, std::string_view token, std::string_view message);

// Adds `until` (a block's end) to a status.
absl::Status WithUntil(absl::Status status, absl::Time until);

// The token of `status`: the one given to Error, else a default for its code.
std::string TokenOf(const absl::Status& status);

// What a failed call answers: its gRPC status and its trailing metadata.
struct GrpcError {
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;
  std::string token;        // kErrorTokenKey
  std::string retry_after;  // kRetryAfterKey, empty when none
  std::string until;        // kUntilKey, empty when none
};

// The one place where a core status becomes a gRPC status: same code (any code other
// than the contract's becomes INTERNAL), token, retry-after and until. Internal details
// are logged by the caller, not sent: an INTERNAL failure says "internal error", a
// failure without a token (the database's) only what precedes its first ": ". For OK,
// `code` is OK and the rest is empty.
GrpcError ToGrpcError(const absl::Status& status);

// ToGrpcError as a call's status, its token, retry-after and until as trailing metadata.
grpc::Status ToGrpcStatus(const absl::Status& status, grpc::ServerContextBase& context);

}  // namespace tchatator::core

#endif  // TCHATATOR_CORE_SERVICE_ERRORS_H_
