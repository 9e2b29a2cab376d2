// tchatator-core: the core-service daemon. Wiring only.
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "common/strings.h"
#include "common/daemon_options.h"
#include "common/log.h"
#include "common/metrics_server.h"
#include "core-service/change_feed.h"
#include "core-service/core_server.h"
#include "core-service/housekeeper.h"
#include "storage/connection_pool.h"
#include "storage/migrations.h"
#include "storage/pg_store.h"

namespace {

// Says, when `unknown` lists any, that a newer release migrated the database.
void WarnOfNewerMigrations(const std::vector<std::string>& unknown) {
  if (unknown.empty()) return;
  tchatator::Log::Info(tchatator::StrCat(
      "warning: the database was migrated by a newer release (", absl::StrJoin(unknown, ", "),
      "); this core may misread or miswrite it: run the newer release"));
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tchatator;
  constexpr std::string_view kProgram = "tchatator-core";
  DaemonOptions options;
  if (auto code = ParseDaemonOptions(argc, argv, kProgram, KeyOwner::kCore, options)) return *code;
  Settings initial;
  auto check = [](const Settings& s) { return storage::CheckDatabaseUrl(s.database_url); };
  if (auto code = StartDaemon(options, kProgram, KeyOwner::kCore, initial, check)) return *code;
  SettingsHolder settings(initial);

  // Signals are taken by sigwait below, not by handlers on arbitrary threads.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // libpq waits for ever on a server that accepts TCP and never answers, unless the
  // database-url (or the operator's environment) says otherwise.
  setenv("PGCONNECT_TIMEOUT", "10", /*overwrite=*/0);

  // The database may start after us (compose, reboot): wait for it to migrate, a second
  // between attempts, during which SIGTERM or SIGINT stops us.
  bool hung_up = false;
  for (int attempt = 1;; ++attempt) {
    std::vector<std::string> unknown;
    absl::Status migrated = storage::Migrate(initial.database_url, &unknown);
    if (migrated.ok()) {
      WarnOfNewerMigrations(unknown);
      break;
    }
    Log::Info(StrCat("migration attempt ", attempt, " failed: ", migrated.message()));
    if (!absl::IsUnavailable(migrated)) return 1;
    if (attempt == 60) {
      Log::Info("giving up: the database did not answer in 60 attempts");
      return 1;
    }
    const timespec second{1, 0};
    const int signal = sigtimedwait(&signals, nullptr, &second);
    if (signal == SIGTERM || signal == SIGINT) {
      Log::Info("stopped before the database answered");
      return 0;
    }
    hung_up = hung_up || signal == SIGHUP;
  }
  // Taken above: a reload asked for meanwhile happens once the core runs.
  if (hung_up) raise(SIGHUP);

  storage::PgStore store(initial.database_url, initial.database_pool_size);
  SystemClock clock;
  core::ChangeFeed feed(initial.database_url,
                       [&store](std::vector<int64_t> user_ids, absl::Duration lease) {
                         return store.MarkLive(std::move(user_ids), lease);
                       });
  feed.Start();
  core::CoreServer server(store, clock, settings, &feed);
  absl::StatusOr<std::unique_ptr<MetricsServer>> metrics =
      ServeMetrics(initial.listen_address, initial.core_metrics_port);
  if (!metrics.ok()) {
    Log::Info(std::string(metrics.status().message()));
    return 1;
  }
  absl::StatusOr<int> port =
      server.Start(initial.listen_address, static_cast<int>(initial.grpc_port));
  if (!port.ok()) {
    Log::Info(std::string(port.status().message()));
    return 1;
  }
  Log::Info(StrCat("tchatator-core listening on ", initial.listen_address, ":", *port));
  core::Housekeeper housekeeper(store, clock, settings);
  housekeeper.Start();

  for (;;) {
    int signal = 0;
    sigwait(&signals, &signal);
    if (signal != SIGHUP) break;
    // A new database is migrated before anything moves to it: if that fails, the
    // reload is refused and the core stays on the old one. The RPC worker threads stay
    // as many as at start (RpcRunner): a larger pool serves them, a smaller one makes
    // the extra workers wait for a connection.
    ReloadDaemon(options, KeyOwner::kCore, settings,
                 [&](const Settings& current, const Settings& next) -> absl::Status {
                   if (next.database_url != current.database_url) {
                     std::vector<std::string> unknown;
                     absl::Status migrated = storage::Migrate(next.database_url, &unknown);
                     if (!migrated.ok()) {
                       return absl::Status(migrated.code(),
                                           StrCat("cannot migrate the new database-url: ",
                                                  migrated.message()));
                     }
                     WarnOfNewerMigrations(unknown);
                   }
                   // Bound before anything else changes: a failure changes nothing.
                   if (absl::Status bound = server.Rebind(next.listen_address); !bound.ok()) {
                     return bound;
                   }
                   store.Reconfigure(next.database_url,
                                     static_cast<size_t>(next.database_pool_size));
                   feed.SetUrl(next.database_url);
                   return absl::OkStatus();
                 });
  }
  Log::Info("tchatator-core stopping");
  housekeeper.Stop();
  server.Shutdown(absl::Seconds(10));
  Log::Info("tchatator-core stopped");
  return 0;
}
