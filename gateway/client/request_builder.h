#ifndef TCHATATOR_GATEWAY_CLIENT_REQUEST_BUILDER_H_
#define TCHATATOR_GATEWAY_CLIENT_REQUEST_BUILDER_H_

// Writing requests of the text protocol (contract 2.1): a command line, key:value
// lines, `content` last with `message-length` in characters before it, and always an
// empty line at the end, so that optional parameters never leave a request open.

#include <cstdint>
#include <string>
#include <string_view>

namespace tchatator::client {

class RequestBuilder {
 public:
  explicit RequestBuilder(std::string_view command);

  // A key:value line. CR and LF in `value` become spaces: only content may span lines.
  RequestBuilder& Param(std::string_view key, std::string_view value);
  RequestBuilder& Param(std::string_view key, int64_t value);
  // message-length:N (characters) then content:TEXT. Must come last. CR LF and lone CR
  // in `text` become LF (the server reads CR LF as one newline; a lone CR before the
  // final LF would be read so too and put the count out of step).
  RequestBuilder& Content(std::string_view text);

  // The bytes to send, ending with an empty line.
  std::string Finish() const;

 private:
  std::string out_;
};

// `text` with every CR LF and every lone CR turned into LF.
std::string NormalizeNewlines(std::string_view text);

}  // namespace tchatator::client

#endif  // TCHATATOR_GATEWAY_CLIENT_REQUEST_BUILDER_H_
