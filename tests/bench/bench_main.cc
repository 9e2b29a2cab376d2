// tchatator-bench: load generator for the gateway's text protocol.
//
// Opens N TCP connections, logs each one in (LOGIN) as a pre-created user, then drives
// a closed loop on every connection (one request at a time, the next one sent as soon
// as the answer is read) and reports throughput and latency percentiles. See --help.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "tests/bench/latency.h"
#include "tests/bench/wire_frame.h"

namespace tchatator::bench {
namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kUsage =
    "Usage: tchatator-bench [OPTIONS]\n"
    "Load generator for the tchatator gateway (text protocol over TCP).\n"
    "\n"
    "  --gateway HOST:PORT     gateway to load (default 127.0.0.1:4242)\n"
    "  --scenario NAME         lockstep | send | mix | idle (default send)\n"
    "                            lockstep: one connection, SEND_MSG one at a time\n"
    "                            send:     N connections, each SEND_MSG in a closed loop\n"
    "                            mix:      N connections cycling SEND_MSG, GET_UNREAD,\n"
    "                                      GET_HISTORY (even connections log in as the\n"
    "                                      member of a pair, odd ones as its pro)\n"
    "                            idle:     open N connections, LOGIN (or PING) on each,\n"
    "                                      hold them, report the gateway's memory\n"
    "  --connections N         concurrent connections (default 1)\n"
    "  --duration S            measured seconds (default 10; idle: seconds held)\n"
    "  --warmup S              unmeasured seconds before that (default 1)\n"
    "  --requests N            stop after N requests in all instead (no warm-up)\n"
    "  --users-file FILE       lines \"member_id member_key pro_id pro_key\"; connection i\n"
    "                          uses pair i mod (number of pairs), as its member who\n"
    "                          writes to its pro\n"
    "  --content-length N      characters per message (ASCII, default 64)\n"
    "  --idle-action A         login | ping: what idle does on each connection (login)\n"
    "  --gateway-pid PID       read the gateway's VmRSS from /proc/PID/status (idle)\n"
    "  --connect-parallel N    connections being opened at once (default 128)\n"
    "  --threads N             client event-loop threads (default 1)\n"
    "  --cpu NAME=PID          report the CPU time process PID used while measuring\n"
    "  --cpu-tree NAME=PID     the same, for PID and its children (e.g. the postmaster)\n"
    "  --json                  print the result as one JSON object on stdout\n"
    "  --quiet                 no progress line on stderr\n"
    "  --help                  this text\n"
    "\n"
    "Progress goes to stderr once a second; the result to stdout. Exit status: 0 done,\n"
    "1 set-up failed (connect or LOGIN), 2 bad usage.\n";

enum Cmd { kLogin, kSend, kUnread, kHistory, kPing, kCmdCount };
constexpr const char* kCmdNames[kCmdCount] = {"LOGIN", "SEND_MSG", "GET_UNREAD", "GET_HISTORY",
                                              "PING"};

struct Options {
  std::string host = "127.0.0.1";
  std::string port = "4242";
  std::string scenario = "send";
  int connections = 1;
  double duration = 10;
  double warmup = 1;
  int64_t requests = 0;
  std::string users_file;
  int content_length = 64;
  std::string idle_action = "login";
  int gateway_pid = 0;
  int connect_parallel = 128;
  int threads = 1;
  bool json = false;
  bool quiet = false;
  // CPU accounting over the measured phase: name, pid, and whether the pid's children
  // count too (a PostgreSQL postmaster and its backends).
  struct CpuWatch {
    std::string name;
    int pid = 0;
    bool tree = false;
  };
  std::vector<CpuWatch> cpu;
};

struct UserPair {
  int64_t member_id = 0;
  std::string member_key;
  int64_t pro_id = 0;
  std::string pro_key;
};

struct Conn {
  explicit Conn(asio::io_context& io) : socket(io) {}
  tcp::socket socket;
  std::string in;  // bytes read and not yet consumed
  std::string out;
  size_t index = 0;
  int64_t user_id = 0;
  int64_t peer_id = 0;
  std::string api_key;
  std::string token;
  bool alive = false;
  int64_t seq = 0;
};

// Everything the event-loop threads record; guarded by mu except the atomics.
struct Recorder {
  std::mutex mu;
  std::atomic<bool> recording{false};
  std::array<std::vector<int64_t>, kCmdCount> latencies;  // measured phase, ns
  std::map<int, int64_t> statuses;                        // measured phase
  std::vector<int64_t> interval;                          // since the last progress line
  int64_t interval_ok = 0;
  std::unordered_map<int64_t, int64_t> accepted;  // SEND_MSG 200 per sender, whole run
  int64_t limited_without_retry_after = 0;        // 426 without retry-after, whole run
  std::atomic<int64_t> completed{0};              // whole run
  std::atomic<int64_t> connection_errors{0};

