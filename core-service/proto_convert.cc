#include "core-service/proto_convert.h"

namespace tchatator::core {

void ToTimestamp(absl::Time time, google::protobuf::Timestamp& out) {
  const int64_t us = absl::ToUnixMicros(time);
  // Floor division keeps nanos in [0, 1e9) for times before the epoch too.
  int64_t seconds = us / 1000000;
  int64_t rest = us % 1000000;
  if (rest < 0) {
    rest += 1000000;
    --seconds;
  }
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(rest * 1000));
}

v1::Role ToProtoRole(storage::Role role) {
  switch (role) {
    case storage::Role::kMember:
      return v1::ROLE_MEMBER;
    case storage::Role::kPro:
      return v1::ROLE_PRO;
    case storage::Role::kAdmin:
      return v1::ROLE_ADMIN;
  }
  return v1::ROLE_UNSPECIFIED;
}

std::optional<storage::Role> FromProtoRole(v1::Role role) {
  switch (role) {
    case v1::ROLE_MEMBER:
      return storage::Role::kMember;
    case v1::ROLE_PRO:
      return storage::Role::kPro;
    case v1::ROLE_ADMIN:
      return storage::Role::kAdmin;
    default:
      return std::nullopt;
  }
}

}  // namespace tchatator::core
