#ifndef TCHATATOR_GATEWAY_COMMANDS_H_
#define TCHATATOR_GATEWAY_COMMANDS_H_

#include <span>
#include <string_view>

namespace tchatator::gateway {

// Every command of the text protocol.
enum class Command {
  kLogin,
  kSendMsg,
  kUpdtMsg,
  kDelMsg,
  kDisconnected,
  kGetUnread,
  kGetHistory,
  kGetConversations,
  kUserInfo,
  kBlockUser,
  kUnblockUser,
  kBanUser,
  kUnbanUser,
  kSubscribe,
  kNewChgAvailable,
  kPing,
};

// The shape of one command: which parameters it takes. The parser uses it to know
// when a request is complete and which keys are allowed; `content`, when present, is
// always the last parameter and ends the request.
struct CommandSpec {
  Command command;
  std::string_view name;
  std::span<const std::string_view> required;
  std::span<const std::string_view> optional;
  bool has_content;  // `content` is among `required`
};

// The command named exactly `name` (upper case), or nullptr.
const CommandSpec* FindCommand(std::string_view name);

// The spec of `command`.
const CommandSpec& SpecOf(Command command);

// The canonical name of a parameter key: `receiver-id` is `recipient-id`; any other key
// is itself.
std::string_view CanonicalKey(std::string_view key);

}  // namespace tchatator::gateway

#endif  // TCHATATOR_GATEWAY_COMMANDS_H_
