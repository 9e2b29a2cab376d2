// The core's gRPC services through a real server on a local port, over a real
// PostgreSQL database and a FakeClock: every RPC of ChatService and AccountService,
// their errors (status code and `tchatator-error` trailer), rate limits, sessions and
// the durability promise (contract 2.3 to 2.6 and 3).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "absl/cleanup/cleanup.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/settings.h"
#include "core-service/chat_service.h"
#include "core-service/core_server.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "storage/migrations.h"
#include "storage/pg_store.h"
#include "tchatator/v1/chat.grpc.pb.h"
#include "tests/support/process.h"
#include "tests/core-service/core_fixture.h"
#include "tests/support/test_database.h"

namespace tchatator::core {
namespace {

using ::tchatator::testing::TestDatabase;

// The encoded grpc.health.v1.HealthCheckResponse for the whole server ("" on error):
// "\x08\x01" is SERVING, "\x08\x02" NOT_SERVING. Called without generated stubs.
std::string HealthCheck(const std::shared_ptr<grpc::Channel>& channel,
                        const std::string& service = "") {
  grpc::GenericStub generic(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  // HealthCheckRequest{service}: field 1, a string (nothing at all when empty).
  grpc::Slice encoded(service.empty() ? std::string()
                                      : "\x0a" + std::string(1, static_cast<char>(service.size())) +
                                            service);
  grpc::ByteBuffer request(&encoded, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  generic.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                    &response, [&](grpc::Status s) { done.set_value(s); });
  const grpc::Status status = done.get_future().get();
  EXPECT_TRUE(status.ok()) << status.error_message();
  if (!status.ok()) return "";
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return "";
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

using AccountServiceTest = CoreServerTest;
using ChatServiceTest = CoreServerTest;

// ===========================================================================
// AccountService

TEST_F(AccountServiceTest, CreateUserReturnsIdAndAFreshApiKey) {
  const std::vector<std::pair<v1::Role, std::string>> users = {
      {v1::ROLE_MEMBER, "Alice"}, {v1::ROLE_PRO, "Le Bistrot"}, {v1::ROLE_ADMIN, "Modération"}};
  std::vector<int64_t> ids;
  std::vector<std::string> keys;
  for (const auto& [role, name] : users) {
    v1::CreateUserResponse created;
    ASSERT_TRUE(IsOk(CreateUserCall(role, name, Bearer(kAdminKey), &created)));
    EXPECT_GT(created.user_id(), 0);
    EXPECT_TRUE(IsSecret(created.api_key())) << created.api_key();
    ids.push_back(created.user_id());
    keys.push_back(created.api_key());

    v1::User user;
    ASSERT_TRUE(IsOk(GetUserCall(created.user_id(), Bearer(kAdminKey), &user)));
    EXPECT_EQ(user.user_id(), created.user_id());
    EXPECT_EQ(user.name(), name);
    EXPECT_EQ(user.role(), role);
  }
  EXPECT_NE(ids[0], ids[1]);
  EXPECT_NE(ids[1], ids[2]);
  EXPECT_NE(keys[0], keys[1]);
  EXPECT_NE(keys[1], keys[2]);
  // Only a hash of the key is stored.
  EXPECT_EQ(Db("SELECT count(*) FROM users WHERE api_key_hash = '" + keys[0] + "'"), "0");
  EXPECT_EQ(Db("SELECT count(*) FROM users WHERE position('" + keys[0] + "' in name) > 0"), "0");
}

TEST_F(AccountServiceTest, EveryCallNeedsTheAdminKey) {
  // 33 wrong keys from one address: the limit on failures has a test of its own.
  Reconfigure([](Settings& s) { s.max_failed_logins_per_minute = 0; });
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const std::vector<std::optional<std::string>> wrong = {
      std::nullopt,
      "",
      "Bearer ",
      Bearer("wrong-key"),
      Bearer(std::string(kAdminKey) + "x"),
      Bearer(std::string(kAdminKey).substr(1)),
      std::string(kAdminKey),              // without "Bearer "
      "bearer " + std::string(kAdminKey),  // scheme is case-sensitive here
      "Basic " + std::string(kAdminKey),
      Bearer(member.api_key),
      Bearer(member.token),
  };
  for (const auto& authorization : wrong) {
    SCOPED_TRACE(authorization.value_or("(no header)"));
    EXPECT_TRUE(IsError(CreateUserCall(v1::ROLE_ADMIN, "intruder", authorization),
                        grpc::StatusCode::PERMISSION_DENIED, "invalid-api-key"));
    v1::RegenerateApiKeyResponse regenerated;
    EXPECT_TRUE(IsError(RegenerateCall(member.id, authorization, &regenerated),
                        grpc::StatusCode::PERMISSION_DENIED, "invalid-api-key"));
    EXPECT_TRUE(regenerated.api_key().empty());
    EXPECT_TRUE(IsError(GetUserCall(member.id, authorization), grpc::StatusCode::PERMISSION_DENIED,
                        "invalid-api-key"));
  }
  // Nothing changed: no user created, the member's key still works.
  EXPECT_EQ(Db("SELECT count(*)" + NewUsers() + " AND name = 'intruder'"), "0");
  EXPECT_TRUE(IsOk(LoginCall(member.api_key)));
}

// Runs `attempt(0)` to `attempt(n - 1)` at once, each on a thread of its own.
void AtOnce(int n, const std::function<void(int)>& attempt) {
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) threads.emplace_back(attempt, i);
  for (std::thread& t : threads) t.join();
}

TEST_F(AccountServiceTest, ConcurrentWrongAdminKeysAreLimitedExactly) {
  const std::string wipe = "DELETE FROM login_failures WHERE ip LIKE 'admin-key@%'";
  Db(wipe);
  absl::Cleanup wiped = [&wipe] { Db(wipe); };
  const Account member = NewAccount(v1::ROLE_MEMBER);
  for (int i = 0; i < 9; ++i) {
    EXPECT_TRUE(IsError(GetUserCall(member.id, Bearer("wrong")),
                        grpc::StatusCode::PERMISSION_DENIED, "invalid-api-key"));
  }
  std::atomic<int> ok{0};
  AtOnce(30, [&](int) {
    const Reply r = GetUserCall(member.id, Bearer(kAdminKey));
    if (IsOk(r)) {
      ok.fetch_add(1);
    } else {
      ADD_FAILURE() << r;
    }
  });
  EXPECT_EQ(ok.load(), 30);
  Db(wipe);
  std::atomic<int> refused{0};
  std::atomic<int> limited{0};
  AtOnce(30, [&](int i) {
    const Reply r = GetUserCall(member.id, Bearer("guess" + std::to_string(i)));
    if (IsError(r, grpc::StatusCode::PERMISSION_DENIED, "invalid-api-key")) {
      refused.fetch_add(1);
    } else if (IsError(r, grpc::StatusCode::RESOURCE_EXHAUSTED, "rate-limited")) {
      limited.fetch_add(1);
    } else {
      ADD_FAILURE() << r;
    }
  });
  EXPECT_EQ(refused.load(), 10);
  EXPECT_EQ(limited.load(), 20);
}

TEST_F(AccountServiceTest, TenWrongAdminKeysFromOneCallerHoldItsAdminCallsForAMinute) {
  // Counted by the caller's own address (127.0.0.1 for every test of the suite), which
  // its x-client-ip cannot change: the count is wiped before and after.
  const std::string wipe = "DELETE FROM login_failures WHERE ip LIKE 'admin-key@%'";
  Db(wipe);
  absl::Cleanup wiped = [&wipe] { Db(wipe); };
  const Account member = NewAccount(v1::ROLE_MEMBER);
  for (int i = 0; i < 10; ++i) {
    const std::string guess = "guess" + std::to_string(i);
    EXPECT_TRUE(IsError(CreateUserCall(v1::ROLE_ADMIN, "intruder", Bearer(guess)),
                        grpc::StatusCode::PERMISSION_DENIED, "invalid-api-key"))
        << i;
    TestClientIp() = "203.0.113." + std::to_string(i);  // changes nothing
    clock_.Advance(absl::Seconds(1));
  }
  // The right key too: the first failure was 10 s ago.
  const Reply held = GetUserCall(member.id, Bearer(kAdminKey));
  EXPECT_TRUE(IsError(held, grpc::StatusCode::RESOURCE_EXHAUSTED, "rate-limited"));
  EXPECT_EQ(held.retry_after, "50");
  // Apart from LOGIN failures: the users behind that address still log in.
  EXPECT_TRUE(IsOk(LoginCall(member.api_key)));
  clock_.Advance(absl::Seconds(49));
  EXPECT_EQ(GetUserCall(member.id, Bearer(kAdminKey)).retry_after, "1");
  clock_.Advance(absl::Seconds(1));
  EXPECT_TRUE(IsOk(GetUserCall(member.id, Bearer(kAdminKey))));
  EXPECT_EQ(Db("SELECT count(*)" + NewUsers() + " AND name = 'intruder'"), "0");
}

TEST_F(AccountServiceTest, WithoutAConfiguredAdminKeyEveryCallIsRefused) {
  Reconfigure([](Settings& s) { s.admin_api_key = ""; });
  for (const std::optional<std::string>& authorization :
       {std::optional<std::string>(std::nullopt), std::optional<std::string>("Bearer "),
        Bearer(kAdminKey)}) {
    SCOPED_TRACE(authorization.value_or("(no header)"));
    EXPECT_TRUE(IsError(CreateUserCall(v1::ROLE_MEMBER, "x", authorization),
                        grpc::StatusCode::PERMISSION_DENIED, "invalid-api-key"));
    EXPECT_TRUE(IsError(GetUserCall(1, authorization), grpc::StatusCode::PERMISSION_DENIED,
                        "invalid-api-key"));
    EXPECT_TRUE(IsError(RegenerateCall(1, authorization), grpc::StatusCode::PERMISSION_DENIED,
                        "invalid-api-key"));
  }
  EXPECT_EQ(Db("SELECT count(*)" + NewUsers()), "0");
  // With no key to guess, no call counts against the caller.
  EXPECT_EQ(Db("SELECT count(*) FROM login_failures WHERE ip LIKE 'admin-key@%'"), "0");
}

TEST_F(AccountServiceTest, ANewAdminKeyTakesEffectOnReload) {
  Reconfigure([](Settings& s) { s.admin_api_key = "the-new-admin-key"; });
  EXPECT_TRUE(IsError(CreateUserCall(v1::ROLE_MEMBER, "old", Bearer(kAdminKey)),
                      grpc::StatusCode::PERMISSION_DENIED, "invalid-api-key"));
  EXPECT_TRUE(IsOk(CreateUserCall(v1::ROLE_MEMBER, "new", Bearer("the-new-admin-key"))));
}

TEST_F(AccountServiceTest, CreateUserWithUnknownRoleIsBadValue) {
  for (v1::Role role : {v1::ROLE_UNSPECIFIED, static_cast<v1::Role>(42)}) {
    SCOPED_TRACE(static_cast<int>(role));
    v1::CreateUserResponse created;
    EXPECT_TRUE(IsError(CreateUserCall(role, "nobody", Bearer(kAdminKey), &created),
                        grpc::StatusCode::INVALID_ARGUMENT, "bad-value"));
    EXPECT_TRUE(created.api_key().empty());
  }
  EXPECT_EQ(Db("SELECT count(*)" + NewUsers()), "0");
}

TEST_F(AccountServiceTest, CreateUserRejectsBadNames) {
  const std::vector<std::string> bad = {
      "",
      "\n",
      "two\nlines",
      "trailing newline\n",
      "carriage\rreturn",
      std::string("nul\0inside", 10),
      std::string(201, 'x'),
      Repeat("é", 201),
      " ",
      "   ",
      "tab\there",
      "escape \x1b[2J sequence",
      "del\x7f",
      "c1 \xc2\x85 next line",
      "c1 \xc2\x9b csi",
      "line\xe2\x80\xa8separator",
      "paragraph\xe2\x80\xa9separator",
      // Only blank characters: nothing shows.
      "\xc2\xa0",                       // no-break space
      "\xe3\x80\x80\xe3\x80\x80",           // ideographic spaces
      " \xe2\x80\x83 \xe2\x80\x8b ",          // an em space and a zero-width space
      "\xe2\x80\xaf\xe2\x81\x9f\xef\xbb\xbf",  // narrow no-break, math space, BOM
      "\xe3\x85\xa4",                     // Hangul filler
      "\xe2\xa0\x80\xe2\xa0\x80",               // braille blanks
      "\xc2\xad\xe2\x80\x8e\xef\xb8\x8f",       // soft hyphen, LRM, variation selector
  };
  for (const std::string& name : bad) {
    SCOPED_TRACE(name);
    v1::CreateUserResponse created;
    EXPECT_TRUE(IsError(CreateUserCall(v1::ROLE_MEMBER, name, Bearer(kAdminKey), &created),
                        grpc::StatusCode::INVALID_ARGUMENT, "bad-value"));
    EXPECT_EQ(created.user_id(), 0);
  }
  EXPECT_EQ(Db("SELECT count(*)" + NewUsers()), "0");
}

TEST_F(AccountServiceTest, CreateUserAcceptsNamesUpTo200Characters) {
  const std::vector<std::string> good = {
      "a",
      std::string(200, 'x'),
      Repeat("é", 200),  // 200 characters, 400 bytes
      "L'Oustau de Baumanière \"3 étoiles\" \\ 🍷",
      " Ti Zef ",
      "Caf\xc3\xa9\xc2\xa0" "du port",  // a no-break space (U+00A0), just past C1
      "\xc2\xa9 Armor",                 // U+00A9
      "a\xe2\x80\xa7" "b",             // U+2027, next to the separators
  };
  for (const std::string& name : good) {
    SCOPED_TRACE(name);
    v1::CreateUserResponse created;
    ASSERT_TRUE(IsOk(CreateUserCall(v1::ROLE_PRO, name, Bearer(kAdminKey), &created)));
    v1::User user;
    ASSERT_TRUE(IsOk(GetUserCall(created.user_id(), Bearer(kAdminKey), &user)));
    EXPECT_EQ(user.name(), name);
    EXPECT_EQ(user.role(), v1::ROLE_PRO);
  }
}

TEST_F(AccountServiceTest, RegenerateApiKeyReplacesTheKey) {
  const Account member = NewAccount(v1::ROLE_MEMBER, "Alice");
  v1::RegenerateApiKeyResponse regenerated;
  ASSERT_TRUE(IsOk(RegenerateCall(member.id, Bearer(kAdminKey), &regenerated)));
  EXPECT_EQ(regenerated.user_id(), member.id);
  EXPECT_TRUE(IsSecret(regenerated.api_key())) << regenerated.api_key();
  EXPECT_NE(regenerated.api_key(), member.api_key);

  EXPECT_TRUE(
      IsError(LoginCall(member.api_key), grpc::StatusCode::PERMISSION_DENIED, "invalid-api-key"));
  v1::LoginResponse login;
  ASSERT_TRUE(IsOk(LoginCall(regenerated.api_key(), &login)));
  EXPECT_EQ(login.user_id(), member.id);
  EXPECT_EQ(login.role(), v1::ROLE_MEMBER);
  // The user is otherwise unchanged.
  v1::User user;
  ASSERT_TRUE(IsOk(GetUserCall(member.id, Bearer(kAdminKey), &user)));
  EXPECT_EQ(user.name(), "Alice");
  EXPECT_EQ(user.role(), v1::ROLE_MEMBER);
}

TEST_F(AccountServiceTest, RegenerateApiKeyOfUnknownUserIsUnknownUser) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  v1::RegenerateApiKeyResponse regenerated;
  EXPECT_TRUE(IsError(RegenerateCall(member.id + 1000, Bearer(kAdminKey), &regenerated),
                      grpc::StatusCode::NOT_FOUND, "unknown-user"));
  EXPECT_TRUE(regenerated.api_key().empty());
  EXPECT_TRUE(IsError(RegenerateCall(0), grpc::StatusCode::NOT_FOUND, "unknown-user"));
  EXPECT_TRUE(IsOk(LoginCall(member.api_key)));
}

TEST_F(AccountServiceTest, TheBuiltInAdministratorsKeyIsNotRegenerated) {
  v1::LoginResponse admin;
  ASSERT_TRUE(IsOk(LoginCall(kAdminKey, &admin)));
  v1::RegenerateApiKeyResponse regenerated;
  EXPECT_TRUE(IsError(RegenerateCall(admin.user_id(), Bearer(kAdminKey), &regenerated),
                      grpc::StatusCode::PERMISSION_DENIED, "forbidden"));
  EXPECT_TRUE(regenerated.api_key().empty());
  // Still one built-in administrator, its session alive, its key the configured one.
  v1::LoginResponse again;
  ASSERT_TRUE(IsOk(LoginCall(kAdminKey, &again)));
  EXPECT_EQ(again.user_id(), admin.user_id());
  EXPECT_TRUE(IsOk(LogoutCall(Bearer(admin.token()))));
  EXPECT_EQ(Db("SELECT count(*) FROM users WHERE name = 'Administrateur' AND role = 'admin'"),
            "1");
  // Another administrator's key is regenerated as any user's.
  const Account other_admin = NewAccount(v1::ROLE_ADMIN);
  EXPECT_TRUE(IsOk(RegenerateCall(other_admin.id, Bearer(kAdminKey), &regenerated)));
}

TEST_F(AccountServiceTest, GetUserOfUnknownUserIsUnknownUser) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  EXPECT_TRUE(IsError(GetUserCall(member.id + 1000), grpc::StatusCode::NOT_FOUND, "unknown-user"));
  EXPECT_TRUE(IsError(GetUserCall(0), grpc::StatusCode::NOT_FOUND, "unknown-user"));
  EXPECT_TRUE(IsError(GetUserCall(-3), grpc::StatusCode::NOT_FOUND, "unknown-user"));
}

// ===========================================================================
// ChatService: sessions

TEST_F(ChatServiceTest, LoginOpensASessionWithItsRole) {
  for (v1::Role role : {v1::ROLE_MEMBER, v1::ROLE_PRO, v1::ROLE_ADMIN}) {
    SCOPED_TRACE(static_cast<int>(role));
    v1::CreateUserResponse created;
    ASSERT_TRUE(IsOk(CreateUserCall(role, "user", Bearer(kAdminKey), &created)));
    v1::LoginResponse login;
    ASSERT_TRUE(IsOk(LoginCall(created.api_key(), &login)));
    EXPECT_TRUE(IsSecret(login.token())) << login.token();
    EXPECT_NE(login.token(), created.api_key());
    EXPECT_EQ(login.user_id(), created.user_id());
    EXPECT_EQ(login.role(), role);
    // session-ttl-hours defaults to 168.
    EXPECT_EQ(FromProto(login.expires_at()), kStart + absl::Hours(168));
    EXPECT_TRUE(IsOk(UnreadCall(Bearer(login.token()))));
  }
}

TEST_F(ChatServiceTest, EachLoginIsAnIndependentSession) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  v1::LoginResponse second;
  ASSERT_TRUE(IsOk(LoginCall(member.api_key, &second)));
  EXPECT_NE(second.token(), member.token);
  ASSERT_TRUE(IsOk(LogoutCall(Bearer(member.token))));
  EXPECT_TRUE(IsOk(UnreadCall(Bearer(second.token()))));
  EXPECT_TRUE(IsError(UnreadCall(Bearer(member.token)), grpc::StatusCode::UNAUTHENTICATED,
                      "not-authenticated"));
}

