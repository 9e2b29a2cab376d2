// Unit tests of core-service/errors.h: how a core status becomes a gRPC status with its
// trailing metadata (contract 2.2 and 3).

#include "core-service/errors.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/time/civil_time.h"
#include "grpcpp/test/server_context_test_spouse.h"
#include "storage/store.h"

namespace tchatator::core {
namespace {

using Trailers = std::multimap<std::string, std::string>;

struct Converted {
  grpc::Status status;
  Trailers trailers;
};

Converted Convert(const absl::Status& status) {
  grpc::ServerContext context;
  grpc::testing::ServerContextTestSpouse spouse(&context);
  Converted out;
  out.status = ToGrpcStatus(status, context);
  out.trailers = spouse.GetTrailingMetadata();
  return out;
}

std::string Only(const Trailers& trailers, const std::string& key) {
  EXPECT_EQ(trailers.count(key), 1u) << key;
  auto it = trailers.find(key);
  return it == trailers.end() ? "" : it->second;
}

TEST(ToGrpcStatus, OkIsOkWithoutTrailers) {
  const Converted c = Convert(absl::OkStatus());
  EXPECT_TRUE(c.status.ok());
  EXPECT_TRUE(c.trailers.empty());
}

TEST(ToGrpcStatus, ContractCodesKeepCodeMessageAndToken) {
  const std::vector<std::pair<absl::StatusCode, grpc::StatusCode>> cases = {
      {absl::StatusCode::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED},
      {absl::StatusCode::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED},
      {absl::StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND},
      {absl::StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
      {absl::StatusCode::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE},
      {absl::StatusCode::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED},
  };
  for (const auto& [code, grpc_code] : cases) {
    SCOPED_TRACE(absl::StatusCodeToString(code));
    const Converted c = Convert(Error(code, "some-token", "for people"));
    EXPECT_EQ(c.status.error_code(), grpc_code);
    EXPECT_EQ(c.status.error_message(), "for people");
    EXPECT_EQ(Only(c.trailers, kErrorTokenKey), "some-token");
    EXPECT_EQ(c.trailers.count(kRetryAfterKey), 0u);
    EXPECT_EQ(c.trailers.count(kUntilKey), 0u);
  }
}

TEST(ToGrpcStatus, ContractCodesWithoutTokenGetTheirDefaultToken) {
  const std::vector<std::pair<absl::Status, std::string>> cases = {
      {absl::UnauthenticatedError("x"), "not-authenticated"},
      {absl::PermissionDeniedError("x"), "forbidden"},
      {absl::InvalidArgumentError("x"), "bad-value"},
      {absl::ResourceExhaustedError("x"), "rate-limited"},
      {absl::UnavailableError("x"), "unavailable"},
      {absl::DeadlineExceededError("x"), "unavailable"},
  };
  for (const auto& [status, token] : cases) {
    SCOPED_TRACE(status.ToString());
    const Converted c = Convert(status);
    EXPECT_EQ(Only(c.trailers, kErrorTokenKey), token);
    EXPECT_EQ(TokenOf(status), token);
  }
}

TEST(ToGrpcStatus, EveryOtherCodeIsInternalWithoutDetails) {
  const std::vector<absl::StatusCode> codes = {
      absl::StatusCode::kCancelled,     absl::StatusCode::kUnknown,
      absl::StatusCode::kAlreadyExists, absl::StatusCode::kFailedPrecondition,
      absl::StatusCode::kAborted,       absl::StatusCode::kOutOfRange,
      absl::StatusCode::kUnimplemented, absl::StatusCode::kInternal,
      absl::StatusCode::kDataLoss,
  };
  for (absl::StatusCode code : codes) {
    SCOPED_TRACE(absl::StatusCodeToString(code));
    const absl::Status status(code, "database error: password=hunter2 at pg.internal");
    const Converted c = Convert(status);
    EXPECT_EQ(c.status.error_code(), grpc::StatusCode::INTERNAL);
    EXPECT_EQ(c.status.error_message(), "internal error");
    EXPECT_EQ(Only(c.trailers, kErrorTokenKey), "internal");
    EXPECT_EQ(TokenOf(status), "internal");
  }
}

TEST(ToGrpcStatus, InternalFailureHidesItsMessageEvenWithAToken) {
  const Converted c = Convert(Error(absl::StatusCode::kInternal, "internal", "secret detail"));
  EXPECT_EQ(c.status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(c.status.error_message(), "internal error");
  EXPECT_EQ(Only(c.trailers, kErrorTokenKey), "internal");
}

TEST(ToGrpcStatus, RateLimitCarriesRetryAfter) {
  absl::Status status =
      Error(absl::StatusCode::kResourceExhausted, "rate-limited", "too many messages");
  status.SetPayload(storage::kRetryAfterPayload, absl::Cord("37"));
  const Converted c = Convert(status);
  EXPECT_EQ(c.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(Only(c.trailers, kErrorTokenKey), "rate-limited");
  EXPECT_EQ(Only(c.trailers, kRetryAfterKey), "37");
  EXPECT_EQ(c.trailers.count(kUntilKey), 0u);
}

TEST(ToGrpcStatus, BlockCarriesUntilInRfc3339Utc) {
  const absl::Time until =
      absl::FromCivil(absl::CivilSecond(2026, 11, 27, 10, 15, 0), absl::UTCTimeZone());
  const absl::Status status =
      WithUntil(Error(absl::StatusCode::kPermissionDenied, "blocked", "blocked"), until);
  const Converted c = Convert(status);
  EXPECT_EQ(c.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Only(c.trailers, kErrorTokenKey), "blocked");
  EXPECT_EQ(Only(c.trailers, kUntilKey), "2026-11-27T10:15:00Z");
  EXPECT_EQ(c.trailers.count(kRetryAfterKey), 0u);
}

TEST(ToGrpcError, MessageIsAlwaysUtf8) {
  // SendMessageOutcome carries the message in a protobuf string: one invalid byte would
  // make the whole SendMessages answer unreadable.
  GrpcError e = ToGrpcError(Error(absl::StatusCode::kUnavailable, "unavailable",
                                  std::string("bad byte \xff\xfe, caf\xc3\xa9")));
  EXPECT_EQ(e.code, grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(e.message, "bad byte ??, caf??");
  e = ToGrpcError(Error(absl::StatusCode::kUnavailable, "unavailable", "caf\xc3\xa9 ferm\xc3\xa9"));
  EXPECT_EQ(e.message, "caf\xc3\xa9 ferm\xc3\xa9");
}

TEST(ToGrpcError, AFailureFromTheDatabaseKeepsItsDetailForTheLog) {
  GrpcError e = ToGrpcError(absl::UnavailableError(
      "database unreachable: connection to server on socket \"/tmp/pg/.s.PGSQL.5432\" "
      "failed: FATAL: database \"tchatator\" is not currently accepting connections\n"));
  EXPECT_EQ(e.code, grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(e.token, "unavailable");
  EXPECT_EQ(e.message, "database unreachable");
  e = ToGrpcError(absl::UnavailableError("commit outcome unknown: server closed the connection"));
  EXPECT_EQ(e.message, "commit outcome unknown");
  // A message written for the caller (with its token) is kept whole.
  e = ToGrpcError(Error(absl::StatusCode::kResourceExhausted, "rate-limited",
                        "too many messages: retry later"));
  EXPECT_EQ(e.message, "too many messages: retry later");
}

TEST(Error, KeepsCodeMessageAndToken) {
  const absl::Status status = Error(absl::StatusCode::kNotFound, "unknown-user", "no such user");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(std::string(status.message()), "no such user");
  EXPECT_EQ(TokenOf(status), "unknown-user");
}

}  // namespace
}  // namespace tchatator::core
