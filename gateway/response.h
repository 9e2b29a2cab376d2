#ifndef TCHATATOR_GATEWAY_RESPONSE_H_
#define TCHATATOR_GATEWAY_RESPONSE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/wire_status.h"
#include "google/protobuf/timestamp.pb.h"
#include "tchatator/v1/chat.pb.h"

namespace tchatator::gateway {

// Builds one response (or event) of the text protocol: a first line, key:value lines,
// then the empty line that ends it. Pure: no I/O.
class ResponseWriter {
 public:
  // A response starting with "CODE/LABEL".
  explicit ResponseWriter(WireStatus status);
  // An event frame: first line "EVENT".
  static ResponseWriter Event();

  // A key:value line. CR and LF in `value` become spaces: no value but content may
  // span lines.
  ResponseWriter& Field(std::string_view key, std::string_view value);
  ResponseWriter& Field(std::string_view key, int64_t value);
  // An RFC 3339 UTC time, e.g. 2026-11-26T10:15:00Z.
  ResponseWriter& Time(std::string_view key, const google::protobuf::Timestamp& time);
  // message-length:N (code points) then content:TEXT, which may span lines.
  ResponseWriter& Content(std::string_view content);
  // A message record (contract section 2.4).
  ResponseWriter& Record(const v1::Message& message);

  // A change record: change:<kind>, then the message record (only message-id for a
  // deletion).
  ResponseWriter& ChangeRecord(const v1::Change& change);

  // The bytes, ending with the empty line.
  std::string Finish() &&;

 private:
  explicit ResponseWriter(std::string first_line);
  std::string out_;
};

// A complete non-200 response: error:<token> and message:<text>.
std::string ErrorResponse(WireStatus status, std::string_view token, std::string_view message);

// RFC 3339 UTC text of a timestamp (whole seconds).
std::string FormatTime(const google::protobuf::Timestamp& time);

}  // namespace tchatator::gateway

#endif  // TCHATATOR_GATEWAY_RESPONSE_H_
