#ifndef TCHATATOR_CORE_SERVICE_PROTO_CONVERT_H_
#define TCHATATOR_CORE_SERVICE_PROTO_CONVERT_H_

#include <optional>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "storage/store.h"
#include "tchatator/v1/chat.pb.h"

namespace tchatator::core {

void ToTimestamp(absl::Time time, google::protobuf::Timestamp& out);
v1::Role ToProtoRole(storage::Role role);
// `message` as the user `viewer_id` sees it at `now` (direction, modified-ago).
void FillMessage(const storage::Message& message, int64_t viewer_id, absl::Time now,
                 v1::Message& out);
// A change for its recipient; a deletion carries only the message id.
void FillChange(const storage::Change& change, int64_t viewer_id, absl::Time now,
                v1::Change& out);
// nullopt for ROLE_UNSPECIFIED or an unknown value.
std::optional<storage::Role> FromProtoRole(v1::Role role);

}  // namespace tchatator::core

#endif  // TCHATATOR_CORE_SERVICE_PROTO_CONVERT_H_
