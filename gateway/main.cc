// tchatator-gateway: the text-protocol front door. Wiring only.
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include "common/daemon_options.h"
#include "common/log.h"
#include "common/metrics_server.h"
#include "common/strings.h"
#include "gateway/core_client.h"
#include "gateway/dispatcher.h"
#include "gateway/io_threads.h"
#include "gateway/server.h"

int main(int argc, char** argv) {
  using namespace tchatator;
  constexpr std::string_view kProgram = "tchatator-gateway";
  DaemonOptions options;
  if (auto code = ParseDaemonOptions(argc, argv, kProgram, KeyOwner::kGateway, options)) {
    return *code;
  }
  Settings initial;
  if (auto code = StartDaemon(options, kProgram, KeyOwner::kGateway, initial)) return *code;
  SettingsHolder settings(initial);

  // Follows core-address and core-timeout-ms across SIGHUP reloads.
  gateway::CoreClient core(settings, gateway::OpenCoreChannel);
  asio::io_context io;
  gateway::SendBatcher sends(core, io.get_executor());
  gateway::Dispatcher dispatcher(core, &sends);

  gateway::IoThreads threads(io);
  gateway::Server server(io, dispatcher, settings);
  absl::StatusOr<std::unique_ptr<MetricsServer>> metrics =
      ServeMetrics(initial.listen_address, initial.gateway_metrics_port);
  if (!metrics.ok()) {
    Log::Info(std::string(metrics.status().message()));
    return 1;
  }
  absl::StatusOr<int> port = server.Listen(initial.listen_address, static_cast<int>(initial.port));
  if (!port.ok()) {
    Log::Info(std::string(port.status().message()));
    return 1;
  }
  server.Start();
  Log::Info(StrCat("tchatator-gateway listening on ", initial.listen_address, ":", *port,
                   ", core at ", initial.core_address));

  asio::signal_set signals(server.executor(), SIGINT, SIGTERM, SIGHUP);
  asio::steady_timer shutdown_deadline(io);
  std::function<void(const asio::error_code&)> check_drained;
  std::function<void(const asio::error_code&, int)> on_signal =
      [&](const asio::error_code& ec, int signal) {
        if (ec) return;
        if (signal == SIGHUP) {
          // On the acceptor's strand (see `signals`): the new listen-address is bound
          // before the reload is accepted.
          const bool reloaded = ReloadDaemon(
              options, KeyOwner::kGateway, settings,
              [&](const Settings&, const Settings& next) { return server.Rebind(next.listen_address); });
          if (reloaded) {
            const std::shared_ptr<const Settings> now = settings.Get();
            server.Rewatch();
            if (core.ApplySettings()) {
              Log::Info(StrCat("SIGHUP: core at ", core.target(), " for new calls"));
            }
            if (now->gateway_threads != threads.size()) {
              threads.Resize(static_cast<int>(now->gateway_threads));
              Log::Info(StrCat("SIGHUP: ", now->gateway_threads, " event-loop thread(s)"));
            }
          }
          signals.async_wait(on_signal);
          return;
        }
        Log::Info("tchatator-gateway stopping: answering requests in flight");
        server.Drain();
        // Stop once every connection has closed, or after ten seconds at most.
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        check_drained = [&, give_up](const asio::error_code&) {
          if (server.open_connections() == 0 || std::chrono::steady_clock::now() >= give_up) {
            io.stop();
            return;
          }
          shutdown_deadline.expires_after(std::chrono::milliseconds(20));
          shutdown_deadline.async_wait(check_drained);
        };
        check_drained({});
        signals.async_wait([&](const asio::error_code& e, int) {
          if (!e) io.stop();  // a second signal: stop now
        });
      };
  signals.async_wait(on_signal);

  threads.Resize(static_cast<int>(initial.gateway_threads));
  threads.Join();
  Log::Info("tchatator-gateway stopped");
  return 0;
}
