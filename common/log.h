#ifndef TCHATATOR_COMMON_LOG_H_
#define TCHATATOR_COMMON_LOG_H_

#include <string>
#include <string_view>

namespace tchatator {

// Process-wide logger. Each line reads
//   2026-11-26T10:15:00.123Z user=<id or empty> ip=<client IP or empty> <text>
// Thread-safe. Until Configure is called, lines go to standard error.
class Log {
 public:
  // Appends to `path` (standard error when empty); with `verbose`, lines also go to
  // standard error. Reopens the file, so calling it again rotates the log.
  // Returns false (and keeps the previous destination) when `path` cannot be opened.
  static bool Configure(const std::string& path, bool verbose);

  // Writes one line. Line breaks, tabs and other control characters (0x00 to 0x1F,
  // 0x7F) in `user`, `ip` and `text` are replaced by spaces: one event, one line, one
  // field per space (libpq's messages hold line breaks and tabs).
  static void Write(std::string_view user, std::string_view ip, std::string_view text);

  // A line with no client: start-up, shutdown, internal events.
  static void Info(std::string_view text) { Write("", "", text); }
};

}  // namespace tchatator

#endif  // TCHATATOR_COMMON_LOG_H_
