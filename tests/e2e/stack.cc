#include "tests/e2e/stack.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#ifndef TCHATATOR_CORE_BIN
#error "TCHATATOR_CORE_BIN must name the tchatator-core binary"
#endif
#ifndef TCHATATOR_GATEWAY_BIN
#error "TCHATATOR_GATEWAY_BIN must name the tchatator-gateway binary"
#endif
#ifndef TCHATATOR_ADMIN_BIN
#error "TCHATATOR_ADMIN_BIN must name the tchatator-admin binary"
#endif

namespace tchatator::e2e {
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

// Byte length of the UTF-8 sequence that starts with `lead` (1 for invalid leads).
size_t SequenceLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xe) return 3;
  if ((lead >> 3) == 0x1e) return 4;
  return 1;
}

std::string Tail(const std::string& path, size_t lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "(no log at " + path + ")\n";
  std::vector<std::string> all;
  std::string line;
  while (std::getline(in, line)) all.push_back(line);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    out += all[i];
    out += '\n';
  }
  return out;
}

// Quotes a word for /bin/sh.
std::string ShellQuote(std::string_view word) {
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  out += "'";
  return out;
}

bool StartsRecord(const std::string& key) {
  return key == "message-id" || key == "peer-id" || key == "change";
}

}  // namespace

// ------------------------------------------------------------------------ responses

std::string Response::Get(const std::string& key) const {
  auto it = fields.find(key);
  return it == fields.end() ? std::string() : it->second;
}

std::vector<std::string> Response::Keys() const {
  std::vector<std::string> keys;
  // The top-level keys are the lines before the first record; duplicates stay, so
  // that a comparison with an expected set also catches a key sent twice.
  for (size_t i = 0; i < top_level_lines && i < lines.size(); ++i) {
    keys.push_back(lines[i].first);
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

void PrintTo(const Response& response, std::ostream* os) {
  if (!response.failure.empty()) {
    *os << "<no response: " << response.failure << "; bytes so far: ";
  } else {
    *os << "<response ";
  }
  std::string shown;
  for (char c : response.raw) {
    if (c == '\n') {
      shown += "\\n";
    } else if (c == '\r') {
      shown += "\\r";
    } else {
      shown.push_back(c);
    }
  }
  if (shown.size() > 600) shown = shown.substr(0, 600) + "...";
  *os << '"' << shown << "\">";
}

std::ostream& operator<<(std::ostream& os, const Response& response) {
  PrintTo(response, &os);
  return os;
}

std::string Build(std::string_view command, const std::vector<Field>& params, bool end_blank) {
  std::string out(command);
  out.push_back('\n');
  for (const auto& [key, value] : params) {
    out += key;
    out.push_back(':');
    out += value;
    out.push_back('\n');
  }
  if (end_blank) out.push_back('\n');
  return out;
}

size_t CharCount(std::string_view text) {
  size_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// ------------------------------------------------------------------------ raw client

Client::Client(int port, int receive_buffer) : Client("127.0.0.1", port, receive_buffer) {}

Client::Client(const std::string& ip, int port, int receive_buffer) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) {
    throw std::runtime_error("not an IPv4 address: " + ip);
  }
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) throw std::runtime_error("socket() failed");
  // Before connect: the window offered follows the buffer.
  if (receive_buffer > 0) {
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int error = errno;
    close(fd_);
    fd_ = -1;
    throw std::runtime_error("cannot connect to " + ip + ":" + std::to_string(port) + ": " +
                             std::strerror(error));
  }
  const int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // A gateway that stops reading fails Send() instead of hanging the test.
  const timeval send_timeout{10, 0};
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
}

Client::~Client() { Close(); }

Client::Client(Client&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), buffer_(std::move(other.buffer_)) {}

Client& Client::operator=(Client&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::exchange(other.fd_, -1);
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

void Client::EndWriting() {
  if (fd_ >= 0) shutdown(fd_, SHUT_WR);
}

void Client::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

bool Client::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    if (fd_ < 0) return false;
    const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

Client::Fill Client::FillBuffer(Clock::time_point deadline) {
  if (fd_ < 0) return Fill::kClosed;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return Fill::kTimeout;
    pollfd p{fd_, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) return Fill::kTimeout;
    char chunk[65536];
    const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Fill::kClosed;
    buffer_.append(chunk, static_cast<size_t>(n));
    return Fill::kData;
  }
}

