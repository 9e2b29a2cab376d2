#ifndef TCHATATOR_GATEWAY_CLIENT_JSON_WRITER_H_
#define TCHATATOR_GATEWAY_CLIENT_JSON_WRITER_H_

// A small JSON writer for the scriptable commands' --json output (compact, one
// document per run). Commas are placed for the caller.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tchatator::client {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // The key of the next value, inside an object.
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();

  // The document, followed by a newline.
  std::string Finish() &&;

 private:
  void BeforeValue();

  std::string out_;
  std::vector<bool> has_items_;  // per open container: something was written in it
  bool after_key_ = false;
};

// `text` as a JSON string literal, quotes included. Control characters are escaped;
// bytes that are not valid UTF-8 become U+FFFD, so the output is always valid JSON.
std::string JsonQuote(std::string_view text);

}  // namespace tchatator::client

#endif  // TCHATATOR_GATEWAY_CLIENT_JSON_WRITER_H_
