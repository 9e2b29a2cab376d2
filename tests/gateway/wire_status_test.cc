// Unit tests of the one mapping from gRPC status codes to wire statuses (contract 2.2).

#include "gateway/wire_status.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>

namespace tchatator::gateway {
namespace {

struct Row {
  grpc::StatusCode code;
  std::string_view name;
  int wire_code;
  std::string_view label;
  std::string_view token;
};

// Every gRPC code, OK (0) to UNAUTHENTICATED (16).
constexpr Row kTable[] = {
    {grpc::StatusCode::OK, "OK", 200, "OK", ""},
    {grpc::StatusCode::CANCELLED, "CANCELLED", 503, "UNAVAIL", "unavailable"},
    {grpc::StatusCode::UNKNOWN, "UNKNOWN", 500, "ERROR", "internal"},
    {grpc::StatusCode::INVALID_ARGUMENT, "INVALID_ARGUMENT", 416, "MISFMT", "bad-value"},
    {grpc::StatusCode::DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", 503, "UNAVAIL", "unavailable"},
    {grpc::StatusCode::NOT_FOUND, "NOT_FOUND", 404, "NOTFND", "not-found"},
    {grpc::StatusCode::ALREADY_EXISTS, "ALREADY_EXISTS", 500, "ERROR", "internal"},
    {grpc::StatusCode::PERMISSION_DENIED, "PERMISSION_DENIED", 403, "DENIED", "forbidden"},
    {grpc::StatusCode::RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED", 426, "TOOMRQ", "rate-limited"},
    {grpc::StatusCode::FAILED_PRECONDITION, "FAILED_PRECONDITION", 500, "ERROR", "internal"},
    {grpc::StatusCode::ABORTED, "ABORTED", 500, "ERROR", "internal"},
    {grpc::StatusCode::OUT_OF_RANGE, "OUT_OF_RANGE", 500, "ERROR", "internal"},
    {grpc::StatusCode::UNIMPLEMENTED, "UNIMPLEMENTED", 500, "ERROR", "internal"},
    {grpc::StatusCode::INTERNAL, "INTERNAL", 500, "ERROR", "internal"},
    {grpc::StatusCode::UNAVAILABLE, "UNAVAILABLE", 503, "UNAVAIL", "unavailable"},
    {grpc::StatusCode::DATA_LOSS, "DATA_LOSS", 500, "ERROR", "internal"},
    {grpc::StatusCode::UNAUTHENTICATED, "UNAUTHENTICATED", 401, "UNAUTH", "not-authenticated"},
};

TEST(FromGrpcTest, TableCoversEveryCode) {
  std::set<int> codes;
  for (const Row& row : kTable) codes.insert(static_cast<int>(row.code));
  ASSERT_EQ(codes.size(), 17u);
  EXPECT_EQ(*codes.begin(), 0);
  EXPECT_EQ(*codes.rbegin(), 16);
}

TEST(FromGrpcTest, EveryCode) {
  for (const Row& row : kTable) {
    const WireError error = FromGrpc(row.code);
    EXPECT_EQ(error.status.code, row.wire_code) << row.name;
    EXPECT_EQ(error.status.label, row.label) << row.name;
    EXPECT_EQ(error.default_token, row.token) << row.name;
  }
}

TEST(FromGrpcTest, CodesOutsideTheListAreInternal) {
  for (grpc::StatusCode code :
       {grpc::StatusCode::DO_NOT_USE, static_cast<grpc::StatusCode>(17),
        static_cast<grpc::StatusCode>(20)}) {
    const WireError error = FromGrpc(code);
    EXPECT_EQ(error.status.code, 500) << static_cast<int>(code);
    EXPECT_EQ(error.status.label, "ERROR") << static_cast<int>(code);
    EXPECT_EQ(error.default_token, "internal") << static_cast<int>(code);
  }
}

TEST(WireStatusTest, Constants) {
  EXPECT_EQ(kOk.code, 200);
  EXPECT_EQ(kOk.label, "OK");
  EXPECT_EQ(kUnauthenticated.code, 401);
  EXPECT_EQ(kUnauthenticated.label, "UNAUTH");
  EXPECT_EQ(kDenied.code, 403);
  EXPECT_EQ(kDenied.label, "DENIED");
  EXPECT_EQ(kNotFound.code, 404);
  EXPECT_EQ(kNotFound.label, "NOTFND");
  EXPECT_EQ(kMisformatted.code, 416);
  EXPECT_EQ(kMisformatted.label, "MISFMT");
  EXPECT_EQ(kTooManyRequests.code, 426);
  EXPECT_EQ(kTooManyRequests.label, "TOOMRQ");
  EXPECT_EQ(kError.code, 500);
  EXPECT_EQ(kError.label, "ERROR");
  EXPECT_EQ(kUnavailable.code, 503);
  EXPECT_EQ(kUnavailable.label, "UNAVAIL");
}

}  // namespace
}  // namespace tchatator::gateway
