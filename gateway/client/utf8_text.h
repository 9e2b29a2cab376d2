#ifndef TCHATATOR_GATEWAY_CLIENT_UTF8_TEXT_H_
#define TCHATATOR_GATEWAY_CLIENT_UTF8_TEXT_H_

// The few UTF-8 facts the client needs: counting code points (message-length counts
// characters, contract 2.1), validating what a person typed, stepping over characters
// in the line editor, and the width a character takes on a terminal.

#include <cstddef>
#include <string>
#include <string_view>

namespace tchatator::client {

// Byte length of the UTF-8 sequence that starts at `text[pos]`; a byte that does not
// start a valid sequence counts as a sequence of 1. `pos` < text.size().
size_t Utf8SequenceLength(std::string_view text, size_t pos);

// The code point at `text[pos]` (U+FFFD for an invalid sequence).
char32_t Utf8Decode(std::string_view text, size_t pos);

// Number of characters of `text`, an invalid byte counting as one character.
size_t Utf8CharCount(std::string_view text);

// True if `text` is well-formed UTF-8 (no overlong forms, surrogates, or values past
// U+10FFFF).
bool IsValidUtf8(std::string_view text);

// Offset of the start of the character before `pos` (0 at the start).
size_t Utf8PreviousBoundary(std::string_view text, size_t pos);

// Columns a code point takes on a terminal: 0 for combining marks, 2 for wide (East
// Asian, emoji) characters, 1 otherwise.
int CharColumns(char32_t c);

// Columns `text` takes on a terminal (control characters count 0).
size_t TextColumns(std::string_view text);

// `text` without its ANSI escape sequences (ESC [ ... final byte), e.g. colours.
std::string StripAnsi(std::string_view text);

}  // namespace tchatator::client

#endif  // TCHATATOR_GATEWAY_CLIENT_UTF8_TEXT_H_
