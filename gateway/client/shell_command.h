#ifndef TCHATATOR_GATEWAY_CLIENT_SHELL_COMMAND_H_
#define TCHATATOR_GATEWAY_CLIENT_SHELL_COMMAND_H_

// The lines typed in interactive mode. Commands start with '/' (IRC style); in a
// conversation any other line is a message to send, and "//text" sends "/text".
// Outside a conversation the '/' may be left out. French names, English aliases.
// Pure.

#include <string>
#include <string_view>
#include <utility>

namespace tchatator::client {

enum class ShellVerb {
  kNone,           // an empty line
  kText,           // a message to send (in a conversation)
  kHelp,           // /aide
  kConversations,  // /conversations
  kOpen,           // /ouvrir ID|NOM
  kMore,           // /plus: older messages
  kRefresh,        // /actualiser
  kWrite,          // /ecrire [ID] [TEXTE]
  kEdit,           // /modifier ID [TEXTE]
  kDelete,         // /supprimer ID
  kUnread,         // /nonlus
  kWho,            // /qui ID
  kBlock,          // /bloquer [ID] [HEURES]
  kUnblock,        // /debloquer [ID]
  kBan,            // /bannir [ID]
  kUnban,          // /debannir [ID]
  kClose,          // /fermer: leave the conversation
  kQuit,           // /quitter
  kUnknown,        // a word that names no command
};

struct ShellCommand {
  ShellVerb verb = ShellVerb::kNone;
  std::string word;  // the command word as typed (without '/'), for messages
  std::string rest;  // what follows the command word (leading spaces removed);
                     // for kText, the message
};

ShellCommand ParseShellCommand(std::string_view line, bool in_conversation);

// Splits `text` at its first run of spaces: {"12", "nouveau texte"} from
// "12   nouveau texte".
std::pair<std::string, std::string> SplitFirstWord(std::string_view text);

}  // namespace tchatator::client

#endif  // TCHATATOR_GATEWAY_CLIENT_SHELL_COMMAND_H_