  void Add(Cmd cmd, int status, int64_t ns, int64_t user, bool retry_after) {
    std::lock_guard lock(mu);
    interval.push_back(ns);
    if (status == 200) ++interval_ok;
    if (cmd == kSend && status == 200) ++accepted[user];
    if (status == 426 && !retry_after) ++limited_without_retry_after;
    if (recording.load(std::memory_order_relaxed)) {
      latencies[cmd].push_back(ns);
      ++statuses[status];
    }
    completed.fetch_add(1, std::memory_order_relaxed);
  }
};

// One event loop and the connections it owns.
struct Shard {
  asio::io_context io{1};
  std::vector<std::unique_ptr<Conn>> conns;
  std::atomic<size_t> next{0};
  size_t limit = 0;        // Opener: open conns[next..limit)
  size_t opened_upto = 0;  // conns below this were handed to openers already
};

struct Shared {
  Options options;
  std::vector<UserPair> users;
  tcp::resolver::results_type endpoints;
  Recorder rec;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> issued{0};
  std::atomic<int> workers_running{0};
  std::atomic<int64_t> opened{0};
  std::atomic<int64_t> open_failed{0};
  std::atomic<int> openers_running{0};
  std::mutex error_mu;
  std::string first_error;

  void Error(const std::string& what) {
    std::lock_guard lock(error_mu);
    if (first_error.empty()) first_error = what;
  }
};

// --- protocol -------------------------------------------------------------------------

// Sends `request` and reads the answer (EVENT frames are skipped). Nullopt when the
// connection failed; it is then marked dead.
asio::awaitable<std::optional<std::string>> RoundTrip(Conn& c, const std::string& request) {
  asio::error_code ec;
  co_await asio::async_write(c.socket, asio::buffer(request),
                             asio::redirect_error(asio::use_awaitable, ec));
  while (!ec) {
    if (std::optional<size_t> end = FrameEnd(c.in)) {
      std::string frame = c.in.substr(0, *end);
      c.in.erase(0, *end);
      if (IsEvent(frame)) continue;
      co_return frame;
    }
    const size_t old = c.in.size();
    c.in.resize(old + 16384);
    const size_t n = co_await c.socket.async_read_some(
        asio::buffer(c.in.data() + old, 16384), asio::redirect_error(asio::use_awaitable, ec));
    c.in.resize(old + n);
  }
  c.alive = false;
  co_return std::nullopt;
}

std::string LoginRequest(const Conn& c) { return "LOGIN\napi-token:" + c.api_key + "\n\n"; }

std::string SendRequest(Conn& c, int content_length) {
  std::string content = "bench c" + std::to_string(c.index) + " #" + std::to_string(++c.seq) + " ";
  if (static_cast<int>(content.size()) < content_length) {
    content.append(static_cast<size_t>(content_length) - content.size(), 'x');
  }
  std::string r;
  r.reserve(content.size() + c.token.size() + 96);
  r.append("SEND_MSG\ntoken:").append(c.token);
  r.append("\nrecipient-id:").append(std::to_string(c.peer_id));
  r.append("\nmessage-length:").append(std::to_string(CodePoints(content)));
  r.append("\ncontent:").append(content).append("\n\n");
  return r;
}

std::string TokenRequest(std::string_view command, const Conn& c) {
  return std::string(command) + "\ntoken:" + c.token + "\n\n";
}

// Times one request and records it. False when the connection failed.
asio::awaitable<bool> Timed(Shared& sh, Conn& c, Cmd cmd, const std::string& request,
                            std::string* frame_out = nullptr) {
  const Clock::time_point t0 = Clock::now();
  std::optional<std::string> frame = co_await RoundTrip(c, request);
  const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
  if (!frame) {
    sh.rec.connection_errors.fetch_add(1);
    sh.Error("connection " + std::to_string(c.index) + " lost during " + kCmdNames[cmd]);
    co_return false;
  }
  const int status = StatusOf(*frame);
  sh.rec.Add(cmd, status, ns, c.user_id,
             status == 426 && FieldOf(*frame, "retry-after").has_value());
  if (frame_out != nullptr) *frame_out = std::move(*frame);
  co_return true;
}

// --- phases ---------------------------------------------------------------------------

// Opens and logs in (or pings) the shard's connections, one after the other; several
// openers run at once.
asio::awaitable<void> Opener(Shared& sh, Shard& shard) {
  const bool login = sh.options.idle_action == "login" || sh.options.scenario != "idle";
  for (;;) {
    const size_t i = shard.next.fetch_add(1);
    if (i >= shard.limit) break;
    Conn& c = *shard.conns[i];
    asio::error_code ec;
    co_await asio::async_connect(c.socket, sh.endpoints,
                                 asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      sh.open_failed.fetch_add(1);
      sh.Error("connect " + std::to_string(c.index) + ": " + ec.message());
      continue;
    }
    c.socket.set_option(tcp::no_delay(true), ec);
    c.alive = true;
    std::string frame;
    bool ok = false;
    if (login) {
      ok = co_await Timed(sh, c, kLogin, LoginRequest(c), &frame);
    } else {
      ok = co_await Timed(sh, c, kPing, "PING\n\n", &frame);
    }
    if (!ok || StatusOf(frame) != 200) {
      sh.open_failed.fetch_add(1);
      if (ok) {
        sh.Error(std::string(login ? "LOGIN" : "PING") + " on connection " +
                 std::to_string(c.index) + " answered: " + frame.substr(0, frame.find("\n\n")));
      }
      asio::error_code ignored;
      c.socket.close(ignored);
      c.alive = false;
      continue;
    }
    if (login) c.token = std::string(FieldOf(frame, "token").value_or(""));
    sh.opened.fetch_add(1);
  }
  sh.openers_running.fetch_sub(1);
}

// The closed loop of one connection.
asio::awaitable<void> Worker(Shared& sh, Conn& c) {
  const bool mix = sh.options.scenario == "mix";
  const int64_t limit = sh.options.requests;
  int step = 0;
  while (!sh.stop.load(std::memory_order_relaxed) && c.alive) {
    if (limit > 0 && sh.issued.fetch_add(1) >= limit) break;
    bool ok = true;
    switch (mix ? step++ % 3 : 0) {
      case 0:
        ok = co_await Timed(sh, c, kSend, SendRequest(c, sh.options.content_length));
        break;
      case 1:
        ok = co_await Timed(sh, c, kUnread, TokenRequest("GET_UNREAD", c));
        break;
      default:
        ok = co_await Timed(sh, c, kHistory, TokenRequest("GET_HISTORY", c));
        break;
    }
    if (!ok) break;
  }
  sh.workers_running.fetch_sub(1);
}

// PING on every live connection of the shard (idle: are they all still served?).
asio::awaitable<void> Pinger(Shared& sh, Shard& shard, std::atomic<int64_t>& alive) {
  for (;;) {
    const size_t i = shard.next.fetch_add(1);
    if (i >= shard.conns.size()) break;
    Conn& c = *shard.conns[i];
    if (!c.alive) continue;
    std::string frame;
    // (No co_await inside && or ?: : GCC 12 miscompiles some of those.)
    const bool ok = co_await Timed(sh, c, kPing, "PING\n\n", &frame);
    if (ok && StatusOf(frame) == 200) alive.fetch_add(1);
  }
  sh.openers_running.fetch_sub(1);
}

// --- helpers --------------------------------------------------------------------------

struct Rss {
  int64_t rss_kib = -1;
  int64_t hwm_kib = -1;
};

Rss ReadRss(int pid) {
  Rss r;
  if (pid <= 0) return r;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    auto value = [&line] { return std::strtoll(line.c_str() + line.find(':') + 1, nullptr, 10); };
    if (line.starts_with("VmRSS:")) r.rss_kib = value();
    if (line.starts_with("VmHWM:")) r.hwm_kib = value();
  }
  return r;
}

