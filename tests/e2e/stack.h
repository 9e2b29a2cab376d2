#ifndef TCHATATOR_TESTS_E2E_STACK_H_
#define TCHATATOR_TESTS_E2E_STACK_H_

// The end-to-end fixture: a fresh database, a tchatator-core and a tchatator-gateway
// started as child processes on free ports, and a raw TCP client of the text protocol
// that frames responses exactly as the contract says (contract 2.2).

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/process.h"
#include "tests/support/test_database.h"

namespace tchatator::e2e {

using namespace std::chrono_literals;

// ------------------------------------------------------------------------ responses

// One key:value line of a response, in the order it came.
using Field = std::pair<std::string, std::string>;
using Record = std::map<std::string, std::string>;

// One frame read from the gateway: a response (first line `CODE/LABEL`) or an event
// (first line `EVENT`). When nothing could be read (timeout, connection closed,
// malformed frame), `status` is empty and `failure` says why.
struct Response {
  std::string status;           // "200/OK", "416/MISFMT", "EVENT"...
  std::vector<Field> lines;     // every key:value line, in order
  std::map<std::string, std::string> fields;  // the keys before the first record
  std::vector<Record> records;  // message / conversation / change records
  std::string raw;              // the exact bytes of the frame
  std::string failure;          // why no frame was read
  size_t top_level_lines = 0;   // lines.front() .. before the first record

  bool ok() const { return failure.empty(); }
  // The value of a top-level key, or "" when absent.
  std::string Get(const std::string& key) const;
  bool Has(const std::string& key) const { return fields.contains(key); }
  // The top-level keys, sorted (to compare with an expected set).
  std::vector<std::string> Keys() const;
};

void PrintTo(const Response& response, std::ostream* os);
std::ostream& operator<<(std::ostream& os, const Response& response);

// The request `command` followed by `key:value` lines, then an empty line if
// `end_blank`.
std::string Build(std::string_view command, const std::vector<Field>& params = {},
                  bool end_blank = true);

// Number of Unicode code points of valid UTF-8 `text`.
size_t CharCount(std::string_view text);

// ------------------------------------------------------------------------ raw client

// A blocking TCP client of the gateway. Every read has a deadline.
class Client {
 public:
  // Connects to 127.0.0.1:`port` (or `ip`:`port`); throws std::runtime_error on failure.
  // A `receive_buffer` (bytes, SO_RCVBUF) other than 0 keeps the kernel from taking
  // much for a client that stops reading.
  explicit Client(int port, int receive_buffer = 0);
  Client(const std::string& ip, int port, int receive_buffer = 0);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client(Client&& other) noexcept;
  Client& operator=(Client&& other) noexcept;

  bool connected() const { return fd_ >= 0; }
  // Writes all of `bytes` in one send() call sequence; false if the connection broke
  // or the server read nothing for 10 s.
  bool Send(std::string_view bytes);
  // Reads one frame (empty lines before the status line are skipped).
  Response Read(std::chrono::milliseconds timeout = 5s);
  // Sends one request built by Build() and reads its answer.
  Response Request(std::string_view command, const std::vector<Field>& params = {},
                   bool end_blank = true);
  // True when the server closes the connection within `within`; every byte read
  // meanwhile is appended to `*received` if given.
  bool WaitClosed(std::chrono::milliseconds within = 3s, std::string* received = nullptr);
  // Bytes received within `within` (stops early at close); for "nothing more came".
  std::string ReadFor(std::chrono::milliseconds within);
  // Bytes received but not yet consumed by Read().
  const std::string& pending() const { return buffer_; }
  // Ends the client's side of the stream (shutdown SHUT_WR); reading goes on.
  void EndWriting();
  void Close();

 private:
  enum class Fill { kData, kTimeout, kClosed };
  Fill FillBuffer(std::chrono::steady_clock::time_point deadline);
  // Takes bytes up to the first '\n' (removing it and a trailing '\r').
  bool TakeLine(std::string& line, std::string& raw, std::chrono::steady_clock::time_point d,
                std::string& failure);

  int fd_ = -1;
  std::string buffer_;
};

// ------------------------------------------------------------------------ the stack

struct User {
  int64_t id = 0;
  std::string api_key;
};

// Core environment with the per-minute and per-hour send limits off, for the tests that
// send many messages (they measure delivery or durability, not the limit).
extern const std::map<std::string, std::string> kNoSendLimits;

struct StackOptions {
  // Extra environment of the daemons (e.g. TCHATATOR_IDLE_TIMEOUT_SECONDS); an empty
  // value removes a variable the stack would set (so that a --config file decides).
  std::map<std::string, std::string> core_env;
  std::map<std::string, std::string> gateway_env;
  // Extra command-line arguments of the daemons (e.g. "--config", path).
  std::vector<std::string> core_args;
  std::vector<std::string> gateway_args;
  // When set, the gateway's hard and soft limits on open files (it starts through
  // prlimit(1)); a soft limit of 0 is the hard one.
  int gateway_open_files = 0;
  int gateway_open_files_soft = 0;
  // libpq connection string of the cluster to create the database in; empty means
  // TCHATATOR_TEST_PG.
  std::string pg_admin_url;
};

// A database, a core and a gateway. Throws std::runtime_error when a daemon does not
// come up. On destruction, if the current test failed, prints the tails of the logs.
class Stack {
 public:
  explicit Stack(StackOptions options = {});
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  int gateway_port() const { return gateway_port_; }
  int grpc_port() const { return grpc_port_; }
  const std::string& admin_key() const { return admin_key_; }
  const testing::TestDatabase& db() const { return *db_; }
  // The directory of the daemons' logs (core.log, gateway.log, admin.log).
  const std::string& dir() const { return dir_; }
  std::string core_log_path() const { return dir_ + "/core.log"; }
  std::string gateway_log_path() const { return dir_ + "/gateway.log"; }
  // Sends `signal` to the running daemon (no-op when it is not running).
  void SignalCore(int signal);
  void SignalGateway(int signal);
  // The running daemon's process, or nullptr.
  testing::ChildProcess* core_process() { return core_.get(); }
  testing::ChildProcess* gateway_process() { return gateway_.get(); }
  // The tchatator-admin command line, with its connection options.
  std::string AdminCommand() const;

