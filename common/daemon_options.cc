#include "common/daemon_options.h"

#include <sys/resource.h>

#include <cstdint>
#include <cstdio>
#include <iostream>

#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/strings.h"
#include "common/log.h"

namespace tchatator {

std::optional<int> ParseDaemonOptions(int argc, char** argv, std::string_view program,
                                      KeyOwner owner, DaemonOptions& options) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << UsageText(program, owner);
      return 0;
    }
    if (arg == "--print-config") {
      std::cout << RenderConfigFile();
      return 0;
    }
    if (arg == "--verbose" || arg == "-v") {
      options.verbose = true;
    } else if (arg == "--check-config") {
      options.check_config = true;
    } else if (arg == "--config" && i + 1 < argc) {
      options.config_path = argv[++i];
    } else if (arg.starts_with("--config=")) {
      options.config_path = std::string(arg.substr(9));
    } else {
      std::cerr << program << ": unknown option '" << arg << "'\n" << UsageText(program, owner);
      return 2;
    }
  }
  return std::nullopt;
}

std::optional<int> StartDaemon(const DaemonOptions& options, std::string_view program,
                               KeyOwner owner, Settings& settings, const SettingsCheck& check) {
  const std::map<std::string, std::string> env = ProcessEnvironment();
  absl::StatusOr<Settings> loaded = LoadSettings(options.config_path, env);
  if (loaded.ok() && check) {
    if (absl::Status checked = check(*loaded); !checked.ok()) loaded = checked;
  }
  if (!loaded.ok()) {
    std::cerr << program << ": " << loaded.status().message() << "\n";
    return 1;
  }
  settings = *std::move(loaded);
  // Debian's Abseil is built with its debug checks, so every absl::Mutex (gRPC's locks)
  // kept a lock-order graph up to date: about 3 % of each daemon's CPU under load.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (options.check_config) {
    std::cout << "configuration ok\n";
    return 0;
  }
  if (!Log::Configure(settings.log_file, options.verbose)) {
    std::cerr << program << ": cannot open log file " << settings.log_file << "\n";
    return 1;
  }
  Log::Info(StrCat(program, " starting; config file '", options.config_path,
                         "', verbose=", options.verbose ? "yes" : "no"));
  Log::Info(StrCat("effective configuration: ", DescribeSettings(settings, owner)));
  // Each connection is an open file: the soft limit (1024 under systemd by default) would
  // cap them far below max-connections. The hard limit is the operator's.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    const rlim_t was = files.rlim_cur;
    files.rlim_cur = files.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &files) == 0) {
      Log::Info(StrCat("open files: limit raised from ", was, " to ", files.rlim_max));
    }
  }
  // A misspelled key would otherwise go unnoticed.
  if (const std::vector<std::string> unknown = UnknownEnvironmentNames(env); !unknown.empty()) {
    Log::Info(StrCat("environment variables that name no configuration key, ignored: ",
                     absl::StrJoin(unknown, ", ")));
  }
  return std::nullopt;
}

uint64_t OpenFileLimit() {
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur == RLIM_INFINITY) {
    return UINT64_MAX;
  }
  return files.rlim_cur;
}

bool ReloadDaemon(const DaemonOptions& options, KeyOwner owner, SettingsHolder& settings,
                  const ReloadApply& apply) {
  absl::StatusOr<Settings> loaded = LoadSettings(options.config_path, ProcessEnvironment());
  if (!loaded.ok()) {
    Log::Info(StrCat("SIGHUP: configuration kept: ", loaded.status().message()));
    return false;
  }
  const std::shared_ptr<const Settings> current = settings.Get();
  ReloadPlan plan = PlanReload(*current, *loaded, owner);
  // Configure keeps the previous destination when the new file cannot be opened.
  if (!Log::Configure(plan.applied.log_file, options.verbose)) {
    Log::Info(StrCat("SIGHUP: configuration kept: cannot open log file ", plan.applied.log_file));
    return false;
  }
  if (apply) {
    if (absl::Status applied = apply(*current, plan.applied); !applied.ok()) {
      Log::Configure(current->log_file, options.verbose);
      Log::Info(StrCat("SIGHUP: configuration kept: ", applied.message()));
      return false;
    }
  }
  std::string line = "SIGHUP: configuration reloaded, log reopened; changed:";
  if (plan.changed.empty()) line += " none";
  for (const std::string& item : plan.changed) StrAppend(&line, " ", item);
  if (!plan.not_applied.empty()) {
    line += "; not applied until a restart:";
    for (const std::string& item : plan.not_applied) StrAppend(&line, " ", item);
  }
  // An edit of the file that changes nothing, because a variable wins, says so.
  absl::StatusOr<Settings> defaults = LoadSettings("", {});
  if (absl::StatusOr<Settings> file_only = LoadSettings(options.config_path, {});
      defaults.ok() && file_only.ok()) {
    const std::vector<std::string> overridden =
        OverriddenKeys(*defaults, *file_only, *loaded, owner);
    if (!overridden.empty()) {
      line += "; the environment overrides the file for:";
      for (const std::string& key : overridden) StrAppend(&line, " ", key);
    }
  }
  settings.Set(std::move(plan.applied));
  Log::Info(line);
  return true;
}

}  // namespace tchatator
