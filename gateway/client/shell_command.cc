#include "gateway/client/shell_command.h"

#include <array>

namespace tchatator::client {
namespace {

struct Alias {
  std::string_view word;
  ShellVerb verb;
};

constexpr std::array kAliases = {
    Alias{"aide", ShellVerb::kHelp},
    Alias{"help", ShellVerb::kHelp},
    Alias{"h", ShellVerb::kHelp},
    Alias{"?", ShellVerb::kHelp},
    Alias{"conversations", ShellVerb::kConversations},
    Alias{"conv", ShellVerb::kConversations},
    Alias{"c", ShellVerb::kConversations},
    Alias{"liste", ShellVerb::kConversations},
    Alias{"list", ShellVerb::kConversations},
    Alias{"ouvrir", ShellVerb::kOpen},
    Alias{"open", ShellVerb::kOpen},
    Alias{"o", ShellVerb::kOpen},
    Alias{"plus", ShellVerb::kMore},
    Alias{"more", ShellVerb::kMore},
    Alias{"p", ShellVerb::kMore},
    Alias{"actualiser", ShellVerb::kRefresh},
    Alias{"refresh", ShellVerb::kRefresh},
    Alias{"r", ShellVerb::kRefresh},
    Alias{"ecrire", ShellVerb::kWrite},
    Alias{"écrire", ShellVerb::kWrite},
    Alias{"write", ShellVerb::kWrite},
    Alias{"w", ShellVerb::kWrite},
    Alias{"msg", ShellVerb::kWrite},
    Alias{"modifier", ShellVerb::kEdit},
    Alias{"edit", ShellVerb::kEdit},
    Alias{"e", ShellVerb::kEdit},
    Alias{"supprimer", ShellVerb::kDelete},
    Alias{"delete", ShellVerb::kDelete},
    Alias{"del", ShellVerb::kDelete},
    Alias{"d", ShellVerb::kDelete},
    Alias{"nonlus", ShellVerb::kUnread},
    Alias{"non-lus", ShellVerb::kUnread},
    Alias{"unread", ShellVerb::kUnread},
    Alias{"u", ShellVerb::kUnread},
    Alias{"qui", ShellVerb::kWho},
    Alias{"whois", ShellVerb::kWho},
    Alias{"info", ShellVerb::kWho},
    Alias{"bloquer", ShellVerb::kBlock},
    Alias{"block", ShellVerb::kBlock},
    Alias{"debloquer", ShellVerb::kUnblock},
    Alias{"débloquer", ShellVerb::kUnblock},
    Alias{"unblock", ShellVerb::kUnblock},
    Alias{"bannir", ShellVerb::kBan},
    Alias{"ban", ShellVerb::kBan},
    Alias{"debannir", ShellVerb::kUnban},
    Alias{"débannir", ShellVerb::kUnban},
    Alias{"unban", ShellVerb::kUnban},
    Alias{"fermer", ShellVerb::kClose},
    Alias{"close", ShellVerb::kClose},
    Alias{"retour", ShellVerb::kClose},
    Alias{"back", ShellVerb::kClose},
    Alias{"quitter", ShellVerb::kQuit},
    Alias{"quit", ShellVerb::kQuit},
    Alias{"exit", ShellVerb::kQuit},
    Alias{"q", ShellVerb::kQuit},
};

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimLeft(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  return text;
}

std::string_view TrimRight(std::string_view text) {
  while (!text.empty() && (IsSpace(text.back()) || text.back() == '\r')) text.remove_suffix(1);
  return text;
}

// ASCII lower case (the accented aliases are listed as typed).
std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

std::pair<std::string, std::string> SplitFirstWord(std::string_view text) {
  text = TrimLeft(text);
  size_t end = 0;
  while (end < text.size() && !IsSpace(text[end])) ++end;
  return {std::string(text.substr(0, end)), std::string(TrimLeft(text.substr(end)))};
}

ShellCommand ParseShellCommand(std::string_view line, bool in_conversation) {
  ShellCommand command;
  const std::string_view trimmed = TrimRight(TrimLeft(line));
  if (trimmed.empty()) return command;
  std::string_view body = trimmed;
  if (body.starts_with('/')) {
    if (body.starts_with("//")) {
      // "//texte": a message that starts with '/'.
      command.verb = in_conversation ? ShellVerb::kText : ShellVerb::kUnknown;
      command.word = "/";
      command.rest.assign(trimmed.data() + 1, trimmed.size() - 1);
      return command;
    }
    body.remove_prefix(1);
  } else if (in_conversation) {
    // A message: keep it as typed, inner and leading spaces included.
    command.verb = ShellVerb::kText;
    command.rest = std::string(TrimRight(line));
    return command;
  }
  auto [word, rest] = SplitFirstWord(body);
  command.word = word;
  command.rest = rest;
  command.verb = ShellVerb::kUnknown;
  const std::string lower = Lower(word);
  for (const Alias& alias : kAliases) {
    if (alias.word == lower) {
      command.verb = alias.verb;
      break;
    }
  }
  return command;
}

}  // namespace tchatator::client
