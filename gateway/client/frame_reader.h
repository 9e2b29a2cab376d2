#ifndef TCHATATOR_GATEWAY_CLIENT_FRAME_READER_H_
#define TCHATATOR_GATEWAY_CLIENT_FRAME_READER_H_

// Reading what a gateway sends (contract 2.2, 2.4, 2.7): responses, whose first line is
// `CODE/LABEL`, and event frames, whose first line is `EVENT`; then key:value lines,
// then one empty line. A `content` value preceded by `message-length:N` is exactly N
// characters and may span lines. Pure: bytes in, frames out, no I/O.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tchatator::client {

// One key:value line.
struct Field {
  std::string key;
  std::string value;
};

// A run of key:value lines: the top level of a frame, or one record in it (a message,
// a conversation or a change).
class Record {
 public:
  // The first value of `key`, or nullptr.
  const std::string* Find(std::string_view key) const;
  // The first value of `key`, or "" when absent.
  std::string Get(std::string_view key) const;
  bool Has(std::string_view key) const { return Find(key) != nullptr; }
  // The value of `key` as a whole number, or nullopt if absent or not a number.
  std::optional<int64_t> GetInt(std::string_view key) const;

  void Add(std::string key, std::string value);
  const std::vector<Field>& fields() const { return fields_; }

 private:
  std::vector<Field> fields_;
};

// One frame from the gateway.
struct Frame {
  bool is_event = false;   // first line EVENT
  int code = 0;            // 200, 403, ...; 0 for an event
  std::string status_line; // "200/OK", "426/TOOMRQ", "EVENT"
  Record top;              // the lines before the first record
  std::vector<Record> records;

  bool ok() const { return code == 200; }
  // Shorthands on `top`.
  std::string Get(std::string_view key) const { return top.Get(key); }
  std::optional<int64_t> GetInt(std::string_view key) const { return top.GetInt(key); }
};

// The bytes cannot be read as frames: the connection is out of step and must be
// closed.
struct FrameError {
  std::string message;
};

// Nothing complete yet: feed more bytes.
struct NeedMoreBytes {};

using FrameOutcome = std::variant<NeedMoreBytes, Frame, FrameError>;

// Incremental reader of frames. Feed it bytes in any split; Next() yields the complete
// frames in order. Work is linear in the bytes fed: a long answer (GET_UNREAD has no
// limit) is not re-scanned as its chunks arrive.
class FrameReader {
 public:
  void Feed(std::string_view bytes);

  // The next complete frame, NeedMoreBytes, or FrameError (after which the reader stays
  // failed).
  FrameOutcome Next();

  // True while part of a frame has been received but not all of it.
  bool InFrame() const;

 private:
  enum class State { kStatus, kKey, kValue, kContent, kContentEnd, kFailed };

  // Takes the bytes of `buffer_` from `pos_` up to (not including) the first '\n';
  // false when no '\n' is buffered yet.
  bool TakeLine(std::string& line);
  void OnField(std::string key, std::string value);
  void Compact();

  std::string buffer_;
  size_t pos_ = 0;           // first byte not yet consumed
  State state_ = State::kStatus;
  Frame frame_;              // the frame being read
  Record* current_ = nullptr;  // the record being filled; nullptr: the top level
  bool records_allowed_ = false;  // a `count` line came, or this is an event
  std::string key_;          // key of the line being read
  int64_t pending_length_ = -1;  // message-length just read, for the next content
  std::string content_;      // content read so far
  int64_t content_left_ = 0; // characters of content still to read
  std::string error_;
};

}  // namespace tchatator::client

#endif  // TCHATATOR_GATEWAY_CLIENT_FRAME_READER_H_