TEST_F(ChatServiceTest, LoginWithUnknownKeyIsInvalidApiKey) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const std::string stored_hash =
      Db("SELECT api_key_hash FROM users WHERE id = " + std::to_string(member.id));
  ASSERT_FALSE(stored_hash.empty());
  for (const std::string& key :
       {std::string("not-a-key"), std::string(""), member.api_key + "x",
        member.api_key.substr(0, 42), member.token, stored_hash, std::string(5000, 'k')}) {
    SCOPED_TRACE(key.substr(0, 60));
    v1::LoginResponse login;
    EXPECT_TRUE(
        IsError(LoginCall(key, &login), grpc::StatusCode::PERMISSION_DENIED, "invalid-api-key"));
    EXPECT_TRUE(login.token().empty());
  }
}

// Against key guessing: once an address made max-failed-logins-per-minute (10) failed
// logins in 60 s, its logins are refused RESOURCE_EXHAUSTED rate-limited, with a valid
// key too, until the oldest failure leaves the window (retry-after); a refusal counts
// as no failure, and other addresses log in meanwhile.
TEST_F(ChatServiceTest, TenFailedLoginsFromOneAddressHoldItsLoginsForAMinute) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(IsError(LoginCall(member.api_key + "x"), grpc::StatusCode::PERMISSION_DENIED,
                        "invalid-api-key"))
        << i;
    clock_.Advance(absl::Seconds(1));
  }
  // The first failure was 10 s ago: the window frees in 50 s.
  const Reply held = LoginCall(member.api_key);
  EXPECT_TRUE(IsError(held, grpc::StatusCode::RESOURCE_EXHAUSTED, "rate-limited"));
  EXPECT_EQ(held.retry_after, "50");
  const std::string address = TestClientIp();
  TestClientIp() = "203.0.113.19";
  EXPECT_TRUE(IsOk(LoginCall(member.api_key)));
  TestClientIp() = address;
  clock_.Advance(absl::Seconds(49));
  EXPECT_EQ(LoginCall(member.api_key).retry_after, "1");
  clock_.Advance(absl::Seconds(1));
  EXPECT_TRUE(IsOk(LoginCall(member.api_key)));
}

