// Operations (issue #6) on the real daemons: the configuration file given by --config,
// refused at start when it has an unknown key or an out-of-range value, environment
// overrides, SIGHUP reloads that change a limit in a running stack (and bad files that
// keep the old values, saying why), and the logs: line format (date and time, user id,
// client IP) on real requests, one request id shared by the gateway's and the core's
// line, no message content or key in any log, the start-up lines with the effective
// configuration (secrets masked), --verbose, and reopening the log file on SIGHUP. Also
// the gateway's link to the core reloaded by SIGHUP: core-address (new calls and live
// event streams move to the new core) and core-timeout-ms (the deadline of new calls).
// And the core's database reloaded by SIGHUP: database-url (the new database migrated,
// then used; an unreachable one refused, keeping the old) and database-pool-size.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/stack.h"
#include "tests/support/process.h"

namespace tchatator::e2e {
namespace {

using Clock = std::chrono::steady_clock;

// A private directory, removed at the end of the test unless the test failed.
class TempDir {
 public:
  TempDir() {
    char path[] = "/tmp/tchatator-ops-XXXXXX";
    if (mkdtemp(path) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = path;
  }
  ~TempDir() {
    if (::testing::Test::HasFailure()) {
      std::fprintf(stderr, "[ops] files kept in %s\n", path_.c_str());
      return;
    }
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& text) {
  // Written aside then renamed: a daemon re-reading it never sees half a file.
  const std::string temporary = path + ".new";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + temporary);
  }
  std::filesystem::rename(temporary, path);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::optional<std::string> WaitForLine(const std::string& path, const std::string& needle,
                                       size_t before, std::chrono::seconds timeout = 10s) {
  return WaitForLogLine(path, needle, before, timeout);
}

constexpr char kReloaded[] = "SIGHUP: configuration reloaded";
constexpr char kKept[] = "SIGHUP: configuration kept: ";

// Sends SIGHUP to `process`, whose log is `log`, and waits for the log to say the
// outcome: returns that log line (`needle` is kReloaded or kKept), or "" when it never
// came.
std::string HangUp(testing::ChildProcess& process, const std::string& log,
                   const std::string& needle) {
  const size_t before = LogLinesWith(log, needle).size();
  process.Signal(SIGHUP);
  return WaitForLine(log, needle, before).value_or("");
}

// Sends SIGHUP to the core (or the gateway) and waits for its log to say the outcome:
// returns that log line (`needle` is kReloaded or kKept), or "" when it never came.
std::string HangUp(Stack& stack, bool core, const std::string& needle) {
  const std::string log = core ? stack.core_log_path() : stack.gateway_log_path();
  const size_t before = LogLinesWith(log, needle).size();
  if (core) {
    stack.SignalCore(SIGHUP);
  } else {
    stack.SignalGateway(SIGHUP);
  }
  return WaitForLine(log, needle, before).value_or("");
}

// `count` messages from `from` to `to`, each answered 200 with its id and time.
void ExpectSent(Session& from, int64_t to, int count, const std::string& what) {
  for (int i = 1; i <= count; ++i) {
    EXPECT_TRUE(IsOk(SendMsg(from.conn, from.token, to, "m" + std::to_string(i)),
                     {"message-id", "sent-at"}))
        << what << ": message " << i << " of " << count;
  }
}

void ExpectRateLimited(Session& from, int64_t to, const std::string& what) {
  EXPECT_TRUE(IsError(SendMsg(from.conn, from.token, to, "over"), "426/TOOMRQ", "rate-limited",
                      {"retry-after"}))
      << what;
}

// Runs `command` (stderr joined to stdout); `exit_code` gets its exit code.
std::string RunShell(const std::string& command, int& exit_code) {
  int status = 0;
  std::string out = testing::RunCommand(command + " 2>&1", &status);
  exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// --------------------------------------------------------------- start-up refusals

TEST(OperationsStartTest, UnknownKeyInTheFileIsRefusedAtStartNamingFileLineAndKey) {
  TempDir dir;
  const std::string conf = dir.File("bad.conf");
  WriteFile(conf, "# comment\nmax-messages-per-minute=5\nmax-mesages-per-hour=9\n");
  for (const char* bin : {TCHATATOR_CORE_BIN, TCHATATOR_GATEWAY_BIN}) {
    int code = 0;
    const std::string out = RunShell(std::string(bin) + " --config " + conf, code);
    EXPECT_EQ(code, 1) << bin;
    const std::string program = std::filesystem::path(bin).filename().string();
    EXPECT_EQ(out, program + ": " + conf + ":3: unknown key 'max-mesages-per-hour'\n") << bin;
  }
}

TEST(OperationsStartTest, OutOfRangeValuesAreRefusedAtStart) {
  TempDir dir;
  const std::string conf = dir.File("bad.conf");
  WriteFile(conf, "max-line-bytes=255\n");
  int code = 0;
  std::string out = RunShell(std::string(TCHATATOR_GATEWAY_BIN) + " --config " + conf, code);
  EXPECT_EQ(code, 1);
  EXPECT_EQ(out,
            "tchatator-gateway: " + conf + ":1: max-line-bytes must be between 256 and 1048576\n");
  // The same from the environment, named by its variable; --check-config says it too.
  out = RunShell(
      "TCHATATOR_MAX_MESSAGES_PER_MINUTE=-1 " + std::string(TCHATATOR_CORE_BIN) + " --check-config",
      code);
  EXPECT_EQ(code, 1);
  EXPECT_EQ(out,
            "tchatator-core: TCHATATOR_MAX_MESSAGES_PER_MINUTE: max-messages-per-minute must be "
            "between 0 and 1000000\n");
  out = RunShell("TCHATATOR_MAX_MESSAGES_PER_MINUTE=abc " + std::string(TCHATATOR_CORE_BIN) +
                     " --check-config",
                 code);
  EXPECT_EQ(code, 1);
  EXPECT_EQ(out,
            "tchatator-core: TCHATATOR_MAX_MESSAGES_PER_MINUTE: max-messages-per-minute must be "
            "a whole number\n");
  // A valid file passes --check-config.
  WriteFile(conf, "max-line-bytes=256\n");
  out = RunShell(std::string(TCHATATOR_GATEWAY_BIN) + " --check-config --config " + conf, code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(out, "configuration ok\n");
}

// A database-url libpq cannot parse is refused by --check-config and at start, before any
// attempt to reach the database, with libpq's reason and without the password.
TEST(OperationsStartTest, AnUnparsableDatabaseUrlIsRefusedByCheckConfigAndAtStart) {
  const std::string refused = "tchatator-core: database-url is not a valid connection string: ";
  int code = 0;
  for (const char* option : {" --check-config", ""}) {
    std::string out = RunShell("TCHATATOR_DATABASE_URL='host=db # the primary' " +
                                   std::string(TCHATATOR_CORE_BIN) + option,
                               code);
    EXPECT_EQ(code, 1) << option;
    EXPECT_EQ(out, refused + "missing \"=\" after \"#\" in connection info string\n") << option;
    out = RunShell("TCHATATOR_DATABASE_URL='password=s3cr3t-pw s3cr3t-pw' " +
                       std::string(TCHATATOR_CORE_BIN) + option,
                   code);
    EXPECT_EQ(code, 1) << option;
    EXPECT_EQ(out, refused + "missing \"=\" after \"***\" in connection info string\n")
        << option;
  }
  // Parsable is enough: whether the server answers is the start's business.
  const std::string out = RunShell("TCHATATOR_DATABASE_URL='host=/nonexistent dbname=x' " +
                                       std::string(TCHATATOR_CORE_BIN) + " --check-config",
                                   code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(out, "configuration ok\n");
}

TEST(OperationsStartTest, MissingConfigFileIsRefusedAtStart) {
  TempDir dir;
  int code = 0;
  const std::string out =
      RunShell(std::string(TCHATATOR_CORE_BIN) + " --config " + dir.File("absent.conf"), code);
  EXPECT_EQ(code, 1);
  EXPECT_EQ(out,
            "tchatator-core: cannot read configuration file " + dir.File("absent.conf") + "\n");
}

TEST(OperationsStartTest, SigtermWhileWaitingForTheDatabaseStopsTheCore) {
  // Up to 60 s of waiting for a database that never comes must not make the core deaf
  // to the operator (or to an orchestrator stopping it).
  TempDir dir;
  const std::string log = dir.File("core.log");
  testing::ChildProcess core(
      TCHATATOR_CORE_BIN, {},
      {{"TCHATATOR_DATABASE_URL",
        "host=127.0.0.1 port=" + std::to_string(testing::FreePort()) + " dbname=nowhere"},
       {"TCHATATOR_GRPC_PORT", std::to_string(testing::FreePort())},
       {"TCHATATOR_LISTEN_ADDRESS", "127.0.0.1"},
       {"TCHATATOR_LOG_FILE", log}},
      dir.File("core.out"));
  ASSERT_TRUE(WaitForLine(log, "migration attempt 2 failed", 0).has_value())
      << "the core does not retry";
  const auto signalled = std::chrono::steady_clock::now();
  core.Signal(SIGTERM);
  const int status = core.Wait(5s);
  ASSERT_NE(status, -1) << "still running 5 s after SIGTERM";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, 3s);
  EXPECT_TRUE(WaitForLine(log, "stopped before the database answered", 0, 1s).has_value());
}

TEST(OperationsStartTest, HelpListsTheOptionsAndExitsZero) {
  for (const char* bin : {TCHATATOR_CORE_BIN, TCHATATOR_GATEWAY_BIN}) {
    int code = 0;
    const std::string out = RunShell(std::string(bin) + " --help", code);
    EXPECT_EQ(code, 0) << bin;
    for (const char* option : {"--config PATH", "--verbose", "--check-config", "--help"}) {
      EXPECT_NE(out.find(option), std::string::npos) << bin << " --help lacks " << option;
    }
  }
}

// --------------------------------------------------------------- reload in a running stack

TEST(OperationsReloadTest, EnvironmentBeatsTheConfigFile) {
  TempDir dir;
  const std::string conf = dir.File("tchatator.conf");
  WriteFile(conf, "max-messages-per-minute=3\n");
  StackOptions options;
  options.core_args = {"--config", conf};
  options.core_env["TCHATATOR_MAX_MESSAGES_PER_MINUTE"] = "2";
  Stack stack(options);
  Session sender = LoginNew(stack, "member");
  const User recipient = stack.AddUser("pro");
  ExpectSent(sender, recipient.id, 2, "environment limit 2");
  ExpectRateLimited(sender, recipient.id, "third message over the environment's limit of 2");
  // A reload keeps the environment on top of the file.
  WriteFile(conf, "max-messages-per-minute=4\n");
  const std::string line = HangUp(stack, true, kReloaded);
  EXPECT_TRUE(line.ends_with(std::string(kReloaded) +
                             ", log reopened; changed: none; the environment overrides the "
                             "file for: max-messages-per-minute"))
      << line;
  ExpectRateLimited(sender, recipient.id, "still 2 after a reload of a file saying 4");
}

TEST(OperationsReloadTest, SighupChangesThePerMinuteLimitOfARunningCore) {
  TempDir dir;
  const std::string conf = dir.File("tchatator.conf");
  WriteFile(conf, "max-messages-per-minute=3\n");
  StackOptions options;
  options.core_args = {"--config", conf};
  Stack stack(options);
  Session sender = LoginNew(stack, "member");
  const User recipient = stack.AddUser("pro");
  ExpectSent(sender, recipient.id, 3, "limit 3");
  ExpectRateLimited(sender, recipient.id, "fourth message over the limit of 3");

  WriteFile(conf, "max-messages-per-minute=5\n");
  const std::string line = HangUp(stack, true, kReloaded);
  ASSERT_NE(line, "") << "the core did not log a reload";
  EXPECT_TRUE(
      line.ends_with(std::string(kReloaded) + ", log reopened; changed: max-messages-per-minute=5"))
      << line;
  // The refused fourth message did not count: exactly two more now.
  ExpectSent(sender, recipient.id, 2, "limit raised to 5");
  ExpectRateLimited(sender, recipient.id, "sixth message over the limit of 5");
  // The same session and connection, and a fresh user gets exactly 5.
  Session fresh = LoginNew(stack, "member");
  ExpectSent(fresh, recipient.id, 5, "fresh user, limit 5");
  ExpectRateLimited(fresh, recipient.id, "fresh user's sixth message");

  // Lowered again, without a restart: the sender is now over it.
  WriteFile(conf, "max-messages-per-minute=1\n");
  ASSERT_NE(HangUp(stack, true, kReloaded), "");
  Session third = LoginNew(stack, "member");
  ExpectSent(third, recipient.id, 1, "limit lowered to 1");
  ExpectRateLimited(third, recipient.id, "second message over the limit of 1");
  EXPECT_TRUE(stack.CoreRunning());
}

TEST(OperationsReloadTest, BadFileOnSighupKeepsTheCoresOldValuesAndSaysWhy) {
  TempDir dir;
  const std::string conf = dir.File("tchatator.conf");
  WriteFile(conf, "max-messages-per-minute=3\n");
  StackOptions options;
  options.core_args = {"--config", conf};
  Stack stack(options);
  Session sender = LoginNew(stack, "member");
  const User recipient = stack.AddUser("pro");
  ExpectSent(sender, recipient.id, 2, "limit 3, first two");

  // A valid first line then an unknown key: nothing of the file applies.
  WriteFile(conf, "max-messages-per-minute=50\nmax-mesages-per-hour=500\n");
  std::string line = HangUp(stack, true, kKept);
  EXPECT_TRUE(line.ends_with(std::string(kKept) + conf + ":2: unknown key 'max-mesages-per-hour'"))
      << line;
  EXPECT_TRUE(LogLinesWith(stack.core_log_path(), kReloaded).empty());
  ExpectSent(sender, recipient.id, 1, "still limit 3, third message");
  ExpectRateLimited(sender, recipient.id, "still limit 3 after an unknown key");

  // Out of range.
  WriteFile(conf, "max-messages-per-minute=-1\n");
  line = HangUp(stack, true, kKept);
  EXPECT_TRUE(line.ends_with(std::string(kKept) + conf +
                             ":1: max-messages-per-minute must be between 0 and 1000000"))
      << line;
  ExpectRateLimited(sender, recipient.id, "still limit 3 after an out-of-range value");

  // The file gone.
  std::filesystem::remove(conf);
  line = HangUp(stack, true, kKept);
  EXPECT_TRUE(line.ends_with(std::string(kKept) + "cannot read configuration file " + conf))
      << line;
  ExpectRateLimited(sender, recipient.id, "still limit 3 without a file");

  // Still running, and a good file afterwards applies.
  EXPECT_TRUE(stack.CoreRunning());
  WriteFile(conf, "max-messages-per-minute=4\n");
  ASSERT_NE(HangUp(stack, true, kReloaded), "");
  ExpectSent(sender, recipient.id, 1, "limit 4");
  ExpectRateLimited(sender, recipient.id, "fifth message over the limit of 4");
}

// A LOGIN whose api-token line is `bytes` long in all ("api-token:" included).
Response LoginWithLongLine(Stack& stack, size_t bytes) {
  Client c = stack.Connect();
  const std::string key = "api-token:";
  c.Send("LOGIN\n" + key + std::string(bytes - key.size(), 'k') + "\n\n");
  return c.Read();
}

TEST(OperationsReloadTest, SighupChangesTheGatewaysLineLimitAndABadFileKeepsIt) {
  TempDir dir;
  const std::string conf = dir.File("gateway.conf");
  WriteFile(conf, "max-line-bytes=300\n");
  StackOptions options;
  options.gateway_args = {"--config", conf};
  Stack stack(options);
  EXPECT_TRUE(IsError(LoginWithLongLine(stack, 300), "403/DENIED", "invalid-api-key"));
  EXPECT_TRUE(IsError(LoginWithLongLine(stack, 301), "416/MISFMT", "request-too-large"));

  WriteFile(conf, "max-line-bytes=100\n");
  std::string line = HangUp(stack, false, kKept);
  EXPECT_TRUE(line.ends_with(std::string(kKept) + conf +
                             ":1: max-line-bytes must be between 256 and 1048576"))
      << line;
  WriteFile(conf, "max-line-bytes=600\nmax-lines-bytes=700\n");
  line = HangUp(stack, false, kKept);
  EXPECT_TRUE(line.ends_with(std::string(kKept) + conf + ":2: unknown key 'max-lines-bytes'"))
      << line;
  EXPECT_TRUE(stack.GatewayRunning());
  EXPECT_TRUE(IsError(LoginWithLongLine(stack, 300), "403/DENIED", "invalid-api-key"));
  EXPECT_TRUE(IsError(LoginWithLongLine(stack, 301), "416/MISFMT", "request-too-large"));

  // The backlog needs a restart: the log says it is not applied.
  WriteFile(conf, "max-line-bytes=600\nlisten-backlog=99\n");
  line = HangUp(stack, false, kReloaded);
  EXPECT_TRUE(line.ends_with(std::string(kReloaded) +
                             ", log reopened; changed: max-line-bytes=600; not applied until a "
                             "restart: listen-backlog=99"))
      << line;
  EXPECT_TRUE(IsError(LoginWithLongLine(stack, 600), "403/DENIED", "invalid-api-key"));
  EXPECT_TRUE(IsError(LoginWithLongLine(stack, 601), "416/MISFMT", "request-too-large"));
  line = HangUp(stack, false, kReloaded);
  EXPECT_TRUE(line.ends_with(std::string(kReloaded) +
                             ", log reopened; changed: none; not applied until a restart: "
                             "listen-backlog=99"))
      << line;
}

TEST(OperationsReloadTest, AShorterIdleTimeoutReachesConnectionsAlreadyOpen) {
  TempDir dir;
  const std::string conf = dir.File("gateway.conf");
  WriteFile(conf, "idle-timeout-seconds=600\n");
  StackOptions options;
  options.gateway_args = {"--config", conf};
  Stack stack(options);
  const User user = stack.AddUser("member");
  Client open_before = stack.Connect();
  ASSERT_TRUE(IsOk(open_before.Request("LOGIN", {{"api-token", user.api_key}}),
                   {"token", "user-id", "role"}));
  WriteFile(conf, "idle-timeout-seconds=2\n");
  const auto reloaded_at = std::chrono::steady_clock::now();
  const std::string line = HangUp(stack, false, kReloaded);
  EXPECT_TRUE(line.ends_with("changed: idle-timeout-seconds=2")) << line;
  // Idle since before the reload: closed about 2 s after its last request, not 600.
  std::string rest;
  EXPECT_TRUE(open_before.WaitClosed(10s, &rest)) << "still open 10 s after the reload";
  EXPECT_LT(std::chrono::steady_clock::now() - reloaded_at, 9s);
  EXPECT_EQ(rest, "");
}

// --------------------------------------------------------------- logs

// One parsed log line: `2026-11-26T10:15:00.123Z user=<id> ip=<ip> <text>`.
struct LogLine {
  std::string time;
  std::string user;
  std::string ip;
  std::string text;
};

std::optional<LogLine> ParseLogLine(const std::string& line) {
  static const std::regex kLine(
      R"(^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) user=(\S*) ip=(\S*) (.*)$)");
  std::smatch m;
  if (!std::regex_match(line, m, kLine)) return std::nullopt;
  return LogLine{m[1], m[2], m[3], m[4]};
}

// The one line of `path` whose text ends with " request=<id>", once written (the
// daemons write their lines a few milliseconds later); fails the test when there is
// not exactly one.
LogLine RequestLine(const std::string& path, const std::string& request_id) {
  WaitForLine(path, " request=" + request_id, 0);
  std::vector<LogLine> found;
  for (const std::string& line : ReadFileLines(path)) {
    std::optional<LogLine> parsed = ParseLogLine(line);
    if (parsed && parsed->text.ends_with(" request=" + request_id)) found.push_back(*parsed);
  }
  EXPECT_EQ(found.size(), 1u) << "lines of request " << request_id << " in " << path;
  return found.empty() ? LogLine{} : found.front();
}

// The request id of the `nth` line (from 1) of `path` whose text starts with `prefix`,
// once written; "" when it never is.
std::string RequestIdOfLine(const std::string& path, const std::string& prefix, size_t nth = 1) {
  WaitForLine(path, prefix, nth - 1);
  size_t seen = 0;
  for (const std::string& line : ReadFileLines(path)) {
    std::optional<LogLine> parsed = ParseLogLine(line);
    if (!parsed || !parsed->text.starts_with(prefix) || ++seen < nth) continue;
    const size_t at = parsed->text.rfind(" request=");
    return at == std::string::npos ? "" : parsed->text.substr(at + 9);
  }
  return "";
}

TEST(OperationsAdminTest, BadUsageIsExitTwoAndDoesNothing) {
  Stack stack;
  const User user = stack.AddUser("member");
  const std::string users = "SELECT count(*) FROM users";
  const std::string before = stack.db().Query(users);
  int code = 0;
  // An unknown flag is an error, not a no-op: --dry-run must not create a user.
  std::string out =
      RunShell(stack.AdminCommand() + " user add --role pro --name Ty --dry-run yes", code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("tchatator-admin: unknown option --dry-run\n"), std::string::npos) << out;
  EXPECT_EQ(stack.db().Query(users), before);
  // Named as such, before it takes the next word as its value (probe 24 F2: the command
  // word went, and the error said "expected a command").
  out = RunShell(stack.AdminCommand() + " --verbose health", code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("tchatator-admin: unknown option --verbose\n"), std::string::npos) << out;
  out = RunShell(stack.AdminCommand() + " health --bogus", code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("tchatator-admin: unknown option --bogus\n"), std::string::npos) << out;
  // A flag of another command.
  out = RunShell(stack.AdminCommand() + " user add --role pro --name Ty --user-id 3", code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("tchatator-admin: 'user add' takes no --user-id\n"), std::string::npos)
      << out;
  for (const char* command : {" user get", " user regen-key"}) {
    out = RunShell(stack.AdminCommand() + command, code);
    EXPECT_EQ(code, 2) << out;
    EXPECT_NE(out.find("tchatator-admin: --user-id is required\n"), std::string::npos) << out;
  }
  EXPECT_EQ(stack.db().Query(users), before);
  // A flag given twice is not settled by picking one: no member turned pro by a typo.
  out = RunShell(stack.AdminCommand() + " user add --role member --name Ty --role pro", code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("tchatator-admin: --role is given twice\n"), std::string::npos) << out;
  out = RunShell(stack.AdminCommand() + " --core 127.0.0.1:1 health", code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("tchatator-admin: --core is given twice\n"), std::string::npos) << out;
  EXPECT_EQ(stack.db().Query(users), before);
  out = RunShell(stack.AdminCommand() + " user get --user-id " + std::to_string(user.id) +
                     " extra",
                 code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("tchatator-admin: unknown command 'user get extra'\n"), std::string::npos)
      << out;
  out = RunShell(stack.AdminCommand() + " user get --user-id " + std::to_string(user.id) +
                     " --bogus 1",
                 code);
  EXPECT_EQ(code, 2) << out;
  out = RunShell(stack.AdminCommand() + " health --user-id 1", code);
  EXPECT_EQ(code, 2) << out;
  // An id no bigint can hold is bad usage too, not "no such user".
  out = RunShell(stack.AdminCommand() + " user get --user-id 99999999999999999999", code);
  EXPECT_EQ(code, 2) << out;
  // Refusals name the code and the token, not gRPC's number.
  out = RunShell(std::string(TCHATATOR_ADMIN_BIN) + " --core 127.0.0.1:" +
                     std::to_string(stack.grpc_port()) +
                     " --admin-key wrong-key user get --user-id " + std::to_string(user.id),
                 code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_TRUE(out.starts_with("tchatator-admin: PERMISSION_DENIED invalid-api-key: ")) << out;
  out = RunShell(stack.AdminCommand() + " user get --user-id " + std::to_string(user.id), code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_TRUE(out.starts_with("user-id:" + std::to_string(user.id) + "\n")) << out;
  out = RunShell(stack.AdminCommand() + " user get --user-id=" + std::to_string(user.id), code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_TRUE(out.starts_with("user-id:" + std::to_string(user.id) + "\n")) << out;
  out = RunShell(stack.AdminCommand() + " user get --user-id= " + std::to_string(user.id), code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("tchatator-admin: --user-id needs a value\n"), std::string::npos) << out;
}

TEST(OperationsAdminTest, WrongAdminKeysHoldTheCallerAndTheWaitIsPrinted) {
  Stack stack;
  const std::string get = std::string(TCHATATOR_ADMIN_BIN) + " --core 127.0.0.1:" +
                          std::to_string(stack.grpc_port()) + " --admin-key wrong-key user get"
                          " --user-id 1";
  int code = 0;
  for (int i = 0; i < 10; ++i) {
    const std::string out = RunShell(get, code);
    EXPECT_EQ(code, 1) << out;
    EXPECT_TRUE(out.starts_with("tchatator-admin: PERMISSION_DENIED invalid-api-key: ")) << out;
  }
  // The right key too, for about a minute.
  const std::string out = RunShell(stack.AdminCommand() + " user get --user-id 1", code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_TRUE(std::regex_search(
      out, std::regex("^tchatator-admin: RESOURCE_EXHAUSTED rate-limited: .* \\(retry in "
                      "(5[0-9]|60) s\\)\n$")))
      << out;
}

TEST(OperationsAdminTest, AnAdminKeyGrpcCannotCarryIsBadUsageAndIsNotPrinted) {
  Stack stack;
  const User user = stack.AddUser("member");
  // gRPC aborts on such a header value, printing it: the key is checked before.
  for (const std::string key :
       {"'cl\xc3\xa9-secr\xc3\xa8te'", "\"$(printf 'Key\\tWith\\tTabs')\""}) {
    int code = 0;
    const std::string out = RunShell(std::string(TCHATATOR_ADMIN_BIN) + " --core 127.0.0.1:" +
                                         std::to_string(stack.grpc_port()) + " --admin-key " +
                                         key + " user get --user-id " + std::to_string(user.id),
                                     code);
    EXPECT_EQ(code, 2) << key << ": " << out;
    EXPECT_TRUE(out.starts_with("tchatator-admin: the admin key holds a line break, a control "
                                "or a non-ASCII character\n"))
        << out;
    EXPECT_EQ(out.find("secr"), std::string::npos) << out;
    EXPECT_EQ(out.find("With"), std::string::npos) << out;
  }
}

TEST(OperationsLogTest, RequestLinesCarryTimeUserIpCommandStatusAndOneRequestId) {
  Stack stack;
  const User user = stack.AddUser("member");
  const User recipient = stack.AddUser("pro");
  const std::string content = "very private words 7c1e9a";
  Client c = stack.Connect();

  // Refused by the gateway itself: no identity, and no call reaches the core.
  EXPECT_TRUE(IsError(c.Request("GET_UNREAD", {{"token", "no such token"}}), "401/UNAUTH",
                      "not-authenticated"));
  const std::string unauthenticated = RequestIdOfLine(stack.gateway_log_path(), "GET_UNREAD 401 ");
  // Refused by the core before login.
  EXPECT_TRUE(IsError(c.Request("GET_UNREAD", {{"token", "nosuchtoken"}}), "401/UNAUTH",
                      "not-authenticated"));
  const std::string unknown_token =
      RequestIdOfLine(stack.gateway_log_path(), "GET_UNREAD 401 ", 2);
  // Refused by the core before login: no identity yet.
  EXPECT_TRUE(IsError(c.Request("LOGIN", {{"api-token", "not-a-key-5d2b"}}), "403/DENIED",
                      "invalid-api-key"));
  const std::string bad_login = RequestIdOfLine(stack.gateway_log_path(), "LOGIN 403 ");
  Response login = c.Request("LOGIN", {{"api-token", user.api_key}});
  ASSERT_TRUE(IsOk(login, {"token", "user-id", "role"}));
  const std::string token = login.Get("token");
  const std::string good_login = RequestIdOfLine(stack.gateway_log_path(), "LOGIN 200");
  ASSERT_TRUE(IsOk(SendMsg(c, token, recipient.id, content), {"message-id", "sent-at"}));
  const std::string send = RequestIdOfLine(stack.gateway_log_path(), "SEND_MSG 200");
  EXPECT_TRUE(IsError(
      c.Request("UPDT_MSG", {{"token", token}, {"message-id", "999999999"}, {"content", content}}),
      "404/NOTFND", "unknown-message"));
  const std::string refused = RequestIdOfLine(stack.gateway_log_path(), "UPDT_MSG 404 ");
  // The compatibility form: the API key as the token (it must not be logged either).
  ASSERT_TRUE(IsOk(SendMsg(c, user.api_key, recipient.id, content), {"message-id", "sent-at"}));
  // Malformed: named by their command when the gateway knew it, never by client text.
  // (No call reaches the core, so these lines carry no request id.)
  EXPECT_TRUE(IsError(c.Request("DEL_MSG", {{"token", token}}), "416/MISFMT",
                      "missing-parameter"));
  EXPECT_TRUE(IsError(c.Request("NO_SUCH_COMMAND_3f9"), "416/MISFMT", "unknown-command"));
  c.Close();
  ASSERT_TRUE(WaitForLine(stack.gateway_log_path(), "- 416 unknown-command", 0).has_value());
  for (const std::string text : {"DEL_MSG 416 missing-parameter", "- 416 unknown-command"}) {
    const std::vector<std::string> lines = LogLinesWith(stack.gateway_log_path(), text);
    ASSERT_EQ(lines.size(), 1u) << text;
    const std::optional<LogLine> line = ParseLogLine(lines[0]);
    ASSERT_TRUE(line.has_value()) << lines[0];
    EXPECT_EQ(line->text, text);
    EXPECT_EQ(line->ip, "127.0.0.1");
  }

  struct Expected {
    std::string id;
    std::string gateway_text;  // the gateway line's text before " request="
    std::string core_text;     // the core line's text before " request="
    std::string user;          // identity on both lines
  };
  const std::string uid = std::to_string(user.id);
  const std::vector<Expected> expected = {
      {unknown_token, "GET_UNREAD 401 not-authenticated",
       "ListUnread UNAUTHENTICATED not-authenticated (no valid session: LOGIN first)", ""},
      {bad_login, "LOGIN 403 invalid-api-key",
       "Login PERMISSION_DENIED invalid-api-key (unknown API key)", ""},
      {good_login, "LOGIN 200", "Login OK", uid},
      {send, "SEND_MSG 200", "SendMessage OK", uid},
      {refused, "UPDT_MSG 404 unknown-message",
       "UpdateMessage NOT_FOUND unknown-message (no such message)", uid},
  };
  ASSERT_FALSE(unauthenticated.empty());
  const LogLine gateway_only = RequestLine(stack.gateway_log_path(), unauthenticated);
  EXPECT_EQ(gateway_only.text, "GET_UNREAD 401 not-authenticated request=" + unauthenticated);
  EXPECT_EQ(gateway_only.user, "");
  EXPECT_EQ(gateway_only.ip, "127.0.0.1");
  std::set<std::string> ids = {unauthenticated};
  for (const Expected& e : expected) {
    ASSERT_FALSE(e.id.empty()) << e.gateway_text << ": no gateway line with a request id";
    ids.insert(e.id);
    // The core logs its line when the call finishes, before the gateway answers.
    const LogLine gateway = RequestLine(stack.gateway_log_path(), e.id);
    const LogLine core = RequestLine(stack.core_log_path(), e.id);
    EXPECT_EQ(gateway.text, e.gateway_text + " request=" + e.id);
    EXPECT_EQ(core.text, e.core_text + " request=" + e.id);
    EXPECT_EQ(gateway.user, e.user) << e.gateway_text;
    EXPECT_EQ(core.user, e.user) << e.core_text;
    EXPECT_EQ(gateway.ip, "127.0.0.1");
    EXPECT_EQ(core.ip, "127.0.0.1") << "the core logs the end client's IP, not the gateway's";
  }
  EXPECT_EQ(ids.size(), expected.size() + 1) << "request ids are unique";
  // The core writes its lines in order: with that of the last request (the send with
  // the API key as its token), every line before is in its file.
  const std::string last = RequestIdOfLine(stack.gateway_log_path(), "SEND_MSG 200", 2);
  ASSERT_FALSE(last.empty());
  EXPECT_EQ(RequestLine(stack.core_log_path(), last).text, "SendMessage OK request=" + last);
  for (const std::string& line : ReadFileLines(stack.core_log_path())) {
    EXPECT_FALSE(line.ends_with(" request=" + unauthenticated)) << "never reached the core";
  }

  // Every line of both logs has the format; none holds a secret or a message content.
  const std::string admin_key = stack.admin_key();
  for (const std::string& path : {stack.gateway_log_path(), stack.core_log_path()}) {
    const std::vector<std::string> lines = ReadFileLines(path);
    EXPECT_FALSE(lines.empty()) << path;
    for (const std::string& line : lines) {
      EXPECT_TRUE(ParseLogLine(line).has_value()) << path << ": " << line;
    }
    const std::string text = ReadFile(path);
    for (const std::string& secret :
         {content, std::string("very private"), user.api_key, token, admin_key,
          std::string("not-a-key-5d2b"), std::string("NO_SUCH_COMMAND_3f9")}) {
      EXPECT_EQ(text.find(secret), std::string::npos) << path << " contains '" << secret << "'";
    }
  }
}

TEST(OperationsLogTest, StartUpLogsTheOptionsAndTheEffectiveConfigurationWithSecretsMasked) {
  TempDir dir;
  const std::string conf = dir.File("tchatator.conf");
  WriteFile(conf, "max-messages-per-minute=7\n");
  StackOptions options;
  options.core_args = {"--config", conf};
  options.gateway_env["TCHATATOR_MAX_LINE_BYTES"] = "4096";
  Stack stack(options);

  const std::vector<std::string> core_start =
      LogLinesWith(stack.core_log_path(), "tchatator-core starting;");
  ASSERT_EQ(core_start.size(), 1u);
  std::optional<LogLine> parsed = ParseLogLine(core_start[0]);
  ASSERT_TRUE(parsed.has_value()) << core_start[0];
  EXPECT_EQ(parsed->user, "");
  EXPECT_EQ(parsed->ip, "");
  EXPECT_EQ(parsed->text, "tchatator-core starting; config file '" + conf + "', verbose=no");

  const std::vector<std::string> core_config =
      LogLinesWith(stack.core_log_path(), "effective configuration: ");
  ASSERT_EQ(core_config.size(), 1u);
  const std::string& config = core_config[0];
  for (const std::string& item :
       {std::string(" max-messages-per-minute=7 "),
        " grpc-port=" + std::to_string(stack.grpc_port()) + " ", std::string(" admin-api-key=*** "),
        std::string(" database-url=*** "), std::string(" max-messages-per-hour=90 ")}) {
    EXPECT_NE(config.find(item), std::string::npos) << "'" << item << "' not in " << config;
  }
  EXPECT_EQ(config.find(" max-line-bytes="), std::string::npos) << "a gateway key in the core's";
  const std::string core_log = ReadFile(stack.core_log_path());
  EXPECT_EQ(core_log.find(stack.admin_key()), std::string::npos);
  EXPECT_EQ(core_log.find(stack.db().url()), std::string::npos);
  EXPECT_EQ(core_log.find(stack.db().name()), std::string::npos) << "the database URL leaked";

  const std::vector<std::string> gateway_config =
      LogLinesWith(stack.gateway_log_path(), "effective configuration: ");
  ASSERT_EQ(gateway_config.size(), 1u);
  for (const std::string& item :
       {std::string(" max-line-bytes=4096 "), " port=" + std::to_string(stack.gateway_port()) + " ",
        " core-address=127.0.0.1:" + std::to_string(stack.grpc_port()) + " "}) {
    EXPECT_NE(gateway_config[0].find(item), std::string::npos)
        << "'" << item << "' not in " << gateway_config[0];
  }
  EXPECT_EQ(gateway_config[0].find("admin-api-key"), std::string::npos);
}

TEST(OperationsLogTest, SighupReopensTheLogFilesAfterRotation) {
  Stack stack;
  Session s = LoginNew(stack, "member");
  ASSERT_TRUE(Alive(s.conn));
  const std::string core_log = stack.core_log_path();
  const std::string gateway_log = stack.gateway_log_path();
  std::filesystem::rename(core_log, core_log + ".1");
  std::filesystem::rename(gateway_log, gateway_log + ".1");

  // The reload line is the first line of each new file.
  stack.SignalCore(SIGHUP);
  stack.SignalGateway(SIGHUP);
  for (const std::string& log : {core_log, gateway_log}) {
    ASSERT_TRUE(WaitForLine(log, kReloaded, 0).has_value()) << "no new " << log;
    const std::vector<std::string> lines = ReadFileLines(log);
    ASSERT_EQ(lines.size(), 1u) << log;
    std::optional<LogLine> parsed = ParseLogLine(lines[0]);
    ASSERT_TRUE(parsed.has_value()) << lines[0];
    EXPECT_EQ(parsed->text, std::string(kReloaded) + ", log reopened; changed: none");
  }

  const User recipient = stack.AddUser("pro");
  ASSERT_TRUE(
      IsOk(SendMsg(s.conn, s.token, recipient.id, "after rotation"), {"message-id", "sent-at"}));
  const std::string id = RequestIdOfLine(gateway_log, "SEND_MSG 200");
  ASSERT_FALSE(id.empty()) << "the request's line is not in the new " << gateway_log;
  RequestLine(core_log, id);
  EXPECT_EQ(LogLinesWith(core_log + ".1", "SendMessage").size(), 0u);
  EXPECT_EQ(LogLinesWith(gateway_log + ".1", "SEND_MSG").size(), 0u);
  EXPECT_EQ(LogLinesWith(core_log + ".1", kReloaded).size(), 0u);
  // The old files kept what they had: the LOGIN of before.
  EXPECT_EQ(LogLinesWith(gateway_log + ".1", "LOGIN 200").size(), 1u);
  EXPECT_EQ(LogLinesWith(core_log + ".1", "Login OK").size(), 1u);
}

TEST(OperationsLogTest, SighupMovesTheLogToANewLogFileAndKeepsAllWhenItCannotBeOpened) {
  TempDir dir;
  const int port = testing::FreePort();
  const std::string conf = dir.File("gateway.conf");
  const std::string first = dir.File("first.log");
  const std::string second = dir.File("second.log");
  const std::string unopenable = dir.File("no-such-dir/x.log");
  WriteFile(conf, "max-line-bytes=300\nlog-file=" + first + "\n");
  // No core: the gateway starts without one; the line limit is its own.
  testing::ChildProcess gateway(
      TCHATATOR_GATEWAY_BIN, {"--config", conf},
      {{"TCHATATOR_PORT", std::to_string(port)}, {"TCHATATOR_CORE_ADDRESS", "127.0.0.1:1"}},
      dir.File("terminal.txt"));
  ASSERT_TRUE(testing::WaitForPort(port, 10s));
  // A LOGIN line of `bytes` bytes: request-too-large, or unavailable (no core).
  auto too_large = [port](size_t bytes) {
    Client c(port);
    c.Send("LOGIN\napi-token:" + std::string(bytes - 10, 'k') + "\n\n");
    return IsError(c.Read(), "416/MISFMT", "request-too-large");
  };
  auto unavailable = [port](size_t bytes) {
    Client c(port);
    c.Send("LOGIN\napi-token:" + std::string(bytes - 10, 'k') + "\n\n");
    return IsError(c.Read(), "503/UNAVAIL", "unavailable");
  };
  EXPECT_TRUE(too_large(301));
  EXPECT_TRUE(unavailable(300));

  WriteFile(conf, "max-line-bytes=600\nlog-file=" + unopenable + "\n");
  size_t before = LogLinesWith(first, kKept).size();
  gateway.Signal(SIGHUP);
  std::optional<std::string> line = WaitForLine(first, kKept, before);
  ASSERT_TRUE(line.has_value());
  EXPECT_TRUE(line->ends_with(std::string(kKept) + "cannot open log file " + unopenable)) << *line;
  EXPECT_TRUE(too_large(301)) << "the line limit of before the bad reload";

  WriteFile(conf, "max-line-bytes=600\nlog-file=" + second + "\n");
  gateway.Signal(SIGHUP);
  line = WaitForLine(second, kReloaded, 0);
  ASSERT_TRUE(line.has_value());
  EXPECT_TRUE(line->ends_with(std::string(kReloaded) +
                              ", log reopened; changed: max-line-bytes=600 log-file=" + second))
      << *line;
  EXPECT_TRUE(unavailable(600));
  EXPECT_TRUE(too_large(601));
  EXPECT_TRUE(WaitForLine(second, "LOGIN 503 unavailable", 0).has_value());
  EXPECT_TRUE(LogLinesWith(first, kReloaded).empty());
  EXPECT_TRUE(ReadFile(dir.File("terminal.txt")).empty()) << "nothing on the terminal";
  gateway.Signal(SIGTERM);
  EXPECT_NE(gateway.Wait(10s), -1);
}

TEST(OperationsLogTest, VerboseAlsoWritesEveryLineToTheTerminal) {
  TempDir dir;
  const int port = testing::FreePort();
  const std::string log = dir.File("gateway.log");
  const std::string terminal = dir.File("terminal.txt");
  // No core: the gateway starts without one and answers PING itself.
  testing::ChildProcess gateway(TCHATATOR_GATEWAY_BIN, {"--verbose"},
                                {{"TCHATATOR_PORT", std::to_string(port)},
                                 {"TCHATATOR_CORE_ADDRESS", "127.0.0.1:1"},
                                 {"TCHATATOR_LOG_FILE", log}},
                                terminal);
  ASSERT_TRUE(testing::WaitForPort(port, 10s));
  {
    Client c(port);
    EXPECT_TRUE(Alive(c));
  }
  ASSERT_TRUE(WaitForLine(log, "PING 200", 0).has_value());
  ASSERT_TRUE(WaitForLine(terminal, "PING 200", 0).has_value());
  gateway.Signal(SIGTERM);
  EXPECT_NE(gateway.Wait(10s), -1);
  const std::vector<std::string> in_file = ReadFileLines(log);
  EXPECT_EQ(in_file, ReadFileLines(terminal));
  EXPECT_NE(ReadFile(log).find("verbose=yes"), std::string::npos);
}

// --------------------------------------------------------------- the gateway's core

// A daemon started here, outside any Stack, on a free port that `port_variable` sets,
// logging to `log`. The gateways started so take core-address from their --config file
// alone: a Stack's gateway gets it from the environment, which beats the file.
class LoneDaemon {
 public:
  LoneDaemon(const char* binary, const std::vector<std::string>& args,
             std::map<std::string, std::string> env, const std::string& port_variable,
             std::string log)
      : log_(std::move(log)) {
    // `env` may set these too; an empty value removes them (a --config file decides).
    env.emplace("TCHATATOR_LISTEN_ADDRESS", "127.0.0.1");
    env.emplace("TCHATATOR_LOG_FILE", log_);
    std::erase_if(env, [](const auto& entry) { return entry.second.empty(); });
    for (int attempt = 0; attempt < 3 && !process_; ++attempt) {
      port_ = testing::FreePort();  // taken meanwhile by someone else: try another
      env[port_variable] = std::to_string(port_);
      process_ = std::make_unique<testing::ChildProcess>(binary, args, env, log_);
      const Clock::time_point deadline = Clock::now() + 30s;
      bool listening = false;
      while (!listening && Clock::now() < deadline && process_->Running()) {
        listening = testing::WaitForPort(port_, 100ms);
      }
      if (!listening) process_.reset();
    }
    if (!process_) throw std::runtime_error(std::string(binary) + " did not listen; see " + log_);
  }

  int port() const { return port_; }
  const std::string& log() const { return log_; }
  testing::ChildProcess& process() { return *process_; }
  Client Connect() const { return Client(port_); }

 private:
  std::string log_;
  int port_ = 0;
  std::unique_ptr<testing::ChildProcess> process_;
};

// A gateway reading `conf` (which names its core).
LoneDaemon StartGatewayWithConfig(const std::string& conf, const std::string& log) {
  return LoneDaemon(TCHATATOR_GATEWAY_BIN, {"--config", conf}, {}, "TCHATATOR_PORT", log);
}

LoneDaemon StartCoreWithConfig(const std::string& conf, const std::string& log) {
  return LoneDaemon(TCHATATOR_CORE_BIN, {"--config", conf}, {}, "TCHATATOR_GRPC_PORT", log);
}

std::string CoreAddressLine(int grpc_port) {
  return "core-address=127.0.0.1:" + std::to_string(grpc_port) + "\n";
}

Response Login(const LoneDaemon& gateway, const std::string& api_key) {
  Client c = gateway.Connect();
  return c.Request("LOGIN", {{"api-token", api_key}});
}

// Two stacks, each with its own database: the gateway is switched from core A to core
// B by SIGHUP, which an account existing only in B's database shows.
TEST(OperationsCoreAddressTest, SighupMovesTheGatewayToTheNewCoreAddress) {
  Stack a;
  Stack b;
  const User on_a = a.AddUser("member");
  const User on_b = b.AddUser("member");
  TempDir dir;
  const std::string conf = dir.File("gateway.conf");
  WriteFile(conf, CoreAddressLine(a.grpc_port()));
  LoneDaemon gateway = StartGatewayWithConfig(conf, dir.File("gateway.log"));

  EXPECT_TRUE(IsError(Login(gateway, on_b.api_key), "403/DENIED", "invalid-api-key"))
      << "B's account is unknown to core A";
  Response r = Login(gateway, on_a.api_key);
  EXPECT_TRUE(IsOk(r, {"token", "user-id", "role"}));
  EXPECT_EQ(r.Get("user-id"), std::to_string(on_a.id));

  const std::string b_address = "127.0.0.1:" + std::to_string(b.grpc_port());
  const size_t switches_before = LogLinesWith(gateway.log(), "SIGHUP: core at ").size();
  WriteFile(conf, CoreAddressLine(b.grpc_port()));
  const std::string line = HangUp(gateway.process(), gateway.log(), kReloaded);
  EXPECT_TRUE(line.ends_with(std::string(kReloaded) +
                             ", log reopened; changed: core-address=" + b_address))
      << "applied, not 'not applied until a restart': " << line;
  const std::string switched =
      WaitForLine(gateway.log(), "SIGHUP: core at ", switches_before).value_or("");
  EXPECT_TRUE(switched.ends_with("SIGHUP: core at " + b_address + " for new calls")) << switched;

  r = Login(gateway, on_b.api_key);
  EXPECT_TRUE(IsOk(r, {"token", "user-id", "role"})) << "B's account, now that core B answers";
  EXPECT_EQ(r.Get("user-id"), std::to_string(on_b.id));
  EXPECT_TRUE(IsError(Login(gateway, on_a.api_key), "403/DENIED", "invalid-api-key"))
      << "A's account is unknown to core B";

  // Reloading the same file again changes nothing and keeps core B.
  EXPECT_TRUE(HangUp(gateway.process(), gateway.log(), kReloaded)
                  .ends_with(std::string(kReloaded) + ", log reopened; changed: none"));
  EXPECT_TRUE(IsOk(Login(gateway, on_b.api_key), {"token", "user-id", "role"}));
}

// Two cores on one database: a live event stream opened through core A is reopened on
// core B as soon as the gateway moves there (core A still running), and goes on
// delivering every new message, once, even after core A stops.
TEST(OperationsCoreAddressTest, SighupMovesLiveEventStreamsToTheNewCore) {
  Stack stack;
  TempDir dir;
  LoneDaemon core_b(TCHATATOR_CORE_BIN, {},
                    {{"TCHATATOR_DATABASE_URL", stack.db().url()},
                     {"TCHATATOR_ADMIN_API_KEY", stack.admin_key()}},
                    "TCHATATOR_GRPC_PORT", dir.File("core-b.log"));
  const std::string conf = dir.File("gateway.conf");
  WriteFile(conf, CoreAddressLine(stack.grpc_port()));
  LoneDaemon gateway = StartGatewayWithConfig(conf, dir.File("gateway.log"));

  const User member = stack.AddUser("member");
  const User pro = stack.AddUser("pro");
  Client sender = gateway.Connect();
  Response r = sender.Request("LOGIN", {{"api-token", member.api_key}});
  ASSERT_TRUE(IsOk(r, {"token", "user-id", "role"}));
  const std::string sender_token = r.Get("token");
  Client subscriber = gateway.Connect();
  r = subscriber.Request("LOGIN", {{"api-token", pro.api_key}});
  ASSERT_TRUE(IsOk(r, {"token", "user-id", "role"}));
  ASSERT_EQ(subscriber.Request("SUBSCRIBE", {{"token", r.Get("token")}}).raw, "200/OK\n\n");

  // Each message sent is delivered to the subscriber as exactly one event.
  auto send_and_expect_event = [&](const std::string& content) {
    const Response sent = SendMsg(sender, sender_token, pro.id, content);
    ASSERT_TRUE(IsOk(sent, {"message-id", "sent-at"})) << content;
    const Response event = subscriber.Read(5s);
    EXPECT_EQ(event.status, "EVENT") << content << ": " << event;
    EXPECT_EQ(event.Get("change"), "new_message") << event;
    EXPECT_EQ(event.Get("message-id"), sent.Get("message-id")) << event;
    EXPECT_EQ(event.Get("content"), content) << event;
  };
  send_and_expect_event("through core A");
  ASSERT_TRUE(WaitForLine(stack.core_log_path(), "Subscribe OK", 0).has_value());
  EXPECT_TRUE(LogLinesWith(core_b.log(), "Subscribe OK").empty());
  EXPECT_EQ(LogLinesWith(stack.core_log_path(), "Subscribe OK").size(), 1u);

  WriteFile(conf, CoreAddressLine(core_b.port()));
  ASSERT_TRUE(HangUp(gateway.process(), gateway.log(), kReloaded)
                  .ends_with(std::string(kReloaded) + ", log reopened; changed: core-address=" +
                             "127.0.0.1:" + std::to_string(core_b.port())));
  // Core A is still up: only being told of the switch moves the stream.
  const std::optional<std::string> resubscribed = WaitForLine(core_b.log(), "Subscribe OK", 0);
  ASSERT_TRUE(resubscribed.has_value()) << "the stream was not reopened on core B";
  EXPECT_NE(resubscribed->find(" user=" + std::to_string(pro.id) + " "), std::string::npos)
      << *resubscribed;
  send_and_expect_event("through core B");

  stack.StopCore();
  send_and_expect_event("core A stopped");
  EXPECT_EQ(subscriber.ReadFor(300ms), "") << "each message is delivered once";
  EXPECT_EQ(LogLinesWith(core_b.log(), "Subscribe OK").size(), 1u) << "the stream never broke";
}

// A core that hangs: it accepts each connection and opens HTTP/2 (an empty SETTINGS
// frame, so the gRPC client sees a ready connection), then never answers a call.
class HangingCore {
 public:
  HangingCore() {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listener_, 64) != 0 ||
        getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("cannot open the hanging core's port");
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~HangingCore() {
    stop_ = true;
    thread_.join();
    for (int fd : connections_) close(fd);
    close(listener_);
  }
  HangingCore(const HangingCore&) = delete;
  HangingCore& operator=(const HangingCore&) = delete;
  int port() const { return port_; }

 private:
  void AcceptLoop() {
    // Frame header: length 0, type SETTINGS (4), no flags, stream 0.
    static constexpr char kEmptySettings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
    while (!stop_) {
      pollfd p{listener_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;  // the timeout only lets the loop see stop_
      const int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) continue;
      connections_.push_back(fd);
      if (write(fd, kEmptySettings, sizeof(kEmptySettings)) != sizeof(kEmptySettings)) continue;
    }
  }

  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_ = false;
  std::vector<int> connections_;  // kept open, never read: the calls hang
  std::thread thread_;
};

// A core that never answers: with core-timeout-ms at its maximum (10 minutes) a LOGIN
// waits; once SIGHUP lowers it to 300 ms, a new LOGIN is answered 503 within seconds.
TEST(OperationsCoreAddressTest, SighupChangesTheDeadlineOfNewCoreCalls) {
  HangingCore hanging;
  TempDir dir;
  const std::string conf = dir.File("gateway.conf");
  WriteFile(conf, CoreAddressLine(hanging.port()) + "core-timeout-ms=600000\n");
  LoneDaemon gateway = StartGatewayWithConfig(conf, dir.File("gateway.log"));

  Client waiting = gateway.Connect();
  ASSERT_TRUE(waiting.Send(Build("LOGIN", {{"api-token", "k"}})));
  EXPECT_EQ(waiting.ReadFor(1500ms), "") << "the 10-minute deadline is in force";

  WriteFile(conf, CoreAddressLine(hanging.port()) + "core-timeout-ms=300\n");
  const std::string line = HangUp(gateway.process(), gateway.log(), kReloaded);
  EXPECT_TRUE(line.ends_with(std::string(kReloaded) +
                             ", log reopened; changed: core-timeout-ms=300"))
      << line;
  Client c = gateway.Connect();
  const Clock::time_point sent = Clock::now();
  EXPECT_TRUE(IsError(c.Request("LOGIN", {{"api-token", "k"}}), "503/UNAVAIL", "unavailable"));
  EXPECT_LT(Clock::now() - sent, 5s) << "answered by the 300 ms deadline";
}

// CPU seconds process `pid` has used (user and system).
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses: utime and stime are the
  // 12th and 13th of them.
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 1; i <= 13 && fields >> field; ++i) {
    if (i >= 12) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A request that came in two reads, then waits for a core that does not answer, past
// request-timeout-seconds: the gateway waits without spinning (the request deadline
// runs only while a request is being received), then answers 503.
TEST(OperationsCoreAddressTest, ARequestWaitingForTheCorePastTheRequestTimeoutCostsNoCpu) {
  HangingCore hanging;
  TempDir dir;
  const std::string conf = dir.File("gateway.conf");
  WriteFile(conf, CoreAddressLine(hanging.port()) +
                      "core-timeout-ms=3000\nrequest-timeout-seconds=1\n");
  LoneDaemon gateway = StartGatewayWithConfig(conf, dir.File("gateway.log"));
  const pid_t pid = gateway.process().pid();
  Client c = gateway.Connect();
  const std::string request = Build("LOGIN", {{"api-token", "k"}});
  ASSERT_TRUE(c.Send(request.substr(0, 8)));
  std::this_thread::sleep_for(100ms);
  const double cpu_before = CpuSeconds(pid);
  ASSERT_TRUE(c.Send(request.substr(8)));
  EXPECT_TRUE(IsError(c.Read(10s), "503/UNAVAIL", "unavailable"));
  EXPECT_LT(CpuSeconds(pid) - cpu_before, 0.5) << "the gateway spun while the core was silent";
  EXPECT_TRUE(Alive(c));
}

// ------------------------------------------------------------ the core's database on SIGHUP

// A user of `role` with API key `api_key`, written straight into `db` (SHA-256 hex of
// the key, as the core stores it); returns its id.
std::string InsertUser(const testing::TestDatabase& db, const std::string& role,
                       const std::string& api_key) {
  return db.Query("INSERT INTO users (role, name, api_key_hash) VALUES ('" + role + "', '" +
                  role + "-" + db.name() + "', encode(sha256(convert_to('" + api_key +
                  "', 'UTF8')), 'hex')) RETURNING id");
}

// A core started on database A by its --config file, behind a gateway: SIGHUP with an
// unreachable database-url keeps A and says why; with B's URL, it migrates B and moves
// there (A's accounts are unknown, B's log in, send and get events), together with a
// new pool size.
TEST(OperationsDatabaseTest, SighupMovesTheCoreToTheNewDatabaseUrlAndKeepsItWhenUnreachable) {
  testing::TestDatabase a;
  testing::TestDatabase b;
  TempDir dir;
  const std::string conf = dir.File("core.conf");
  WriteFile(conf, "database-url=" + a.url() + "\ndatabase-pool-size=2\n");
  LoneDaemon core = StartCoreWithConfig(conf, dir.File("core.log"));
  const std::string gateway_conf = dir.File("gateway.conf");
  WriteFile(gateway_conf, CoreAddressLine(core.port()));
  LoneDaemon gateway = StartGatewayWithConfig(gateway_conf, dir.File("gateway.log"));

  const std::string key_a = "key-of-a-7f3e1c";
  const std::string key_b = "key-of-b-2d9a40";
  const std::string user_a = InsertUser(a, "member", key_a);
  ASSERT_NE(user_a, "");
  Response r = Login(gateway, key_a);
  ASSERT_TRUE(IsOk(r, {"token", "user-id", "role"})) << "on database A";
  EXPECT_EQ(r.Get("user-id"), user_a);

  // Unreachable: nothing listens on port 1. Every old value stays, the pool size too.
  WriteFile(conf, "database-url=host=127.0.0.1 port=1 dbname=nowhere\ndatabase-pool-size=3\n");
  std::string line = HangUp(core.process(), core.log(), kKept);
  EXPECT_NE(line.find(std::string(kKept) +
                      "cannot migrate the new database-url: database unreachable: "),
            std::string::npos)
      << line;
  EXPECT_TRUE(LogLinesWith(core.log(), kReloaded).empty());
  r = Login(gateway, key_a);
  EXPECT_TRUE(IsOk(r, {"token", "user-id", "role"})) << "still on database A";
  EXPECT_EQ(r.Get("user-id"), user_a);
  EXPECT_EQ(b.Query("SELECT count(*) FROM pg_tables WHERE tablename = 'users'"), "0");

  WriteFile(conf, "database-url=" + b.url() + "\ndatabase-pool-size=3\n");
  line = HangUp(core.process(), core.log(), kReloaded);
  EXPECT_TRUE(line.ends_with(std::string(kReloaded) +
                             ", log reopened; changed: database-url=*** database-pool-size=3"))
      << "applied, not 'not applied until a restart': " << line;
  ASSERT_EQ(b.Query("SELECT count(*) FROM pg_tables WHERE tablename = 'users'"), "1")
      << "the core migrated B before moving there";
  const std::string user_b = InsertUser(b, "pro", key_b);
  const std::string member_b = InsertUser(b, "member", key_a + "-b");
  ASSERT_NE(user_b, "");

  EXPECT_TRUE(IsError(Login(gateway, key_a), "403/DENIED", "invalid-api-key"))
      << "A's account is unknown on database B";
  r = Login(gateway, key_b);
  EXPECT_TRUE(IsOk(r, {"token", "user-id", "role"})) << "B's account, on database B";
  EXPECT_EQ(r.Get("user-id"), user_b);
  EXPECT_EQ(r.Get("role"), "pro");

  // A send goes through B's prepared statements and lands in B only; the change feed
  // listens on B now: the recipient's live stream gets the event.
  Client subscriber = gateway.Connect();
  r = subscriber.Request("LOGIN", {{"api-token", key_b}});
  ASSERT_TRUE(IsOk(r, {"token", "user-id", "role"}));
  ASSERT_EQ(subscriber.Request("SUBSCRIBE", {{"token", r.Get("token")}}).raw, "200/OK\n\n");
  Client c = gateway.Connect();
  r = c.Request("LOGIN", {{"api-token", key_a + "-b"}});
  ASSERT_TRUE(IsOk(r, {"token", "user-id", "role"}));
  EXPECT_EQ(r.Get("user-id"), member_b);
  const Response sent = SendMsg(c, r.Get("token"), std::stoll(user_b), "sur B");
  EXPECT_TRUE(IsOk(sent, {"message-id", "sent-at"}));
  const Response event = subscriber.Read(5s);
  EXPECT_EQ(event.status, "EVENT") << event;
  EXPECT_EQ(event.Get("message-id"), sent.Get("message-id")) << event;
  EXPECT_EQ(event.Get("content"), "sur B") << event;
  EXPECT_EQ(b.Query("SELECT content FROM messages"), "sur B");
  EXPECT_EQ(a.Query("SELECT count(*) FROM messages"), "0");
  // The core writes its lines in order: once the send's is in, so is every line before.
  ASSERT_TRUE(WaitForLine(core.log(), "SendMessage OK", 0).has_value());
  EXPECT_EQ(ReadFile(core.log()).find(b.name()), std::string::npos) << "the URL leaked";
  EXPECT_TRUE(core.process().Running());
}

// A database that a newer release migrated further (a row of schema_migrations this
// core does not know): the core still starts on it, or moves to it on SIGHUP, and says
// so in its log, naming the migrations it does not know.
TEST(OperationsDatabaseTest, ACoreWarnsOfADatabaseThatANewerReleaseMigrated) {
  testing::TestDatabase a;
  testing::TestDatabase b;
  TempDir dir;
  const std::string conf = dir.File("core.conf");
  WriteFile(conf, "database-url=" + a.url() + "\n");
  LoneDaemon core = StartCoreWithConfig(conf, dir.File("core.log"));
  constexpr char kWarning[] = "warning: the database was migrated by a newer release (";
  EXPECT_TRUE(LogLinesWith(core.log(), kWarning).empty()) << "A was migrated by this release";
  const std::string newer =
      a.Query("INSERT INTO schema_migrations (version, name) SELECT max(version) + 1, "
              "'from_a_newer_release.sql' FROM schema_migrations RETURNING version");
  ASSERT_NE(newer, "");
  const std::string expected = std::string(kWarning) + newer +
                               " from_a_newer_release.sql); this core may misread or "
                               "miswrite it: run the newer release";

  // At start.
  const std::string second_conf = dir.File("second.conf");
  WriteFile(second_conf, "database-url=" + a.url() + "\n");
  LoneDaemon second = StartCoreWithConfig(second_conf, dir.File("second.log"));
  const std::optional<std::string> at_start = WaitForLine(second.log(), kWarning, 0);
  ASSERT_TRUE(at_start.has_value());
  EXPECT_TRUE(at_start->ends_with(expected)) << *at_start;

  // On SIGHUP: to B (this release's own), then back to A.
  WriteFile(conf, "database-url=" + b.url() + "\n");
  ASSERT_NE(HangUp(core.process(), core.log(), kReloaded), "");
  EXPECT_TRUE(LogLinesWith(core.log(), kWarning).empty()) << "B was migrated by this release";
  WriteFile(conf, "database-url=" + a.url() + "\n");
  ASSERT_NE(HangUp(core.process(), core.log(), kReloaded), "");
  const std::vector<std::string> on_reload = LogLinesWith(core.log(), kWarning);
  ASSERT_EQ(on_reload.size(), 1u);
  EXPECT_TRUE(on_reload[0].ends_with(expected)) << on_reload[0];
  EXPECT_TRUE(core.process().Running());
}

}  // namespace
}  // namespace tchatator::e2e

namespace tchatator::e2e {
namespace {

// ---------------------------------------------------- listen-address, gateway-threads

// The gateway's event-loop threads running now (named "tch-io", see IoThreads).
int EventLoopThreads(pid_t pid) {
  int count = 0;
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name == "tch-io") ++count;
  }
  return count;
}

// Waits up to 5 s for the gateway `pid` to run `want` event-loop threads.
::testing::AssertionResult EventuallyThreads(pid_t pid, int want) {
  const Clock::time_point deadline = Clock::now() + 5s;
  int now = EventLoopThreads(pid);
  while (now != want && Clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
    now = EventLoopThreads(pid);
  }
  if (now == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << now << " event-loop thread(s), not " << want;
}

// Whether a TCP connection to `ip`:`port` is accepted.
bool Accepts(const std::string& ip, int port) {
  try {
    Client c(ip, port);
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

TEST(OperationsListenTest, SighupMovesTheGatewayToANewAddressAndThreadCount) {
  Stack stack;
  const User member = stack.AddUser("member");
  TempDir dir;
  const std::string conf = dir.File("gateway.conf");
  const std::string core_line = CoreAddressLine(stack.grpc_port());
  WriteFile(conf, core_line + "listen-address=127.0.0.1\ngateway-threads=1\n");
  LoneDaemon gateway(TCHATATOR_GATEWAY_BIN, {"--config", conf}, {{"TCHATATOR_LISTEN_ADDRESS", ""}},
                     "TCHATATOR_PORT", dir.File("gateway.log"));
  const pid_t pid = gateway.process().pid();
  const int port = gateway.port();
  EXPECT_TRUE(EventuallyThreads(pid, 1));
  Client before("127.0.0.1", port);
  const Response login = before.Request("LOGIN", {{"api-token", member.api_key}});
  ASSERT_TRUE(IsOk(login, {"token", "user-id", "role"}));
  const std::string token = login.Get("token");

  WriteFile(conf, core_line + "listen-address=127.0.0.2\ngateway-threads=3\n");
  std::string line = HangUp(gateway.process(), gateway.log(), kReloaded);
  EXPECT_TRUE(line.ends_with(std::string(kReloaded) +
                             ", log reopened; changed: gateway-threads=3 listen-address=127.0.0.2"))
      << line;
  EXPECT_TRUE(EventuallyThreads(pid, 3));
  Client moved("127.0.0.2", port);
  EXPECT_TRUE(IsOk(moved.Request("LOGIN", {{"api-token", member.api_key}}),
                   {"token", "user-id", "role"}));
  EXPECT_FALSE(Accepts("127.0.0.1", port)) << "the old address is closed";
  // The connection opened before the move is still served, its session too.
  EXPECT_TRUE(IsOk(before.Request("GET_UNREAD", {{"token", token}}), {"count"}));

  // An address this machine does not have: the reload is refused, every value kept.
  WriteFile(conf, core_line + "listen-address=192.0.2.1\ngateway-threads=2\n");
  line = HangUp(gateway.process(), gateway.log(), kKept);
  EXPECT_TRUE(line.ends_with(std::string(kKept) + "cannot listen on 192.0.2.1:" +
                             std::to_string(port) + ": Cannot assign requested address"))
      << line;
  EXPECT_TRUE(Accepts("127.0.0.2", port));
  EXPECT_FALSE(Accepts("127.0.0.1", port));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(EventLoopThreads(pid), 3);

  // Fewer threads: two leave, the connections stay.
  WriteFile(conf, core_line + "listen-address=127.0.0.2\ngateway-threads=1\n");
  line = HangUp(gateway.process(), gateway.log(), kReloaded);
  EXPECT_TRUE(line.ends_with(std::string(kReloaded) + ", log reopened; changed: gateway-threads=1"))
      << line;
  EXPECT_TRUE(EventuallyThreads(pid, 1));
  EXPECT_TRUE(IsOk(before.Request("GET_UNREAD", {{"token", token}}), {"count"}));
  EXPECT_TRUE(Alive(moved));
  Client last("127.0.0.2", port);
  EXPECT_TRUE(Alive(last));
}

TEST(OperationsListenTest, SighupMovesTheCoreToANewAddress) {
  TempDir dir;
  const std::string conf = dir.File("core.conf");
  WriteFile(conf, "listen-address=127.0.0.1\n");
  StackOptions options;
  options.core_env["TCHATATOR_LISTEN_ADDRESS"] = "";
  options.core_args = {"--config", conf};
  Stack stack(options);
  Session m = LoginNew(stack, "member");
  std::string admin_on_new = stack.AdminCommand();
  const std::string old_core = "--core 127.0.0.1:";
  ASSERT_NE(admin_on_new.find(old_core), std::string::npos) << admin_on_new;
  admin_on_new.replace(admin_on_new.find(old_core), old_core.size(), "--core 127.0.0.2:");
  int status = 0;

  WriteFile(conf, "listen-address=127.0.0.2\n");
  std::string line = HangUp(stack, true, kReloaded);
  EXPECT_TRUE(line.ends_with(std::string(kReloaded) +
                             ", log reopened; changed: listen-address=127.0.0.2"))
      << line;
  EXPECT_EQ(testing::RunCommand(admin_on_new + " health 2>/dev/null", &status),
            "status:SERVING\n");
  EXPECT_EQ(status, 0);
  // Once the reload is logged, the old address is closed: the gateway, still pointed
  // there, answers 503.
  EXPECT_FALSE(Accepts("127.0.0.1", stack.grpc_port()));
  EXPECT_TRUE(IsError(m.conn.Request("GET_UNREAD", {{"token", m.token}}), "503/UNAVAIL",
                      "unavailable"));

  WriteFile(conf, "listen-address=192.0.2.1\n");
  line = HangUp(stack, true, kKept);
  EXPECT_TRUE(line.ends_with(std::string(kKept) + "cannot listen on 192.0.2.1:" +
                             std::to_string(stack.grpc_port())))
      << line;
  EXPECT_EQ(testing::RunCommand(admin_on_new + " health 2>/dev/null", &status),
            "status:SERVING\n");
}

}  // namespace
}  // namespace tchatator::e2e
