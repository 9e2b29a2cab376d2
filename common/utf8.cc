#include "common/utf8.h"

#include <cstdint>

namespace tchatator {
namespace {

// Calls `visit` with each code point of `text`, in order; false (having visited some)
// if `text` is not valid UTF-8.
template <typename Visit>
bool Decode(std::string_view text, Visit&& visit) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    size_t len;
    uint32_t min;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      visit(static_cast<char32_t>(c));
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, min = 0x10000, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and values past U+10FFFF are not UTF-8.
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
    visit(static_cast<char32_t>(cp));
  }
  return true;
}

}  // namespace

std::optional<size_t> Utf8Length(std::string_view text) {
  size_t count = 0;
  if (!Decode(text, [&count](char32_t) { ++count; })) return std::nullopt;
  return count;
}

std::optional<std::u32string> DecodeUtf8(std::string_view text) {
  std::u32string out;
  if (!Decode(text, [&out](char32_t c) { out.push_back(c); })) return std::nullopt;
  return out;
}

bool IsBlank(char32_t c) {
  switch (c) {
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x115F:  // Hangul fillers: drawn as nothing
    case 0x1160:
    case 0x1680:
    case 0x180E:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x2060:
    case 0x3000:
    case 0x3164:
    case 0xFEFF:
    case 0xFFA0:
      return true;
    default:
      return (c >= 0x09 && c <= 0x0D) || (c >= 0x2000 && c <= 0x200D);
  }
}

}  // namespace tchatator