bool Client::TakeLine(std::string& line, std::string& raw, Clock::time_point deadline,
                      std::string& failure) {
  size_t nl;
  while ((nl = buffer_.find('\n')) == std::string::npos) {
    const Fill f = FillBuffer(deadline);
    if (f == Fill::kTimeout) {
      failure = "timed out waiting for a line";
      return false;
    }
    if (f == Fill::kClosed) {
      failure = "connection closed by the server";
      return false;
    }
  }
  raw.append(buffer_, 0, nl + 1);
  line.assign(buffer_, 0, nl);
  buffer_.erase(0, nl + 1);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

Response Client::Read(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  Response r;
  std::string line;
  do {
    r.raw.clear();
    if (!TakeLine(line, r.raw, deadline, r.failure)) return r;
  } while (line.empty());
  const size_t slash = line.find('/');
  const bool is_status =
      slash != std::string::npos && slash > 0 &&
      std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(slash),
                  [](char c) { return c >= '0' && c <= '9'; });
  if (!is_status && line != "EVENT") {
    r.failure = "bad first line '" + line + "'";
    return r;
  }
  r.status = line;
  Record* current = nullptr;  // the record being filled, or the top level
  bool counted = false;       // a `count` line was seen: records may follow
  int64_t pending_length = -1;
  for (;;) {
    // Read up to the first ':' or '\n'.
    size_t stop;
    while ((stop = buffer_.find_first_of(":\n")) == std::string::npos) {
      const Fill f = FillBuffer(deadline);
      if (f != Fill::kData) {
        r.failure = f == Fill::kTimeout ? "timed out inside a response"
                                        : "connection closed inside a response";
        r.status.clear();
        return r;
      }
    }
    if (buffer_[stop] == '\n') {
      if (!TakeLine(line, r.raw, deadline, r.failure)) return r;
      if (line.empty()) return r;  // the empty line that ends the frame
      r.failure = "response line without ':': '" + line + "'";
      r.status.clear();
      return r;
    }
    std::string key = buffer_.substr(0, stop);
    r.raw.append(buffer_, 0, stop + 1);
    buffer_.erase(0, stop + 1);
    std::string value;
    if (key == "content" && pending_length >= 0) {
      // Exactly message-length characters; a CRLF counts as one newline. `pos` walks the
      // buffer, cut once at the end: erasing each character would cost a copy of the
      // buffer per character.
      size_t pos = 0;
      for (int64_t i = 0; i < pending_length; ++i) {
        for (;;) {
          if (pos < buffer_.size()) {
            const unsigned char lead = static_cast<unsigned char>(buffer_[pos]);
            const size_t need = lead == '\r' ? 2 : SequenceLength(lead);
            if (buffer_.size() - pos >= need) break;
          }
          const Fill f = FillBuffer(deadline);
          if (f != Fill::kData) {
            r.failure = "connection closed or timed out inside a content";
            r.status.clear();
            return r;
          }
        }
        const unsigned char lead = static_cast<unsigned char>(buffer_[pos]);
        size_t size = SequenceLength(lead);
        if (lead == '\r' && buffer_[pos + 1] == '\n') {
          size = 2;
          value.push_back('\n');
        } else {
          value.append(buffer_, pos, size);
        }
        pos += size;
      }
      r.raw.append(buffer_, 0, pos);
      buffer_.erase(0, pos);
      pending_length = -1;
      if (!TakeLine(line, r.raw, deadline, r.failure)) return r;
      if (!line.empty()) {
        r.failure = "content longer than its message-length; extra '" + line + "'";
        r.status.clear();
        return r;
      }
    } else {
      if (!TakeLine(value, r.raw, deadline, r.failure)) return r;
    }
    r.lines.emplace_back(key, value);
    if (key == "count") counted = true;
    if ((counted || current != nullptr) && StartsRecord(key) &&
        !(key == "message-id" && current != nullptr && current->contains("change") &&
          !current->contains("message-id"))) {
      r.records.emplace_back();
      current = &r.records.back();
    }
    if (key == "message-length") {
      char* end = nullptr;
      const long long n = std::strtoll(value.c_str(), &end, 10);
      pending_length = (end != nullptr && *end == '\0' && !value.empty() && n >= 0) ? n : -1;
    }
    if (current != nullptr) {
      current->emplace(key, value);
    } else {
      r.fields.emplace(key, value);
      ++r.top_level_lines;
    }
  }
}

