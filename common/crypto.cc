#include "common/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <cstdint>
#include <memory>
#include <stdexcept>

namespace tchatator {

std::string RandomSecret() {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  constexpr size_t kLength = 43;
  std::string out;
  out.reserve(kLength);
  while (out.size() < kLength) {
    std::array<unsigned char, 64> bytes;
    if (RAND_bytes(bytes.data(), bytes.size()) != 1) {
      throw std::runtime_error("the system random generator failed");
    }
    for (unsigned char b : bytes) {
      // Rejection sampling keeps every character equally likely: 248 = 4 * 62.
      if (b < 248 && out.size() < kLength) out.push_back(kAlphabet[b % kAlphabet.size()]);
    }
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  // SHA256() looks the algorithm up (under a lock) and allocates a context on every
  // call: once per SEND_MSG, that was a seventh of the core's instructions.
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct ContextDeleter {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  thread_local const std::unique_ptr<EVP_MD_CTX, ContextDeleter> context(EVP_MD_CTX_new());
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest;
  unsigned int length = 0;
  if (kSha256 == nullptr || context == nullptr ||
      EVP_DigestInit_ex2(context.get(), kSha256, nullptr) != 1 ||
      EVP_DigestUpdate(context.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(context.get(), digest.data(), &length) != 1 ||
      length != digest.size()) {
    throw std::runtime_error("SHA-256 failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::array<char, SHA256_DIGEST_LENGTH * 2> hex;
  for (size_t i = 0; i < digest.size(); ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return std::string(hex.data(), hex.size());
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace tchatator