  // Creates a user with tchatator-admin. Throws on failure. Thread-safe.
  User AddUser(std::string_view role);
  // Gives the user a new API key with tchatator-admin (`user regen-key`). Throws on
  // failure. Thread-safe.
  User RegenerateKey(int64_t user_id);

  // Opens a raw connection to the gateway.
  Client Connect() const { return Client(gateway_port_); }

  // Fault injection on the core: it keeps its port and database across restarts.
  void KillCore();   // SIGKILL, waits for the exit
  void StopCore();   // SIGTERM, waits for the exit (SIGKILL after 10 s)
  void StartCore();  // waits until it accepts connections
  void RestartCore() {  // StopCore() then StartCore()
    StopCore();
    StartCore();
  }
  bool CoreRunning();
  bool GatewayRunning();

  // The last `lines` lines of each daemon's log, with headers.
  std::string LogTails(size_t lines = 40) const;
  // Prints LogTails() to stderr if the running test has failed (once per test).
  void PrintLogsIfFailed();

 private:
  void StartGateway();
  // Runs `tchatator-admin ARGUMENTS`, which prints user-id and api-key. Throws on failure.
  User RunUserCommand(const std::string& arguments);

  StackOptions options_;
  std::string dir_;
  std::unique_ptr<testing::TestDatabase> db_;
  std::string admin_key_;
  int grpc_port_ = 0;
  int gateway_port_ = 0;
  std::unique_ptr<testing::ChildProcess> core_;
  std::unique_ptr<testing::ChildProcess> gateway_;
  std::string printed_for_;  // the test whose failure logs were printed
};

// A logged-in user: its connection and session token.
struct Session {
  User user;
  Client conn;
  std::string token;
};

// Creates a user of `role` and logs it in on a new connection. Fails the current test
// (non-fatally) when LOGIN is not 200.
Session LoginNew(Stack& stack, std::string_view role);

// SEND_MSG with message-length in characters.
Response SendMsg(Client& conn, const std::string& token, int64_t recipient,
                 const std::string& content);

// The stack shared by the tests that need no special configuration: started on first
// use, stopped when the test program ends.
Stack& SharedStack();
// The shared stack if it was started, else nullptr.
Stack* SharedStackIfStarted();

// Base fixture of the tests that run on the shared stack; prints the daemons' logs
// when a test fails.
class SharedStackTest : public ::testing::Test {
 protected:
  Stack& stack() { return SharedStack(); }
  void TearDown() override {
    if (Stack* shared = SharedStackIfStarted(); shared != nullptr && HasFailure()) {
      shared->PrintLogsIfFailed();
    }
  }
};

// ------------------------------------------------------------------------ assertions

// `response` is 200/OK with exactly the top-level `keys` (any order).
::testing::AssertionResult IsOk(const Response& response, std::vector<std::string> keys = {});

// `response` has status line `status`, `error:<error>`, a non-empty `message`, and no
// other top-level key than those and `extra_keys`.
::testing::AssertionResult IsError(const Response& response, std::string_view status,
                                   std::string_view error,
                                   std::vector<std::string> extra_keys = {});

// The connection still answers PING with exactly "200/OK\n\n" (and nothing before).
::testing::AssertionResult Alive(Client& conn);

// ------------------------------------------------------------------------ logs

// The complete lines (each ended by a line break) of the file at `path` (none when it
// cannot be read).
std::vector<std::string> ReadFileLines(const std::string& path);
// The lines of the file at `path` that contain `needle`.
std::vector<std::string> LogLinesWith(const std::string& path, const std::string& needle);
// Polls the file at `path` until more than `before` of its lines contain `needle`;
// returns the newest such line, or nullopt after `timeout`.
std::optional<std::string> WaitForLogLine(const std::string& path, const std::string& needle,
                                          size_t before = 0,
                                          std::chrono::milliseconds timeout = 10s);

// RFC 3339 UTC: 2026-11-26T10:15:00Z (fractional seconds allowed).
bool IsRfc3339Utc(const std::string& text);

// A positive decimal number.
bool IsId(const std::string& text);

}  // namespace tchatator::e2e

#endif  // TCHATATOR_TESTS_E2E_STACK_H_
