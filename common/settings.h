#ifndef TCHATATOR_COMMON_SETTINGS_H_
#define TCHATATOR_COMMON_SETTINGS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tchatator {

// Every configuration value of both daemons. Filled only by LoadSettings, from the
// one table of keys in settings.cc (name, default, bounds, documentation).
struct Settings {
  // gateway
  int64_t port;
  int64_t listen_backlog;
  std::string core_address;
  int64_t core_timeout_ms;
  int64_t idle_timeout_seconds;
  int64_t login_timeout_seconds;
  int64_t request_timeout_seconds;
  int64_t max_line_bytes;
  int64_t max_connections;
  int64_t max_connections_per_ip;
  int64_t max_output_bytes;
  int64_t gateway_threads;
  int64_t gateway_metrics_port;
  // core-service
  int64_t grpc_port;
  std::string database_url;
  int64_t database_pool_size;
  std::string admin_api_key;
  int64_t max_message_length;
  int64_t max_messages_per_minute;
  int64_t max_messages_per_hour;
  int64_t history_block_size;
  int64_t block_duration_hours;
  int64_t session_ttl_hours;
  int64_t max_failed_logins_per_minute;
  int64_t purge_interval_seconds;
  int64_t core_metrics_port;
  // both
  std::string listen_address;
  std::string log_file;
};

// Which daemon reads a key (documentation and --help only: both parse every key).
enum class KeyOwner { kGateway, kCore, kBoth };

// One row of the configuration table.
struct KeySpec {
  std::string_view name;
  KeyOwner owner;
  std::string_view default_value;
  int64_t min;  // bounds of an integer key; min > max marks a string key
  int64_t max;
  bool secret;      // masked in logs
  bool reloadable;  // taken into account on SIGHUP
  std::string_view doc;
  int64_t Settings::*int_field;
  std::string Settings::*string_field;
};

// The table itself, in the order of the generated configuration file.
std::span<const KeySpec> ConfigKeys();

// Builds the settings from, in increasing priority: the defaults, the `key=value` file at
// `path` (skipped when empty), and the `TCHATATOR_<KEY>` variables of `env`.
// InvalidArgument names the file, line and key for an unknown key, a malformed line,
// an integer out of bounds; NotFound when the file cannot be read.
absl::StatusOr<Settings> LoadSettings(const std::string& path,
                                      const std::map<std::string, std::string>& env);

// The TCHATATOR_ variables of `env` that name no key, which LoadSettings ignores: a
// misspelled key, or another program's (the client's API key, the tests' database).
std::vector<std::string> UnknownEnvironmentNames(const std::map<std::string, std::string>& env);

// The process environment, as LoadSettings takes it.
std::map<std::string, std::string> ProcessEnvironment();

// The self-documented configuration file with every key at its default
// (deploy/tchatator.conf is this text; a test keeps them equal).
std::string RenderConfigFile();

// "key=value" lines of the effective configuration, secrets masked, for start-up logs.
std::string DescribeSettings(const Settings& settings, KeyOwner owner);

// Usage text of a daemon: its options, then every key it reads with default and doc.
std::string UsageText(std::string_view program, KeyOwner owner);

// The environment variable that overrides `key`: TCHATATOR_ + upper case, '-' as '_'.
std::string EnvironmentName(std::string_view key);

// What a SIGHUP reload does, from the settings in force to those just loaded.
struct ReloadPlan {
  // The settings to put in force: the loaded ones, except that a key that needs a
  // restart (not `reloadable`) keeps its value in force.
  Settings applied;
  // "key=value" of each reloadable key (read by the daemon) whose value changes.
  std::vector<std::string> changed;
  // "key=value" of each restart-only key (read by the daemon) whose loaded value differs
  // from the one in force: not applied until a restart.
  std::vector<std::string> not_applied;
};
// Secret values show as "***" in `changed` and `not_applied`.
ReloadPlan PlanReload(const Settings& current, const Settings& loaded, KeyOwner owner);

// The names of the keys read by `owner` that the file sets (`from_file`, the file alone,
// differs from `defaults` there) to a value other than the one `loaded` (file and
// environment) has: where a TCHATATOR_<KEY> variable wins over an edit of the file.
std::vector<std::string> OverriddenKeys(const Settings& defaults, const Settings& from_file,
                                        const Settings& loaded, KeyOwner owner);

// The settings in force, replaced as a whole on reload. Thread-safe; readers keep the
// snapshot they took for the length of one request.
class SettingsHolder {
 public:
  explicit SettingsHolder(Settings settings)
      : current_(std::make_shared<const Settings>(std::move(settings))) {}
  std::shared_ptr<const Settings> Get() const {
    std::lock_guard lock(mu_);
    return current_;
  }
  void Set(Settings settings) {
    auto next = std::make_shared<const Settings>(std::move(settings));
    std::lock_guard lock(mu_);
    current_ = std::move(next);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Settings> current_;
};

}  // namespace tchatator

#endif  // TCHATATOR_COMMON_SETTINGS_H_