Response Client::Request(std::string_view command, const std::vector<Field>& params,
                         bool end_blank) {
  if (!Send(Build(command, params, end_blank))) {
    Response r;
    r.failure = "could not send the request";
    return r;
  }
  return Read();
}

bool Client::WaitClosed(std::chrono::milliseconds within, std::string* received) {
  const Clock::time_point deadline = Clock::now() + within;
  for (;;) {
    const Fill f = FillBuffer(deadline);
    if (f == Fill::kData) continue;
    if (received != nullptr) *received += buffer_;
    buffer_.clear();
    return f == Fill::kClosed;
  }
}

std::string Client::ReadFor(std::chrono::milliseconds within) {
  const Clock::time_point deadline = Clock::now() + within;
  while (FillBuffer(deadline) == Fill::kData) {
  }
  std::string out = std::move(buffer_);
  buffer_.clear();
  return out;
}

// ------------------------------------------------------------------------ the stack

const std::map<std::string, std::string> kNoSendLimits = {
    {"TCHATATOR_MAX_MESSAGES_PER_MINUTE", "0"}, {"TCHATATOR_MAX_MESSAGES_PER_HOUR", "0"}};

Stack::Stack(StackOptions options) : options_(std::move(options)) {
  char dir_template[] = "/tmp/tchatator-e2e-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = dir_template;
  db_ = options_.pg_admin_url.empty()
            ? std::make_unique<testing::TestDatabase>()
            : std::make_unique<testing::TestDatabase>(options_.pg_admin_url);
  admin_key_ = RandomHex(24);
  // A port free a moment ago can be taken before the daemon binds it: retry.
  for (int attempt = 0;; ++attempt) {
    grpc_port_ = testing::FreePort();
    try {
      StartCore();
      break;
    } catch (const std::runtime_error&) {
      if (attempt == 2) throw;
    }
  }
  for (int attempt = 0;; ++attempt) {
    gateway_port_ = testing::FreePort();
    try {
      StartGateway();
      break;
    } catch (const std::runtime_error&) {
      if (attempt == 2) throw;
    }
  }
}