// CPU time of a process, in seconds: user and system (kernel) time.
struct CpuTime {
  double user = -1;
  double system = -1;
  bool known() const { return user >= 0 && system >= 0; }
};

// utime and stime of /proc/PID/stat, in clock ticks; false when unreadable.
bool ProcessTicks(const std::string& pid, int64_t& utime, int64_t& stime, int* parent = nullptr) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string text;
  if (!std::getline(in, text)) return false;
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  utime = stime = -1;
  // Fields from the 3rd (state): ppid is the 4th, utime the 14th, stime the 15th.
  for (int k = 3; k <= 15 && fields >> field; ++k) {
    if (k == 4 && parent != nullptr) *parent = std::atoi(field.c_str());
    if (k == 14) utime = std::atoll(field.c_str());
    if (k == 15) stime = std::atoll(field.c_str());
  }
  return utime >= 0 && stime >= 0;
}

// CPU time used so far by a process (and its children when `tree`).
CpuTime ProcessCpu(int pid, bool tree) {
  static const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  int64_t user = 0, system = 0;
  if (!ProcessTicks(std::to_string(pid), user, system)) return {};
  if (tree) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
      const std::string name = entry.path().filename().string();
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      int parent = 0;
      int64_t u = 0, st = 0;
      if (ProcessTicks(name, u, st, &parent) && parent == pid) {
        user += u;
        system += st;
      }
    }
  }
  return {static_cast<double>(user) / hz, static_cast<double>(system) / hz};
}

void RaiseFileLimit(int needed) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  const rlim_t want = static_cast<rlim_t>(needed) + 64;
  if (lim.rlim_cur >= want) return;
  lim.rlim_cur = std::min(lim.rlim_max, want);
  setrlimit(RLIMIT_NOFILE, &lim);
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < want) {
    std::cerr << "warning: open-file limit " << lim.rlim_cur << " is below the " << want
              << " this run needs (raise it with ulimit -n)\n";
  }
}

std::string Fmt(double v, int decimals = 3) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string LatencyJson(const LatencySummary& s) {
  return "{\"count\":" + std::to_string(s.count) + ",\"mean\":" + Fmt(s.mean_ms, 4) +
         ",\"min\":" + Fmt(s.min_ms, 4) + ",\"p50\":" + Fmt(s.p50_ms, 4) +
         ",\"p90\":" + Fmt(s.p90_ms, 4) + ",\"p99\":" + Fmt(s.p99_ms, 4) +
         ",\"p999\":" + Fmt(s.p999_ms, 4) + ",\"max\":" + Fmt(s.max_ms, 4) + "}";
}

