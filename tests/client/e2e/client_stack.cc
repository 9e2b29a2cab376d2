#include "tests/client/e2e/client_stack.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <stdexcept>
#include <thread>

#ifndef TCHATATOR_CLIENT_BIN
#error "TCHATATOR_CLIENT_BIN must name the tchatator binary"
#endif
#ifndef TCHATATOR_CORE_BIN
#error "TCHATATOR_CORE_BIN must name the tchatator-core binary"
#endif
#ifndef TCHATATOR_GATEWAY_BIN
#error "TCHATATOR_GATEWAY_BIN must name the tchatator-gateway binary"
#endif
#ifndef TCHATATOR_ADMIN_BIN
#error "TCHATATOR_ADMIN_BIN must name the tchatator-admin binary"
#endif

extern char** environ;

namespace tchatator::client_test {
namespace {

using Clock = std::chrono::steady_clock;

std::string RandomHex(size_t bytes) {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    const unsigned v = rd() & 0xff;
    out.push_back(kHex[v >> 4]);
    out.push_back(kHex[v & 0xf]);
  }
  return out;
}

std::string Tail(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  std::string line;
  while (std::getline(in, line)) all.push_back(line);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    out += all[i] + "\n";
  }
  return out;
}

std::string ShellQuote(std::string_view word) {
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

bool WaitListening(testing::ChildProcess& child, int port) {
  const Clock::time_point deadline = Clock::now() + 30s;
  while (Clock::now() < deadline) {
    if (testing::WaitForPort(port, 100ms)) return true;
    if (!child.Running()) return false;
  }
  return false;
}

// The environment of a child: ours, without the client's variables, plus `env`.
std::vector<std::string> ChildEnvironment(const Env& env) {
  std::vector<std::string> out;
  for (char** p = environ; *p != nullptr; ++p) {
    const std::string entry(*p);
    const std::string key = entry.substr(0, entry.find('='));
    if (key == "TCHATATOR_API_KEY" || key == "TCHATATOR_SERVER" || env.contains(key)) continue;
    out.push_back(entry);
  }
  for (const auto& [key, value] : env) out.push_back(key + "=" + value);
  return out;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

// ------------------------------------------------------------------------ the stack

ClientStack::ClientStack(const Env& env) {
  char dir_template[] = "/tmp/tchatator-client-e2e-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = dir_template;
  db_ = std::make_unique<testing::TestDatabase>();
  admin_key_ = RandomHex(24);
  // A port free a moment ago may be taken before the daemon binds it: retry.
  for (int attempt = 0; !core_; ++attempt) {
    grpc_port_ = testing::FreePort();
    Env core_env = {{"TCHATATOR_DATABASE_URL", db_->url()},
                    {"TCHATATOR_GRPC_PORT", std::to_string(grpc_port_)},
                    {"TCHATATOR_ADMIN_API_KEY", admin_key_},
                    {"TCHATATOR_LISTEN_ADDRESS", "127.0.0.1"},
                    {"TCHATATOR_LOG_FILE", dir_ + "/core.log"}};
    for (const auto& [k, v] : env) core_env[k] = v;
    core_ = std::make_unique<testing::ChildProcess>(TCHATATOR_CORE_BIN, std::vector<std::string>{},
                                                    core_env, dir_ + "/core.out");
    if (!WaitListening(*core_, grpc_port_)) {
      core_.reset();
      if (attempt == 2) throw std::runtime_error("tchatator-core did not start:\n" + Logs());
    }
  }
  for (int attempt = 0; !gateway_; ++attempt) {
    gateway_port_ = testing::FreePort();
    Env gateway_env = {{"TCHATATOR_PORT", std::to_string(gateway_port_)},
                       {"TCHATATOR_CORE_ADDRESS", "127.0.0.1:" + std::to_string(grpc_port_)},
                       {"TCHATATOR_LISTEN_ADDRESS", "127.0.0.1"},
                       {"TCHATATOR_LOG_FILE", dir_ + "/gateway.log"}};
    for (const auto& [k, v] : env) gateway_env[k] = v;
    gateway_ = std::make_unique<testing::ChildProcess>(
        TCHATATOR_GATEWAY_BIN, std::vector<std::string>{}, gateway_env, dir_ + "/gateway.out");
    if (!WaitListening(*gateway_, gateway_port_)) {
      gateway_.reset();
      if (attempt == 2) throw std::runtime_error("tchatator-gateway did not start:\n" + Logs());
    }
  }
}

ClientStack::~ClientStack() {
  gateway_.reset();
  core_.reset();
  db_.reset();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void ClientStack::StopCore() {
  if (!core_) return;
  core_->Signal(SIGKILL);
  core_->Wait(10s);
  core_.reset();
}

std::string ClientStack::Logs() const {
  std::string out;
  for (const char* name : {"core.log", "core.out", "gateway.log", "gateway.out"}) {
    out += "---- " + std::string(name) + "\n" + Tail(dir_ + "/" + name, 20);
  }
  return out;
}

User ClientStack::AddUser(std::string_view role, std::string_view name) {
  const std::string command = std::string(TCHATATOR_ADMIN_BIN) + " --core 127.0.0.1:" +
                              std::to_string(grpc_port_) + " --admin-key " + admin_key_ +
                              " user add --role " + std::string(role) + " --name " +
                              ShellQuote(name) + " 2>&1";
  int status = 0;
  const std::string out = testing::RunCommand(command, &status);
  static const std::regex kId(R"(user-id:(\d+))");
  static const std::regex kKey(R"(api-key:(\S+))");
  std::smatch id, key;
  if (status != 0 || !std::regex_search(out, id, kId) || !std::regex_search(out, key, kKey)) {
    throw std::runtime_error("tchatator-admin user add failed: " + out);
  }
  return User{std::stoll(id[1]), key[1], std::string(name)};
}

// ------------------------------------------------------------------------ one command

RunResult RunClient(const std::vector<std::string>& args, const Env& env, std::string_view input,
                    std::chrono::milliseconds timeout) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0 ||
      pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  std::vector<std::string> argv_strings = {TCHATATOR_CLIENT_BIN};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<std::string> env_strings = ChildEnvironment(env);
  std::vector<char*> argv = Pointers(argv_strings);
  std::vector<char*> envp = Pointers(env_strings);

  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // A session of its own, without a controlling terminal: no /dev/tty prompt.
    setsid();
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  // Small inputs: written at once, then closed.
  std::string_view left = input;
  signal(SIGPIPE, SIG_IGN);
  while (!left.empty()) {
    const ssize_t n = write(in_pipe[1], left.data(), left.size());
    if (n <= 0) break;
    left.remove_prefix(static_cast<size_t>(n));
  }
  close(in_pipe[1]);

  RunResult result;
  const Clock::time_point deadline = Clock::now() + timeout;
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    const auto left_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left_ms <= 0) break;
    pollfd fds[2] = {{out_open ? out_pipe[0] : -1, POLLIN, 0},
                     {err_open ? err_pipe[0] : -1, POLLIN, 0}};
    if (poll(fds, 2, static_cast<int>(left_ms)) <= 0) continue;
    char chunk[4096];
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) continue;
      const ssize_t n = read(fds[i].fd, chunk, sizeof chunk);
      if (n <= 0) {
        (i == 0 ? out_open : err_open) = false;
      } else {
        (i == 0 ? result.out : result.err).append(chunk, static_cast<size_t>(n));
      }
    }
  }
  close(out_pipe[0]);
  close(err_pipe[0]);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return result;
    }
    std::this_thread::sleep_for(10ms);
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// ------------------------------------------------------------------------ a terminal

