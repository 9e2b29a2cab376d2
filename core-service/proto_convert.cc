#include "core-service/proto_convert.h"

#include "core-service/chat_logic.h"

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

void FillMessage(const storage::Message& message, int64_t viewer_id, absl::Time now,
                 v1::Message& out) {
  out.set_message_id(message.id);
  out.set_sender_id(message.sender_id);
  out.set_recipient_id(message.recipient_id);
  out.set_direction(message.sender_id == viewer_id ? v1::DIRECTION_SENT
                                                   : v1::DIRECTION_RECEIVED);
  ToTimestamp(message.sent_at, *out.mutable_sent_at());
  if (message.modified_at) {
    ToTimestamp(*message.modified_at, *out.mutable_modified_at());
    out.set_modified_ago(ModifiedAgo(now - *message.modified_at));
  }
  out.set_read(message.read);
  out.set_content(message.content);
}

void FillChange(const storage::Change& change, int64_t viewer_id, absl::Time now,
                v1::Change& out) {
  out.set_change_id(change.id);
  switch (change.kind) {
    case storage::ChangeKind::kNewMessage:
      out.set_kind(v1::CHANGE_KIND_NEW_MESSAGE);
      break;
    case storage::ChangeKind::kMessageUpdated:
      out.set_kind(v1::CHANGE_KIND_MESSAGE_UPDATED);
      break;
    case storage::ChangeKind::kMessageDeleted:
      out.set_kind(v1::CHANGE_KIND_MESSAGE_DELETED);
      out.mutable_message()->set_message_id(change.message.id);
      return;
  }
  FillMessage(change.message, viewer_id, now, *out.mutable_message());
}

}  // namespace tchatator::core
