#include "storage/store.h"

namespace tchatator::storage {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kMember:
      return "member";
    case Role::kPro:
      return "pro";
    case Role::kAdmin:
      return "admin";
  }
  return "member";
}

std::optional<Role> RoleFromName(std::string_view name) {
  for (Role role : {Role::kMember, Role::kPro, Role::kAdmin}) {
    if (RoleName(role) == name) return role;
  }
  return std::nullopt;
}

void Store::SendMessageAsync(std::string token_hash, int64_t sender_id, int64_t recipient_id,
                             std::optional<Role> recipient_role, std::string content,
                             absl::Time now, SendLimits limits,
                             std::function<void(absl::StatusOr<SendOutcome>)> done) {
  if (token_hash.empty()) {
    return done(SendMessage(sender_id, recipient_id, recipient_role, content, now, limits));
  }
  absl::StatusOr<Session> session = FindSession(token_hash, now);
  if (!session.ok() && !absl::IsNotFound(session.status())) return done(session.status());
  SendOutcome refused;
  if (!session.ok() || session->user_id != sender_id) {
    refused.kind = SendOutcome::Kind::kNoSession;
    return done(refused);
  }
  if (session->banned) {
    refused.kind = SendOutcome::Kind::kAccountBanned;
    return done(refused);
  }
  done(SendMessage(sender_id, recipient_id, recipient_role, content, now, limits));
}

}  // namespace tchatator::storage