// Each attempt is judged while the address is under its limit, one at a time, so that
// guesses sent at once are held as they would be one after the other; successful logins,
// however many at once, count as no failure and are never held below the limit.
TEST_F(ChatServiceTest, ConcurrentFailedLoginsAreLimitedExactly) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  for (int i = 0; i < 9; ++i) {
    EXPECT_TRUE(IsError(LoginCall(member.api_key + "x"), grpc::StatusCode::PERMISSION_DENIED,
                        "invalid-api-key"));
  }
  std::atomic<int> ok{0};
  AtOnce(30, [&](int) {
    const Reply r = LoginCall(member.api_key);
    if (IsOk(r)) {
      ok.fetch_add(1);
    } else {
      ADD_FAILURE() << r;
    }
  });
  EXPECT_EQ(ok.load(), 30);
  Db("DELETE FROM login_failures WHERE ip = '" + TestClientIp() + "'");
  std::atomic<int> refused{0};
  std::atomic<int> limited{0};
  AtOnce(40, [&](int i) {
    const Reply r = LoginCall(member.api_key + "x" + std::to_string(i));
    if (IsError(r, grpc::StatusCode::PERMISSION_DENIED, "invalid-api-key")) {
      refused.fetch_add(1);
    } else if (IsError(r, grpc::StatusCode::RESOURCE_EXHAUSTED, "rate-limited") &&
               r.retry_after == "60") {
      limited.fetch_add(1);
    } else {
      ADD_FAILURE() << r;
    }
  });
  EXPECT_EQ(refused.load(), 10);
  EXPECT_EQ(limited.load(), 30);
  EXPECT_EQ(Db("SELECT count(*) FROM login_failures WHERE ip = '" + TestClientIp() + "'"), "10");
}

TEST_F(ChatServiceTest, CallsWithoutAValidSessionAreNotAuthenticated) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const int64_t message = Send(pro, member, "kept");
  const std::vector<std::optional<std::string>> invalid = {
      std::nullopt,
      "",
      "Bearer ",
      Bearer("no-such-session"),
      Bearer(member.token + "x"),
      member.token,  // without "Bearer "
      "Basic " + member.token,
      Bearer(member.api_key),  // an API key is not a session token
      Bearer(kAdminKey),
      Bearer(std::string(1000, 't')),
  };
  for (const auto& authorization : invalid) {
    SCOPED_TRACE(authorization.value_or("(no header)"));
    const grpc::StatusCode code = grpc::StatusCode::UNAUTHENTICATED;
    EXPECT_TRUE(IsError(LogoutCall(authorization), code, "not-authenticated"));
    EXPECT_TRUE(IsError(SendCall(authorization, pro.id, "hi"), code, "not-authenticated"));
    EXPECT_TRUE(IsError(UpdateCall(authorization, message, "edited"), code, "not-authenticated"));
    EXPECT_TRUE(IsError(DeleteCall(authorization, message), code, "not-authenticated"));
    v1::ListUnreadResponse unread;
    EXPECT_TRUE(IsError(UnreadCall(authorization, &unread), code, "not-authenticated"));
    EXPECT_EQ(unread.messages_size(), 0);
  }
  // Nothing happened: one message, unedited, undeleted, still unread.
  EXPECT_EQ(MessageCount(), "1");
  const std::vector<v1::Message> got = Unread(member);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id(), message);
  EXPECT_EQ(got[0].content(), "kept");
  // The valid session still works.
  EXPECT_TRUE(IsOk(LogoutCall(Bearer(member.token))));
}

TEST_F(ChatServiceTest, SessionExpiresAfterTheDefaultTtl) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  clock_.Advance(absl::Hours(168) - absl::Seconds(1));
  EXPECT_TRUE(IsOk(SendCall(Bearer(member.token), pro.id, "still here")));
  clock_.Advance(absl::Seconds(2));
  EXPECT_TRUE(IsError(SendCall(Bearer(member.token), pro.id, "too late"),
                      grpc::StatusCode::UNAUTHENTICATED, "not-authenticated"));
  EXPECT_TRUE(IsError(UnreadCall(Bearer(member.token)), grpc::StatusCode::UNAUTHENTICATED,
                      "not-authenticated"));
  EXPECT_EQ(MessageCount(), "1");
  // A new LOGIN opens a new session.
  v1::LoginResponse login;
  ASSERT_TRUE(IsOk(LoginCall(member.api_key, &login)));
  EXPECT_EQ(FromProto(login.expires_at()), clock_.Now() + absl::Hours(168));
  EXPECT_TRUE(IsOk(UnreadCall(Bearer(login.token()))));
}

TEST_F(ChatServiceTest, SessionTtlFollowsTheSetting) {
  Reconfigure([](Settings& s) { s.session_ttl_hours = 2; });
  const Account member = NewAccount(v1::ROLE_MEMBER);
  v1::LoginResponse login;
  ASSERT_TRUE(IsOk(LoginCall(member.api_key, &login)));
  EXPECT_EQ(FromProto(login.expires_at()), kStart + absl::Hours(2));
  clock_.Advance(absl::Hours(2) - absl::Seconds(1));
  EXPECT_TRUE(IsOk(UnreadCall(Bearer(login.token()))));
  clock_.Advance(absl::Seconds(2));
  EXPECT_TRUE(IsError(UnreadCall(Bearer(login.token())), grpc::StatusCode::UNAUTHENTICATED,
                      "not-authenticated"));
  EXPECT_TRUE(IsError(UnreadCall(Bearer(member.token)), grpc::StatusCode::UNAUTHENTICATED,
                      "not-authenticated"));
}

TEST_F(ChatServiceTest, LogoutEndsTheSession) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  ASSERT_TRUE(IsOk(LogoutCall(Bearer(member.token))));
  EXPECT_TRUE(IsError(SendCall(Bearer(member.token), pro.id, "after logout"),
                      grpc::StatusCode::UNAUTHENTICATED, "not-authenticated"));
  EXPECT_TRUE(IsError(UnreadCall(Bearer(member.token)), grpc::StatusCode::UNAUTHENTICATED,
                      "not-authenticated"));
  EXPECT_TRUE(IsError(LogoutCall(Bearer(member.token)), grpc::StatusCode::UNAUTHENTICATED,
                      "not-authenticated"));
  EXPECT_EQ(MessageCount(), "0");
  // Other users' sessions are untouched; the user may log in again.
  EXPECT_TRUE(IsOk(UnreadCall(Bearer(pro.token))));
  v1::LoginResponse login;
  ASSERT_TRUE(IsOk(LoginCall(member.api_key, &login)));
  EXPECT_TRUE(IsOk(SendCall(Bearer(login.token()), pro.id, "back")));
}

TEST_F(ChatServiceTest, SendMessageChecksTheSessionThoughThisCoreHasSeenIt) {
  // This core answers sends from the sessions it has seen without looking them up; the
  // send's own statement must still see a logout made through another core (here, the
  // row deleted directly) and an admin's ban, whatever the sender's role.
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const Account admin = NewAccount(v1::ROLE_ADMIN);
  const Account admin2 = NewAccount(v1::ROLE_ADMIN);
  ASSERT_TRUE(IsOk(SendCall(Bearer(member.token), pro.id, "seen")));
  ASSERT_TRUE(IsOk(SendCall(Bearer(admin.token), pro.id, "seen too")));
  ASSERT_EQ(Db("DELETE FROM sessions WHERE user_id = " + std::to_string(member.id) +
               " RETURNING 'deleted'"),
            "deleted");
  const Reply gone = SendCall(Bearer(member.token), pro.id, "after another core's logout");
  EXPECT_TRUE(IsError(gone, grpc::StatusCode::UNAUTHENTICATED, "not-authenticated")) << gone;
  EXPECT_EQ(gone.message, "no valid session: LOGIN first");
  // The session comes before the content, as for a session looked up.
  EXPECT_TRUE(IsError(SendCall(Bearer(member.token), pro.id, ""),
                      grpc::StatusCode::UNAUTHENTICATED, "not-authenticated"));

  v1::RestrictRequest ban;
  ban.set_user_id(admin.id);
  v1::RestrictResponse banned_response;
  ASSERT_TRUE(IsOk(Invoke(*chat_, &v1::ChatService::Stub::Ban, Bearer(admin2.token), ban,
                          &banned_response)));
  const Reply banned = SendCall(Bearer(admin.token), pro.id, "after the ban");
  EXPECT_TRUE(IsError(banned, grpc::StatusCode::PERMISSION_DENIED, "banned")) << banned;
  EXPECT_EQ(banned.message, "this account is banned");
  EXPECT_TRUE(IsError(SendCall(Bearer(admin.token), pro.id, ""),
                      grpc::StatusCode::PERMISSION_DENIED, "banned"));
  EXPECT_TRUE(IsError(SendCall(Bearer(pro.token), member.id, ""),
                      grpc::StatusCode::INVALID_ARGUMENT, "empty-content"));
  EXPECT_EQ(MessageCount(), "2");
}

