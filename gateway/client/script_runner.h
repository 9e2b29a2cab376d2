#ifndef TCHATATOR_GATEWAY_CLIENT_SCRIPT_RUNNER_H_
#define TCHATATOR_GATEWAY_CLIENT_SCRIPT_RUNNER_H_

// The scriptable commands: `send`, `unread`, `history`. One login, one command,
// DISCONNECTED; the result on standard output (plain text, or JSON with --json); on
// failure the status line and an explanation on standard error, and an exit status
// per status class (error_description.h).

#include <cstdio>
#include <ctime>
#include <string>

#include "gateway/client/chat_client.h"
#include "gateway/client/command_line.h"
#include "gateway/client/message_formatter.h"

namespace tchatator::client {

class ScriptRunner {
 public:
  ScriptRunner(const Options& options, bool color);

  // Runs the command of the options; returns the exit status.
  int Run();

 private:
  int Send(ChatClient& client);
  int Unread(ChatClient& client);
  int History(ChatClient& client);
  // Looks up the names of the people in `records` (USER_INFO), for plain output.
  void LearnNames(ChatClient& client, const std::vector<Record>& records);

  const Options& options_;
  MessageFormatter formatter_;
  std::time_t now_;
};

// Reports a failed request on standard error (status line, then an explanation
// prefixed with "tchatator: ") and returns its exit status.
int ReportFailure(const Reply& reply, std::time_t now, const std::string& context = "");

}  // namespace tchatator::client

#endif  // TCHATATOR_GATEWAY_CLIENT_SCRIPT_RUNNER_H_
