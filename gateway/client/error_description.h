#ifndef TCHATATOR_GATEWAY_CLIENT_ERROR_DESCRIPTION_H_
#define TCHATATOR_GATEWAY_CLIENT_ERROR_DESCRIPTION_H_

// What a non-200 response means for the person at the keyboard, and the exit status a
// scriptable command reports for it.

#include <cstdint>
#include <ctime>
#include <string>

#include "gateway/client/frame_reader.h"

namespace tchatator::client {

// Exit statuses of `tchatator` (documented in --help).
enum ExitCode : int {
  kExitOk = 0,           // 200
  kExitOther = 1,        // 500 and anything else
  kExitUsage = 2,        // bad command line or input
  kExitDenied = 3,       // 401, 403
  kExitNotFound = 4,     // 404
  kExitBadRequest = 5,   // 416
  kExitRateLimited = 6,  // 426
  kExitUnavailable = 7,  // 503, server unreachable, connection lost
};

// The exit status for a response status code.
ExitCode ExitCodeForStatus(int code);

// A French sentence for a non-200 response: what happened and, when it helps, when to
// retry (426 retry-after) or until when (403 blocked until). `now` anchors "dans 42 s".
std::string DescribeError(const Frame& frame, std::time_t now);

// "42 s", "3 min 05 s", "2 h 10 min".
std::string FormatDuration(int64_t seconds);

}  // namespace tchatator::client

#endif  // TCHATATOR_GATEWAY_CLIENT_ERROR_DESCRIPTION_H_