// ===========================================================================
// ChatService: SendMessage

TEST_F(ChatServiceTest, SendMessageReturnsIdAndSentAtAfterTheCommit) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  clock_.Advance(absl::Seconds(5));
  v1::SendMessageResponse sent;
  ASSERT_TRUE(IsOk(SendCall(Bearer(member.token), pro.id, "Bonjour, comment ça va ?", &sent)));
  EXPECT_GT(sent.message_id(), 0);
  EXPECT_EQ(FromProto(sent.sent_at()), kStart + absl::Seconds(5));
  // Durability: the row is committed before the answer, visible from another connection.
  const std::string where = " FROM messages WHERE id = " + std::to_string(sent.message_id());
  EXPECT_EQ(Db("SELECT content" + where), "Bonjour, comment ça va ?");
  EXPECT_EQ(Db("SELECT sender_id" + where), std::to_string(member.id));
  EXPECT_EQ(Db("SELECT recipient_id" + where), std::to_string(pro.id));
  EXPECT_EQ(Db("SELECT (extract(epoch FROM sent_at) * 1000000)::bigint" + where),
            std::to_string(absl::ToUnixMicros(kStart + absl::Seconds(5))));
  EXPECT_EQ(Db("SELECT read_at IS NULL AND deleted_at IS NULL" + where), "t");

  v1::SendMessageResponse second;
  ASSERT_TRUE(IsOk(SendCall(Bearer(member.token), pro.id, "encore", &second)));
  EXPECT_GT(second.message_id(), sent.message_id());
  EXPECT_EQ(MessageCount(), "2");
}

TEST_F(ChatServiceTest, SendMessageFollowsTheRoleMatrix) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account member2 = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const Account pro2 = NewAccount(v1::ROLE_PRO);
  const Account admin = NewAccount(v1::ROLE_ADMIN);
  const Account admin2 = NewAccount(v1::ROLE_ADMIN);

  struct Case {
    const Account* from;
    const Account* to;
    bool allowed;
    const char* what;
  };
  const std::vector<Case> cases = {
      {&member, &pro, true, "member to pro"},     {&pro, &member, true, "pro to member"},
      {&admin, &member, true, "admin to member"}, {&admin, &pro, true, "admin to pro"},
      {&admin, &admin2, true, "admin to admin"},  {&member, &member2, false, "member to member"},
      {&pro, &pro2, false, "pro to pro"},         {&member, &member, false, "member to self"},
      {&pro, &pro, false, "pro to self"},
  };
  int allowed = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const Reply r = SendCall(Bearer(c.from->token), c.to->id, c.what);
    if (c.allowed) {
      EXPECT_TRUE(IsOk(r));
      ++allowed;
    } else {
      EXPECT_TRUE(IsError(r, grpc::StatusCode::PERMISSION_DENIED, "recipient-not-allowed"));
    }
  }
  // Refused sends store nothing.
  EXPECT_EQ(MessageCount(), std::to_string(allowed));
  EXPECT_EQ(Db("SELECT count(*)" + NewMessages() + " AND sender_id = recipient_id"), "0");
}

TEST_F(ChatServiceTest, SendMessageToUnknownUserIsUnknownUser) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  for (int64_t recipient : {pro.id + 1000, int64_t{0}, int64_t{-1}}) {
    SCOPED_TRACE(recipient);
    v1::SendMessageResponse sent;
    EXPECT_TRUE(IsError(SendCall(Bearer(member.token), recipient, "hello?", &sent),
                        grpc::StatusCode::NOT_FOUND, "unknown-user"));
    EXPECT_EQ(sent.message_id(), 0);
  }
  EXPECT_EQ(MessageCount(), "0");
}

TEST_F(ChatServiceTest, SendMessageChecksTheContent) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const auto send = [&](const std::string& content) {
    return SendCall(Bearer(member.token), pro.id, content);
  };
  EXPECT_TRUE(IsError(send(""), grpc::StatusCode::INVALID_ARGUMENT, "empty-content"));
  // max-message-length (1000) counts characters, not bytes.
  EXPECT_TRUE(IsOk(send(Repeat("é", 1000))));
  EXPECT_TRUE(
      IsError(send(Repeat("é", 1001)), grpc::StatusCode::INVALID_ARGUMENT, "content-too-long"));
  EXPECT_TRUE(IsOk(send(Repeat("😀", 1000))));
  EXPECT_TRUE(IsError(send(std::string(1001, 'a')), grpc::StatusCode::INVALID_ARGUMENT,
                      "content-too-long"));
  EXPECT_TRUE(
      IsError(send(std::string("nul\0byte", 8)), grpc::StatusCode::INVALID_ARGUMENT, "bad-value"));
  EXPECT_TRUE(IsOk(send("plusieurs\nlignes\n")));
  // A CR before a LF, or last, would be read back on the wire as part of a line break:
  // refused. A CR anywhere else is a character like another.
  for (const char* framing : {"a\r\nb", "ab\r", "a\r\r\nb", "\r"}) {
    SCOPED_TRACE(::testing::PrintToString(std::string(framing)));
    EXPECT_TRUE(IsError(send(framing), grpc::StatusCode::INVALID_ARGUMENT, "bad-value"));
  }
  EXPECT_TRUE(IsOk(send("a\rb")));
  EXPECT_EQ(MessageCount(), "4");
  // Stored byte for byte.
  EXPECT_EQ(Db("SELECT content" + NewMessages() + " ORDER BY id LIMIT 1"), Repeat("é", 1000));
  EXPECT_EQ(Db("SELECT content" + NewMessages() + " ORDER BY id DESC LIMIT 1 OFFSET 1"),
            "plusieurs\nlignes\n");
  EXPECT_EQ(Db("SELECT content" + NewMessages() + " ORDER BY id DESC LIMIT 1"), "a\rb");
}

TEST_F(ChatServiceTest, MaxMessageLengthFollowsTheSetting) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  Reconfigure([](Settings& s) { s.max_message_length = 10; });
  EXPECT_TRUE(IsOk(SendCall(Bearer(member.token), pro.id, "ça va bien")));  // 10 characters
  EXPECT_TRUE(IsError(SendCall(Bearer(member.token), pro.id, "ça va bien!"),
                      grpc::StatusCode::INVALID_ARGUMENT, "content-too-long"));
}

TEST_F(ChatServiceTest, ThirteenthMessageInAMinuteIsRateLimited) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(IsOk(SendCall(Bearer(member.token), pro.id, "msg " + std::to_string(i)))) << i;
  }
  v1::SendMessageResponse refused;
  const Reply r = SendCall(Bearer(member.token), pro.id, "one too many", &refused);
  EXPECT_TRUE(IsError(r, grpc::StatusCode::RESOURCE_EXHAUSTED, "rate-limited"));
  EXPECT_EQ(r.retry_after, "60");
  EXPECT_EQ(refused.message_id(), 0);
  EXPECT_EQ(MessageCount(), "12");

  clock_.Advance(absl::Seconds(20));
  const Reply later = SendCall(Bearer(member.token), pro.id, "still too many");
  EXPECT_TRUE(IsError(later, grpc::StatusCode::RESOURCE_EXHAUSTED, "rate-limited"));
  EXPECT_EQ(later.retry_after, "40");

  // The pro is not limited by the member's sends.
  EXPECT_TRUE(IsOk(SendCall(Bearer(pro.token), member.id, "answer")));

  clock_.Advance(absl::Seconds(40));  // 60 s after the first twelve
  EXPECT_TRUE(IsOk(SendCall(Bearer(member.token), pro.id, "again")));
  EXPECT_EQ(MessageCount(), "14");
}

TEST_F(ChatServiceTest, RateLimitHoldsAcrossSessionsOfOneUser) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  v1::LoginResponse other;
  ASSERT_TRUE(IsOk(LoginCall(member.api_key, &other)));
  for (int i = 0; i < 12; ++i) {
    const std::string& token = i % 2 == 0 ? member.token : other.token();
    ASSERT_TRUE(IsOk(SendCall(Bearer(token), pro.id, "x"))) << i;
  }
  const Reply r = SendCall(Bearer(other.token()), pro.id, "x");
  EXPECT_TRUE(IsError(r, grpc::StatusCode::RESOURCE_EXHAUSTED, "rate-limited"));
  EXPECT_EQ(r.retry_after, "60");
}

