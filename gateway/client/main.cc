// tchatator: the terminal client of the text protocol. See --help.

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "gateway/client/api_key.h"
#include "gateway/client/chat_client.h"
#include "gateway/client/command_line.h"
#include "gateway/client/error_description.h"
#include "gateway/client/interactive_shell.h"
#include "gateway/client/script_runner.h"
#include "gateway/client/terminal.h"

namespace {

using namespace tchatator::client;

bool UseColor(ColorChoice choice) {
  if (choice != ColorChoice::kAuto) return choice == ColorChoice::kAlways;
  const char* no_color = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  return isatty(STDOUT_FILENO) == 1 && (no_color == nullptr || *no_color == '\0') &&
         !(term != nullptr && std::string(term) == "dumb");
}

std::chrono::seconds PollPeriod() {
  const char* text = std::getenv("TCHATATOR_POLL_SECONDS");
  const long seconds = text != nullptr ? std::strtol(text, nullptr, 10) : 0;
  return std::chrono::seconds(seconds >= 1 && seconds <= 3600 ? seconds : 5);
}

int RunInteractive(const Options& options) {
  const ApiKey key = LoadApiKey(options.key_file);
  if (!key.error.empty()) {
    std::cerr << "tchatator: " << key.error << "\n";
    return kExitUsage;
  }
  ChatClient client(options.server, key.value);
  const Reply login = client.Login();
  if (!login.ok()) {
    std::string context;
    if (login.frame.Get("error") == "invalid-api-key") {
      context = "tchatator: clé lue dans " + key.origin + " ; vérifiez-la";
    }
    return ReportFailure(login, std::time(nullptr), context);
  }
  Terminal terminal(STDIN_FILENO, STDOUT_FILENO);
  ShellSettings settings;
  settings.color = UseColor(options.color);
  settings.poll_period = PollPeriod();
  InteractiveShell shell(client, terminal, settings);
  return shell.Run();
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  const char* server = std::getenv("TCHATATOR_SERVER");
  const ParsedCommandLine parsed = ParseCommandLine(args, server != nullptr ? server : "");
  if (!parsed.error.empty()) {
    std::cerr << "tchatator: " << parsed.error << "\n\n" << UsageText();
    return kExitUsage;
  }
  const Options& options = parsed.options;
  switch (options.mode) {
    case Mode::kHelp:
      std::cout << UsageText();
      return kExitOk;
    case Mode::kVersion:
      std::cout << "tchatator 1.0 (protocole texte, contrat section 2)\n";
      return kExitOk;
    case Mode::kInteractive:
      return RunInteractive(options);
    default:
      return ScriptRunner(options, UseColor(options.color)).Run();
  }
}
