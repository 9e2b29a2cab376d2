#include "gateway/client/frame_reader.h"

#include <charconv>
#include <utility>

#include "gateway/client/utf8_text.h"

namespace tchatator::client {
namespace {

// Bytes a UTF-8 sequence announces by its lead byte (1 for an invalid lead).
size_t AnnouncedLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;
}

std::optional<int64_t> ParseInt(std::string_view text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// "200/OK" -> 200; 0 when `line` is not a status line.
int StatusCode(std::string_view line) {
  const size_t slash = line.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash > 3) return 0;
  for (size_t i = 0; i < slash; ++i) {
    if (line[i] < '0' || line[i] > '9') return 0;
  }
  return static_cast<int>(ParseInt(line.substr(0, slash)).value_or(0));
}

}  // namespace

const std::string* Record::Find(std::string_view key) const {
  for (const Field& field : fields_) {
    if (field.key == key) return &field.value;
  }
  return nullptr;
}

std::string Record::Get(std::string_view key) const {
  const std::string* value = Find(key);
  return value == nullptr ? std::string() : *value;
}

std::optional<int64_t> Record::GetInt(std::string_view key) const {
  const std::string* value = Find(key);
  if (value == nullptr) return std::nullopt;
  return ParseInt(*value);
}

void Record::Add(std::string key, std::string value) {
  fields_.push_back(Field{std::move(key), std::move(value)});
}

void FrameReader::Feed(std::string_view bytes) { buffer_.append(bytes); }

bool FrameReader::InFrame() const {
  if (state_ != State::kStatus) return state_ != State::kFailed;
  for (size_t i = pos_; i < buffer_.size(); ++i) {
    if (buffer_[i] != '\n' && buffer_[i] != '\r') return true;
  }
  return false;
}

bool FrameReader::TakeLine(std::string& line) {
  const size_t newline = buffer_.find('\n', pos_);
  if (newline == std::string::npos) return false;
  line.assign(buffer_, pos_, newline - pos_);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  pos_ = newline + 1;
  return true;
}

void FrameReader::Compact() {
  if (pos_ == 0) return;
  buffer_.erase(0, pos_);
  pos_ = 0;
}

void FrameReader::OnField(std::string key, std::string value) {
  if (key == "count" && current_ == nullptr) records_allowed_ = true;
  bool starts_record = false;
  if (records_allowed_) {
    if (key == "change" || key == "peer-id") {
      starts_record = true;
    } else if (key == "message-id") {
      // A change record's message-id belongs to it.
      starts_record =
          !(current_ != nullptr && current_->Has("change") && !current_->Has("message-id"));
    }
  }
  if (starts_record) {
    frame_.records.emplace_back();
    current_ = &frame_.records.back();
  }
  if (key == "message-length") {
    const std::optional<int64_t> length = ParseInt(value);
    pending_length_ = length.has_value() && *length >= 0 ? *length : -1;
  } else {
    pending_length_ = -1;
  }
  (current_ != nullptr ? *current_ : frame_.top).Add(std::move(key), std::move(value));
}

FrameOutcome FrameReader::Next() {
  std::string line;
  for (;;) {
    switch (state_) {
      case State::kFailed:
        return FrameError{error_};

      case State::kStatus: {
        if (!TakeLine(line)) {
          Compact();
          return NeedMoreBytes{};
        }
        if (line.empty()) continue;  // empty lines between frames
        frame_ = Frame();
        current_ = nullptr;
        pending_length_ = -1;
        if (line == "EVENT") {
          frame_.is_event = true;
          records_allowed_ = true;
        } else if (const int code = StatusCode(line); code > 0) {
          frame_.code = code;
          records_allowed_ = false;
        } else {
          state_ = State::kFailed;
          error_ = "the server sent a line that starts no response";
          return FrameError{error_};
        }
        frame_.status_line = line;
        state_ = State::kKey;
        continue;
      }

      case State::kKey: {
        const size_t stop = buffer_.find_first_of(":\n", pos_);
        if (stop == std::string::npos) {
          Compact();
          return NeedMoreBytes{};
        }
        if (buffer_[stop] == '\n') {
          TakeLine(line);
          if (line.empty()) {  // the empty line that ends the frame
            state_ = State::kStatus;
            current_ = nullptr;
            return std::exchange(frame_, Frame());
          }
          state_ = State::kFailed;
          error_ = "the server sent a response line without ':'";
          return FrameError{error_};
        }
        key_.assign(buffer_, pos_, stop - pos_);
        pos_ = stop + 1;
        if (key_ == "content" && pending_length_ >= 0) {
          content_.clear();
          content_left_ = pending_length_;
          state_ = State::kContent;
        } else {
          state_ = State::kValue;
        }
        continue;
      }

      case State::kValue:
        if (!TakeLine(line)) {
          Compact();
          return NeedMoreBytes{};
        }
        OnField(std::move(key_), line);
        state_ = State::kKey;
        continue;

      case State::kContent:
        // Exactly message-length characters; CR LF counts as one newline.
        while (content_left_ > 0) {
          if (pos_ >= buffer_.size()) {
            Compact();
            return NeedMoreBytes{};
          }
          const auto lead = static_cast<unsigned char>(buffer_[pos_]);
          if (lead == '\r') {
            if (pos_ + 1 >= buffer_.size()) {
              Compact();
              return NeedMoreBytes{};
            }
            const bool crlf = buffer_[pos_ + 1] == '\n';
            content_.push_back(crlf ? '\n' : '\r');
            pos_ += crlf ? 2 : 1;
          } else {
            if (pos_ + AnnouncedLength(lead) > buffer_.size()) {
              Compact();
              return NeedMoreBytes{};
            }
            const size_t length = Utf8SequenceLength(buffer_, pos_);
            content_.append(buffer_, pos_, length);
            pos_ += length;
          }
          --content_left_;
        }
        state_ = State::kContentEnd;
        continue;

      case State::kContentEnd:
        if (!TakeLine(line)) {
          Compact();
          return NeedMoreBytes{};
        }
        // Anything between the counted characters and the end of the line belongs to
        // the content too: a miscounting server must not put the reader out of step.
        content_ += line;
        OnField("content", std::move(content_));
        content_.clear();
        state_ = State::kKey;
        continue;
    }
  }
}

}  // namespace tchatator::client
