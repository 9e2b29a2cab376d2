// Unit tests of the secrets helpers: API keys and session tokens, their stored digests.

#include "common/crypto.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace tchatator {
namespace {

bool IsAlphanumeric(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

TEST(RandomSecretTest, FortyThreeAlphanumericCharacters) {
  const std::string secret = RandomSecret();
  ASSERT_EQ(secret.size(), 43u) << secret;
  for (char c : secret) EXPECT_TRUE(IsAlphanumeric(c)) << secret;
}

TEST(RandomSecretTest, ThousandDrawsAreDistinctAndUseTheWholeAlphabet) {
  std::set<std::string> secrets;
  std::set<char> characters;
  for (int i = 0; i < 1000; ++i) {
    const std::string secret = RandomSecret();
    ASSERT_EQ(secret.size(), 43u) << secret;
    for (char c : secret) {
      ASSERT_TRUE(IsAlphanumeric(c)) << secret;
      characters.insert(c);
    }
    secrets.insert(secret);
  }
  EXPECT_EQ(secrets.size(), 1000u);
  // 43000 uniform draws from 62 characters: each one appears about 690 times, so a
  // missing character means a biased generator.
  EXPECT_EQ(characters.size(), 62u);
}

TEST(Sha256HexTest, KnownDigests) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256HexTest, HashesEmbeddedNulBytes) {
  EXPECT_NE(Sha256Hex(std::string("a\0b", 3)), Sha256Hex("a"));
}

TEST(ConstantTimeEqualsTest, EqualDifferentAndDifferentLengths) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "Secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret2"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secre"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

}  // namespace
}  // namespace tchatator
