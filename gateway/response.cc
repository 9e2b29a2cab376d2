#include "gateway/response.h"

#include "absl/time/time.h"
#include "common/strings.h"
#include "common/time_text.h"
#include "common/utf8.h"

namespace tchatator::gateway {

ResponseWriter::ResponseWriter(std::string first_line) : out_(std::move(first_line)) {
  out_.push_back('\n');
}

ResponseWriter::ResponseWriter(WireStatus status)
    : ResponseWriter(StrCat(status.code, "/", status.label)) {}

ResponseWriter ResponseWriter::Event() { return ResponseWriter(std::string("EVENT")); }

ResponseWriter& ResponseWriter::Field(std::string_view key, std::string_view value) {
  out_.append(key);
  out_.push_back(':');
  for (char c : value) out_.push_back(c == '\n' || c == '\r' ? ' ' : c);
  out_.push_back('\n');
  return *this;
}

ResponseWriter& ResponseWriter::Field(std::string_view key, int64_t value) {
  return Field(key, std::to_string(value));
}

ResponseWriter& ResponseWriter::Time(std::string_view key,
                                     const google::protobuf::Timestamp& time) {
  return Field(key, FormatTime(time));
}

ResponseWriter& ResponseWriter::Content(std::string_view content) {
  // The core only stores valid UTF-8; a byte count is the safe fallback.
  Field("message-length", static_cast<int64_t>(Utf8Length(content).value_or(content.size())));
  out_.append("content:");
  out_.append(content);
  out_.push_back('\n');
  return *this;
}

ResponseWriter& ResponseWriter::Record(const v1::Message& message) {
  Field("message-id", message.message_id());
  Field("sender-id", message.sender_id());
  Field("recipient-id", message.recipient_id());
  Field("direction", message.direction() == v1::DIRECTION_SENT ? "sent" : "received");
  Time("sent-at", message.sent_at());
  if (message.has_modified_at()) {
    Time("modified-at", message.modified_at());
    Field("modified-ago", message.modified_ago());
  }
  Field("read", message.read() ? "yes" : "no");
  return Content(message.content());
}

ResponseWriter& ResponseWriter::ChangeRecord(const v1::Change& change) {
  switch (change.kind()) {
    case v1::CHANGE_KIND_MESSAGE_DELETED:
      Field("change", "message_deleted");
      return Field("message-id", change.message().message_id());
    case v1::CHANGE_KIND_MESSAGE_UPDATED:
      Field("change", "message_updated");
      return Record(change.message());
    default:
      Field("change", "new_message");
      return Record(change.message());
  }
}

std::string ResponseWriter::Finish() && {
  out_.push_back('\n');
  return std::move(out_);
}

std::string ErrorResponse(WireStatus status, std::string_view token, std::string_view message) {
  ResponseWriter out(status);
  out.Field("error", token).Field("message", message);
  return std::move(out).Finish();
}

std::string FormatTime(const google::protobuf::Timestamp& time) {
  return UtcTimeText(absl::FromUnixSeconds(time.seconds()));
}

}  // namespace tchatator::gateway