TEST_F(ChatServiceTest, RateLimitsFollowTheSettings) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  Reconfigure([](Settings& s) {
    s.max_messages_per_minute = 2;
    s.max_messages_per_hour = 3;
  });
  ASSERT_TRUE(IsOk(SendCall(Bearer(member.token), pro.id, "1")));
  ASSERT_TRUE(IsOk(SendCall(Bearer(member.token), pro.id, "2")));
  Reply r = SendCall(Bearer(member.token), pro.id, "3");
  EXPECT_TRUE(IsError(r, grpc::StatusCode::RESOURCE_EXHAUSTED, "rate-limited"));
  EXPECT_EQ(r.retry_after, "60");
  clock_.Advance(absl::Seconds(60));
  ASSERT_TRUE(IsOk(SendCall(Bearer(member.token), pro.id, "3")));
  clock_.Advance(absl::Seconds(60));
  // Three in the last hour (at 0 s, 0 s and 60 s): free again at 3600 s.
  r = SendCall(Bearer(member.token), pro.id, "4");
  EXPECT_TRUE(IsError(r, grpc::StatusCode::RESOURCE_EXHAUSTED, "rate-limited"));
  EXPECT_EQ(r.retry_after, "3480");
  // 0 means unlimited.
  Reconfigure([](Settings& s) {
    s.max_messages_per_minute = 0;
    s.max_messages_per_hour = 0;
  });
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(IsOk(SendCall(Bearer(member.token), pro.id, "u")));
  EXPECT_EQ(MessageCount(), "23");
}

TEST_F(ChatServiceTest, ConcurrentSendsAreLimitedExactly) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  std::atomic<int> ok{0};
  std::atomic<int> limited{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&] {
      const Reply r = SendCall(Bearer(member.token), pro.id, "race");
      if (r.ok()) {
        ok.fetch_add(1);
      } else if (r.code == grpc::StatusCode::RESOURCE_EXHAUSTED && r.error == "rate-limited" &&
                 r.retry_after == "60") {
        limited.fetch_add(1);
      } else {
        ADD_FAILURE() << r;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 12);
  EXPECT_EQ(limited.load(), 8);
  EXPECT_EQ(MessageCount(), "12");
}

// ===========================================================================
// ChatService: SendMessages (several SendMessage calls in one, as the gateway sends them)

// The SendMessage call of `token` to `recipient_id` inside a SendMessages request.
v1::SendMessageCall SendMessageCallOf(const std::string& token, int64_t recipient_id,
                                      const std::string& content) {
  v1::SendMessageCall call;
  call.set_token(token);
  call.set_client_ip("203.0.113.7");
  call.set_request_id("batch-test");
  call.mutable_request()->set_recipient_id(recipient_id);
  call.mutable_request()->set_content(content);
  return call;
}

// An outcome as the Reply of a call.
Reply ReplyOf(const v1::SendMessageOutcome& outcome) {
  Reply r;
  r.code = static_cast<grpc::StatusCode>(outcome.code());
  r.message = outcome.message();
  r.error = outcome.error();
  r.retry_after = outcome.retry_after();
  r.until = outcome.until();
  return r;
}

TEST_F(ChatServiceTest, SendMessagesAnswersEachCallAsSendMessageWould) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account member2 = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  Reconfigure([](Settings& s) { s.max_messages_per_minute = 1; });
  ASSERT_TRUE(IsOk(SendCall(Bearer(member2.token), pro.id, "first of the minute")));
  clock_.Advance(absl::Seconds(15));

  v1::SendMessagesRequest request;
  *request.add_calls() = SendMessageCallOf(member.token, pro.id, "un");
  *request.add_calls() = SendMessageCallOf("no-such-token", pro.id, "deux");
  *request.add_calls() = SendMessageCallOf(member.token, member2.id, "trois");
  *request.add_calls() = SendMessageCallOf(member.token, pro.id, "");
  *request.add_calls() = SendMessageCallOf(pro.token, pro.id + 1000, "cinq");
  *request.add_calls() = SendMessageCallOf(pro.token, member.id, "six");
  *request.add_calls() = SendMessageCallOf(member2.token, pro.id, "sept");
  v1::SendMessagesResponse response;
  // No authorization metadata: each call carries its own token.
  ASSERT_TRUE(IsOk(Invoke(*chat_, &v1::ChatService::Stub::SendMessages, std::nullopt, request,
                          &response)));
  ASSERT_EQ(response.outcomes_size(), 7);
  EXPECT_TRUE(IsOk(ReplyOf(response.outcomes(0))));
  EXPECT_TRUE(IsError(ReplyOf(response.outcomes(1)), grpc::StatusCode::UNAUTHENTICATED,
                      "not-authenticated"));
  EXPECT_TRUE(IsError(ReplyOf(response.outcomes(2)), grpc::StatusCode::PERMISSION_DENIED,
                      "recipient-not-allowed"));
  EXPECT_TRUE(IsError(ReplyOf(response.outcomes(3)), grpc::StatusCode::INVALID_ARGUMENT,
                      "empty-content"));
  EXPECT_TRUE(
      IsError(ReplyOf(response.outcomes(4)), grpc::StatusCode::NOT_FOUND, "unknown-user"));
  EXPECT_TRUE(IsOk(ReplyOf(response.outcomes(5))));
  const Reply limited = ReplyOf(response.outcomes(6));
  EXPECT_TRUE(IsError(limited, grpc::StatusCode::RESOURCE_EXHAUSTED, "rate-limited"));
  EXPECT_EQ(limited.retry_after, "45");

  // The two accepted are committed, with the ids and times their outcomes give; the
  // refused ones carry no response.
  EXPECT_EQ(MessageCount(), "3");
  for (int i : {0, 5}) {
    const v1::SendMessageResponse& sent = response.outcomes(i).response();
    ASSERT_GT(sent.message_id(), 0) << i;
    EXPECT_EQ(FromProto(sent.sent_at()), kStart + absl::Seconds(15)) << i;
    EXPECT_EQ(Db("SELECT content FROM messages WHERE id = " + std::to_string(sent.message_id())),
              i == 0 ? "un" : "six");
  }
  for (int i : {1, 2, 3, 4, 6}) {
    EXPECT_FALSE(response.outcomes(i).has_response()) << i;
  }
}

TEST_F(ChatServiceTest, SendMessagesRefusesMoreThanItsLimitOfCallsAndAcceptsNone) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  Reconfigure([](Settings& s) {
    s.max_messages_per_minute = 0;
    s.max_messages_per_hour = 0;
  });
  v1::SendMessagesResponse response;
  EXPECT_TRUE(IsOk(Invoke(*chat_, &v1::ChatService::Stub::SendMessages, std::nullopt,
                          v1::SendMessagesRequest(), &response)));
  EXPECT_EQ(response.outcomes_size(), 0);

  v1::SendMessagesRequest request;
  for (int i = 0; i < ChatService::kMaxSendCalls + 1; ++i) {
    *request.add_calls() = SendMessageCallOf(member.token, pro.id, "x");
  }
  EXPECT_TRUE(IsError(Invoke(*chat_, &v1::ChatService::Stub::SendMessages, std::nullopt, request,
                             &response),
                      grpc::StatusCode::INVALID_ARGUMENT, "bad-request"));
  EXPECT_EQ(MessageCount(), "0");

  request.mutable_calls()->RemoveLast();
  ASSERT_TRUE(IsOk(Invoke(*chat_, &v1::ChatService::Stub::SendMessages, std::nullopt, request,
                          &response)));
  ASSERT_EQ(response.outcomes_size(), ChatService::kMaxSendCalls);
  for (const v1::SendMessageOutcome& outcome : response.outcomes()) {
    EXPECT_TRUE(IsOk(ReplyOf(outcome)));
  }
  EXPECT_EQ(MessageCount(), std::to_string(ChatService::kMaxSendCalls));
}

TEST_F(ChatServiceTest, SendMessagesAnswersBeforeItsDeadlineThoughASendIsStillRunning) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  // Another session holds the lock that a send to `pro` takes (tch_send_batch): that
  // send waits for it, and the call refused at once must still get its answer.
  pqxx::connection blocker(db_->url());
  pqxx::nontransaction(blocker).exec_params("SELECT pg_advisory_lock($1)", pro.id);
  v1::SendMessagesRequest request;
  *request.add_calls() = SendMessageCallOf(member.token, pro.id, "held back");
  *request.add_calls() = SendMessageCallOf(member.token, pro.id, "");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  v1::SendMessagesResponse response;
  const grpc::Status status = chat_->SendMessages(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  ASSERT_EQ(response.outcomes_size(), 2);
  EXPECT_TRUE(IsError(ReplyOf(response.outcomes(0)), grpc::StatusCode::DEADLINE_EXCEEDED,
                      "unavailable"));
  EXPECT_FALSE(response.outcomes(0).has_response());
  EXPECT_TRUE(IsError(ReplyOf(response.outcomes(1)), grpc::StatusCode::INVALID_ARGUMENT,
                      "empty-content"));
  EXPECT_EQ(MessageCount(), "0");

  // As with a SendMessage whose caller gave up: the send goes on, and commits once it
  // has the lock.
  pqxx::nontransaction(blocker).exec_params("SELECT pg_advisory_unlock($1)", pro.id);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (MessageCount() != "1" && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(Db("SELECT content" + NewMessages()), "held back");
}

TEST_F(ChatServiceTest, ASendStillQueuedWhenItsCallAnswersIsNeverStored) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account other = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  // The first call's send waits in its statement for this lock; the second call's send
  // queues behind that batch and is answered DEADLINE_EXCEEDED before any batch takes it:
  // a caller told so may send again, so it must not be stored as well.
  pqxx::connection blocker(db_->url());
  pqxx::nontransaction(blocker).exec_params("SELECT pg_advisory_lock($1)", pro.id);
  std::thread first([&] {
    v1::SendMessagesRequest request;
    *request.add_calls() = SendMessageCallOf(member.token, pro.id, "in its statement");
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::SendMessagesResponse response;
    EXPECT_TRUE(chat_->SendMessages(&context, request, &response).ok());
  });
  // Other suites share the cluster: only this database's wait on this lock counts.
  const std::string waiting =
      "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = " +
      std::to_string(pro.id) +
      " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
  const auto running = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (Db(waiting) == "0" && std::chrono::steady_clock::now() < running) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(Db(waiting), "1") << "the first send never waited for the lock";
  v1::SendMessagesRequest request;
  *request.add_calls() = SendMessageCallOf(other.token, pro.id, "queued");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  v1::SendMessagesResponse response;
  const grpc::Status status = chat_->SendMessages(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  ASSERT_EQ(response.outcomes_size(), 1);
  EXPECT_TRUE(IsError(ReplyOf(response.outcomes(0)), grpc::StatusCode::DEADLINE_EXCEEDED,
                      "unavailable"));
  pqxx::nontransaction(blocker).exec_params("SELECT pg_advisory_unlock($1)", pro.id);
  first.join();
  // Batches run one at a time, in order: once a later send is answered, the queued
  // send's batch, had it had one, has come and gone.
  EXPECT_TRUE(IsOk(SendCall(Bearer(member.token), pro.id, "later")));
  EXPECT_EQ(Db("SELECT string_agg(content, ',' ORDER BY id)" + NewMessages()),
            "in its statement,later");
}

// ===========================================================================
// ChatService: UpdateMessage

TEST_F(ChatServiceTest, UpdateMessageByItsSender) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const int64_t id = Send(member, pro, "Bonjour");
  clock_.Advance(absl::Seconds(10));
  v1::UpdateMessageResponse updated;
  ASSERT_TRUE(IsOk(UpdateCall(Bearer(member.token), id, "Bonjour à tous", &updated)));
  EXPECT_EQ(updated.message_id(), id);
  EXPECT_EQ(FromProto(updated.modified_at()), kStart + absl::Seconds(10));
  // Committed before the answer.
  EXPECT_EQ(Db("SELECT content FROM messages WHERE id = " + std::to_string(id)), "Bonjour à tous");

  const std::vector<v1::Message> got = Unread(pro);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id(), id);
  EXPECT_EQ(got[0].content(), "Bonjour à tous");
  EXPECT_EQ(FromProto(got[0].sent_at()), kStart);
  ASSERT_TRUE(got[0].has_modified_at());
  EXPECT_EQ(FromProto(got[0].modified_at()), kStart + absl::Seconds(10));
  EXPECT_EQ(got[0].modified_ago(), "quelques secondes");
}

