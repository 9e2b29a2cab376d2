#ifndef TCHATATOR_COMMON_CRYPTO_H_
#define TCHATATOR_COMMON_CRYPTO_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace tchatator {

// A fresh secret of 43 characters from [A-Za-z0-9] (about 256 bits), drawn from the
// operating system's CSPRNG. Used for API keys and session tokens.
std::string RandomSecret();

// The longest API key or session token anyone may present: far above the 43 characters
// of RandomSecret, far below the 8 KiB of metadata gRPC accepts. Longer is refused
// before hashing (core) or before any call (gateway).
inline constexpr size_t kMaxSecretBytes = 256;

// Lower-case hexadecimal SHA-256 of `data`: how secrets are stored and looked up.
std::string Sha256Hex(std::string_view data);

// Compares two strings in time that depends only on their lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace tchatator

#endif  // TCHATATOR_COMMON_CRYPTO_H_