Stack::~Stack() {
  PrintLogsIfFailed();
  gateway_.reset();
  core_.reset();
  db_.reset();
  const ::testing::UnitTest* unit = ::testing::UnitTest::GetInstance();
  const bool failed = unit->failed_test_count() > 0 ||
                      (unit->current_test_info() != nullptr && ::testing::Test::HasFailure());
  if (failed) {
    std::fprintf(stderr, "[e2e] daemon logs kept in %s\n", dir_.c_str());
  } else {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

std::string Stack::AdminCommand() const {
  return std::string(TCHATATOR_ADMIN_BIN) + " --core 127.0.0.1:" + std::to_string(grpc_port_) +
         " --admin-key " + admin_key_;
}

namespace {

// Waits until `port` accepts connections while `child` runs.
bool WaitUntilListening(testing::ChildProcess& child, int port, std::chrono::seconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (testing::WaitForPort(port, 100ms)) return true;
    if (!child.Running()) return false;
  }
  return false;
}

void ApplyOverrides(const std::map<std::string, std::string>& overrides,
                    std::map<std::string, std::string>& env) {
  for (const auto& [key, value] : overrides) {
    if (value.empty()) {
      env.erase(key);
    } else {
      env[key] = value;
    }
  }
}

}  // namespace

void Stack::StartCore() {
  std::map<std::string, std::string> env = {
      {"TCHATATOR_DATABASE_URL", db_->url()},
      {"TCHATATOR_GRPC_PORT", std::to_string(grpc_port_)},
      {"TCHATATOR_ADMIN_API_KEY", admin_key_},
      {"TCHATATOR_LISTEN_ADDRESS", "127.0.0.1"},
      {"TCHATATOR_LOG_FILE", dir_ + "/core.log"},
  };
  ApplyOverrides(options_.core_env, env);
  core_ = std::make_unique<testing::ChildProcess>(TCHATATOR_CORE_BIN, options_.core_args, env,
                                                  dir_ + "/core.log");
  if (!WaitUntilListening(*core_, grpc_port_, 30s)) {
    core_.reset();
    throw std::runtime_error("tchatator-core did not listen on port " +
                             std::to_string(grpc_port_) + "\n" + Tail(dir_ + "/core.log", 30));
  }
}

void Stack::StartGateway() {
  std::map<std::string, std::string> env = {
      {"TCHATATOR_PORT", std::to_string(gateway_port_)},
      {"TCHATATOR_CORE_ADDRESS", "127.0.0.1:" + std::to_string(grpc_port_)},
      {"TCHATATOR_LISTEN_ADDRESS", "127.0.0.1"},
      {"TCHATATOR_LOG_FILE", dir_ + "/gateway.log"},
  };
  ApplyOverrides(options_.gateway_env, env);
  if (options_.gateway_open_files > 0) {
    // prlimit sets the limit, then execs the gateway: same process.
    const std::string hard = std::to_string(options_.gateway_open_files);
    const std::string soft = options_.gateway_open_files_soft > 0
                                 ? std::to_string(options_.gateway_open_files_soft)
                                 : hard;
    std::vector<std::string> args = {"--nofile=" + soft + ":" + hard, "--",
                                     TCHATATOR_GATEWAY_BIN};
    args.insert(args.end(), options_.gateway_args.begin(), options_.gateway_args.end());
    gateway_ = std::make_unique<testing::ChildProcess>("/usr/bin/prlimit", args, env,
                                                       dir_ + "/gateway.log");
  } else {
    gateway_ = std::make_unique<testing::ChildProcess>(
        TCHATATOR_GATEWAY_BIN, options_.gateway_args, env, dir_ + "/gateway.log");
  }
  if (!WaitUntilListening(*gateway_, gateway_port_, 30s)) {
    gateway_.reset();
    throw std::runtime_error("tchatator-gateway did not listen on port " +
                             std::to_string(gateway_port_) + "\n" +
                             Tail(dir_ + "/gateway.log", 30));
  }
}

void Stack::KillCore() {
  if (!core_) return;
  core_->Signal(SIGKILL);
  core_->Wait(10s);
  core_.reset();
}

void Stack::StopCore() {
  if (!core_) return;
  core_->Signal(SIGTERM);
  if (core_->Wait(10s) == -1) {
    core_->Signal(SIGKILL);
    core_->Wait(10s);
  }
  core_.reset();
}

void Stack::SignalCore(int signal) {
  if (core_) core_->Signal(signal);
}

void Stack::SignalGateway(int signal) {
  if (gateway_) gateway_->Signal(signal);
}

bool Stack::CoreRunning() { return core_ && core_->Running(); }
bool Stack::GatewayRunning() { return gateway_ && gateway_->Running(); }

User Stack::AddUser(std::string_view role) {
  static std::atomic<int> counter{0};
  const std::string name =
      "e2e-" + std::string(role) + "-" + std::to_string(++counter) + "-" + RandomHex(3);
  return RunUserCommand("user add --role " + ShellQuote(role) + " --name " + ShellQuote(name));
}

User Stack::RegenerateKey(int64_t user_id) {
  return RunUserCommand("user regen-key --user-id " + std::to_string(user_id));
}

User Stack::RunUserCommand(const std::string& arguments) {
  const std::string command =
      AdminCommand() + " " + arguments + " 2>>" + ShellQuote(dir_ + "/admin.log");
  int status = 0;
  const std::string out = testing::RunCommand(command, &status);
  User user;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with("user-id:")) user.id = std::atoll(line.c_str() + 8);
    if (line.starts_with("api-key:")) user.api_key = line.substr(8);
  }
  if (status != 0 || user.id <= 0 || user.api_key.empty()) {
    throw std::runtime_error("tchatator-admin " + arguments + " failed (status " +
                             std::to_string(status) + "): " + out +
                             Tail(dir_ + "/admin.log", 5));
  }
  return user;
}

std::string Stack::LogTails(size_t lines) const {
  std::string out;
  for (const char* name : {"core.log", "gateway.log", "admin.log"}) {
    out += "----- last lines of " + dir_ + "/" + name + "\n";
    out += Tail(dir_ + "/" + name, lines);
  }
  return out;
}

void Stack::PrintLogsIfFailed() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info == nullptr || !::testing::Test::HasFailure()) return;
  const std::string test = std::string(info->test_suite_name()) + "." + info->name();
  if (printed_for_ == test) return;
  printed_for_ = test;
  std::fprintf(stderr, "[e2e] %s failed; daemon logs:\n%s", test.c_str(), LogTails().c_str());
}

