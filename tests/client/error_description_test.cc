#include "gateway/client/error_description.h"

#include <cstdlib>

#include <gtest/gtest.h>

#include "gateway/client/local_time.h"

namespace tchatator::client {
namespace {

Frame Error(int code, std::string status, std::string token,
            std::vector<std::pair<std::string, std::string>> extra = {}) {
  Frame f;
  f.code = code;
  f.status_line = std::move(status);
  f.top.Add("error", std::move(token));
  f.top.Add("message", "server words");
  for (auto& [k, v] : extra) f.top.Add(k, v);
  return f;
}

class ErrorDescriptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC0", 1);
    tzset();
  }
  void TearDown() override {
    unsetenv("TZ");
    tzset();
  }
  const std::time_t now_ = *ParseRfc3339("2026-11-26T10:00:00Z");
};

TEST_F(ErrorDescriptionTest, ExitCodesPerStatusClass) {
  EXPECT_EQ(ExitCodeForStatus(200), 0);
  EXPECT_EQ(ExitCodeForStatus(401), 3);
  EXPECT_EQ(ExitCodeForStatus(403), 3);
  EXPECT_EQ(ExitCodeForStatus(404), 4);
  EXPECT_EQ(ExitCodeForStatus(416), 5);
  EXPECT_EQ(ExitCodeForStatus(426), 6);
  EXPECT_EQ(ExitCodeForStatus(503), 7);
  EXPECT_EQ(ExitCodeForStatus(500), 1);
  EXPECT_EQ(ExitCodeForStatus(299), 1);
}

TEST_F(ErrorDescriptionTest, RateLimitSaysWhenToRetry) {
  EXPECT_EQ(DescribeError(Error(426, "426/TOOMRQ", "rate-limited", {{"retry-after", "42"}}), now_),
            "trop de messages envoyés : réessayez dans 42 s (à 10:00:42)");
  EXPECT_EQ(DescribeError(Error(426, "426/TOOMRQ", "rate-limited", {{"retry-after", "125"}}), now_),
            "trop de messages envoyés : réessayez dans 2 min 05 s (à 10:02:05)");
}

TEST_F(ErrorDescriptionTest, BlockSaysUntilWhen) {
  EXPECT_EQ(DescribeError(Error(403, "403/DENIED", "blocked", {{"until", "2026-11-27T10:00:00Z"}}),
                          now_),
            "vous êtes bloqué jusqu'au 27/11/2026 à 10:00 (dans 24 h 00 min) : envoi refusé");
}

TEST_F(ErrorDescriptionTest, KnownTokensAreExplained) {
  EXPECT_NE(DescribeError(Error(403, "403/DENIED", "invalid-api-key"), now_).find("clé API"),
            std::string::npos);
  EXPECT_NE(DescribeError(Error(403, "403/DENIED", "banned"), now_).find("banni"),
            std::string::npos);
  EXPECT_NE(DescribeError(Error(403, "403/DENIED", "not-owner"), now_).find("pas le vôtre"),
            std::string::npos);
  EXPECT_EQ(DescribeError(Error(404, "404/NOTFND", "unknown-user"), now_), "utilisateur inconnu");
  EXPECT_NE(DescribeError(Error(503, "503/UNAVAIL", "unavailable"), now_).find("indisponible"),
            std::string::npos);
  EXPECT_EQ(DescribeError(Error(500, "500/ERROR", "not-implemented"), now_),
            "fonction pas encore disponible sur ce serveur");
}

TEST_F(ErrorDescriptionTest, UnknownTokensKeepTheServersWords) {
  EXPECT_EQ(DescribeError(Error(416, "416/MISFMT", "whatever"), now_),
            "requête refusée par le serveur (whatever : server words)");
}

TEST_F(ErrorDescriptionTest, Durations) {
  EXPECT_EQ(FormatDuration(0), "0 s");
  EXPECT_EQ(FormatDuration(59), "59 s");
  EXPECT_EQ(FormatDuration(3600), "1 h 00 min");
  EXPECT_EQ(FormatDuration(-5), "0 s");
}

}  // namespace
}  // namespace tchatator::client