TEST_F(ChatServiceTest, ModifiedAgoIsMeasuredWhenTheMessageIsListed) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const int64_t a = Send(pro, member, "a");
  const int64_t b = Send(pro, member, "b");
  const int64_t c = Send(pro, member, "c");
  ASSERT_TRUE(IsOk(UpdateCall(Bearer(pro.token), a, "a2")));
  clock_.Advance(absl::Minutes(50));
  ASSERT_TRUE(IsOk(UpdateCall(Bearer(pro.token), b, "b2")));
  clock_.Advance(absl::Minutes(80));
  ASSERT_TRUE(IsOk(UpdateCall(Bearer(pro.token), c, "c2")));
  clock_.Advance(absl::Minutes(16));  // edits 2 h 26 min, 1 h 36 min and 16 min ago
  const std::vector<v1::Message> got = Unread(member);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].modified_ago(), "2 h");
  EXPECT_EQ(got[1].modified_ago(), "1 h");
  EXPECT_EQ(got[2].modified_ago(), "15 min");
}

TEST_F(ChatServiceTest, UpdateMessageByAnotherUserIsNotOwner) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const Account admin = NewAccount(v1::ROLE_ADMIN);
  const int64_t id = Send(member, pro, "original");
  for (const Account* other : {&pro, &admin}) {
    v1::UpdateMessageResponse updated;
    EXPECT_TRUE(IsError(UpdateCall(Bearer(other->token), id, "hijacked", &updated),
                        grpc::StatusCode::PERMISSION_DENIED, "not-owner"));
    EXPECT_EQ(updated.message_id(), 0);
  }
  EXPECT_EQ(Db("SELECT content FROM messages WHERE id = " + std::to_string(id)), "original");
  EXPECT_EQ(Db("SELECT modified_at IS NULL FROM messages WHERE id = " + std::to_string(id)), "t");
}

TEST_F(ChatServiceTest, UpdateOfUnknownOrDeletedMessageIsUnknownMessage) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const int64_t id = Send(member, pro, "soon gone");
  EXPECT_TRUE(IsError(UpdateCall(Bearer(member.token), id + 1000, "x"), grpc::StatusCode::NOT_FOUND,
                      "unknown-message"));
  EXPECT_TRUE(IsError(UpdateCall(Bearer(member.token), 0, "x"), grpc::StatusCode::NOT_FOUND,
                      "unknown-message"));
  ASSERT_TRUE(IsOk(DeleteCall(Bearer(member.token), id)));
  EXPECT_TRUE(IsError(UpdateCall(Bearer(member.token), id, "x"), grpc::StatusCode::NOT_FOUND,
                      "unknown-message"));
  EXPECT_EQ(Db("SELECT content FROM messages WHERE id = " + std::to_string(id)), "soon gone");
}

TEST_F(ChatServiceTest, UpdateMessageChecksTheContent) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const int64_t id = Send(member, pro, "original");
  EXPECT_TRUE(IsError(UpdateCall(Bearer(member.token), id, ""), grpc::StatusCode::INVALID_ARGUMENT,
                      "empty-content"));
  EXPECT_TRUE(IsError(UpdateCall(Bearer(member.token), id, Repeat("é", 1001)),
                      grpc::StatusCode::INVALID_ARGUMENT, "content-too-long"));
  EXPECT_TRUE(IsOk(UpdateCall(Bearer(member.token), id, Repeat("é", 1000))));
  EXPECT_EQ(Db("SELECT content FROM messages WHERE id = " + std::to_string(id)), Repeat("é", 1000));
}

// ===========================================================================
// ChatService: DeleteMessage

TEST_F(ChatServiceTest, DeleteMessageByItsSender) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const int64_t gone = Send(member, pro, "oops");
  const int64_t kept = Send(member, pro, "kept");
  v1::DeleteMessageResponse deleted;
  ASSERT_TRUE(IsOk(DeleteCall(Bearer(member.token), gone, &deleted)));
  EXPECT_EQ(deleted.message_id(), gone);
  // Soft delete, committed before the answer: the row stays.
  EXPECT_EQ(Db("SELECT deleted_at IS NOT NULL FROM messages WHERE id = " + std::to_string(gone)),
            "t");
  EXPECT_EQ(MessageCount(), "2");
  // Never delivered.
  const std::vector<v1::Message> got = Unread(pro);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id(), kept);
  // A second delete finds nothing.
  EXPECT_TRUE(IsError(DeleteCall(Bearer(member.token), gone), grpc::StatusCode::NOT_FOUND,
                      "unknown-message"));
}

TEST_F(ChatServiceTest, DeleteMessageByAnotherNonAdminIsNotOwner) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const Account other_member = NewAccount(v1::ROLE_MEMBER);
  const int64_t id = Send(member, pro, "mine");
  for (const Account* other : {&pro, &other_member}) {
    v1::DeleteMessageResponse deleted;
    EXPECT_TRUE(IsError(DeleteCall(Bearer(other->token), id, &deleted),
                        grpc::StatusCode::PERMISSION_DENIED, "not-owner"));
    EXPECT_EQ(deleted.message_id(), 0);
  }
  EXPECT_EQ(Db("SELECT deleted_at IS NULL FROM messages WHERE id = " + std::to_string(id)), "t");
  const std::vector<v1::Message> got = Unread(pro);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id(), id);
}

TEST_F(ChatServiceTest, AdminMayDeleteAnyMessage) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const Account admin = NewAccount(v1::ROLE_ADMIN);
  const int64_t id = Send(member, pro, "spam");
  v1::DeleteMessageResponse deleted;
  ASSERT_TRUE(IsOk(DeleteCall(Bearer(admin.token), id, &deleted)));
  EXPECT_EQ(deleted.message_id(), id);
  EXPECT_EQ(Db("SELECT deleted_at IS NOT NULL FROM messages WHERE id = " + std::to_string(id)),
            "t");
  EXPECT_TRUE(Unread(pro).empty());
  EXPECT_TRUE(
      IsError(DeleteCall(Bearer(admin.token), id), grpc::StatusCode::NOT_FOUND, "unknown-message"));
  EXPECT_TRUE(IsError(DeleteCall(Bearer(member.token), id), grpc::StatusCode::NOT_FOUND,
                      "unknown-message"));
}

TEST_F(ChatServiceTest, DeleteOfUnknownMessageIsUnknownMessage) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account admin = NewAccount(v1::ROLE_ADMIN);
  EXPECT_TRUE(IsError(DeleteCall(Bearer(member.token), 1000000000), grpc::StatusCode::NOT_FOUND,
                      "unknown-message"));
  EXPECT_TRUE(
      IsError(DeleteCall(Bearer(admin.token), 0), grpc::StatusCode::NOT_FOUND, "unknown-message"));
}

TEST_F(ChatServiceTest, NegativeIdsWhereZeroMeansNoneAreBadValue) {
  // 0 stands for "everyone" and "the latest" in ListHistory and for "from now on" in
  // Subscribe; a negative id is a client's mistake, not one of those.
  const std::unique_ptr<LiveServer> live = StartLiveServer();
  ASSERT_NE(live, nullptr);
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  Send(pro, member, "hello");
  ASSERT_EQ(Unread(member).size(), 1u);
  for (const auto& [user_id, before_id] : {std::pair{-1, 0}, {0, -1}, {-1, -1}}) {
    v1::ListHistoryRequest request;
    request.set_user_id(user_id);
    request.set_before_id(before_id);
    v1::ListHistoryResponse response;
    EXPECT_TRUE(IsError(Invoke(*chat_, &v1::ChatService::Stub::ListHistory, Bearer(member.token),
                               request, &response),
                        grpc::StatusCode::INVALID_ARGUMENT, "bad-value"))
        << user_id << " " << before_id;
  }
  v1::ListHistoryRequest everyone;
  v1::ListHistoryResponse history;
  ASSERT_TRUE(IsOk(Invoke(*chat_, &v1::ChatService::Stub::ListHistory, Bearer(member.token),
                          everyone, &history)));
  EXPECT_EQ(history.messages_size(), 1);

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  context.AddMetadata("authorization", "Bearer " + member.token);
  v1::SubscribeRequest request;
  request.set_after_change_id(-1);
  std::unique_ptr<grpc::ClientReader<v1::Change>> reader =
      live->chat->Subscribe(&context, request);
  v1::Change change;
  EXPECT_FALSE(reader->Read(&change));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Trailer(context, "tchatator-error"), "bad-value");
}

