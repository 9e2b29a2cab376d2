#include "gateway/wire_status.h"

namespace tchatator::gateway {

WireError FromGrpc(grpc::StatusCode code) {
  // No default: a new code must be placed here deliberately.
  switch (code) {
    case grpc::StatusCode::OK:
      return {kOk, ""};
    case grpc::StatusCode::UNAUTHENTICATED:
      return {kUnauthenticated, "not-authenticated"};
    case grpc::StatusCode::PERMISSION_DENIED:
      return {kDenied, "forbidden"};
    case grpc::StatusCode::NOT_FOUND:
      return {kNotFound, "not-found"};
    case grpc::StatusCode::INVALID_ARGUMENT:
      return {kMisformatted, "bad-value"};
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return {kTooManyRequests, "rate-limited"};
    // CANCELLED: a core shutting down cancels calls that reach it at that moment (the
    // gateway cancels its own calls only on connections already closing).
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
      return {kUnavailable, "unavailable"};
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::UNIMPLEMENTED:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::DATA_LOSS:
    case grpc::StatusCode::DO_NOT_USE:
      return {kError, "internal"};
  }
  return {kError, "internal"};
}

}  // namespace tchatator::gateway