std::string LatencyText(const LatencySummary& s) {
  return "p50 " + Fmt(s.p50_ms) + "  p90 " + Fmt(s.p90_ms) + "  p99 " + Fmt(s.p99_ms) +
         "  max " + Fmt(s.max_ms) + "  mean " + Fmt(s.mean_ms) + " ms";
}

std::optional<std::vector<UserPair>> ReadUsers(const std::string& path, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot read users file " + path;
    return std::nullopt;
  }
  std::vector<UserPair> users;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    UserPair p;
    if (!(fields >> p.member_id >> p.member_key >> p.pro_id >> p.pro_key)) {
      error = path + ":" + std::to_string(line_no) +
              ": expected \"member_id member_key pro_id pro_key\"";
      return std::nullopt;
    }
    users.push_back(std::move(p));
  }
  if (users.empty()) {
    error = "no users in " + path;
    return std::nullopt;
  }
  return users;
}

// Parses the command line; returns an exit code when the program should stop.
std::optional<int> ParseOptions(int argc, char** argv, Options& o) {
  auto fail = [](const std::string& what) {
    std::cerr << "tchatator-bench: " << what << "\n(see --help)\n";
    return 2;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    auto number = [&](double& out) -> bool {
      std::optional<std::string> v = value();
      if (!v) return false;
      char* end = nullptr;
      out = std::strtod(v->c_str(), &end);
      return end != v->c_str() && *end == '\0' && std::isfinite(out) && out >= 0;
    };
    double n = 0;
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (arg == "--json") {
      o.json = true;
    } else if (arg == "--quiet") {
      o.quiet = true;
    } else if (arg == "--gateway") {
      std::optional<std::string> v = value();
      const size_t colon = v ? v->rfind(':') : std::string::npos;
      if (colon == std::string::npos || colon == 0 || colon + 1 == v->size()) {
        return fail("--gateway needs HOST:PORT");
      }
      o.host = v->substr(0, colon);
      o.port = v->substr(colon + 1);
    } else if (arg == "--scenario") {
      std::optional<std::string> v = value();
      if (!v || (*v != "lockstep" && *v != "send" && *v != "mix" && *v != "idle")) {
        return fail("--scenario is one of lockstep, send, mix, idle");
      }
      o.scenario = *v;
    } else if (arg == "--users-file") {
      std::optional<std::string> v = value();
      if (!v) return fail("--users-file needs a path");
      o.users_file = *v;
    } else if (arg == "--cpu" || arg == "--cpu-tree") {
      std::optional<std::string> v = value();
      const size_t eq = v ? v->find('=') : std::string::npos;
      if (eq == std::string::npos || eq == 0) return fail(arg + " needs NAME=PID");
      const int pid = std::atoi(v->c_str() + eq + 1);
      if (pid <= 0) return fail(arg + " needs NAME=PID");
      o.cpu.push_back({v->substr(0, eq), pid, arg == "--cpu-tree"});
    } else if (arg == "--idle-action") {
      std::optional<std::string> v = value();
      if (!v || (*v != "login" && *v != "ping")) return fail("--idle-action is login or ping");
      o.idle_action = *v;
    } else if (arg == "--duration") {
      if (!number(o.duration)) return fail("--duration needs seconds");
    } else if (arg == "--warmup") {
      if (!number(o.warmup)) return fail("--warmup needs seconds");
    } else if (arg == "--connections" || arg == "--requests" || arg == "--content-length" ||
               arg == "--gateway-pid" || arg == "--connect-parallel" || arg == "--threads") {
      if (!number(n) || n != std::floor(n) || n > 1e12) return fail(arg + " needs a whole number");
      if (arg == "--connections") o.connections = static_cast<int>(n);
      if (arg == "--requests") o.requests = static_cast<int64_t>(n);
      if (arg == "--content-length") o.content_length = static_cast<int>(n);
      if (arg == "--gateway-pid") o.gateway_pid = static_cast<int>(n);
      if (arg == "--connect-parallel") o.connect_parallel = static_cast<int>(n);
      if (arg == "--threads") o.threads = static_cast<int>(n);
    } else {
      return fail("unknown option " + arg);
    }
  }
  if (o.scenario == "lockstep") o.connections = 1;
  if (o.connections < 1 || o.connections > 1000000) return fail("--connections out of range");
  if (o.threads < 1 || o.threads > 64) return fail("--threads out of range (1-64)");
  if (o.connect_parallel < 1) return fail("--connect-parallel must be at least 1");
  if (o.content_length < 1 || o.content_length > 100000) return fail("--content-length out of range");
  if (o.users_file.empty() && !(o.scenario == "idle" && o.idle_action == "ping")) {
    return fail("--users-file is required (except for --scenario idle --idle-action ping)");
  }
  if (o.requests > 0) o.warmup = 0;
  return std::nullopt;
}

// --- the run --------------------------------------------------------------------------

class Bench {
 public:
  explicit Bench(Options options) { sh_.options = std::move(options); }