// ------------------------------------------------------------------------ helpers

Session LoginNew(Stack& stack, std::string_view role) {
  Session s{stack.AddUser(role), stack.Connect(), ""};
  Response r = s.conn.Request("LOGIN", {{"api-token", s.user.api_key}});
  EXPECT_EQ(r.status, "200/OK") << "LOGIN of a fresh " << role << ": " << r;
  s.token = r.Get("token");
  return s;
}

Response SendMsg(Client& conn, const std::string& token, int64_t recipient,
                 const std::string& content) {
  return conn.Request("SEND_MSG", {{"token", token},
                                   {"recipient-id", std::to_string(recipient)},
                                   {"message-length", std::to_string(CharCount(content))},
                                   {"content", content}});
}

::testing::AssertionResult IsOk(const Response& response, std::vector<std::string> keys) {
  if (response.status != "200/OK") {
    return ::testing::AssertionFailure() << "expected 200/OK, got " << response;
  }
  std::sort(keys.begin(), keys.end());
  if (response.Keys() != keys) {
    std::string want;
    for (const std::string& k : keys) want += k + " ";
    return ::testing::AssertionFailure() << "expected exactly the keys { " << want << "}, got "
                                         << response;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult IsError(const Response& response, std::string_view status,
                                   std::string_view error, std::vector<std::string> extra_keys) {
  if (response.status != status) {
    return ::testing::AssertionFailure() << "expected " << status << ", got " << response;
  }
  if (response.Get("error") != error) {
    return ::testing::AssertionFailure() << "expected error:" << error << ", got " << response;
  }
  if (response.Get("message").empty()) {
    return ::testing::AssertionFailure() << "a non-empty message: is required, got " << response;
  }
  extra_keys.push_back("error");
  extra_keys.push_back("message");
  std::sort(extra_keys.begin(), extra_keys.end());
  if (response.Keys() != extra_keys) {
    std::string want;
    for (const std::string& k : extra_keys) want += k + " ";
    return ::testing::AssertionFailure() << "expected exactly the keys { " << want << "}, got "
                                         << response;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Alive(Client& conn) {
  const Response r = conn.Request("PING");
  if (!r.ok() || r.raw != "200/OK\n\n") {
    return ::testing::AssertionFailure() << "PING must answer exactly 200/OK and an empty line, got "
                                         << r;
  }
  return ::testing::AssertionSuccess();
}

bool IsRfc3339Utc(const std::string& text) {
  static const std::regex kPattern(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$)");
  return std::regex_match(text, kPattern);
}

bool IsId(const std::string& text) {
  return !text.empty() && text.size() < 19 && text[0] != '0' &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

namespace {

std::mutex shared_mutex;
std::unique_ptr<Stack> shared_stack;

class SharedStackEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    std::lock_guard lock(shared_mutex);
    shared_stack.reset();
  }
};

[[maybe_unused]] ::testing::Environment* const shared_environment =
    ::testing::AddGlobalTestEnvironment(new SharedStackEnvironment);

}  // namespace

Stack& SharedStack() {
  std::lock_guard lock(shared_mutex);
  if (!shared_stack) shared_stack = std::make_unique<Stack>();
  return *shared_stack;
}

Stack* SharedStackIfStarted() {
  std::lock_guard lock(shared_mutex);
  return shared_stack.get();
}

// ------------------------------------------------------------------------ logs

std::vector<std::string> ReadFileLines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  std::string line;
  // A last line without its line break is still being written: not yet a line.
  while (std::getline(in, line) && !in.eof()) lines.push_back(line);
  return lines;
}

std::vector<std::string> LogLinesWith(const std::string& path, const std::string& needle) {
  std::vector<std::string> out;
  for (std::string& line : ReadFileLines(path)) {
    if (line.find(needle) != std::string::npos) out.push_back(std::move(line));
  }
  return out;
}

std::optional<std::string> WaitForLogLine(const std::string& path, const std::string& needle,
                                          size_t before, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    std::vector<std::string> lines = LogLinesWith(path, needle);
    if (lines.size() > before) return lines.back();
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(20ms);
  }
}

}  // namespace tchatator::e2e
