#include "gateway/client/utf8_text.h"

namespace tchatator::client {
namespace {

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length and value of the valid sequence at `pos`, or {1, U+FFFD}.
struct Decoded {
  size_t length;
  char32_t value;
  bool valid;
};

Decoded DecodeAt(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[pos + i]); };
  const unsigned char lead = byte(0);
  constexpr Decoded kInvalid{1, U'\uFFFD', false};
  if (lead < 0x80) return {1, lead, true};
  size_t length;
  char32_t value;
  char32_t minimum;
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
    value = lead & 0x1F;
    minimum = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    value = lead & 0x0F;
    minimum = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    value = lead & 0x07;
    minimum = 0x10000;
  } else {
    return kInvalid;
  }
  if (pos + length > text.size()) return kInvalid;
  for (size_t i = 1; i < length; ++i) {
    if (!IsContinuation(byte(i))) return kInvalid;
    value = (value << 6) | (byte(i) & 0x3F);
  }
  if (value < minimum || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
    return kInvalid;
  }
  return {length, value, true};
}

}  // namespace

size_t Utf8SequenceLength(std::string_view text, size_t pos) {
  return DecodeAt(text, pos).length;
}

char32_t Utf8Decode(std::string_view text, size_t pos) { return DecodeAt(text, pos).value; }

size_t Utf8CharCount(std::string_view text) {
  size_t count = 0;
  for (size_t pos = 0; pos < text.size(); pos += DecodeAt(text, pos).length) ++count;
  return count;
}

bool IsValidUtf8(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    const Decoded d = DecodeAt(text, pos);
    if (!d.valid) return false;
    pos += d.length;
  }
  return true;
}

size_t Utf8PreviousBoundary(std::string_view text, size_t pos) {
  if (pos == 0) return 0;
  // Walk back over at most three continuation bytes, then check that the sequence
  // found really spans up to `pos`; otherwise the byte before `pos` stands alone.
  size_t start = pos - 1;
  while (start > 0 && pos - start < 4 && IsContinuation(static_cast<unsigned char>(text[start]))) {
    --start;
  }
  if (start + DecodeAt(text, start).length == pos) return start;
  return pos - 1;
}

int CharColumns(char32_t c) {
  if (c < 0x20 || (c >= 0x7F && c < 0xA0)) return 0;
  // Combining marks and zero-width characters.
  if ((c >= 0x0300 && c <= 0x036F) || (c >= 0x1AB0 && c <= 0x1AFF) ||
      (c >= 0x1DC0 && c <= 0x1DFF) || (c >= 0x20D0 && c <= 0x20FF) ||
      (c >= 0xFE20 && c <= 0xFE2F) || c == 0x200B || c == 0x200C || c == 0x200D ||
      c == 0xFEFF || (c >= 0xFE00 && c <= 0xFE0F)) {
    return 0;
  }
  // Wide characters: Hangul Jamo, CJK, Hangul syllables, compatibility forms,
  // full-width forms, emoji and the supplementary ideographic planes.
  if ((c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0x303E) ||
      (c >= 0x3041 && c <= 0x33FF) || (c >= 0x3400 && c <= 0x4DBF) ||
      (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xA000 && c <= 0xA4CF) ||
      (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
      (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
      (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1F64F) ||
      (c >= 0x1F900 && c <= 0x1F9FF) || (c >= 0x20000 && c <= 0x3FFFD)) {
    return 2;
  }
  return 1;
}

size_t TextColumns(std::string_view text) {
  size_t columns = 0;
  for (size_t pos = 0; pos < text.size();) {
    const Decoded d = DecodeAt(text, pos);
    columns += static_cast<size_t>(CharColumns(d.value));
    pos += d.length;
  }
  return columns;
}

std::string StripAnsi(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\x1b') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '[') {
      i += 2;
      while (i < text.size() && !(text[i] >= 0x40 && text[i] <= 0x7E)) ++i;
    } else {
      ++i;  // ESC and the one byte after it
    }
  }
  return out;
}

}  // namespace tchatator::client
