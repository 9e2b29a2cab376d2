#ifndef TCHATATOR_COMMON_LOG_H_
#define TCHATATOR_COMMON_LOG_H_

#include <chrono>
#include <string>
#include <string_view>

namespace tchatator {

// Process-wide logger. Each line reads
//   2026-11-26T10:15:00.123Z user=<id or empty> ip=<client IP or empty> <text>
// Thread-safe. Until Configure is called, lines go to standard error.
//
// A background thread writes the lines, many per system call: a daemon logs a line per
// request, and a write per line put a system call on every request's path.
// A line is in its file about ten milliseconds after Write returns, and when the process
// exits normally; a crash loses the lines not yet written (those last milliseconds, more
// while the disk stalls). Info lines (start-up, failures, shutdown) are written before
// Info returns. The writer thread takes no signal. A child of fork() must not log
// before it calls exec (it has no writer thread).
class Log {
 public:
  // Appends to `path` (standard error when empty); with `verbose`, lines also go to
  // standard error. Reopens the file, so calling it again rotates the log: the lines
  // written before the call go to the previous file.
  // Returns false (and keeps the previous destination) when `path` cannot be opened.
  static bool Configure(const std::string& path, bool verbose);

  // Queues one line. Line breaks, tabs and other control characters (0x00 to 0x1F,
  // 0x7F) in `user`, `ip` and `text` are replaced by spaces: one event, one line, one
  // field per space (libpq's messages hold line breaks and tabs). Waits only while
  // megabytes of lines are still unwritten (a stalled disk).
  static void Write(std::string_view user, std::string_view ip, std::string_view text);

  // A line with no client (start-up, shutdown, internal events), written with every
  // line before it when Info returns.
  static void Info(std::string_view text);

  // Returns once every line queued before the call is written.
  static void Flush();

  // How long the writer thread lets lines gather after a quiet spell (10 ms), for tests
  // that must tell the writer thread's work from Flush's.
  static void SetGatherTimeForTesting(std::chrono::nanoseconds gather);
};

}  // namespace tchatator

#endif  // TCHATATOR_COMMON_LOG_H_
