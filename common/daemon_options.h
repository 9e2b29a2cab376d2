#ifndef TCHATATOR_COMMON_DAEMON_OPTIONS_H_
#define TCHATATOR_COMMON_DAEMON_OPTIONS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/settings.h"

namespace tchatator {

// The command line shared by both daemons.
struct DaemonOptions {
  std::string config_path;
  bool verbose = false;
  bool check_config = false;
};

// Parses argv. On --help (or --print-config) prints the usage (or the configuration
// file) to stdout and returns an exit code of 0; on a
// bad option prints the usage to stderr and returns 2. Otherwise fills `options` and
// returns nullopt.
std::optional<int> ParseDaemonOptions(int argc, char** argv, std::string_view program,
                                      KeyOwner owner, DaemonOptions& options);

// What a daemon checks in its settings beyond the table's rules (the core: that libpq
// can parse database-url); its error message says what is wrong.
using SettingsCheck = std::function<absl::Status(const Settings& settings)>;

// Loads the settings for `options`, runs `check` (when set) on them, configures the log,
// logs the effective settings. Returns the exit code when the process should stop now
// (bad configuration: 1 with a message on stderr; --check-config: 0 after
// "configuration ok").
std::optional<int> StartDaemon(const DaemonOptions& options, std::string_view program,
                               KeyOwner owner, Settings& settings,
                               const SettingsCheck& check = nullptr);

// The soft limit on open files of this process (a connection is one).
uint64_t OpenFileLimit();

// Puts reloaded settings into the daemon's own objects (database connections...), from
// `current` (in force) to `next` (about to be); an error leaves those objects unchanged.
using ReloadApply = std::function<absl::Status(const Settings& current, const Settings& next)>;

// What SIGHUP does: loads the configuration again (file and environment, as at start),
// reopens the log file, runs `apply` (when set) and puts the new values in force, except
// those of keys that need a restart (PlanReload). Logs one line: "SIGHUP: configuration
// reloaded, log reopened; changed: k=v ...; not applied until a restart: k=v ..." on
// success, or "SIGHUP: configuration kept: <why>" when the file is bad, the new log file
// cannot be opened or `apply` fails (the log goes back to the old file); then every old
// value stays in force. Returns whether the reload applied.
bool ReloadDaemon(const DaemonOptions& options, KeyOwner owner, SettingsHolder& settings,
                  const ReloadApply& apply = nullptr);

}  // namespace tchatator

#endif  // TCHATATOR_COMMON_DAEMON_OPTIONS_H_
