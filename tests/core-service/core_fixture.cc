// The shared fixture of the core's gRPC tests (see core_fixture.h).

#include "tests/core-service/core_fixture.h"

#include <cctype>

#include "absl/time/civil_time.h"

namespace tchatator::core {

const absl::Time kStart =
    absl::FromCivil(absl::CivilSecond(2026, 11, 26, 10, 15, 0), absl::UTCTimeZone()) +
    absl::Milliseconds(250);

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

bool IsSecret(const std::string& s) {
  if (s.size() != 43) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::ostream& operator<<(std::ostream& os, const Reply& r) {
  return os << "{code " << static_cast<int>(r.code) << ", error '" << r.error << "', message '"
            << r.message << "', retry-after '" << r.retry_after << "', until '" << r.until << "'}";
}

::testing::AssertionResult IsOk(const Reply& r) {
  if (r.ok() && r.error.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected OK, got " << r;
}

::testing::AssertionResult IsError(const Reply& r, grpc::StatusCode code,
                                   const std::string& token) {
  if (r.code == code && r.error == token) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "expected code " << static_cast<int>(code) << " with '" << token << "', got " << r;
}

std::string Trailer(const grpc::ClientContext& context, const std::string& key) {
  const auto& metadata = context.GetServerTrailingMetadata();
  auto it = metadata.find(key);
  if (it == metadata.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

std::string& TestClientIp() {
  static std::string ip;
  return ip;
}

::tchatator::testing::TestDatabase* CoreServerTest::db_ = nullptr;
storage::PgStore* CoreServerTest::store_ = nullptr;

}  // namespace tchatator::core