  int Run() {
    const Options& o = sh_.options;
    if (!o.users_file.empty()) {
      std::string error;
      auto users = ReadUsers(o.users_file, error);
      if (!users) {
        std::cerr << "tchatator-bench: " << error << "\n";
        return 1;
      }
      sh_.users = std::move(*users);
    }
    RaiseFileLimit(o.connections);
    try {
      asio::io_context resolver_io;
      tcp::resolver resolver(resolver_io);
      sh_.endpoints = resolver.resolve(o.host, o.port);
    } catch (const std::exception& e) {
      std::cerr << "tchatator-bench: cannot resolve " << o.host << ":" << o.port << ": "
                << e.what() << "\n";
      return 1;
    }

    // Shards, connections, and their users.
    for (int t = 0; t < o.threads; ++t) shards_.push_back(std::make_unique<Shard>());
    const bool mix = o.scenario == "mix";
    for (int i = 0; i < o.connections; ++i) {
      Shard& shard = *shards_[static_cast<size_t>(i % o.threads)];
      auto c = std::make_unique<Conn>(shard.io);
      c->index = static_cast<size_t>(i);
      if (!sh_.users.empty()) {
        const size_t pairs = sh_.users.size();
        const UserPair& p = sh_.users[mix ? (static_cast<size_t>(i) / 2) % pairs
                                          : static_cast<size_t>(i) % pairs];
        const bool as_pro = mix && i % 2 == 1;
        c->user_id = as_pro ? p.pro_id : p.member_id;
        c->peer_id = as_pro ? p.member_id : p.pro_id;
        c->api_key = as_pro ? p.pro_key : p.member_key;
      }
      shard.conns.push_back(std::move(c));
    }
    for (auto& shard : shards_) {
      guards_.emplace_back(shard->io.get_executor());
      threads_.emplace_back([io = &shard->io] { io->run(); });
    }

    // Idle: the first connection (and its LOGIN) alone before the memory baseline, so
    // that one-off costs (the gateway's gRPC channel to the core, its threads) do not
    // count as per-connection growth.
    const bool primer = o.scenario == "idle" && o.connections > 1;
    if (primer) {
      if (const int rc = OpenAll(1); rc != 0) {
        Shutdown();
        return rc;
      }
    }
    primed_ = primer ? sh_.opened.load() : 0;
    const Rss rss_before = ReadRss(o.gateway_pid);
    if (const int rc = OpenAll(o.connections); rc != 0) {
      Shutdown();
      return rc;
    }
    return o.scenario == "idle" ? RunIdle(rss_before) : RunLoad();
  }

 private:
  void Progress(const std::string& line) {
    if (!sh_.options.quiet) std::cerr << line << std::endl;
  }

  // Latency of the requests completed since the previous call.
  std::string IntervalText(double seconds) {
    std::vector<int64_t> samples;
    int64_t ok = 0;
    {
      std::lock_guard lock(sh_.rec.mu);
      samples.swap(sh_.rec.interval);
      ok = sh_.rec.interval_ok;
      sh_.rec.interval_ok = 0;
    }
    const LatencySummary s = Summarize(samples);
    return Fmt(static_cast<double>(s.count) / seconds, 0) + " req/s (200: " +
           Fmt(static_cast<double>(ok) / seconds, 0) + "/s)  p50 " + Fmt(s.p50_ms) + " p99 " +
           Fmt(s.p99_ms) + " max " + Fmt(s.max_ms) + " ms";
  }

  std::string Tag() const {
    return "[" + sh_.options.scenario + " c=" + std::to_string(sh_.options.connections) + "]";
  }

  // Opens the connections up to `upto` (in all shards together; those opened by an
  // earlier call stay as they are).
  int OpenAll(int upto) {
    const Options& o = sh_.options;
    const auto t0 = Clock::now();
    const int per_shard = std::max(1, std::min(o.connect_parallel / o.threads, upto));
    for (size_t t = 0; t < shards_.size(); ++t) {
      Shard* shard = shards_[t].get();
      // Connection i is in shard i % threads: shard t holds those below `upto` in its
      // first `limit` slots.
      const size_t limit = (static_cast<size_t>(upto) + shards_.size() - 1 - t) / shards_.size();
      shard->limit = std::min(limit, shard->conns.size());
      shard->next = shard->opened_upto;
      shard->opened_upto = shard->limit;
      if (shard->next >= shard->limit) continue;
      for (int k = 0; k < per_shard; ++k) {
        sh_.openers_running.fetch_add(1);
        asio::co_spawn(shard->io, Opener(sh_, *shard), asio::detached);
      }
    }
    auto last = Clock::now();
    while (sh_.openers_running.load() > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (Clock::now() - last >= std::chrono::seconds(1)) {
        last = Clock::now();
        Progress(Tag() + " opening: " + std::to_string(sh_.opened.load()) + "/" +
                 std::to_string(o.connections) + " ready, " +
                 std::to_string(sh_.open_failed.load()) + " failed");
      }
      if (Clock::now() - t0 > std::chrono::seconds(300)) {
        std::cerr << "tchatator-bench: opening connections takes more than 300 s\n";
        return 1;
      }
    }
    open_seconds_ = std::chrono::duration<double>(Clock::now() - t0).count();
    Progress(Tag() + " " + std::to_string(sh_.opened.load()) + " connections ready in " +
             Fmt(open_seconds_, 2) + " s, " + std::to_string(sh_.open_failed.load()) + " failed");
    if (sh_.open_failed.load() > 0 && o.scenario != "idle") {
      std::cerr << "tchatator-bench: " << sh_.open_failed.load()
                << " connections could not be set up; first error: " << sh_.first_error << "\n";
      return 1;
    }
    if (sh_.opened.load() == 0) {
      std::cerr << "tchatator-bench: no connection could be set up; first error: "
                << sh_.first_error << "\n";
      return 1;
    }
    // Set-up requests are not part of any figure.
    std::lock_guard lock(sh_.rec.mu);
    sh_.rec.interval.clear();
    sh_.rec.interval_ok = 0;
    return 0;
  }

