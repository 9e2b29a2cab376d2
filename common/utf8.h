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

// Whether `c` shows as nothing but space: Unicode's White_Space and
// Default_Ignorable_Code_Point characters (zero-width, format, filler and variation
// characters), the interlinear annotation and Egyptian hieroglyph format controls, and
// the braille blank U+2800.
bool IsBlank(char32_t c);

}  // namespace tchatator

#endif  // TCHATATOR_COMMON_UTF8_H_