// ===========================================================================
// ChatService: ListUnread

TEST_F(ChatServiceTest, ListUnreadReturnsReceivedMessagesOldestFirstThenNothing) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const Account pro2 = NewAccount(v1::ROLE_PRO);
  const int64_t m1 = Send(pro, member, "premier");
  clock_.Advance(absl::Seconds(1));
  const int64_t m2 = Send(pro2, member, "deuxième\nsur deux lignes");
  clock_.Advance(absl::Seconds(1));
  const int64_t own = Send(member, pro, "réponse");
  clock_.Advance(absl::Seconds(1));
  const int64_t m3 = Send(pro, member, "troisième");

  const std::vector<v1::Message> got = Unread(member);
  ASSERT_EQ(got.size(), 3u);
  const struct {
    int64_t id;
    int64_t sender;
    const char* content;
    absl::Time sent_at;
  } want[] = {{m1, pro.id, "premier", kStart},
              {m2, pro2.id, "deuxième\nsur deux lignes", kStart + absl::Seconds(1)},
              {m3, pro.id, "troisième", kStart + absl::Seconds(3)}};
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(got[i].message_id(), want[i].id);
    EXPECT_EQ(got[i].sender_id(), want[i].sender);
    EXPECT_EQ(got[i].recipient_id(), member.id);
    EXPECT_EQ(got[i].direction(), v1::DIRECTION_RECEIVED);
    EXPECT_EQ(FromProto(got[i].sent_at()), want[i].sent_at);
    EXPECT_EQ(got[i].content(), want[i].content);
    EXPECT_FALSE(got[i].has_modified_at());
    EXPECT_EQ(got[i].modified_ago(), "");
  }
  // Marked read: the second call is empty, and so it is in the database.
  EXPECT_TRUE(Unread(member).empty());
  EXPECT_EQ(Db("SELECT count(*) FROM messages WHERE recipient_id = " + std::to_string(member.id) +
               " AND read_at IS NULL"),
            "0");
  // The member's own message is for the pro only.
  const std::vector<v1::Message> pro_got = Unread(pro);
  ASSERT_EQ(pro_got.size(), 1u);
  EXPECT_EQ(pro_got[0].message_id(), own);
  EXPECT_EQ(pro_got[0].sender_id(), member.id);
  EXPECT_EQ(pro_got[0].recipient_id(), pro.id);
  EXPECT_EQ(pro_got[0].direction(), v1::DIRECTION_RECEIVED);
  EXPECT_TRUE(Unread(pro2).empty());
}

TEST_F(ChatServiceTest, ListUnreadDeliversOnlyToItsRecipientAcrossSessions) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  v1::LoginResponse phone;
  ASSERT_TRUE(IsOk(LoginCall(member.api_key, &phone)));
  const int64_t id = Send(pro, member, "une fois");
  v1::ListUnreadResponse first;
  ASSERT_TRUE(IsOk(UnreadCall(Bearer(phone.token()), &first)));
  ASSERT_EQ(first.messages_size(), 1);
  EXPECT_EQ(first.messages(0).message_id(), id);
  // Read on one device: not delivered again on another.
  EXPECT_TRUE(Unread(member).empty());
}

// ===========================================================================
// Failures below the business rules

// A store whose every user lookup fails with details that must not reach clients.
class FailingStore : public storage::PgStore {
 public:
  using PgStore::PgStore;
  absl::StatusOr<storage::User> GetUser(int64_t) override {
    return absl::InternalError("database error: password=hunter2 host=db.internal");
  }
  absl::StatusOr<int64_t> CreateUser(storage::Role, std::string_view, std::string_view) override {
    return absl::AlreadyExistsError("duplicate key value violates unique constraint");
  }
};

TEST(CoreServerFailures, InternalErrorsHideTheirDetails) {
  TestDatabase db;
  ASSERT_TRUE(storage::Migrate(db.url()).ok());
  FailingStore store(db.url(), 2);
  FakeClock clock(kStart);
  absl::StatusOr<Settings> settings = LoadSettings("", {});
  ASSERT_TRUE(settings.ok());
  settings->admin_api_key = kAdminKey;
  settings->database_pool_size = 2;
  SettingsHolder holder(*settings);
  CoreServer server(store, clock, holder);
  absl::StatusOr<int> port = server.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(*port), grpc::InsecureChannelCredentials());
  auto accounts = v1::AccountService::NewStub(channel);

  v1::GetUserRequest get;
  get.set_user_id(1);
  v1::User user;
  Reply r = Invoke(*accounts, &v1::AccountService::Stub::GetUser, Bearer(kAdminKey), get, &user);
  EXPECT_TRUE(IsError(r, grpc::StatusCode::INTERNAL, "internal"));
  EXPECT_EQ(r.message, "internal error");

  v1::CreateUserRequest create;
  create.set_role(v1::ROLE_MEMBER);
  create.set_name("x");
  v1::CreateUserResponse created;
  r = Invoke(*accounts, &v1::AccountService::Stub::CreateUser, Bearer(kAdminKey), create, &created);
  EXPECT_TRUE(IsError(r, grpc::StatusCode::INTERNAL, "internal"));
  EXPECT_EQ(r.message, "internal error");
  EXPECT_TRUE(created.api_key().empty());
}

TEST(CoreServerFailures, UnreachableDatabaseIsUnavailable) {
  const char* admin = std::getenv("TCHATATOR_TEST_PG");
  ASSERT_NE(admin, nullptr);
  storage::PgStore store(std::string(admin) + " dbname=tchatator_no_such_database_for_tests", 2);
  FakeClock clock(kStart);
  absl::StatusOr<Settings> settings = LoadSettings("", {});
  ASSERT_TRUE(settings.ok());
  settings->admin_api_key = kAdminKey;
  settings->database_pool_size = 2;
  SettingsHolder holder(*settings);
  CoreServer server(store, clock, holder);
  absl::StatusOr<int> port = server.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(*port), grpc::InsecureChannelCredentials());
  auto chat = v1::ChatService::NewStub(channel);
  auto accounts = v1::AccountService::NewStub(channel);

  v1::LoginRequest login;
  login.set_api_key("some-key");
  v1::LoginResponse session;
  EXPECT_TRUE(IsError(Invoke(*chat, &v1::ChatService::Stub::Login, std::nullopt, login, &session),
                      grpc::StatusCode::UNAVAILABLE, "unavailable"));
  v1::ListUnreadResponse unread;
  EXPECT_TRUE(IsError(Invoke(*chat, &v1::ChatService::Stub::ListUnread, Bearer("some-token"),
                             v1::ListUnreadRequest(), &unread),
                      grpc::StatusCode::UNAVAILABLE, "unavailable"));
  v1::CreateUserRequest create;
  create.set_role(v1::ROLE_MEMBER);
  create.set_name("x");
  v1::CreateUserResponse created;
  EXPECT_TRUE(IsError(
      Invoke(*accounts, &v1::AccountService::Stub::CreateUser, Bearer(kAdminKey), create, &created),
      grpc::StatusCode::UNAVAILABLE, "unavailable"));
  // Health checking tells load balancers to go elsewhere.
  std::string health;
  for (int i = 0; i < 50 && health != std::string("\x08\x02", 2); ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    health = HealthCheck(channel);
  }
  EXPECT_EQ(health, std::string("\x08\x02", 2));  // status: NOT_SERVING
  EXPECT_EQ(HealthCheck(channel, "tchatator.v1.ChatService"), std::string("\x08\x02", 2));
  EXPECT_EQ(HealthCheck(channel, "tchatator.v1.AccountService"), std::string("\x08\x02", 2));
}

TEST_F(CoreServerTest, ASubscriberThatStopsReadingStopsTheStreamsReads) {
  // A stream whose client reads nothing must not read (and mark read) the user's whole
  // backlog into the core's memory: what it takes waits until it is written.
  Reconfigure([](Settings& s) {
    s.max_messages_per_minute = 0;
    s.max_messages_per_hour = 0;
  });
  const std::unique_ptr<LiveServer> live = StartLiveServer();
  ASSERT_NE(live, nullptr);
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  // A client whose HTTP/2 windows stay small (no BDP probing, which grows them to
  // megabytes), so that what it does not read soon stays on the core's side.
  grpc::ChannelArguments small_windows;
  small_windows.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  small_windows.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 * 1024);
  std::unique_ptr<v1::ChatService::Stub> chat = v1::ChatService::NewStub(
      grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(live->port),
                                grpc::InsecureChannelCredentials(), small_windows));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  context.AddMetadata("authorization", "Bearer " + member.token);
  std::unique_ptr<grpc::ClientReader<v1::Change>> reader =
      chat->Subscribe(&context, v1::SubscribeRequest());
  reader->WaitForInitialMetadata();
  ASSERT_EQ(context.GetServerInitialMetadata().count("tchatator-subscribed"), 1u);

  constexpr int kMessages = 2000;
  const std::string content(1000, 'x');
  std::vector<int64_t> sent;
  for (int i = 0; i < kMessages; ++i) sent.push_back(Send(pro, member, content));
  const std::string read_count = "SELECT count(*) FROM messages WHERE recipient_id = " +
                                 std::to_string(member.id) + " AND read_at IS NOT NULL";
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const int64_t taken = std::stoll(Db(read_count));
  EXPECT_GT(taken, 0) << "the stream delivered nothing";
  // What the small windows hold (tens of messages), plus at most one batch of reads
  // (100) not written yet. Without the wait, the core takes all 2000 in a second.
  EXPECT_LE(taken, 300);

  // Reading resumes the stream: everything arrives, once, in order.
  for (int i = 0; i < kMessages; ++i) {
    v1::Change change;
    ASSERT_TRUE(reader->Read(&change)) << "message " << i;
    EXPECT_EQ(change.kind(), v1::CHANGE_KIND_NEW_MESSAGE);
    ASSERT_EQ(change.message().message_id(), sent[i]) << "message " << i;
  }
  EXPECT_EQ(Db(read_count), std::to_string(kMessages));
  context.TryCancel();
}

