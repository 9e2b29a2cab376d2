#include "common/settings.h"

#include <arpa/inet.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/strings.h"

extern char** environ;

namespace tchatator {
namespace {

constexpr int64_t kString = 1;  // min > max: a string key
// A string key of one word: no space and no '#' (an address, where a trailing
// "# comment" or a stray space would otherwise be taken in silently); empty only if its
// default is.
constexpr int64_t kWord = 2;
// A string key that may hold spaces and '#' (a secret), but not a space then '#': what
// a trailing "# comment" looks like; printable ASCII only, as it travels in a gRPC header
// (where a line break, say from a Secret made of a file, cannot go).
constexpr int64_t kNoComment = 3;
// A one-word key holding an IPv4 or IPv6 address literal: a host name would be resolved
// by the core (gRPC) but not by the gateway, so neither takes one.
constexpr int64_t kIpAddress = 4;
constexpr int64_t kNoMax = 0;

constexpr KeySpec kKeys[] = {
    // gateway
    {"port", KeyOwner::kGateway, "4242", 1, 65535, false, false,
     "TCP port of the text protocol.", &Settings::port, nullptr},
    {"listen-backlog", KeyOwner::kGateway, "1024", 1, 65535, false, false,
     "Listen queue length of the gateway's socket.", &Settings::listen_backlog, nullptr},
    {"core-address", KeyOwner::kGateway, "127.0.0.1:50051", kWord, kNoMax, false, true,
     "gRPC target of the core-service (host:port, or dns:///name:port for several replicas). "
     "On reload, new calls and event streams go to the new target; calls under way finish.",
     nullptr, &Settings::core_address},
    {"core-timeout-ms", KeyOwner::kGateway, "5000", 50, 600000, false, true,
     "Deadline of each gRPC call to the core, as in force when the call starts; past it the "
     "client gets 503.",
     &Settings::core_timeout_ms, nullptr},
    {"idle-timeout-seconds", KeyOwner::kGateway, "600", 1, 86400, false, true,
     "A connection that sends nothing and takes none of its answers for this long is closed "
     "(PING keeps it alive).",
     &Settings::idle_timeout_seconds, nullptr},
    {"login-timeout-seconds", KeyOwner::kGateway, "60", 1, 86400, false, true,
     "A connection with no session this long after connecting is closed (a LOGIN, or a token "
     "the core accepts, gives it one; PING does not).",
     &Settings::login_timeout_seconds, nullptr},
    {"request-timeout-seconds", KeyOwner::kGateway, "10", 1, 3600, false, true,
     "A request left unfinished this long is answered 416 incomplete-request and the "
     "connection closed.",
     &Settings::request_timeout_seconds, nullptr},
    {"max-line-bytes", KeyOwner::kGateway, "16384", 256, 1048576, false, true,
     "Longest request line; a longer one is answered 416 request-too-large and the "
     "connection closed.",
     &Settings::max_line_bytes, nullptr},
    {"max-connections", KeyOwner::kGateway, "20000", 1, 1000000, false, true,
     "Most client connections the gateway holds at once.", &Settings::max_connections, nullptr},
    {"max-connections-per-ip", KeyOwner::kGateway, "64", 1, 1000000, false, true,
     "Most client connections from one IP address at once.", &Settings::max_connections_per_ip,
     nullptr},
    {"max-output-bytes", KeyOwner::kGateway, "1048576", 4096, 1073741824, false, true,
     "Most bytes of answers queued for a client that does not read before its next "
     "request waits, unread (an answer is never cut: GET_UNREAD of a long backlog goes out "
     "whole).",
     &Settings::max_output_bytes, nullptr},
    {"gateway-threads", KeyOwner::kGateway, "1", 1, 64, false, true,
     "Event-loop threads of the gateway; on reload, threads are started or retired while "
     "connections stay open.",
     &Settings::gateway_threads, nullptr},
    {"gateway-metrics-port", KeyOwner::kGateway, "0", 0, 65535, false, false,
     "TCP port of the gateway's Prometheus metrics (GET /metrics over HTTP, on the "
     "listen-address of its start); 0: none.",
     &Settings::gateway_metrics_port, nullptr},
    // core-service
    {"grpc-port", KeyOwner::kCore, "50051", 1, 65535, false, false,
     "TCP port of the core's gRPC API.", &Settings::grpc_port, nullptr},
    {"database-url", KeyOwner::kCore, "postgresql:///tchatator", kString, kNoMax, true, true,
     "libpq connection string of the PostgreSQL database. On reload the core first migrates "
     "the new database (if that fails, the whole reload is refused); then new calls and the "
     "change feed use it, and calls under way finish on the old one.",
     nullptr, &Settings::database_url},
    {"database-pool-size", KeyOwner::kCore, "8", 1, 256, false, true,
     "PostgreSQL connections of the core (and worker threads using them). On reload the pool "
     "grows or shrinks (extra connections close as their calls end); the worker threads stay "
     "as many as at start.",
     &Settings::database_pool_size, nullptr},
    {"admin-api-key", KeyOwner::kCore, "", kNoComment, kNoMax, true, true,
     "Administrator API key: authorises AccountService calls and logs in as the built-in "
     "administrator. Empty disables both. Replacing or removing it ends the built-in "
     "administrator's sessions.",
     nullptr, &Settings::admin_api_key},
    {"max-message-length", KeyOwner::kCore, "1000", 1, 100000, false, true,
     "Longest message, in characters (Unicode code points). Through the gateway, a "
     "message-length above the gateway's max-line-bytes is refused as well: raise both.",
     &Settings::max_message_length, nullptr},
    {"max-messages-per-minute", KeyOwner::kCore, "12", 0, 1000000, false, true,
     "Messages one user may send in any 60 seconds; 0 means unlimited.",
     &Settings::max_messages_per_minute, nullptr},
    {"max-messages-per-hour", KeyOwner::kCore, "90", 0, 1000000, false, true,
     "Messages one user may send in any 3600 seconds; 0 means unlimited.",
     &Settings::max_messages_per_hour, nullptr},
    {"history-block-size", KeyOwner::kCore, "20", 1, 1000, false, true,
     "Most messages in one GET_HISTORY answer.", &Settings::history_block_size, nullptr},
    {"block-duration-hours", KeyOwner::kCore, "24", 1, 876000, false, true,
     "Length of a block when BLOCK_USER gives no duration-hours.",
     &Settings::block_duration_hours, nullptr},
    {"session-ttl-hours", KeyOwner::kCore, "168", 1, 876000, false, true,
     "Lifetime of a session token after LOGIN.", &Settings::session_ttl_hours, nullptr},
    {"max-failed-logins-per-minute", KeyOwner::kCore, "10", 0, 1000000, false, true,
     "Failed LOGINs one client IP may make in any 60 seconds before 426; 0 means unlimited.",
     &Settings::max_failed_logins_per_minute, nullptr},
    {"purge-interval-seconds", KeyOwner::kCore, "300", 0, 86400, false, true,
     "Seconds between two purges of expired sessions and of the changes no session can "
     "read any more; 0 never purges.",
     &Settings::purge_interval_seconds, nullptr},
    {"core-metrics-port", KeyOwner::kCore, "0", 0, 65535, false, false,
     "TCP port of the core's Prometheus metrics (GET /metrics over HTTP, on the "
     "listen-address of its start); 0: none.",
     &Settings::core_metrics_port, nullptr},
    // both
    {"listen-address", KeyOwner::kBoth, "127.0.0.1", kIpAddress, kNoMax, false, true,
     "Address both daemons listen on (0.0.0.0 for every interface). On reload, the new "
     "address is bound on the same port and open connections stay; if it cannot be bound, "
     "the reload is refused.",
     nullptr,
     &Settings::listen_address},
    {"log-file", KeyOwner::kBoth, "", kString, kNoMax, false, true,
     "Log file of the daemon (appended to, reopened on SIGHUP); empty: standard error.",
     nullptr, &Settings::log_file},
};

bool IsString(const KeySpec& spec) { return spec.min > spec.max; }

bool IsIpAddress(std::string_view value) {
  const std::string text(value);
  unsigned char address[sizeof(in6_addr)];
  return inet_pton(AF_INET, text.c_str(), address) == 1 ||
         inet_pton(AF_INET6, text.c_str(), address) == 1;
}

// The key whose environment variable is `name`, or nullptr.
const KeySpec* FindEnvironmentKey(std::string_view name) {
  if (!name.starts_with("TCHATATOR_")) return nullptr;
  for (const KeySpec& spec : kKeys) {
    if (EnvironmentName(spec.name) == name) return &spec;
  }
  return nullptr;
}

const KeySpec* FindKey(std::string_view name) {
  for (const KeySpec& spec : kKeys) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

absl::Status Assign(const KeySpec& spec, std::string_view value, std::string_view where,
                    Settings& settings) {
  if (IsString(spec)) {
    if ((spec.min == kWord || spec.min == kIpAddress) &&
        ((value.empty() && !spec.default_value.empty()) ||
         value.find_first_of(" \t#") != std::string_view::npos)) {
      return absl::InvalidArgumentError(
          StrCat(where, ": ", spec.name,
                 value.empty() ? " must not be empty"
                               : " must be one word, with no space and no '#' (a comment "
                                 "is a line of its own)"));
    }
    if (spec.min == kNoComment && (value.find(" #") != std::string_view::npos ||
                                   value.find("\t#") != std::string_view::npos)) {
      return absl::InvalidArgumentError(
          StrCat(where, ": ", spec.name,
                 " must not hold a space then '#' (a comment is a line of its own)"));
    }
    if (spec.min == kIpAddress && !IsIpAddress(value)) {
      return absl::InvalidArgumentError(
          StrCat(where, ": ", spec.name,
                 " must be an IP address such as 0.0.0.0, 127.0.0.1 or :: (a host name is not "
                 "resolved)"));
    }
    if (spec.min == kNoComment && !IsPrintableAscii(value)) {
      return absl::InvalidArgumentError(
          StrCat(where, ": ", spec.name,
                 " must hold printable ASCII characters only (no line break, no control or "
                 "non-ASCII character)"));
    }
    settings.*spec.string_field = std::string(value);
    return absl::OkStatus();
  }
  int64_t number = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (ec != std::errc() || end != value.data() + value.size() || value.empty()) {
    return absl::InvalidArgumentError(
        StrCat(where, ": ", spec.name, " must be a whole number"));
  }
  if (number < spec.min || number > spec.max) {
    return absl::InvalidArgumentError(StrCat(where, ": ", spec.name, " must be between ",
                                                   spec.min, " and ", spec.max));
  }
  settings.*spec.int_field = number;
  return absl::OkStatus();
}

std::string_view OwnerName(KeyOwner owner) {
  switch (owner) {
    case KeyOwner::kGateway:
      return "gateway";
    case KeyOwner::kCore:
      return "core-service";
    case KeyOwner::kBoth:
      return "both";
  }
  return "both";
}

bool Differs(const KeySpec& spec, const Settings& a, const Settings& b) {
  return IsString(spec) ? a.*spec.string_field != b.*spec.string_field
                        : a.*spec.int_field != b.*spec.int_field;
}

bool Reads(KeyOwner daemon, KeyOwner key) {
  return key == KeyOwner::kBoth || daemon == KeyOwner::kBoth || key == daemon;
}

}  // namespace

std::span<const KeySpec> ConfigKeys() { return kKeys; }

std::string EnvironmentName(std::string_view key) {
  std::string name = StrCat("TCHATATOR_", key);
  for (char& c : name) {
    if (c == '-') c = '_';
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return name;
}

absl::StatusOr<Settings> LoadSettings(const std::string& path,
                                      const std::map<std::string, std::string>& env) {
  Settings settings;
  for (const KeySpec& spec : kKeys) {
    if (absl::Status s = Assign(spec, spec.default_value, "default", settings); !s.ok()) return s;
  }
  if (!path.empty()) {
    std::ifstream in(path);
    std::error_code ignored;
    // A directory opens, and reads as an empty file.
    if (!in || std::filesystem::is_directory(path, ignored)) {
      return absl::NotFoundError(StrCat("cannot read configuration file ", path));
    }
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      // A UTF-8 byte order mark (some editors write one) is no part of the first key.
      if (number == 0 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);
      ++number;
      std::string_view text = StripAsciiWhitespace(line);
      if (text.empty() || text.front() == '#') continue;
      const std::string where = StrCat(path, ":", number);
      const size_t eq = text.find('=');
      if (eq == std::string_view::npos) {
        return absl::InvalidArgumentError(StrCat(where, ": expected key=value"));
      }
      const std::string_view key = StripAsciiWhitespace(text.substr(0, eq));
      const std::string_view value = StripAsciiWhitespace(text.substr(eq + 1));
      const KeySpec* spec = FindKey(key);
      if (spec == nullptr) {
        return absl::InvalidArgumentError(StrCat(where, ": unknown key '", key, "'"));
      }
      if (absl::Status s = Assign(*spec, value, where, settings); !s.ok()) return s;
    }
  }
  for (const auto& [name, value] : env) {
    const KeySpec* match = FindEnvironmentKey(name);
    // Other TCHATATOR_ variables (the client's API key, test settings) are not ours.
    if (match == nullptr) continue;
    if (absl::Status s = Assign(*match, value, name, settings); !s.ok()) return s;
  }
  return settings;
}

std::vector<std::string> UnknownEnvironmentNames(
    const std::map<std::string, std::string>& env) {
  std::vector<std::string> unknown;
  for (const auto& entry : env) {
    if (entry.first.starts_with("TCHATATOR_") && FindEnvironmentKey(entry.first) == nullptr) {
      unknown.push_back(entry.first);
    }
  }
  return unknown;
}

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** p = environ; *p != nullptr; ++p) {
    std::string_view entry(*p);
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

std::string RenderConfigFile() {
  std::ostringstream out;
  out << "# tchatator configuration, read by tchatator-gateway and tchatator-core\n"
         "# (--config PATH). One key=value per line; a line starting with '#' is a\n"
         "# comment ('#' after a value is not: it is refused where it cannot belong).\n"
         "# Every key can be overridden by the environment variable TCHATATOR_<KEY>\n"
         "# (upper case, '-' as '_'), e.g. TCHATATOR_MAX_MESSAGES_PER_MINUTE=30.\n"
         "# SIGHUP re-reads this file; keys marked (restart) need a restart.\n"
         "# Generated from the key table in common/settings.cc: edit there.\n";
  KeyOwner section = KeyOwner::kBoth;
  bool first = true;
  for (const KeySpec& spec : kKeys) {
    if (first || spec.owner != section) {
      out << "\n# ---- " << OwnerName(spec.owner) << "\n";
      section = spec.owner;
      first = false;
    }
    out << "\n# " << spec.doc;
    if (!IsString(spec)) out << " [" << spec.min << ".." << spec.max << "]";
    if (spec.min == kWord) out << " (one word)";
    if (spec.min == kIpAddress) out << " (an IP address)";
    if (spec.min == kNoComment) out << " (printable ASCII, no ' #' inside)";
    if (!spec.reloadable) out << " (restart)";
    out << "\n" << spec.name << "=" << spec.default_value << "\n";
  }
  return out.str();
}

std::string DescribeSettings(const Settings& settings, KeyOwner owner) {
  std::string out;
  for (const KeySpec& spec : kKeys) {
    if (!Reads(owner, spec.owner)) continue;
    std::string value = IsString(spec) ? settings.*spec.string_field
                                       : StrCat(settings.*spec.int_field);
    if (spec.secret && !value.empty()) value = "***";
    StrAppend(&out, spec.name, "=", value, "\n");
  }
  return out;
}

ReloadPlan PlanReload(const Settings& current, const Settings& loaded, KeyOwner owner) {
  ReloadPlan plan{loaded, {}, {}};
  for (const KeySpec& spec : kKeys) {
    const bool string_key = IsString(spec);
    const bool differs = Differs(spec, current, loaded);
    if (!spec.reloadable) {
      // Keep what is in force, so that the holder says what the daemon really uses.
      if (string_key) {
        plan.applied.*spec.string_field = current.*spec.string_field;
      } else {
        plan.applied.*spec.int_field = current.*spec.int_field;
      }
    }
    if (!differs || !Reads(owner, spec.owner)) continue;
    std::string value = string_key ? loaded.*spec.string_field : StrCat(loaded.*spec.int_field);
    if (spec.secret && !value.empty()) value = "***";
    (spec.reloadable ? plan.changed : plan.not_applied).push_back(StrCat(spec.name, "=", value));
  }
  return plan;
}

std::vector<std::string> OverriddenKeys(const Settings& defaults, const Settings& from_file,
                                        const Settings& loaded, KeyOwner owner) {
  std::vector<std::string> keys;
  for (const KeySpec& spec : kKeys) {
    if (Reads(owner, spec.owner) && Differs(spec, defaults, from_file) &&
        Differs(spec, from_file, loaded)) {
      keys.emplace_back(spec.name);
    }
  }
  return keys;
}

std::string UsageText(std::string_view program, KeyOwner owner) {
  std::string out = StrCat(
      "usage: ", program,
      " [--config PATH] [--verbose] [--check-config] [--print-config] [--help]\n\n",
      "  --config PATH   read this key=value configuration file\n",
      "  --verbose       also log to the terminal\n",
      "  --check-config  validate the configuration and exit (0 when valid)\n",
      "  --print-config  print the self-documented configuration file with every default\n",
      "  --help          print this text and exit\n\n",
      "Configuration keys (environment: TCHATATOR_<KEY>):\n");
  for (const KeySpec& spec : kKeys) {
    if (!Reads(owner, spec.owner)) continue;
    StrAppend(&out, "  ", spec.name, " (default '", spec.default_value, "')\n      ",
                    spec.doc, "\n");
  }
  return out;
}

}  // namespace tchatator
