#ifndef TCHATATOR_COMMON_UTF8_H_
#define TCHATATOR_COMMON_UTF8_H_

#include <cstddef>
#include <optional>
#include <string_view>

namespace tchatator {

// Number of Unicode code points in `text` if it is valid UTF-8 (no overlong forms,
// surrogates or values past U+10FFFF), else nullopt.
std::optional<size_t> Utf8Length(std::string_view text);

}  // namespace tchatator

#endif  // TCHATATOR_COMMON_UTF8_H_
