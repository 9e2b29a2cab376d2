#ifndef TCHATATOR_TESTS_CLIENT_E2E_CLIENT_STACK_H_
#define TCHATATOR_TESTS_CLIENT_E2E_CLIENT_STACK_H_

// End-to-end fixture of the client's tests: a fresh database, a tchatator-core and a
// tchatator-gateway on free ports, users made with tchatator-admin; and two ways to run
// the client: as a command (arguments, environment, standard input; exit status and
// both outputs captured) and in a pseudo-terminal, typed into and read like a screen.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/test_database.h"

namespace tchatator::client_test {

using namespace std::chrono_literals;
using Env = std::map<std::string, std::string>;

struct User {
  int64_t id = 0;
  std::string api_key;
  std::string name;
};

class ClientStack {
 public:
  // `env` reaches both daemons (e.g. TCHATATOR_MAX_MESSAGES_PER_MINUTE).
  explicit ClientStack(const Env& env = {});
  ~ClientStack();
  ClientStack(const ClientStack&) = delete;
  ClientStack& operator=(const ClientStack&) = delete;

  int gateway_port() const { return gateway_port_; }
  std::string server() const { return "127.0.0.1:" + std::to_string(gateway_port_); }
  // Creates a user with tchatator-admin; throws on failure.
  User AddUser(std::string_view role, std::string_view name);
  // Stops the core service (SIGKILL): the gateway then answers 503.
  void StopCore();
  // The daemons' log tails, for failure messages.
  std::string Logs() const;

 private:
  std::string dir_;
  std::unique_ptr<testing::TestDatabase> db_;
  std::string admin_key_;
  int grpc_port_ = 0;
  int gateway_port_ = 0;
  std::unique_ptr<testing::ChildProcess> core_;
  std::unique_ptr<testing::ChildProcess> gateway_;
};

// ------------------------------------------------------------------------ one command

struct RunResult {
  int exit_code = -1;  // -1: killed or timed out
  std::string out;
  std::string err;
};

// Runs build/bin/tchatator with `args`; `env` is added to (and overrides) the test's
// environment, where TCHATATOR_API_KEY and TCHATATOR_SERVER are removed first.
// `input` is its standard input. Killed after `timeout`.
RunResult RunClient(const std::vector<std::string>& args, const Env& env,
                    std::string_view input = "", std::chrono::milliseconds timeout = 30s);

// ------------------------------------------------------------------------ a terminal

// The client running in a pseudo-terminal of 100x40.
class PtySession {
 public:
  PtySession(const std::vector<std::string>& args, const Env& env);
  ~PtySession();
  PtySession(const PtySession&) = delete;
  PtySession& operator=(const PtySession&) = delete;

  // Types `keys` (raw bytes: "\r" is Enter).
  void Type(std::string_view keys);
  // Types `line` then Enter.
  void TypeLine(std::string_view line) { Type(std::string(line) + "\r"); }
  // Waits until the text shown since the last Mark() (escape sequences removed)
  // contains `text`; false after `timeout`.
  bool WaitFor(std::string_view text, std::chrono::milliseconds timeout = 10s);
  // Everything shown so far, escape sequences removed.
  std::string Screen() const;
  // Everything shown since the last Mark().
  std::string SinceMark() const;
  void Mark();
  // Waits for the exit; returns the exit status, or -1 after `timeout`.
  int WaitExit(std::chrono::milliseconds timeout = 10s);

 private:
  // Reads what the client wrote, waiting up to `timeout`; true when bytes came. Notes
  // the exit when nothing came.
  bool Pump(std::chrono::milliseconds timeout);

  int master_ = -1;
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = -1;
  std::string raw_;
  size_t mark_ = 0;  // offset in the stripped screen
};

// `text` without ANSI escape sequences and carriage returns.
std::string StripTerminal(std::string_view text);

}  // namespace tchatator::client_test

#endif  // TCHATATOR_TESTS_CLIENT_E2E_CLIENT_STACK_H_