std::string StripTerminal(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r') continue;
    if (c != '\x1b') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '[') {
      i += 2;
      while (i < text.size() && !(text[i] >= 0x40 && text[i] <= 0x7E)) ++i;
    } else {
      ++i;
    }
  }
  return out;
}

PtySession::PtySession(const std::vector<std::string>& args, const Env& env) {
  std::vector<std::string> argv_strings = {TCHATATOR_CLIENT_BIN};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  Env full_env = env;
  if (!full_env.contains("TERM")) full_env["TERM"] = "xterm-256color";
  std::vector<std::string> env_strings = ChildEnvironment(full_env);
  std::vector<char*> argv = Pointers(argv_strings);
  std::vector<char*> envp = Pointers(env_strings);
  winsize size{};
  size.ws_row = 40;
  size.ws_col = 100;
  pid_ = forkpty(&master_, nullptr, nullptr, &size);
  if (pid_ < 0) throw std::runtime_error("forkpty failed");
  if (pid_ == 0) {
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  fcntl(master_, F_SETFD, FD_CLOEXEC);
}

PtySession::~PtySession() {
  if (!exited_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (master_ >= 0) close(master_);
}

void PtySession::Type(std::string_view keys) {
  while (!keys.empty()) {
    const ssize_t n = write(master_, keys.data(), keys.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    keys.remove_prefix(static_cast<size_t>(n));
  }
}

bool PtySession::Pump(std::chrono::milliseconds timeout) {
  pollfd p{master_, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) > 0) {
    char chunk[4096];
    const ssize_t n = read(master_, chunk, sizeof chunk);
    if (n > 0) {
      raw_.append(chunk, static_cast<size_t>(n));
      return true;
    }
  }
  if (!exited_) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
  }
  return false;
}

std::string PtySession::Screen() const { return StripTerminal(raw_); }

std::string PtySession::SinceMark() const {
  const std::string screen = Screen();
  return mark_ < screen.size() ? screen.substr(mark_) : "";
}

void PtySession::Mark() {
  Pump(0ms);
  mark_ = Screen().size();
}

bool PtySession::WaitFor(std::string_view text, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    if (SinceMark().find(text) != std::string::npos) return true;
    if (Clock::now() > deadline) return false;
    if (!Pump(50ms) && exited_) return SinceMark().find(text) != std::string::npos;
  }
}

int PtySession::WaitExit(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (!Pump(50ms) && exited_) break;
  }
  return exited_ ? status_ : -1;
}

}  // namespace tchatator::client_test
