#ifndef TCHATATOR_GATEWAY_CLIENT_INTERACTIVE_SHELL_H_
#define TCHATATOR_GATEWAY_CLIENT_INTERACTIVE_SHELL_H_

// Interactive mode: a command loop over a logged-in ChatClient. The conversations
// with their unread counts, one open conversation at a time (history with names and
// local times, paging back, sending one line or several), editing and deleting one's
// messages, unread messages, user info, block/ban for pros and admins.
//
// Live updates: SUBSCRIBE first; when it answers 200, event frames are shown as they
// arrive (in the open conversation, or as a notice for other conversations). When it
// does not (a server without live delivery), the shell polls NEW_CHG_AVAILABLE, or,
// failing that, GET_CONVERSATIONS (unread counts; messages of the open conversation
// are then fetched). Messages this client fetched from other conversations are kept
// and shown as new when their conversation is opened: nothing unread is lost.

#include <chrono>
#include <cstdint>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/client/chat_client.h"
#include "gateway/client/line_editor.h"
#include "gateway/client/message_formatter.h"
#include "gateway/client/shell_command.h"
#include "gateway/client/terminal.h"

namespace tchatator::client {

struct ShellSettings {
  bool color = false;
  // How often to poll when the server has no live events (TCHATATOR_POLL_SECONDS).
  std::chrono::seconds poll_period{5};
  // How often to PING an idle subscribed connection (the gateway drops idle ones).
  std::chrono::seconds keepalive_period{240};
};

class InteractiveShell {
 public:
  InteractiveShell(ChatClient& client, Terminal& terminal, ShellSettings settings);

  // Runs until /quitter or the end of input; the client must be logged in. Returns the
  // exit status.
  int Run();

 private:
  enum class Live { kEvents, kPollChanges, kPollConversations };

  void Execute(const ShellCommand& command);

  // The commands.
  void Help();
  void ShowConversations();
  void Open(const std::string& argument);
  void ShowHistoryPage(bool older);
  void Write(const std::string& argument);
  void Edit(const std::string& argument);
  void Delete(const std::string& argument);
  void Unread();
  void Who(const std::string& argument);
  void Restrict(ShellVerb verb, const std::string& argument);
  void CloseConversation();
  void Quit();

  // Reads a message of one or more lines, ended by a line holding only ".". nullopt
  // when cancelled (Ctrl-C, or nothing typed).
  std::optional<std::string> Compose(const std::string& intro, const std::string& initial);
  void SendText(int64_t recipient, const std::string& text);
  bool Confirm(const std::string& question);

  // Live updates.
  void SetUpLiveUpdates();
  void OnSocketReadable();
  void OnTick();
  void ShowEvents();
  void ShowChange(const Record& change);
  void PollConversations();
  // GET_UNREAD: shows the open conversation's messages, keeps the others in stash_.
  void FetchUnreadIntoConversation();

  // Helpers.
  void Say(const std::string& text);
  void Notice(const std::string& text);
  // Prints why `reply` failed; false when it did.
  bool Check(const Reply& reply);
  void NoteConnection(const Reply& reply);
  // Learns a user's name and role with USER_INFO; false (and says why) on failure.
  bool LearnUser(int64_t user_id);
  void LearnConversations(const std::vector<Record>& conversations);
  // An id typed by the user, or the open conversation's peer when `text` is empty
  // and `default_to_peer`; 0 (and says why) when there is none.
  int64_t IdArgument(const std::string& text, bool default_to_peer, const char* usage);
  std::string Prompt() const;
  std::string PeerTitle(int64_t user_id) const;
  void Remember(const Record& message);
  std::time_t Now() const { return std::time(nullptr); }
  bool CanRestrict() const;

  ChatClient& client_;
  Terminal& terminal_;
  ShellSettings settings_;
  LineEditor editor_;
  MessageFormatter formatter_;
  Live live_ = Live::kPollConversations;
  bool quit_ = false;
  bool offline_ = false;        // the last request found no server (said once)
  int offline_ticks_ = 0;       // ticks since then
  bool hinted_quit_ = false;

  int64_t peer_ = 0;            // the open conversation (0: none)
  int64_t oldest_shown_ = 0;    // its oldest message shown, for /plus
  bool has_more_ = false;
  std::map<int64_t, Record> shown_;  // messages shown in the open conversation
  std::map<int64_t, std::string> roles_;
  std::vector<Record> conversations_;                 // the last list received
  std::map<int64_t, int64_t> server_unread_;          // per peer, from the last list
  std::map<int64_t, std::vector<Record>> stash_;      // fetched, not shown yet
};

}  // namespace tchatator::client

#endif  // TCHATATOR_GATEWAY_CLIENT_INTERACTIVE_SHELL_H_
