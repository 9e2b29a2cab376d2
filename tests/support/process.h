#ifndef TCHATATOR_TESTS_SUPPORT_PROCESS_H_
#define TCHATATOR_TESTS_SUPPORT_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace tchatator::testing {

// A child process started with posix_spawn, with extra environment variables; its
// standard output and error go to `log_path` (appended). Killed (SIGKILL) on
// destruction if still running.
class ChildProcess {
 public:
  ChildProcess(const std::string& program, const std::vector<std::string>& args,
               const std::map<std::string, std::string>& env, const std::string& log_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int signal) const;
  // Waits up to `timeout` for the exit; returns the wait status, or -1 on timeout.
  int Wait(std::chrono::milliseconds timeout);
  bool Running();

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

// Polls until a TCP connection to 127.0.0.1:`port` succeeds; false after `timeout`.
bool WaitForPort(int port, std::chrono::milliseconds timeout);

// Runs a command and returns its standard output; `status` gets the exit status.
std::string RunCommand(const std::string& command, int* status = nullptr);

}  // namespace tchatator::testing

#endif  // TCHATATOR_TESTS_SUPPORT_PROCESS_H_