  int RunLoad() {
    const Options& o = sh_.options;
    for (auto& shard : shards_) {
      for (auto& c : shard->conns) {
        sh_.workers_running.fetch_add(1);
        asio::co_spawn(shard->io, Worker(sh_, *c), asio::detached);
      }
    }
    const auto started = Clock::now();
    if (o.warmup <= 0) {
      sh_.rec.recording = true;
      SampleCpu(cpu_before_);
    }
    Clock::time_point measured_from = started;
    bool warming = o.warmup > 0;
    auto tick = started;
    int second = 0;
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      const auto now = Clock::now();
      if (warming && now - started >= std::chrono::duration<double>(o.warmup)) {
        warming = false;
        sh_.rec.recording = true;
        measured_from = now;
        SampleCpu(cpu_before_);
      }
      if (now - tick >= std::chrono::seconds(1)) {
        const double secs = std::chrono::duration<double>(now - tick).count();
        tick = now;
        ++second;
        Progress(Tag() + " " + std::to_string(second) + "s " + IntervalText(secs) +
                 (warming ? "  (warm-up)" : ""));
      }
      if (o.requests > 0) {
        if (sh_.workers_running.load() == 0) break;
      } else if (!warming &&
                 now - measured_from >= std::chrono::duration<double>(o.duration)) {
        break;
      }
      if (sh_.workers_running.load() == 0) break;  // every connection failed
    }
    sh_.rec.recording = false;
    const auto measured_to = Clock::now();
    SampleCpu(cpu_after_);
    sh_.stop = true;
    WaitFor([this] { return sh_.workers_running.load() == 0; }, 15);
    const double elapsed = std::chrono::duration<double>(measured_to - measured_from).count();
    Shutdown();
    Report(elapsed, nullptr);
    return 0;
  }

  int RunIdle(const Rss& before) {
    const Options& o = sh_.options;
    const Rss after_open = ReadRss(o.gateway_pid);
    const auto t0 = Clock::now();
    int second = 0;
    while (Clock::now() - t0 < std::chrono::duration<double>(o.duration)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (Clock::now() - t0 >= std::chrono::seconds(second + 1)) {
        ++second;
        const Rss now = ReadRss(o.gateway_pid);
        Progress(Tag() + " " + std::to_string(second) + "s holding " +
                 std::to_string(sh_.opened.load()) + " connections" +
                 (now.rss_kib >= 0 ? ", gateway VmRSS " + std::to_string(now.rss_kib) + " KiB"
                                   : std::string()));
      }
    }
    const Rss after_hold = ReadRss(o.gateway_pid);
    // Are they all still served?
    std::atomic<int64_t> alive{0};
    for (auto& shard : shards_) {
      shard->next = 0;
      for (int k = 0; k < std::max(1, o.connect_parallel / o.threads); ++k) {
        sh_.openers_running.fetch_add(1);
        asio::co_spawn(shard->io, Pinger(sh_, *shard, alive), asio::detached);
      }
    }
    WaitFor([this] { return sh_.openers_running.load() == 0; }, 120);
    Progress(Tag() + " " + std::to_string(alive.load()) + " connections answered PING after " +
             Fmt(o.duration, 0) + " s");
    Shutdown();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const Rss after_close = ReadRss(o.gateway_pid);
    IdleResult idle{before, after_open, after_hold, after_close, alive.load()};
    Report(o.duration, &idle);
    return 0;
  }

  struct IdleResult {
    Rss before, after_open, after_hold, after_close;
    int64_t alive = 0;
  };

  template <typename Pred>
  void WaitFor(Pred done, int seconds) {
    const auto deadline = Clock::now() + std::chrono::seconds(seconds);
    while (!done() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // Closes every socket (on its own thread) and stops the event loops.
  void Shutdown() {
    if (shut_down_) return;
    shut_down_ = true;
    sh_.stop = true;
    for (auto& shard : shards_) {
      asio::post(shard->io, [s = shard.get()] {
        for (auto& c : s->conns) {
          asio::error_code ignored;
          c->socket.close(ignored);
        }
      });
    }
    for (auto& g : guards_) g.reset();
    // Coroutines still waiting on a closed socket finish with an error and leave.
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    for (auto& shard : shards_) {
      while (!shard->io.stopped() && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      shard->io.stop();
    }
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  void Report(double elapsed, const IdleResult* idle) {
    const Options& o = sh_.options;
    Recorder& rec = sh_.rec;
    std::lock_guard lock(rec.mu);
    std::vector<int64_t> all;
    for (const auto& v : rec.latencies) all.insert(all.end(), v.begin(), v.end());
    const int64_t total = static_cast<int64_t>(all.size());
    const LatencySummary overall = Summarize(all);
    std::array<LatencySummary, kCmdCount> per_cmd;
    for (int k = 0; k < kCmdCount; ++k) per_cmd[k] = Summarize(rec.latencies[k]);
    const int64_t ok = rec.statuses.count(200) ? rec.statuses.at(200) : 0;
    const double rps = elapsed > 0 ? static_cast<double>(total) / elapsed : 0;
    const double ok_rps = elapsed > 0 ? static_cast<double>(ok) / elapsed : 0;
    int64_t acc_min = -1, acc_max = 0, acc_total = 0;
    // Every sender that took part, including those that got nothing accepted.
    std::unordered_map<int64_t, int64_t> per_user;
    for (const auto& shard : shards_) {
      for (const auto& c : shard->conns) {
        if (c->user_id != 0) per_user[c->user_id] = 0;
      }
    }
    for (const auto& [user, n] : rec.accepted) per_user[user] = n;
    for (const auto& [user, n] : per_user) {
      acc_min = acc_min < 0 ? n : std::min(acc_min, n);
      acc_max = std::max(acc_max, n);
      acc_total += n;
    }
    if (acc_min < 0) acc_min = 0;

    if (o.json) {
      std::string j = "{\"scenario\":" + JsonString(o.scenario) +
                      ",\"gateway\":" + JsonString(o.host + ":" + o.port) +
                      ",\"connections\":" + std::to_string(o.connections) +
                      ",\"threads\":" + std::to_string(o.threads) +
                      ",\"content_length\":" + std::to_string(o.content_length) +
                      ",\"warmup_s\":" + Fmt(o.warmup, 3) + ",\"elapsed_s\":" + Fmt(elapsed, 4) +
                      ",\"open_s\":" + Fmt(open_seconds_, 4) +
                      ",\"requests\":" + std::to_string(total) +
                      ",\"throughput_rps\":" + Fmt(rps, 2) + ",\"ok_rps\":" + Fmt(ok_rps, 2) +
                      ",\"status\":{";
      bool first = true;
      for (const auto& [status, n] : rec.statuses) {
        j += (first ? "" : ",") + JsonString(std::to_string(status)) + ":" + std::to_string(n);
        first = false;
      }
      j += "},\"connection_errors\":" + std::to_string(rec.connection_errors.load()) +
           ",\"first_error\":" + JsonString(sh_.first_error) +
           ",\"latency_ms\":" + LatencyJson(overall) + ",\"commands\":{";
      first = true;
      for (int k = 0; k < kCmdCount; ++k) {
        if (per_cmd[k].count == 0) continue;
        j += (first ? "" : ",") + JsonString(kCmdNames[k]) + ":" + LatencyJson(per_cmd[k]);
        first = false;
      }
      j += "},\"accepted_per_sender\":{\"senders\":" + std::to_string(per_user.size()) +
           ",\"min\":" + std::to_string(acc_min) + ",\"max\":" + std::to_string(acc_max) +
           ",\"total\":" + std::to_string(acc_total) +
           ",\"limited_without_retry_after\":" + std::to_string(rec.limited_without_retry_after) +
           "}";
      j += ",\"cpu\":{";
      first = true;
      for (const CpuUse& u : CpuUsed()) {
        const bool known = u.used.known();
        const double secs = known ? u.used.user + u.used.system : -1;
        j += (first ? "" : ",") + JsonString(u.name) + ":{\"seconds\":" + Fmt(secs, 3) +
             ",\"user_seconds\":" + Fmt(known ? u.used.user : -1, 3) +
             ",\"system_seconds\":" + Fmt(known ? u.used.system : -1, 3) +
             ",\"cores\":" + Fmt(elapsed > 0 && known ? secs / elapsed : -1, 3) +
             ",\"us_per_request\":" +
             Fmt(total > 0 && known ? secs * 1e6 / static_cast<double>(total) : -1, 1) + "}";
        first = false;
      }
      j += "}";
      if (idle != nullptr) {
        auto rss = [](const Rss& r) {
          return "{\"rss_kib\":" + std::to_string(r.rss_kib) +
                 ",\"hwm_kib\":" + std::to_string(r.hwm_kib) + "}";
        };
        const int64_t opened = sh_.opened.load();
        const double growth = Growth(*idle);
        j += ",\"idle\":{\"action\":" + JsonString(o.idle_action) +
             ",\"target\":" + std::to_string(o.connections) + ",\"opened\":" +
             std::to_string(opened) + ",\"failed\":" + std::to_string(sh_.open_failed.load()) +
             ",\"alive_after_hold\":" + std::to_string(idle->alive) +
             ",\"opened_before_baseline\":" + std::to_string(primed_) +
             ",\"held_s\":" + Fmt(o.duration, 1) + ",\"gateway_pid\":" +
             std::to_string(o.gateway_pid) + ",\"before\":" + rss(idle->before) +
             ",\"after_open\":" + rss(idle->after_open) + ",\"after_hold\":" +
             rss(idle->after_hold) + ",\"after_close\":" + rss(idle->after_close) +
             ",\"growth_bytes_per_connection\":" + Fmt(growth, 1) + "}";
      }
      j += "}";
      std::cout << j << std::endl;
      return;
    }

    std::cout << "scenario " << o.scenario << ", " << o.connections << " connection(s) to "
              << o.host << ":" << o.port << ", " << Fmt(elapsed, 2) << " s measured";
    if (o.warmup > 0) std::cout << " after " << Fmt(o.warmup, 1) << " s warm-up";
    std::cout << "\n";
    if (idle == nullptr) {
      std::cout << "requests " << total << "  (" << Fmt(rps, 1) << "/s; 200: " << Fmt(ok_rps, 1)
                << "/s)\n";
      std::cout << "status  ";
      for (const auto& [status, n] : rec.statuses) std::cout << " " << status << ":" << n;
      std::cout << "\nlatency  " << LatencyText(overall) << "\n";
      for (int k = 0; k < kCmdCount; ++k) {
        if (per_cmd[k].count == 0 || per_cmd[k].count == total) continue;
        std::cout << "  " << kCmdNames[k] << " (" << per_cmd[k].count << ")  "
                  << LatencyText(per_cmd[k]) << "\n";
      }
      std::cout << "accepted SEND_MSG per sender: min " << acc_min << ", max " << acc_max
                << " over " << per_user.size() << " senders (whole run)\n";
      std::cout << "CPU while measuring (cores, microseconds per request):";
      for (const CpuUse& u : CpuUsed()) {
        if (!u.used.known()) continue;
        const double secs = u.used.user + u.used.system;
        std::cout << "  " << u.name << " " << Fmt(secs / elapsed, 2) << " ("
                  << Fmt(total > 0 ? secs * 1e6 / static_cast<double>(total) : 0, 0) << " us, "
                  << Fmt(secs > 0 ? 100 * u.used.system / secs : 0, 0) << "% kernel)";
      }
      std::cout << "\n";
    } else {
      const int64_t opened = sh_.opened.load();
      std::cout << "connections opened " << opened << " in " << Fmt(open_seconds_, 2) << " s ("
                << sh_.open_failed.load() << " failed), " << idle->alive
                << " answered PING after holding " << Fmt(o.duration, 0) << " s\n";
      if (idle->before.rss_kib >= 0) {
        std::cout << "gateway VmRSS KiB: before " << idle->before.rss_kib << ", after opening "
                  << idle->after_open.rss_kib << ", after holding " << idle->after_hold.rss_kib
                  << ", after closing " << idle->after_close.rss_kib << "\n";
        if (opened > primed_) {
          std::cout << "growth per connection: " << Fmt(Growth(*idle), 0) << " bytes (over the "
                    << opened - primed_ << " opened after the baseline)\n";
        }
      }
    }
    if (rec.connection_errors.load() > 0) {
      std::cout << "connection errors " << rec.connection_errors.load() << " (first: "
                << sh_.first_error << ")\n";
    }
    std::cout.flush();
  }

  // CPU time of every --cpu process, then of this process.
  void SampleCpu(std::vector<CpuTime>& out) {
    out.clear();
    for (const auto& w : sh_.options.cpu) out.push_back(ProcessCpu(w.pid, w.tree));
    out.push_back(ProcessCpu(getpid(), false));
  }

  struct CpuUse {
    std::string name;
    CpuTime used;  // over the measured phase
  };
  std::vector<CpuUse> CpuUsed() const {
    std::vector<CpuUse> used;
    if (cpu_before_.size() != cpu_after_.size()) return used;
    for (size_t k = 0; k < cpu_before_.size(); ++k) {
      CpuUse u{k < sh_.options.cpu.size() ? sh_.options.cpu[k].name : "bench", {}};
      if (cpu_before_[k].known() && cpu_after_[k].known()) {
        u.used = {cpu_after_[k].user - cpu_before_[k].user,
                  cpu_after_[k].system - cpu_before_[k].system};
      }
      used.push_back(std::move(u));
    }
    return used;
  }

  // Gateway memory growth per connection opened after the baseline, in bytes.
  double Growth(const IdleResult& idle) const {
    const int64_t counted = sh_.opened.load() - primed_;
    if (idle.before.rss_kib < 0 || idle.after_hold.rss_kib < 0 || counted <= 0) return -1;
    return static_cast<double>(idle.after_hold.rss_kib - idle.before.rss_kib) * 1024.0 /
           static_cast<double>(counted);
  }

  Shared sh_;
  int64_t primed_ = 0;  // connections opened before the memory baseline
  std::vector<CpuTime> cpu_before_, cpu_after_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  double open_seconds_ = 0;
  bool shut_down_ = false;
};

}  // namespace
}  // namespace tchatator::bench

int main(int argc, char** argv) {
  tchatator::bench::Options options;
  if (std::optional<int> code = tchatator::bench::ParseOptions(argc, argv, options)) return *code;
  tchatator::bench::Bench bench(std::move(options));
  return bench.Run();
}
