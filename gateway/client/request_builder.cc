#include "gateway/client/request_builder.h"

#include "gateway/client/utf8_text.h"

namespace tchatator::client {

RequestBuilder::RequestBuilder(std::string_view command) : out_(command) { out_.push_back('\n'); }

RequestBuilder& RequestBuilder::Param(std::string_view key, std::string_view value) {
  out_.append(key);
  out_.push_back(':');
  for (char c : value) out_.push_back(c == '\n' || c == '\r' ? ' ' : c);
  out_.push_back('\n');
  return *this;
}

RequestBuilder& RequestBuilder::Param(std::string_view key, int64_t value) {
  return Param(key, std::to_string(value));
}

RequestBuilder& RequestBuilder::Content(std::string_view text) {
  const std::string content = NormalizeNewlines(text);
  Param("message-length", static_cast<int64_t>(Utf8CharCount(content)));
  out_.append("content:");
  out_.append(content);
  out_.push_back('\n');
  return *this;
}

std::string RequestBuilder::Finish() const { return out_ + "\n"; }

std::string NormalizeNewlines(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\r') {
      out.push_back(text[i]);
    } else if (i + 1 == text.size() || text[i + 1] != '\n') {
      out.push_back('\n');  // a lone CR: a line break too
    }
  }
  return out;
}

}  // namespace tchatator::client
