#include "storage/store.h"

#include <algorithm>

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

absl::Time TakeCommitDeadline(absl::Time deadline, absl::Time started, size_t answer_bytes) {
  if (deadline == absl::InfiniteFuture()) return deadline;
  const absl::Duration transit =
      absl::Seconds(static_cast<double>(answer_bytes) / kAnswerBytesPerSecond);
  return deadline - std::min(transit, std::max(absl::ZeroDuration(), deadline - started) / 2);
}

}  // namespace tchatator::storage
