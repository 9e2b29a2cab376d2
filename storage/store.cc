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

}  // namespace tchatator::storage
