// The fixture of the core's gRPC tests: a real CoreServer on a local port, over a fresh
// PostgreSQL database (TCHATATOR_TEST_PG) and a FakeClock, with one helper per RPC and
// the outcome of each call as a client sees it (status code and trailing metadata).

#ifndef TCHATATOR_TESTS_CORE_SERVICE_CORE_FIXTURE_H_
#define TCHATATOR_TESTS_CORE_SERVICE_CORE_FIXTURE_H_

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"
#include "common/settings.h"
#include "core-service/change_feed.h"
#include "core-service/core_server.h"
#include "grpcpp/grpcpp.h"
#include "storage/migrations.h"
#include "storage/pg_store.h"
#include "tchatator/v1/chat.grpc.pb.h"
#include "tests/support/test_database.h"

namespace tchatator::core {

// 2026-11-26T10:15:00.250Z, where every test's clock starts: times travel with their
// sub-second part.
extern const absl::Time kStart;
inline constexpr char kAdminKey[] = "admin-key-for-tests-0123456789";

// The time a protobuf Timestamp holds.
absl::Time FromProto(const google::protobuf::Timestamp& t);

// `s` repeated `n` times.
std::string Repeat(const std::string& s, int n);

// Whether `s` looks like a secret the core hands out (43 letters and digits).
bool IsSecret(const std::string& s);

// ---------------------------------------------------------------------------
// The outcome of one call, as a client sees it.

struct Reply {
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  std::string message;
  std::string error;        // trailing `tchatator-error`, "" when absent
  std::string retry_after;  // trailing `retry-after`, "" when absent
  std::string until;        // trailing `until`, "" when absent
  bool ok() const { return code == grpc::StatusCode::OK; }
};

std::ostream& operator<<(std::ostream& os, const Reply& r);

// Success: OK without an error token.
::testing::AssertionResult IsOk(const Reply& r);
// Failure: exactly `code` with the trailing token `token`.
::testing::AssertionResult IsError(const Reply& r, grpc::StatusCode code, const std::string& token);

// The trailing metadata `key` of a finished call, "" when absent.
std::string Trailer(const grpc::ClientContext& context, const std::string& key);

// The client address every call claims (metadata x-client-ip, as the gateway sends it),
// unique to each test so that per-address counters (failed logins) of one test never
// affect another; none when empty.
std::string& TestClientIp();

// Calls `method` with `authorization` as the whole header value (none when nullopt).
template <typename Stub, typename Request, typename Response>
Reply Invoke(Stub& stub,
             grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
             const std::optional<std::string>& authorization, const Request& request,
             Response* response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (authorization) context.AddMetadata("authorization", *authorization);
  if (!TestClientIp().empty()) context.AddMetadata("x-client-ip", TestClientIp());
  const grpc::Status status = (stub.*method)(&context, request, response);
  Reply r;
  r.code = status.error_code();
  r.message = status.error_message();
  r.error = Trailer(context, "tchatator-error");
  r.retry_after = Trailer(context, "retry-after");
  r.until = Trailer(context, "until");
  return r;
}

// The `authorization` header value for a session token or an API key.
inline std::optional<std::string> Bearer(const std::string& secret) { return "Bearer " + secret; }

// A second server over the suite's database, store, clock and settings, with live
// delivery (a ChangeFeed), for Subscribe.
struct LiveServer {
  std::unique_ptr<ChangeFeed> feed;
  std::unique_ptr<CoreServer> server;
  int port = 0;
  std::unique_ptr<v1::ChatService::Stub> chat;
};

// A user created through AccountService, logged in once.
struct Account {
  int64_t id = 0;
  std::string api_key;
  std::string token;
};

// ---------------------------------------------------------------------------
// One database per suite (creating one costs more than most tests); every test has its
// own server, clock and settings, and works with users it creates. Counts in the
// database only look at rows created by the current test.
class CoreServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = new ::tchatator::testing::TestDatabase();
    const absl::Status migrated = storage::Migrate(db_->url());
    ASSERT_TRUE(migrated.ok()) << migrated.ToString();
    store_ = new storage::PgStore(db_->url(), 4);
  }
  static void TearDownTestSuite() {
    delete store_;
    store_ = nullptr;
    delete db_;
    db_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(store_, nullptr) << "the suite's database is not ready";
    static int test_number = 0;
    ++test_number;
    TestClientIp() =
        "198.51." + std::to_string(test_number / 256) + "." + std::to_string(test_number % 256);
    first_user_ = Db("SELECT coalesce(max(id), 0) + 1 FROM users");
    first_message_ = Db("SELECT coalesce(max(id), 0) + 1 FROM messages");
    absl::StatusOr<Settings> settings = LoadSettings("", {});
    ASSERT_TRUE(settings.ok()) << settings.status().ToString();
    settings->admin_api_key = kAdminKey;
    settings->database_pool_size = 4;
    settings_ = std::make_unique<SettingsHolder>(*settings);
    server_ = std::make_unique<CoreServer>(*store_, clock_, *settings_);
    absl::StatusOr<int> port = server_->Start("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status().ToString();
    ASSERT_GT(*port, 0);
    port_ = *port;
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(*port),
                                   grpc::InsecureChannelCredentials());
    chat_ = v1::ChatService::NewStub(channel_);
    accounts_ = v1::AccountService::NewStub(channel_);
  }

  void TearDown() override { TestClientIp().clear(); }

  // Changes the settings in force, as a SIGHUP reload does.
  void Reconfigure(const std::function<void(Settings&)>& change) {
    Settings s = *settings_->Get();
    change(s);
    settings_->Set(s);
  }

  // AccountService.

  Reply CreateUserCall(v1::Role role, const std::string& name,
                       const std::optional<std::string>& authorization = Bearer(kAdminKey),
                       v1::CreateUserResponse* out = nullptr) {
    v1::CreateUserRequest request;
    request.set_role(role);
    request.set_name(name);
    v1::CreateUserResponse response;
    Reply r = Invoke(*accounts_, &v1::AccountService::Stub::CreateUser, authorization, request,
                     &response);
    if (out != nullptr) *out = response;
    return r;
  }

  Reply RegenerateCall(int64_t user_id,
                       const std::optional<std::string>& authorization = Bearer(kAdminKey),
                       v1::RegenerateApiKeyResponse* out = nullptr) {
    v1::RegenerateApiKeyRequest request;
    request.set_user_id(user_id);
    v1::RegenerateApiKeyResponse response;
    Reply r = Invoke(*accounts_, &v1::AccountService::Stub::RegenerateApiKey, authorization,
                     request, &response);
    if (out != nullptr) *out = response;
    return r;
  }

  Reply GetUserCall(int64_t user_id,
                    const std::optional<std::string>& authorization = Bearer(kAdminKey),
                    v1::User* out = nullptr) {
    v1::GetUserRequest request;
    request.set_user_id(user_id);
    v1::User response;
    Reply r =
        Invoke(*accounts_, &v1::AccountService::Stub::GetUser, authorization, request, &response);
    if (out != nullptr) *out = response;
    return r;
  }

  // ChatService.

  Reply LoginCall(const std::string& api_key, v1::LoginResponse* out = nullptr) {
    v1::LoginRequest request;
    request.set_api_key(api_key);
    v1::LoginResponse response;
    Reply r = Invoke(*chat_, &v1::ChatService::Stub::Login, std::nullopt, request, &response);
    if (out != nullptr) *out = response;
    return r;
  }

  Reply LogoutCall(const std::optional<std::string>& authorization) {
    v1::LogoutResponse response;
    return Invoke(*chat_, &v1::ChatService::Stub::Logout, authorization, v1::LogoutRequest(),
                  &response);
  }

  Reply SendCall(const std::optional<std::string>& authorization, int64_t recipient_id,
                 const std::string& content, v1::SendMessageResponse* out = nullptr) {
    v1::SendMessageRequest request;
    request.set_recipient_id(recipient_id);
    request.set_content(content);
    v1::SendMessageResponse response;
    Reply r =
        Invoke(*chat_, &v1::ChatService::Stub::SendMessage, authorization, request, &response);
    if (out != nullptr) *out = response;
    return r;
  }

  Reply UpdateCall(const std::optional<std::string>& authorization, int64_t message_id,
                   const std::string& content, v1::UpdateMessageResponse* out = nullptr) {
    v1::UpdateMessageRequest request;
    request.set_message_id(message_id);
    request.set_content(content);
    v1::UpdateMessageResponse response;
    Reply r =
        Invoke(*chat_, &v1::ChatService::Stub::UpdateMessage, authorization, request, &response);
    if (out != nullptr) *out = response;
    return r;
  }

  Reply DeleteCall(const std::optional<std::string>& authorization, int64_t message_id,
                   v1::DeleteMessageResponse* out = nullptr) {
    v1::DeleteMessageRequest request;
    request.set_message_id(message_id);
    v1::DeleteMessageResponse response;
    Reply r =
        Invoke(*chat_, &v1::ChatService::Stub::DeleteMessage, authorization, request, &response);
    if (out != nullptr) *out = response;
    return r;
  }

  Reply UnreadCall(const std::optional<std::string>& authorization,
                   v1::ListUnreadResponse* out = nullptr) {
    v1::ListUnreadResponse response;
    Reply r = Invoke(*chat_, &v1::ChatService::Stub::ListUnread, authorization,
                     v1::ListUnreadRequest(), &response);
    if (out != nullptr) *out = response;
    return r;
  }

  // Starts a LiveServer; nullptr (and the test fails) if it cannot.
  std::unique_ptr<LiveServer> StartLiveServer() {
    auto live = std::make_unique<LiveServer>();
    live->feed = std::make_unique<ChangeFeed>(
        db_->url(), [](std::vector<int64_t> users, absl::Duration lease) {
          return store_->MarkLive(std::move(users), lease);
        });
    live->feed->Start();
    live->server = std::make_unique<CoreServer>(*store_, clock_, *settings_, live->feed.get());
    absl::StatusOr<int> port = live->server->Start("127.0.0.1", 0);
    EXPECT_TRUE(port.ok()) << port.status().ToString();
    if (!port.ok()) return nullptr;
    live->port = *port;
    live->chat = v1::ChatService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(*port), grpc::InsecureChannelCredentials()));
    return live;
  }

  // Conveniences for tests about something else: they fail the test on error.

  Account NewAccount(v1::Role role, const std::string& name = "someone") {
    Account a;
    v1::CreateUserResponse created;
    const Reply c = CreateUserCall(role, name, Bearer(kAdminKey), &created);
    EXPECT_TRUE(IsOk(c));
    a.id = created.user_id();
    a.api_key = created.api_key();
    v1::LoginResponse login;
    const Reply l = LoginCall(a.api_key, &login);
    EXPECT_TRUE(IsOk(l));
    a.token = login.token();
    return a;
  }

  int64_t Send(const Account& from, const Account& to, const std::string& content) {
    v1::SendMessageResponse response;
    const Reply r = SendCall(Bearer(from.token), to.id, content, &response);
    EXPECT_TRUE(IsOk(r)) << content;
    return response.message_id();
  }

  std::vector<v1::Message> Unread(const Account& who) {
    v1::ListUnreadResponse response;
    const Reply r = UnreadCall(Bearer(who.token), &response);
    EXPECT_TRUE(IsOk(r));
    return {response.messages().begin(), response.messages().end()};
  }

  static std::string Db(const std::string& sql) { return db_->Query(sql); }
  // Rows of this test only.
  std::string NewUsers() const { return " FROM users WHERE id >= " + first_user_; }
  std::string NewMessages() const { return " FROM messages WHERE id >= " + first_message_; }
  std::string MessageCount() const { return Db("SELECT count(*)" + NewMessages()); }

  static ::tchatator::testing::TestDatabase* db_;
  static storage::PgStore* store_;
  std::string first_user_;
  std::string first_message_;
  FakeClock clock_{kStart};
  std::unique_ptr<SettingsHolder> settings_;
  std::unique_ptr<CoreServer> server_;
  int port_ = 0;  // server_'s
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ChatService::Stub> chat_;
  std::unique_ptr<v1::AccountService::Stub> accounts_;
};

}  // namespace tchatator::core

#endif  // TCHATATOR_TESTS_CORE_SERVICE_CORE_FIXTURE_H_
