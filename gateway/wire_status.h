#ifndef TCHATATOR_GATEWAY_WIRE_STATUS_H_
#define TCHATATOR_GATEWAY_WIRE_STATUS_H_

#include <string_view>

#include "grpcpp/support/status_code_enum.h"

namespace tchatator::gateway {

// A status line of the text protocol: "200/OK", "416/MISFMT", ...
struct WireStatus {
  int code;
  std::string_view label;
};

inline constexpr WireStatus kOk{200, "OK"};
inline constexpr WireStatus kUnauthenticated{401, "UNAUTH"};
inline constexpr WireStatus kDenied{403, "DENIED"};
inline constexpr WireStatus kNotFound{404, "NOTFND"};
inline constexpr WireStatus kMisformatted{416, "MISFMT"};
inline constexpr WireStatus kTooManyRequests{426, "TOOMRQ"};
inline constexpr WireStatus kError{500, "ERROR"};
inline constexpr WireStatus kUnavailable{503, "UNAVAIL"};

// A gRPC outcome as the text protocol answers it.
struct WireError {
  WireStatus status;
  std::string_view default_token;  // `error:` when the core sent no token
};

// The one mapping from gRPC codes to wire statuses (contract section 2.2).
WireError FromGrpc(grpc::StatusCode code);

}  // namespace tchatator::gateway

#endif  // TCHATATOR_GATEWAY_WIRE_STATUS_H_
