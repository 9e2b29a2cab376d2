#ifndef TCHATATOR_GATEWAY_CLIENT_LOCAL_TIME_H_
#define TCHATATOR_GATEWAY_CLIENT_LOCAL_TIME_H_

// The server speaks RFC 3339 UTC (2026-11-26T10:15:00Z); people read their local time.
// Local means the process's time zone (TZ, /etc/localtime), through localtime_r.

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace tchatator::client {

// Seconds since the epoch of an RFC 3339 UTC time (fractional seconds ignored), or
// nullopt when `text` is not one.
std::optional<std::time_t> ParseRfc3339(std::string_view text);

// A short local time relative to `now`: "10:15" today, "hier 10:15" yesterday,
// "26/11 10:15" this year, "26/11/2025 10:15" before.
std::string FormatShortTime(std::time_t time, std::time_t now);

// A full local date and time: "27/11/2026 à 10:15".
std::string FormatDateTime(std::time_t time);

// Local hour, minute and second: "10:16:12".
std::string FormatClock(std::time_t time);

// FormatShortTime of an RFC 3339 text; the text itself when it does not parse.
std::string ShortTimeOf(std::string_view rfc3339, std::time_t now);

// FormatDateTime of an RFC 3339 text; the text itself when it does not parse.
std::string DateTimeOf(std::string_view rfc3339);

}  // namespace tchatator::client

#endif  // TCHATATOR_GATEWAY_CLIENT_LOCAL_TIME_H_
