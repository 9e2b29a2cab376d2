#ifndef TCHATATOR_COMMON_NUMBERS_H_
#define TCHATATOR_COMMON_NUMBERS_H_

// Header-only and standard C++ only: the terminal client (gateway/client), which links
// nothing else, uses it too.

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tchatator {

// `text` as a positive decimal whole number (digits only, leading zeros allowed) up to
// 2^63 - 1, or nullopt: how the protocol writes ids and counts.
inline std::optional<int64_t> ParsePositive(std::string_view text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value <= 0) return std::nullopt;
  return value;
}

}  // namespace tchatator

#endif  // TCHATATOR_COMMON_NUMBERS_H_
