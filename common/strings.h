#ifndef TCHATATOR_COMMON_STRINGS_H_
#define TCHATATOR_COMMON_STRINGS_H_

// Debian's Abseil is built with its own absl::string_view, which std::string_view does
// not convert to; these few helpers take std::string_view instead.

#include <concepts>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace tchatator {
namespace strings_internal {
inline void Append(std::string& out, std::string_view text) { out.append(text); }
inline void Append(std::string& out, const char* text) { out.append(text); }
inline void Append(std::string& out, const std::string& text) { out.append(text); }
inline void Append(std::string& out, absl::string_view text) {
  out.append(text.data(), text.size());
}
inline void Append(std::string& out, char c) { out.push_back(c); }
template <std::integral T>
  requires(!std::same_as<T, char> && !std::same_as<T, bool>)
void Append(std::string& out, T value) {
  out.append(std::to_string(value));
}
}  // namespace strings_internal

// Concatenates strings, characters and integers.
template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  (strings_internal::Append(out, args), ...);
  return out;
}

// Appends to `out`, as StrCat.
template <typename... Args>
void StrAppend(std::string* out, const Args&... args) {
  (strings_internal::Append(*out, args), ...);
}

// `text` without leading and trailing ASCII white space.
inline std::string_view StripAsciiWhitespace(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(kSpace) - begin + 1);
}

// Whether every byte of `text` is printable ASCII (0x20 to 0x7E), all that a gRPC header
// value may hold (gRPC aborts the process on anything else).
inline bool IsPrintableAscii(std::string_view text) {
  for (char c : text) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// "host:port", with an IPv6 host in brackets.
inline std::string HostPort(std::string_view host, int port) {
  return host.find(':') == std::string_view::npos ? StrCat(host, ":", port)
                                                  : StrCat("[", host, "]:", port);
}

}  // namespace tchatator

#endif  // TCHATATOR_COMMON_STRINGS_H_
