#include "common/utf8.h"

#include <cstdint>
#include <utility>

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
  // Unicode 15's White_Space and Default_Ignorable_Code_Point, the format controls
  // that draw nothing alone (interlinear annotation, Egyptian hieroglyph format) and
  // U+2800 (the braille blank), as closed ranges, in order.
  static constexpr std::pair<char32_t, char32_t> kBlank[] = {
      {0x0009, 0x000D}, {0x0020, 0x0020}, {0x0085, 0x0085}, {0x00A0, 0x00A0},
      {0x00AD, 0x00AD}, {0x034F, 0x034F}, {0x061C, 0x061C}, {0x115F, 0x1160},
      {0x1680, 0x1680}, {0x17B4, 0x17B5}, {0x180B, 0x180F}, {0x2000, 0x200F},
      {0x2028, 0x202F}, {0x205F, 0x206F}, {0x2800, 0x2800}, {0x3000, 0x3000},
      {0x3164, 0x3164}, {0xFE00, 0xFE0F}, {0xFEFF, 0xFEFF}, {0xFFA0, 0xFFA0},
      {0xFFF0, 0xFFFB}, {0x13430, 0x1343F}, {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A},
      {0xE0000, 0xE0FFF},
  };
  for (const auto& [first, last] : kBlank) {
    if (c < first) return false;
    if (c <= last) return true;
  }
  return false;
}

}  // namespace tchatator
