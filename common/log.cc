#include "common/log.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <system_error>
#include <thread>

#include "common/strings.h"
#include "common/time_text.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tchatator {
namespace {

// How long the first line after a quiet spell waits for others to share its write: at
// a thousand requests a second, one wake-up of the writer thread for ten lines.
constexpr auto kGatherTime = std::chrono::milliseconds(10);
// Writers wait while this much is unwritten; the writer thread no longer gathers
// once half of it is queued.
constexpr size_t kMaxPendingBytes = size_t{4} << 20;

struct LogState {
  std::mutex mu;
  std::condition_variable wake;     // to the writer thread: lines queued, or a Flush waits
  std::condition_variable written;  // from the writer thread: a batch is written
  std::string pending;              // guarded by mu
  uint64_t queued = 0;              // lines queued so far, guarded by mu
  uint64_t done = 0;                // lines written so far, guarded by mu
  bool started = false;             // the writer thread runs; guarded by mu
  bool idle = false;                // the writer thread waits for lines; guarded by mu
  bool exiting = false;             // the exit handler has flushed; guarded by mu
  int flushes = 0;                  // Flush calls waiting; guarded by mu
  std::chrono::nanoseconds gather = kGatherTime;  // guarded by mu

  // The writer thread writes outside mu, under io_mu.
  std::mutex io_mu;
  int fd = -1;  // guarded by io_mu; -1: standard error
  bool verbose = false;  // guarded by io_mu
};

LogState& State() {
  static LogState* state = new LogState;
  return *state;
}

void WriteAll(int fd, std::string_view bytes) {
  bool partly = false;
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // Nowhere to report it (the log is where failures go); at least the next batch
      // must not continue a cut line.
      if (partly) (void)!::write(fd, "\n", 1);
      return;
    }
    partly = true;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

// Under s.io_mu: `bytes` to the log file, and to standard error when there is none or
// with --verbose.
void WriteOut(LogState& s, std::string_view bytes) {
  if (s.fd >= 0) WriteAll(s.fd, bytes);
  if (s.fd < 0 || s.verbose) WriteAll(STDERR_FILENO, bytes);
}

void WriterLoop(LogState& s) {
  pthread_setname_np(pthread_self(), "tchatator-log");  // as `top -H` shows it
  std::string batch;
  std::unique_lock lock(s.mu);
  for (;;) {
    s.idle = true;
    s.wake.wait(lock, [&] { return !s.pending.empty(); });
    s.idle = false;
    s.wake.wait_for(lock, s.gather, [&] {
      return s.flushes > 0 || s.pending.size() >= kMaxPendingBytes / 2;
    });
    batch.clear();
    batch.swap(s.pending);  // the two buffers take turns, keeping their capacity
    const uint64_t upto = s.queued;
    lock.unlock();
    {
      std::lock_guard io(s.io_mu);
      WriteOut(s, batch);
    }
    lock.lock();
    s.done = upto;
    s.written.notify_all();
  }
}

// Starts the writer thread with every signal blocked: a daemon that takes its signals
// with sigwait must not have them delivered (and their default action taken) there.
bool StartWriter(LogState& s) {
  sigset_t all;
  sigset_t before;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &before);
  bool started = true;
  try {
    std::thread([&s] { WriterLoop(s); }).detach();
  } catch (const std::system_error&) {
    started = false;
  }
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  return started;
}

}  // namespace

bool Log::Configure(const std::string& path, bool verbose) {
  int fd = -1;
  if (!path.empty()) {
    fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return false;
  }
  Flush();
  LogState& s = State();
  std::lock_guard io(s.io_mu);
  if (s.fd >= 0) ::close(s.fd);
  s.fd = fd;
  s.verbose = verbose;
  return true;
}

void Log::Write(std::string_view user, std::string_view ip, std::string_view text) {
  std::string line = StrCat(UtcTimeText(absl::Now(), /*milliseconds=*/true), " user=", user,
                            " ip=", ip, " ", text);
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
  }
  line.push_back('\n');
  LogState& s = State();
  std::unique_lock lock(s.mu);
  if (!s.started) {
    if (!StartWriter(s)) {
      // No thread to be had: the line is written here, as it used to be.
      std::lock_guard io(s.io_mu);
      WriteOut(s, line);
      return;
    }
    s.started = true;
    // A normal exit (return from main, std::exit) writes what is queued; lines logged
    // after that (by static destructors, or threads still running) are written at once.
    std::atexit([] {
      {
        LogState& state = State();
        std::lock_guard exit_lock(state.mu);
        state.exiting = true;
      }
      Log::Flush();
    });
  }
  s.written.wait(lock, [&] { return s.pending.size() < kMaxPendingBytes; });
  const bool was_below_half = s.pending.size() < kMaxPendingBytes / 2;
  s.pending += line;
  ++s.queued;
  if (s.idle) {
    s.idle = false;
    s.wake.notify_one();
  } else if (was_below_half && s.pending.size() >= kMaxPendingBytes / 2) {
    s.wake.notify_one();  // cut the gathering short
  }
  if (s.exiting) {
    lock.unlock();
    Flush();
  }
}

void Log::SetGatherTimeForTesting(std::chrono::nanoseconds gather) {
  LogState& s = State();
  std::lock_guard lock(s.mu);
  s.gather = gather;
}

void Log::Info(std::string_view text) {
  Write("", "", text);
  Flush();
}

void Log::Flush() {
  LogState& s = State();
  std::unique_lock lock(s.mu);
  const uint64_t target = s.queued;
  if (s.done >= target) return;
  ++s.flushes;
  s.wake.notify_one();
  s.written.wait(lock, [&] { return s.done >= target; });
  --s.flushes;
}

}  // namespace tchatator