TEST_F(CoreServerTest, AStreamWhoseReadFailedReadsAgainWithoutWaitingForAnotherChange) {
  // The hint of a change wakes the stream once: if that read fails (the database
  // refuses it for a moment), the stream must try again by itself, not hold the change
  // until the user's next one.
  const std::unique_ptr<LiveServer> live = StartLiveServer();
  ASSERT_NE(live, nullptr);
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  context.AddMetadata("authorization", "Bearer " + member.token);
  std::unique_ptr<grpc::ClientReader<v1::Change>> reader =
      live->chat->Subscribe(&context, v1::SubscribeRequest());
  reader->WaitForInitialMetadata();
  ASSERT_EQ(context.GetServerInitialMetadata().count("tchatator-subscribed"), 1u);

  // While `refuse_reads` has a row, marking a message read fails; every refusal is
  // counted by a sequence, which a rollback does not undo.
  Db("CREATE TABLE refuse_reads (x int); INSERT INTO refuse_reads VALUES (1);"
     " CREATE SEQUENCE refused_reads;"
     " CREATE FUNCTION refuse_read() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
     "  IF EXISTS (SELECT 1 FROM refuse_reads) THEN"
     "   PERFORM nextval('refused_reads'); RAISE EXCEPTION 'reads refused';"
     "  END IF; RETURN NEW; END $$;"
     " CREATE TRIGGER refuse_read BEFORE UPDATE OF read_at ON messages"
     "  FOR EACH ROW EXECUTE FUNCTION refuse_read(); SELECT 1");
  absl::Cleanup drop = [] {
    Db("DROP TRIGGER refuse_read ON messages; DROP FUNCTION refuse_read();"
       " DROP TABLE refuse_reads; DROP SEQUENCE refused_reads; SELECT 1");
  };
  const int64_t sent = Send(pro, member, "held by a failed read");
  const auto refused = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (Db("SELECT is_called FROM refused_reads") != "t" &&
         std::chrono::steady_clock::now() < refused) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(Db("SELECT is_called FROM refused_reads"), "t") << "the stream never read";
  Db("DELETE FROM refuse_reads; SELECT 1");

  v1::Change change;
  ASSERT_TRUE(reader->Read(&change)) << "the change never came";
  EXPECT_EQ(change.kind(), v1::CHANGE_KIND_NEW_MESSAGE);
  EXPECT_EQ(change.message().message_id(), sent);
  EXPECT_EQ(Db("SELECT read_at IS NOT NULL FROM messages WHERE id = " + std::to_string(sent)),
            "t");
  context.TryCancel();
}

TEST_F(CoreServerTest, AStreamResumedBeyondEveryChangeStartsFromTheLatest) {
  // A cursor no change has reached yet (a client's mistake, a database restored from an
  // older backup) must not make the stream skip the changes to come.
  const std::unique_ptr<LiveServer> live = StartLiveServer();
  ASSERT_NE(live, nullptr);
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const int64_t before = Send(pro, member, "before");
  const std::string latest =
      Db("SELECT max(id) FROM changes WHERE user_id = " + std::to_string(member.id));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  context.AddMetadata("authorization", "Bearer " + member.token);
  context.AddMetadata("tchatator-resume", "1");
  v1::SubscribeRequest request;
  request.set_after_change_id(std::stoll(latest) + 1'000'000'000);
  std::unique_ptr<grpc::ClientReader<v1::Change>> reader =
      live->chat->Subscribe(&context, request);
  reader->WaitForInitialMetadata();
  const auto& metadata = context.GetServerInitialMetadata();
  ASSERT_EQ(metadata.count("tchatator-after-change-id"), 1u);
  EXPECT_EQ(std::string(metadata.find("tchatator-after-change-id")->second.data(),
                        metadata.find("tchatator-after-change-id")->second.size()),
            latest);
  const int64_t after = Send(pro, member, "after");
  v1::Change change;
  ASSERT_TRUE(reader->Read(&change)) << "the change never came";
  EXPECT_EQ(change.message().message_id(), after);
  EXPECT_NE(change.message().message_id(), before);
  context.TryCancel();
}

TEST_F(CoreServerTest, ACheckOnlySubscribeSaysWhoseSessionItIsAndTakesNothing) {
  // What a gateway sends to check the session of a SUBSCRIBE on a subscribed connection:
  // a change it took would be marked read and written nowhere.
  const std::unique_ptr<LiveServer> live = StartLiveServer();
  ASSERT_NE(live, nullptr);
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const int64_t unread = Send(pro, member, "not for the check");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  context.AddMetadata("authorization", "Bearer " + member.token);
  context.AddMetadata("tchatator-resume", "1");  // from change 0: the message's included
  v1::SubscribeRequest request;
  request.set_check_only(true);
  std::unique_ptr<grpc::ClientReader<v1::Change>> reader =
      live->chat->Subscribe(&context, request);
  v1::Change change;
  EXPECT_FALSE(reader->Read(&change)) << change.DebugString();
  EXPECT_TRUE(reader->Finish().ok());
  const auto& metadata = context.GetServerInitialMetadata();
  ASSERT_EQ(metadata.count("tchatator-user-id"), 1u);
  EXPECT_EQ(std::string(metadata.find("tchatator-user-id")->second.data(),
                        metadata.find("tchatator-user-id")->second.size()),
            std::to_string(member.id));
  EXPECT_EQ(Db("SELECT count(*) FROM messages WHERE read_at IS NULL AND id = " +
               std::to_string(unread)),
            "1");
  // A check of a session that ended is refused as a subscription is.
  grpc::ClientContext ended;
  ended.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ended.AddMetadata("authorization", "Bearer bogus");
  std::unique_ptr<grpc::ClientReader<v1::Change>> refused = live->chat->Subscribe(&ended, request);
  EXPECT_FALSE(refused->Read(&change));
  EXPECT_EQ(refused->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Trailer(ended, "tchatator-error"), "not-authenticated");
}

TEST_F(CoreServerTest, ACoreThatLosesItsDatabaseEndsItsLiveStreamsUnavailable) {
  // Ended UNAVAILABLE, a gateway's stream reopens on a core that has its database (or on
  // this one once it has it again), where it left off; left open, it would deliver
  // nothing meanwhile. A database of its own, which the test then refuses.
  ::tchatator::testing::TestDatabase db;
  ASSERT_TRUE(storage::Migrate(db.url()).ok());
  storage::PgStore store(db.url(), 2);
  ChangeFeed feed(db.url());
  feed.Start();
  CoreServer server(store, clock_, *settings_, &feed);
  const absl::StatusOr<int> port = server.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  const std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(*port), grpc::InsecureChannelCredentials());
  const auto accounts = v1::AccountService::NewStub(channel);
  const auto chat = v1::ChatService::NewStub(channel);
  v1::CreateUserRequest create;
  create.set_role(v1::ROLE_MEMBER);
  create.set_name("abonné");
  v1::CreateUserResponse created;
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + std::string(kAdminKey));
    ASSERT_TRUE(accounts->CreateUser(&context, create, &created).ok());
  }
  v1::LoginRequest login;
  login.set_api_key(created.api_key());
  v1::LoginResponse session;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(chat->Login(&context, login, &session).ok());
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  context.AddMetadata("authorization", "Bearer " + session.token());
  std::unique_ptr<grpc::ClientReader<v1::Change>> reader =
      chat->Subscribe(&context, v1::SubscribeRequest());
  reader->WaitForInitialMetadata();

  Db("ALTER DATABASE " + db.name() + " WITH ALLOW_CONNECTIONS false");
  Db("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '" +
     db.name() + "'");
  v1::Change change;
  EXPECT_FALSE(reader->Read(&change));
  const grpc::Status ended = reader->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE) << ended.error_message();
  EXPECT_EQ(ended.error_message(), "tchatator-core lost its database");
  Db("ALTER DATABASE " + db.name() + " WITH ALLOW_CONNECTIONS true");
  server.Shutdown(absl::Seconds(1));
}

TEST_F(CoreServerTest, ASecondCoreDoesNotShareABusyPort) {
  // gRPC binds with SO_REUSEPORT: without a check, a core started on the port of one
  // still running would take part of its connections.
  CoreServer second(*store_, clock_, *settings_);
  const absl::StatusOr<int> started = second.Start("127.0.0.1", port_);
  EXPECT_EQ(started.status().code(), absl::StatusCode::kAlreadyExists) << started.status();
  EXPECT_NE(started.status().message().find("address already in use"), std::string::npos)
      << started.status();
  // A port nobody listens on any more is taken.
  const int released = testing::FreePort();
  CoreServer again(*store_, clock_, *settings_);
  const absl::StatusOr<int> reused = again.Start("127.0.0.1", released);
  EXPECT_TRUE(reused.ok()) << reused.status();
  EXPECT_EQ(reused.value_or(0), released);
}

TEST_F(CoreServerTest, StandardHealthCheckReportsServing) {
  EXPECT_EQ(HealthCheck(channel_), std::string("\x08\x01", 2));  // status: SERVING
  // Also by service name, as probes that name the service ask.
  EXPECT_EQ(HealthCheck(channel_, "tchatator.v1.ChatService"), std::string("\x08\x01", 2));
  EXPECT_EQ(HealthCheck(channel_, "tchatator.v1.AccountService"), std::string("\x08\x01", 2));
}

}  // namespace
}  // namespace tchatator::core
