#include "gateway/commands.h"

#include <array>

namespace tchatator::gateway {
namespace {

using Keys = std::string_view[];

constexpr std::string_view kNone[] = {""};
constexpr std::string_view kApiToken[] = {"api-token"};
constexpr std::string_view kToken[] = {"token"};
constexpr std::string_view kSend[] = {"token", "recipient-id", "message-length", "content"};
constexpr std::string_view kUpdate[] = {"token", "message-id", "content"};
constexpr std::string_view kLengthOnly[] = {"message-length"};
constexpr std::string_view kTokenMessage[] = {"token", "message-id"};
constexpr std::string_view kTokenUser[] = {"token", "user-id"};
constexpr std::string_view kHistoryOptional[] = {"user-id", "before-id"};
constexpr std::string_view kDuration[] = {"duration-hours"};

constexpr std::span<const std::string_view> kEmpty(kNone, 0);

const std::array<CommandSpec, 16> kCommands = {{
    {Command::kLogin, "LOGIN", kApiToken, kEmpty, false},
    {Command::kSendMsg, "SEND_MSG", kSend, kEmpty, true},
    {Command::kUpdtMsg, "UPDT_MSG", kUpdate, kLengthOnly, true},
    {Command::kDelMsg, "DEL_MSG", kTokenMessage, kEmpty, false},
    {Command::kDisconnected, "DISCONNECTED", kEmpty, kEmpty, false},
    {Command::kGetUnread, "GET_UNREAD", kToken, kEmpty, false},
    {Command::kGetHistory, "GET_HISTORY", kToken, kHistoryOptional, false},
    {Command::kGetConversations, "GET_CONVERSATIONS", kToken, kEmpty, false},
    {Command::kUserInfo, "USER_INFO", kTokenUser, kEmpty, false},
    {Command::kBlockUser, "BLOCK_USER", kTokenUser, kDuration, false},
    {Command::kUnblockUser, "UNBLOCK_USER", kTokenUser, kEmpty, false},
    {Command::kBanUser, "BAN_USER", kTokenUser, kEmpty, false},
    {Command::kUnbanUser, "UNBAN_USER", kTokenUser, kEmpty, false},
    {Command::kSubscribe, "SUBSCRIBE", kToken, kEmpty, false},
    {Command::kNewChgAvailable, "NEW_CHG_AVAILABLE", kToken, kEmpty, false},
    {Command::kPing, "PING", kEmpty, kEmpty, false},
}};

}  // namespace

const CommandSpec* FindCommand(std::string_view name) {
  for (const CommandSpec& spec : kCommands) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

const CommandSpec& SpecOf(Command command) {
  for (const CommandSpec& spec : kCommands) {
    if (spec.command == command) return spec;
  }
  return kCommands.back();  // unreachable: every Command has a row
}

std::string_view CanonicalKey(std::string_view key) {
  return key == "receiver-id" ? std::string_view("recipient-id") : key;
}

}  // namespace tchatator::gateway
