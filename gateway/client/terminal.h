#ifndef TCHATATOR_GATEWAY_CLIENT_TERMINAL_H_
#define TCHATATOR_GATEWAY_CLIENT_TERMINAL_H_

// The terminal, through termios: raw mode for the line editor (always restored, on
// SIGTERM/SIGHUP too), its width, and a prompt that does not echo what is typed.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tchatator::client {

class Terminal {
 public:
  Terminal(int in_fd, int out_fd) : in_fd_(in_fd), out_fd_(out_fd) {}
  ~Terminal() { LeaveRaw(); }
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  int in_fd() const { return in_fd_; }
  int out_fd() const { return out_fd_; }
  // Both ends are terminals: keys can be read one by one and the screen redrawn.
  bool interactive() const;
  // The width of the output terminal (80 when unknown).
  size_t Columns() const;

  // Input without line buffering, echo or signals (Ctrl-C arrives as a key). False
  // when the input is not a terminal.
  bool EnterRaw();
  void LeaveRaw();

  // Writes all of `text` to the output.
  void Write(std::string_view text) const;

  // Shows `prompt` on the controlling terminal (/dev/tty, so that it works while
  // standard input is a pipe) and reads one line without echoing it. nullopt when
  // there is no terminal or input ended.
  static std::optional<std::string> ReadSecret(std::string_view prompt);

 private:
  int in_fd_;
  int out_fd_;
  bool raw_ = false;
};

// Writes all of `text` to `fd`, retrying on EINTR and short writes.
void WriteAll(int fd, std::string_view text);

}  // namespace tchatator::client

#endif  // TCHATATOR_GATEWAY_CLIENT_TERMINAL_H_
