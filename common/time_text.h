#ifndef TCHATATOR_COMMON_TIME_TEXT_H_
#define TCHATATOR_COMMON_TIME_TEXT_H_

#include <string>

#include "absl/time/time.h"

namespace tchatator {

// `t` in UTC as the wire and the logs write it: "2026-11-26T10:15:00Z", or with
// `milliseconds` "2026-11-26T10:15:00.123Z" (truncated, not rounded). Exactly what
// absl::FormatTime("%Y-%m-%dT%H:%M:%SZ" or "...%E3SZ", t, UTC) gives, at a fraction of
// its cost (it is called for every request and every message listed).
std::string UtcTimeText(absl::Time t, bool milliseconds = false);

}  // namespace tchatator

#endif  // TCHATATOR_COMMON_TIME_TEXT_H_
