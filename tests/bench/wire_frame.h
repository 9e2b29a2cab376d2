// Framing of the gateway's answers, as a benchmark client needs it: where a frame
// (response or EVENT) ends, its status code and the value of a key. A frame is a first
// line, `key:value` lines and an empty line; a `content` value may span lines, and is
// then framed by the `message-length:N` (Unicode code points) that precedes it.
#ifndef TCHATATOR_TESTS_BENCH_WIRE_FRAME_H_
#define TCHATATOR_TESTS_BENCH_WIRE_FRAME_H_

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tchatator::bench {

// Unicode code points of UTF-8 text: the bytes that are not continuation bytes.
inline int64_t CodePoints(std::string_view text) {
  int64_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

// The length in bytes of the first complete frame of `data`, or nullopt when more
// bytes are needed.
inline std::optional<size_t> FrameEnd(std::string_view data) {
  size_t pos = 0;
  bool first = true;
  int64_t pending_length = -1;
  auto next_line = [&](std::string_view& line) -> bool {
    const size_t nl = data.find('\n', pos);
    if (nl == std::string_view::npos) return false;
    line = data.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = nl + 1;
    return true;
  };
  std::string_view line;
  while (next_line(line)) {
    if (first) {
      first = false;
      continue;
    }
    if (line.empty()) return pos;
    constexpr std::string_view kLength = "message-length:";
    constexpr std::string_view kContent = "content:";
    if (line.starts_with(kLength)) {
      const std::string_view v = line.substr(kLength.size());
      int64_t n = -1;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      pending_length = (ec == std::errc() && end == v.data() + v.size()) ? n : -1;
    } else if (line.starts_with(kContent) && pending_length >= 0) {
      int64_t remaining = pending_length - CodePoints(line.substr(kContent.size()));
      while (remaining > 0) {
        remaining -= 1;  // the newline that ended the previous line is content
        if (!next_line(line)) return std::nullopt;
        remaining -= CodePoints(line);
      }
      pending_length = -1;
    }
  }
  return std::nullopt;
}

// The status code of a frame ("200/OK" gives 200); 0 for an EVENT or garbage.
inline int StatusOf(std::string_view frame) {
  int code = 0;
  auto [end, ec] = std::from_chars(frame.data(), frame.data() + frame.size(), code);
  if (ec != std::errc() || end == frame.data() + frame.size() || *end != '/') return 0;
  return code;
}

inline bool IsEvent(std::string_view frame) { return frame.starts_with("EVENT\n") || frame.starts_with("EVENT\r\n"); }

// The value of the first `key:` line of a frame (not looking inside contents that
// happen to hold such a line: bench contents are single-line).
inline std::optional<std::string_view> FieldOf(std::string_view frame, std::string_view key) {
  size_t pos = frame.find('\n');
  while (pos != std::string_view::npos && pos + 1 < frame.size()) {
    const size_t start = pos + 1;
    size_t end = frame.find('\n', start);
    if (end == std::string_view::npos) end = frame.size();
    std::string_view line = frame.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > key.size() && line.starts_with(key) && line[key.size()] == ':') {
      return line.substr(key.size() + 1);
    }
    pos = end;
  }
  return std::nullopt;
}

}  // namespace tchatator::bench

#endif  // TCHATATOR_TESTS_BENCH_WIRE_FRAME_H_
