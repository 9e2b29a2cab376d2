#include "gateway/client/terminal.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>

namespace tchatator::client {
namespace {

// The settings to put back, for the signal handler too.
struct termios saved_termios;
volatile sig_atomic_t saved_fd = -1;

void RestoreAndReraise(int signal_number) {
  if (saved_fd >= 0) tcsetattr(saved_fd, TCSAFLUSH, &saved_termios);
  ::signal(signal_number, SIG_DFL);
  ::raise(signal_number);
}

void InstallRestoreHandlers() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  for (int signal_number : {SIGTERM, SIGHUP, SIGQUIT}) {
    struct sigaction action {};
    action.sa_handler = RestoreAndReraise;
    sigemptyset(&action.sa_mask);
    sigaction(signal_number, &action, nullptr);
  }
}

}  // namespace

void WriteAll(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = write(fd, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    text.remove_prefix(static_cast<size_t>(n));
  }
}

bool Terminal::interactive() const { return isatty(in_fd_) == 1 && isatty(out_fd_) == 1; }

size_t Terminal::Columns() const {
  winsize size{};
  if (ioctl(out_fd_, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 80;
}

bool Terminal::EnterRaw() {
  if (raw_) return true;
  if (isatty(in_fd_) != 1) return false;
  struct termios original {};
  if (tcgetattr(in_fd_, &original) != 0) return false;
  saved_termios = original;
  saved_fd = in_fd_;
  InstallRestoreHandlers();
  struct termios raw = original;
  raw.c_iflag &= ~static_cast<tcflag_t>(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
  raw.c_cflag |= CS8;
  raw.c_lflag &= ~static_cast<tcflag_t>(ECHO | ICANON | IEXTEN | ISIG);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  if (tcsetattr(in_fd_, TCSANOW, &raw) != 0) return false;
  raw_ = true;
  return true;
}

void Terminal::LeaveRaw() {
  if (!raw_) return;
  tcsetattr(in_fd_, TCSANOW, &saved_termios);
  saved_fd = -1;
  raw_ = false;
}

void Terminal::Write(std::string_view text) const { WriteAll(out_fd_, text); }

std::optional<std::string> Terminal::ReadSecret(std::string_view prompt) {
  const int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct termios original {};
  const bool is_tty = tcgetattr(fd, &original) == 0;
  if (is_tty) {
    struct termios quiet = original;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ICANON | ECHONL;
    saved_termios = original;
    saved_fd = fd;
    InstallRestoreHandlers();
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  WriteAll(fd, prompt);
  std::string line;
  bool got_line = false;
  for (;;) {
    char c;
    const ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (c == '\n') {
      got_line = true;
      break;
    }
    line.push_back(c);
  }
  if (is_tty) {
    tcsetattr(fd, TCSAFLUSH, &original);
    saved_fd = -1;
  }
  close(fd);
  if (!got_line && line.empty()) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace tchatator::client
