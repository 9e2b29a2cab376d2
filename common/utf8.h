#ifndef TCHATATOR_COMMON_UTF8_H_
#define TCHATATOR_COMMON_UTF8_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tchatator {

// Number of Unicode code points in `text` if it is valid UTF-8 (no overlong forms,
// surrogates or values past U+10FFFF), else nullopt.
std::optional<size_t> Utf8Length(std::string_view text);

// The code points of `text` if it is valid UTF-8 (as for Utf8Length), else nullopt.
std::optional<std::u32string> DecodeUtf8(std::string_view text);

// Whether `c` shows as blank: Unicode's White_Space characters, and the zero-width and
// filler characters that are drawn as nothing (U+200B to U+200D, U+2060, U+FEFF,
// U+180E, the Hangul fillers).
bool IsBlank(char32_t c);

}  // namespace tchatator

#endif  // TCHATATOR_COMMON_UTF8_H_
