// Moderation and rate limits through the core's real gRPC server over a fresh
// PostgreSQL database and a FakeClock (issue #5, contract 2.5 and 2.6): Block, Unblock,
// Ban and Unban (who may, what they cover, expiry at the exact `until`, lifting rules),
// an admin ban ending existing sessions (and live subscriptions) and refusing LOGIN,
// the admin-api-key login (and its removal from the configuration),
// and the per-user sliding 60 s and 3600 s send limits. Every refusal is checked by its
// gRPC status and its `tchatator-error` (and `until` / `retry-after`) trailers.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "common/log.h"
#include "common/settings.h"
#include "core-service/core_server.h"
#include "grpcpp/grpcpp.h"
#include "tchatator/v1/chat.grpc.pb.h"
#include "tests/core-service/core_fixture.h"

namespace tchatator::core {
namespace {

constexpr grpc::StatusCode kDenied = grpc::StatusCode::PERMISSION_DENIED;

// The fixture of CoreServerTest with one helper per moderation RPC.
class ModerationTest : public CoreServerTest {
 protected:
  Reply BlockCall(const Account& by, int64_t target_id, int64_t duration_hours = 0,
                  v1::RestrictResponse* out = nullptr) {
    return RestrictCall(&v1::ChatService::Stub::Block, by.token, target_id, duration_hours, out);
  }
  Reply BanCall(const Account& by, int64_t target_id, v1::RestrictResponse* out = nullptr) {
    return RestrictCall(&v1::ChatService::Stub::Ban, by.token, target_id, 0, out);
  }
  Reply UnblockCall(const Account& by, int64_t target_id, v1::LiftResponse* out = nullptr) {
    return LiftCall(&v1::ChatService::Stub::Unblock, by.token, target_id, out);
  }
  Reply UnbanCall(const Account& by, int64_t target_id, v1::LiftResponse* out = nullptr) {
    return LiftCall(&v1::ChatService::Stub::Unban, by.token, target_id, out);
  }

  Reply RestrictCall(grpc::Status (v1::ChatService::Stub::*method)(grpc::ClientContext*,
                                                                   const v1::RestrictRequest&,
                                                                   v1::RestrictResponse*),
                     const std::string& token, int64_t target_id, int64_t duration_hours,
                     v1::RestrictResponse* out) {
    v1::RestrictRequest request;
    request.set_user_id(target_id);
    request.set_duration_hours(duration_hours);
    v1::RestrictResponse response;
    Reply r = Invoke(*chat_, method, Bearer(token), request, &response);
    if (out != nullptr) *out = response;
    return r;
  }
  Reply LiftCall(grpc::Status (v1::ChatService::Stub::*method)(grpc::ClientContext*,
                                                               const v1::LiftRequest&,
                                                               v1::LiftResponse*),
                 const std::string& token, int64_t target_id, v1::LiftResponse* out) {
    v1::LiftRequest request;
    request.set_user_id(target_id);
    v1::LiftResponse response;
    Reply r = Invoke(*chat_, method, Bearer(token), request, &response);
    if (out != nullptr) *out = response;
    return r;
  }

  // A send from `from` to `to`, as the contract's client sees it.
  Reply Try(const Account& from, const Account& to, const std::string& content = "hello") {
    return SendCall(Bearer(from.token), to.id, content);
  }

  // Restriction rows of this test, as stored.
  std::string Restrictions(const std::string& where = "true") const {
    return Db("SELECT count(*) FROM restrictions WHERE target_id >= " + first_user_ + " AND (" +
              where + ")");
  }
};

// The refusal of a send because of a block ending at `until` (RFC 3339, seconds).
::testing::AssertionResult IsBlocked(const Reply& r, const std::string& until) {
  ::testing::AssertionResult error = IsError(r, kDenied, "blocked");
  if (!error) return error;
  if (r.until != until) {
    return ::testing::AssertionFailure() << "expected until '" << until << "', got " << r;
  }
  if (!r.retry_after.empty()) return ::testing::AssertionFailure() << "retry-after in " << r;
  return ::testing::AssertionSuccess();
}

// The refusal of a send because of a ban: no end, so no `until`.
::testing::AssertionResult IsBanned(const Reply& r) {
  ::testing::AssertionResult error = IsError(r, kDenied, "banned");
  if (!error) return error;
  if (!r.until.empty() || !r.retry_after.empty()) {
    return ::testing::AssertionFailure() << "unexpected trailer in " << r;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult IsRateLimited(const Reply& r, const std::string& retry_after) {
  ::testing::AssertionResult error =
      IsError(r, grpc::StatusCode::RESOURCE_EXHAUSTED, "rate-limited");
  if (!error) return error;
  if (r.retry_after != retry_after) {
    return ::testing::AssertionFailure()
           << "expected retry-after '" << retry_after << "', got " << r;
  }
  if (!r.until.empty()) return ::testing::AssertionFailure() << "until in " << r;
  return ::testing::AssertionSuccess();
}

// ===========================================================================
// Block: duration and expiry

TEST_F(ModerationTest, ProBlockLastsTheDefaultDurationThenEndsByItself) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  clock_.Advance(absl::Seconds(10));  // now 2026-11-26T10:15:10.250Z
  v1::RestrictResponse blocked;
  ASSERT_TRUE(IsOk(BlockCall(pro, member.id, 0, &blocked)));
  EXPECT_EQ(blocked.user_id(), member.id);
  ASSERT_TRUE(blocked.has_until());
  // 24 hours, rounded up to the whole second: 2026-11-27T10:15:11Z exactly.
  const absl::Time until =
      absl::FromCivil(absl::CivilSecond(2026, 11, 27, 10, 15, 11), absl::UTCTimeZone());
  EXPECT_EQ(FromProto(blocked.until()), until);

  v1::SendMessageResponse refused;
  EXPECT_TRUE(IsBlocked(SendCall(Bearer(member.token), pro.id, "Allô ?", &refused),
                        "2026-11-27T10:15:11Z"));
  EXPECT_EQ(refused.message_id(), 0);
  // A block restricts what the target sends, not what it receives or reads.
  const int64_t to_member = Send(pro, member, "we are closed");
  ASSERT_EQ(Unread(member).size(), 1u);

  clock_.Advance(until - clock_.Now() - absl::Microseconds(1));  // its last microsecond
  EXPECT_TRUE(IsBlocked(Try(member, pro), "2026-11-27T10:15:11Z"));
  EXPECT_EQ(MessageCount(), "1");
  clock_.Advance(absl::Microseconds(1));  // exactly `until`
  ASSERT_EQ(clock_.Now(), until);
  v1::SendMessageResponse sent;
  ASSERT_TRUE(IsOk(SendCall(Bearer(member.token), pro.id, "enfin", &sent)));
  EXPECT_GT(sent.message_id(), to_member);
  EXPECT_EQ(MessageCount(), "2");
}

TEST_F(ModerationTest, BlockDurationFollowsDurationHoursThenTheSetting) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const Account pro2 = NewAccount(v1::ROLE_PRO);
  v1::RestrictResponse two_hours;
  ASSERT_TRUE(IsOk(BlockCall(pro, member.id, 2, &two_hours)));
  // From kStart (10:15:00.250), rounded up to the whole second.
  EXPECT_EQ(FromProto(two_hours.until()), kStart + absl::Hours(2) + absl::Milliseconds(750));
  Reconfigure([](Settings& s) { s.block_duration_hours = 5; });
  v1::RestrictResponse by_setting;
  ASSERT_TRUE(IsOk(BlockCall(pro2, member.id, 0, &by_setting)));
  EXPECT_EQ(FromProto(by_setting.until()), kStart + absl::Hours(5) + absl::Milliseconds(750));

  clock_.Advance(absl::Hours(2) + absl::Milliseconds(750) - absl::Microseconds(1));
  EXPECT_TRUE(IsBlocked(Try(member, pro), "2026-11-26T12:15:01Z"));
  EXPECT_TRUE(IsBlocked(Try(member, pro2), "2026-11-26T15:15:01Z"));
  clock_.Advance(absl::Microseconds(1));
  EXPECT_TRUE(IsOk(Try(member, pro)));
  EXPECT_TRUE(IsBlocked(Try(member, pro2), "2026-11-26T15:15:01Z"));
  clock_.Advance(absl::Hours(3) - absl::Microseconds(1));
  EXPECT_TRUE(IsBlocked(Try(member, pro2), "2026-11-26T15:15:01Z"));
  clock_.Advance(absl::Microseconds(1));
  EXPECT_TRUE(IsOk(Try(member, pro2)));
  EXPECT_EQ(MessageCount(), "2");
}

TEST_F(ModerationTest, BlockRefusesOutOfRangeDurations) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  for (int64_t hours : {int64_t{-1}, int64_t{876001}, int64_t{-876000}}) {
    SCOPED_TRACE(hours);
    v1::RestrictResponse response;
    EXPECT_TRUE(IsError(BlockCall(pro, member.id, hours, &response),
                        grpc::StatusCode::INVALID_ARGUMENT, "bad-value"));
    EXPECT_EQ(response.user_id(), 0);
  }
  EXPECT_EQ(Restrictions(), "0");
  EXPECT_TRUE(IsOk(Try(member, pro)));
  v1::RestrictResponse longest;
  ASSERT_TRUE(IsOk(BlockCall(pro, member.id, 876000, &longest)));
  EXPECT_EQ(FromProto(longest.until()), kStart + absl::Hours(876000) + absl::Milliseconds(750));
  EXPECT_TRUE(IsBlocked(Try(member, pro), "2126-11-02T10:15:01Z"));
}

TEST_F(ModerationTest, RefusedSendNamesTheLatestEndOfTheBlocksInForce) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const Account admin = NewAccount(v1::ROLE_ADMIN);
  ASSERT_TRUE(IsOk(BlockCall(pro, member.id, 3)));
  ASSERT_TRUE(IsOk(BlockCall(admin, member.id, 1)));
  EXPECT_TRUE(IsBlocked(Try(member, pro), "2026-11-26T13:15:01Z"));
  // The admin's block (until 11:15:01) is over, the pro's is not.
  clock_.Advance(absl::Hours(1) + absl::Milliseconds(750));
  EXPECT_TRUE(IsBlocked(Try(member, pro), "2026-11-26T13:15:01Z"));
  const Account pro2 = NewAccount(v1::ROLE_PRO);
  EXPECT_TRUE(IsOk(Try(member, pro2)));
  // A new, longer block of the same pro extends it.
  ASSERT_TRUE(IsOk(BlockCall(pro, member.id, 10)));
  EXPECT_TRUE(IsBlocked(Try(member, pro), "2026-11-26T21:15:01Z"));
  // A new, shorter one replaces it too: the end it answers is the one in force.
  v1::RestrictResponse shorter;
  ASSERT_TRUE(IsOk(BlockCall(pro, member.id, 1, &shorter)));
  EXPECT_EQ(FromProto(shorter.until()), absl::FromCivil(absl::CivilSecond(2026, 11, 26, 12, 15, 1),
                                                        absl::UTCTimeZone()));
  EXPECT_TRUE(IsBlocked(Try(member, pro), "2026-11-26T12:15:01Z"));
  // Another setter's block stays as it was: an admin's outlasts the pro's.
  ASSERT_TRUE(IsOk(BlockCall(admin, member.id, 5)));
  ASSERT_TRUE(IsOk(BlockCall(pro, member.id, 2)));
  EXPECT_TRUE(IsBlocked(Try(member, pro), "2026-11-26T16:15:01Z"));
  // Bans are checked first.
  ASSERT_TRUE(IsOk(BanCall(pro, member.id)));
  EXPECT_TRUE(IsBanned(Try(member, pro)));
  EXPECT_EQ(MessageCount(), "1");
}

// ===========================================================================
// What a restriction covers

TEST_F(ModerationTest, ProRestrictionsCoverOnlyMessagesToThatPro) {
  const Account blocked = NewAccount(v1::ROLE_MEMBER);
  const Account banned = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const Account pro2 = NewAccount(v1::ROLE_PRO);
  ASSERT_TRUE(IsOk(BlockCall(pro, blocked.id)));
  v1::RestrictResponse ban;
  ASSERT_TRUE(IsOk(BanCall(pro, banned.id, &ban)));
  EXPECT_EQ(ban.user_id(), banned.id);
  EXPECT_FALSE(ban.has_until());

  EXPECT_TRUE(IsBlocked(Try(blocked, pro), "2026-11-27T10:15:01Z"));
  EXPECT_TRUE(IsBanned(Try(banned, pro)));
  EXPECT_TRUE(IsOk(Try(blocked, pro2)));
  EXPECT_TRUE(IsOk(Try(banned, pro2)));
  // Neither restriction touches the pro's own messages, nor other senders.
  EXPECT_TRUE(IsOk(Try(pro, blocked)));
  EXPECT_TRUE(IsOk(Try(pro, banned)));
  const Account other = NewAccount(v1::ROLE_MEMBER);
  EXPECT_TRUE(IsOk(Try(other, pro)));
  // A pro's ban refuses neither LOGIN nor the target's sessions.
  v1::LoginResponse login;
  ASSERT_TRUE(IsOk(LoginCall(banned.api_key, &login)));
  EXPECT_EQ(login.user_id(), banned.id);
  EXPECT_TRUE(IsOk(UnreadCall(Bearer(banned.token))));
  // A pro's ban has no end; the block has ended (new sessions: the old ones expired).
  clock_.Advance(absl::Hours(24 * 3650));
  v1::LoginResponse later;
  ASSERT_TRUE(IsOk(LoginCall(banned.api_key, &later)));
  EXPECT_TRUE(IsBanned(SendCall(Bearer(later.token()), pro.id, "ten years later")));
  ASSERT_TRUE(IsOk(LoginCall(blocked.api_key, &later)));
  EXPECT_TRUE(IsOk(SendCall(Bearer(later.token()), pro.id, "ten years later")));
  EXPECT_EQ(MessageCount(), "6");
}

TEST_F(ModerationTest, AdminBlockCoversEveryRecipientUntilItEnds) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const Account pro2 = NewAccount(v1::ROLE_PRO);
  const Account admin = NewAccount(v1::ROLE_ADMIN);
  v1::RestrictResponse blocked;
  ASSERT_TRUE(IsOk(BlockCall(admin, member.id, 3, &blocked)));
  EXPECT_EQ(blocked.user_id(), member.id);
  EXPECT_EQ(FromProto(blocked.until()), kStart + absl::Hours(3) + absl::Milliseconds(750));
  ASSERT_TRUE(IsOk(BlockCall(admin, pro2.id)));  // a pro can be blocked too

  EXPECT_TRUE(IsBlocked(Try(member, pro), "2026-11-26T13:15:01Z"));
  EXPECT_TRUE(IsBlocked(Try(member, pro2), "2026-11-26T13:15:01Z"));
  EXPECT_TRUE(IsBlocked(Try(pro2, member), "2026-11-27T10:15:01Z"));
  // An admin's block refuses neither LOGIN nor reading.
  v1::LoginResponse login;
  ASSERT_TRUE(IsOk(LoginCall(member.api_key, &login)));
  EXPECT_TRUE(IsOk(UnreadCall(Bearer(login.token()))));
  EXPECT_TRUE(IsOk(Try(pro, member)));
  EXPECT_TRUE(IsOk(Try(admin, member)));
  EXPECT_EQ(MessageCount(), "2");

  clock_.Advance(absl::Hours(3) + absl::Milliseconds(750));
  EXPECT_TRUE(IsOk(Try(member, pro)));
  EXPECT_TRUE(IsOk(Try(member, pro2)));
  EXPECT_TRUE(IsBlocked(Try(pro2, member), "2026-11-27T10:15:01Z"));
  EXPECT_EQ(MessageCount(), "4");
}

TEST_F(ModerationTest, AdminBanEndsExistingSessionsAndRefusesLogin) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const Account admin = NewAccount(v1::ROLE_ADMIN);
  const Account admin2 = NewAccount(v1::ROLE_ADMIN);
  v1::LoginResponse phone;
  ASSERT_TRUE(IsOk(LoginCall(member.api_key, &phone)));
  const int64_t own = Send(member, pro, "avant");
  const int64_t received = Send(pro, member, "bonjour");

  v1::RestrictResponse ban;
  ASSERT_TRUE(IsOk(BanCall(admin, member.id, &ban)));
  EXPECT_EQ(ban.user_id(), member.id);
  EXPECT_FALSE(ban.has_until());

  // At once, on every call of every existing session.
  for (const std::string& token : {member.token, phone.token()}) {
    SCOPED_TRACE(token);
    EXPECT_TRUE(IsBanned(SendCall(Bearer(token), pro.id, "après")));
    EXPECT_TRUE(IsBanned(UpdateCall(Bearer(token), own, "changé")));
    EXPECT_TRUE(IsBanned(DeleteCall(Bearer(token), own)));
    v1::ListUnreadResponse unread;
    EXPECT_TRUE(IsBanned(UnreadCall(Bearer(token), &unread)));
    EXPECT_EQ(unread.messages_size(), 0);
  }
  // Ending a session is not refused (DISCONNECTED): the phone's session ends for good.
  EXPECT_TRUE(IsOk(LogoutCall(Bearer(phone.token()))));
  EXPECT_TRUE(IsError(LogoutCall(Bearer(phone.token())), grpc::StatusCode::UNAUTHENTICATED,
                      "not-authenticated"));
  v1::LoginResponse refused;
  EXPECT_TRUE(IsBanned(LoginCall(member.api_key, &refused)));
  EXPECT_TRUE(refused.token().empty());
  EXPECT_EQ(refused.user_id(), 0);
  // Nothing the banned sessions asked for happened.
  EXPECT_EQ(MessageCount(), "2");
  EXPECT_EQ(Db("SELECT content FROM messages WHERE id = " + std::to_string(own)), "avant");
  EXPECT_EQ(Db("SELECT read_at IS NULL FROM messages WHERE id = " + std::to_string(received)), "t");
  // A ban has no end.
  clock_.Advance(absl::Hours(100));
  EXPECT_TRUE(IsBanned(LoginCall(member.api_key)));

  // Another admin lifts it: LOGIN works again, and so do the sessions it interrupted.
  v1::LiftResponse lifted;
  ASSERT_TRUE(IsOk(UnbanCall(admin2, member.id, &lifted)));
  EXPECT_EQ(lifted.user_id(), member.id);
  v1::LoginResponse again;
  ASSERT_TRUE(IsOk(LoginCall(member.api_key, &again)));
  EXPECT_EQ(again.user_id(), member.id);
  EXPECT_EQ(again.role(), v1::ROLE_MEMBER);
  EXPECT_TRUE(IsOk(SendCall(Bearer(again.token()), pro.id, "de retour")));
  const std::vector<v1::Message> unread = Unread(member);
  ASSERT_EQ(unread.size(), 1u);
  EXPECT_EQ(unread[0].message_id(), received);
  // The session ended during the ban stays ended.
  EXPECT_TRUE(IsError(UnreadCall(Bearer(phone.token())), grpc::StatusCode::UNAUTHENTICATED,
                      "not-authenticated"));
}

TEST_F(ModerationTest, AdminBanEndsALiveSubscriptionAtItsNextChange) {
  const std::unique_ptr<LiveServer> live = StartLiveServer();
  ASSERT_NE(live, nullptr);
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const Account admin = NewAccount(v1::ROLE_ADMIN);

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  context.AddMetadata("authorization", "Bearer " + member.token);
  std::unique_ptr<grpc::ClientReader<v1::Change>> reader =
      live->chat->Subscribe(&context, v1::SubscribeRequest());
  reader->WaitForInitialMetadata();
  ASSERT_EQ(context.GetServerInitialMetadata().count("tchatator-subscribed"), 1u);
  const int64_t before = Send(pro, member, "avant");
  v1::Change change;
  ASSERT_TRUE(reader->Read(&change));
  EXPECT_EQ(change.kind(), v1::CHANGE_KIND_NEW_MESSAGE);
  EXPECT_EQ(change.message().message_id(), before);

  ASSERT_TRUE(IsOk(BanCall(admin, member.id)));
  const int64_t after = Send(pro, member, "après");
  EXPECT_FALSE(reader->Read(&change)) << "delivered after the ban: " << change.DebugString();
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), kDenied) << status.error_message();
  EXPECT_EQ(Trailer(context, "tchatator-error"), "banned");
  EXPECT_EQ(Db("SELECT read_at IS NULL FROM messages WHERE id = " + std::to_string(after)), "t");
}

TEST_F(ModerationTest, AdminBanOfAProRefusesItsLoginToo) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const Account admin = NewAccount(v1::ROLE_ADMIN);
  ASSERT_TRUE(IsOk(BanCall(admin, pro.id)));
  EXPECT_TRUE(IsBanned(LoginCall(pro.api_key)));
  EXPECT_TRUE(IsBanned(Try(pro, member)));
  // A banned pro can neither restrict nor lift.
  EXPECT_TRUE(IsBanned(BlockCall(pro, member.id)));
  EXPECT_TRUE(IsBanned(UnbanCall(pro, member.id)));
  // Messages to the banned user are still accepted.
  EXPECT_TRUE(IsOk(Try(member, pro)));
  // A pro's ban of the same user does not refuse LOGIN; only the admin's did.
  const Account pro2 = NewAccount(v1::ROLE_PRO);
  const Account target = NewAccount(v1::ROLE_MEMBER);
  ASSERT_TRUE(IsOk(BanCall(pro2, target.id)));
  EXPECT_TRUE(IsOk(LoginCall(target.api_key)));
  ASSERT_TRUE(IsOk(UnbanCall(admin, pro.id)));
  EXPECT_TRUE(IsOk(LoginCall(pro.api_key)));
  EXPECT_TRUE(IsOk(Try(pro, member)));
}

// ===========================================================================
// Who may restrict and lift

TEST_F(ModerationTest, MembersMayNeitherRestrictNorLift) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account member2 = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  ASSERT_TRUE(IsOk(BlockCall(pro, member2.id)));
  ASSERT_TRUE(IsOk(BanCall(pro, member.id)));
  for (int64_t target : {pro.id, member2.id, member.id, pro.id + 1000}) {
    SCOPED_TRACE(target);
    v1::RestrictResponse restricted;
    EXPECT_TRUE(IsError(BlockCall(member, target, 0, &restricted), kDenied, "forbidden"));
    EXPECT_TRUE(IsError(BanCall(member, target, &restricted), kDenied, "forbidden"));
    EXPECT_EQ(restricted.user_id(), 0);
    v1::LiftResponse lifted;
    EXPECT_TRUE(IsError(UnblockCall(member2, target, &lifted), kDenied, "forbidden"));
    EXPECT_TRUE(IsError(UnbanCall(member, target, &lifted), kDenied, "forbidden"));
    EXPECT_EQ(lifted.user_id(), 0);
  }
  EXPECT_EQ(Restrictions(), "2");
  EXPECT_EQ(Restrictions("lifted_at IS NULL"), "2");
  EXPECT_TRUE(IsBlocked(Try(member2, pro), "2026-11-27T10:15:01Z"));
  EXPECT_TRUE(IsBanned(Try(member, pro)));
}

TEST_F(ModerationTest, RestrictRefusesSelfAdminsForProsAndUnknownUsers) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const Account admin = NewAccount(v1::ROLE_ADMIN);
  const Account admin2 = NewAccount(v1::ROLE_ADMIN);
  EXPECT_TRUE(IsError(BlockCall(pro, pro.id), kDenied, "forbidden"));
  EXPECT_TRUE(IsError(BanCall(pro, pro.id), kDenied, "forbidden"));
  EXPECT_TRUE(IsError(BlockCall(admin, admin.id), kDenied, "forbidden"));
  EXPECT_TRUE(IsError(BanCall(admin, admin.id), kDenied, "forbidden"));
  EXPECT_TRUE(IsError(BlockCall(pro, admin.id), kDenied, "forbidden"));
  EXPECT_TRUE(IsError(BanCall(pro, admin.id), kDenied, "forbidden"));
  for (int64_t unknown : {member.id + 1000, int64_t{0}, int64_t{-1}}) {
    SCOPED_TRACE(unknown);
    EXPECT_TRUE(IsError(BlockCall(pro, unknown), grpc::StatusCode::NOT_FOUND, "unknown-user"));
    EXPECT_TRUE(IsError(BanCall(admin, unknown), grpc::StatusCode::NOT_FOUND, "unknown-user"));
    EXPECT_TRUE(IsError(UnblockCall(pro, unknown), grpc::StatusCode::NOT_FOUND, "unknown-user"));
    EXPECT_TRUE(IsError(UnbanCall(admin, unknown), grpc::StatusCode::NOT_FOUND, "unknown-user"));
  }
  EXPECT_EQ(Restrictions(), "0");
  // An admin may restrict another admin.
  ASSERT_TRUE(IsOk(BlockCall(admin, admin2.id, 1)));
  EXPECT_TRUE(IsBlocked(Try(admin2, member), "2026-11-26T11:15:01Z"));
}

TEST_F(ModerationTest, RestrictionsNeedAValidSession) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  ASSERT_TRUE(IsOk(LogoutCall(Bearer(pro.token))));
  for (const std::string& token : {pro.token, pro.api_key, std::string(kAdminKey)}) {
    SCOPED_TRACE(token);
    const grpc::StatusCode code = grpc::StatusCode::UNAUTHENTICATED;
    EXPECT_TRUE(IsError(RestrictCall(&v1::ChatService::Stub::Block, token, member.id, 0, nullptr),
                        code, "not-authenticated"));
    EXPECT_TRUE(IsError(RestrictCall(&v1::ChatService::Stub::Ban, token, member.id, 0, nullptr),
                        code, "not-authenticated"));
    EXPECT_TRUE(IsError(LiftCall(&v1::ChatService::Stub::Unblock, token, member.id, nullptr), code,
                        "not-authenticated"));
    EXPECT_TRUE(IsError(LiftCall(&v1::ChatService::Stub::Unban, token, member.id, nullptr), code,
                        "not-authenticated"));
  }
  EXPECT_EQ(Restrictions(), "0");
}

TEST_F(ModerationTest, WhoeverSetABlockOrAnAdminMayLiftIt) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const Account pro2 = NewAccount(v1::ROLE_PRO);
  const Account admin = NewAccount(v1::ROLE_ADMIN);
  ASSERT_TRUE(IsOk(BlockCall(pro, member.id)));
  // Another pro: 200 (nothing of its own to lift) and the block holds.
  v1::LiftResponse lifted;
  ASSERT_TRUE(IsOk(UnblockCall(pro2, member.id, &lifted)));
  EXPECT_EQ(lifted.user_id(), member.id);
  EXPECT_TRUE(IsBlocked(Try(member, pro), "2026-11-27T10:15:01Z"));
  // The pro who set it.
  ASSERT_TRUE(IsOk(UnblockCall(pro, member.id, &lifted)));
  EXPECT_EQ(lifted.user_id(), member.id);
  EXPECT_TRUE(IsOk(Try(member, pro)));
  // An admin lifts a pro's block.
  ASSERT_TRUE(IsOk(BlockCall(pro, member.id, 5)));
  EXPECT_TRUE(IsBlocked(Try(member, pro), "2026-11-26T15:15:01Z"));
  ASSERT_TRUE(IsOk(UnblockCall(admin, member.id)));
  EXPECT_TRUE(IsOk(Try(member, pro)));
  // Lifted rows stay, for the record.
  EXPECT_EQ(Restrictions(), "2");
  EXPECT_EQ(Restrictions("lifted_at IS NULL"), "0");
  EXPECT_EQ(MessageCount(), "2");
}

TEST_F(ModerationTest, WhoeverSetABanOrAnAdminMayLiftIt) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const Account pro2 = NewAccount(v1::ROLE_PRO);
  const Account admin = NewAccount(v1::ROLE_ADMIN);
  ASSERT_TRUE(IsOk(BanCall(pro, member.id)));
  ASSERT_TRUE(IsOk(UnbanCall(pro2, member.id)));
  EXPECT_TRUE(IsBanned(Try(member, pro)));
  ASSERT_TRUE(IsOk(UnbanCall(pro, member.id)));
  EXPECT_TRUE(IsOk(Try(member, pro)));
  ASSERT_TRUE(IsOk(BanCall(pro, member.id)));
  EXPECT_TRUE(IsBanned(Try(member, pro)));
  ASSERT_TRUE(IsOk(UnbanCall(admin, member.id)));
  EXPECT_TRUE(IsOk(Try(member, pro)));
  EXPECT_EQ(MessageCount(), "2");
}

TEST_F(ModerationTest, AProCannotLiftAnAdminsRestriction) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const Account admin = NewAccount(v1::ROLE_ADMIN);
  const Account admin2 = NewAccount(v1::ROLE_ADMIN);
  ASSERT_TRUE(IsOk(BlockCall(admin, member.id, 2)));
  ASSERT_TRUE(IsOk(UnblockCall(pro, member.id)));
  EXPECT_TRUE(IsBlocked(Try(member, pro), "2026-11-26T12:15:01Z"));
  // Any admin may, not only the one who set it.
  ASSERT_TRUE(IsOk(UnblockCall(admin2, member.id)));
  EXPECT_TRUE(IsOk(Try(member, pro)));

  ASSERT_TRUE(IsOk(BanCall(admin, member.id)));
  ASSERT_TRUE(IsOk(UnbanCall(pro, member.id)));
  EXPECT_TRUE(IsBanned(LoginCall(member.api_key)));
  ASSERT_TRUE(IsOk(UnbanCall(admin, member.id)));
  EXPECT_TRUE(IsOk(LoginCall(member.api_key)));
  EXPECT_TRUE(IsOk(Try(member, pro)));
}

TEST_F(ModerationTest, UnblockLiftsBlocksOnlyAndUnbanBansOnly) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const Account admin = NewAccount(v1::ROLE_ADMIN);
  ASSERT_TRUE(IsOk(BanCall(pro, member.id)));
  ASSERT_TRUE(IsOk(BlockCall(pro, member.id)));
  ASSERT_TRUE(IsOk(UnblockCall(pro, member.id)));
  EXPECT_TRUE(IsBanned(Try(member, pro)));
  ASSERT_TRUE(IsOk(UnblockCall(admin, member.id)));
  EXPECT_TRUE(IsBanned(Try(member, pro)));
  ASSERT_TRUE(IsOk(BlockCall(pro, member.id, 1)));
  ASSERT_TRUE(IsOk(UnbanCall(pro, member.id)));
  EXPECT_TRUE(IsBlocked(Try(member, pro), "2026-11-26T11:15:01Z"));
  ASSERT_TRUE(IsOk(UnblockCall(pro, member.id)));
  EXPECT_TRUE(IsOk(Try(member, pro)));
}

TEST_F(ModerationTest, EditsAreRefusedAsSendsAreWhileARestrictionIsInForce) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const Account pro2 = NewAccount(v1::ROLE_PRO);
  const Account admin = NewAccount(v1::ROLE_ADMIN);
  v1::SendMessageResponse to_pro, to_pro2, from_pro;
  ASSERT_TRUE(IsOk(SendCall(Bearer(member.token), pro.id, "first", &to_pro)));
  ASSERT_TRUE(IsOk(SendCall(Bearer(member.token), pro2.id, "second", &to_pro2)));
  ASSERT_TRUE(IsOk(SendCall(Bearer(pro.token), member.id, "answer", &from_pro)));
  const auto content = [](const v1::SendMessageResponse& sent) {
    return Db("SELECT content FROM messages WHERE id = " + std::to_string(sent.message_id()));
  };
  const auto edit = [this](const Account& by, const v1::SendMessageResponse& sent,
                           const std::string& text) {
    return UpdateCall(Bearer(by.token), sent.message_id(), text);
  };

  ASSERT_TRUE(IsOk(BlockCall(pro, member.id)));
  EXPECT_TRUE(IsBlocked(edit(member, to_pro, "insult"), "2026-11-27T10:15:01Z"));
  EXPECT_EQ(content(to_pro), "first");
  // Only messages to that pro; the pro's own edits are not restricted.
  EXPECT_TRUE(IsOk(edit(member, to_pro2, "second, edited")));
  EXPECT_TRUE(IsOk(edit(pro, from_pro, "answer, edited")));
  ASSERT_TRUE(IsOk(BanCall(pro, member.id)));
  EXPECT_TRUE(IsBanned(edit(member, to_pro, "insult")));
  ASSERT_TRUE(IsOk(UnbanCall(pro, member.id)));
  EXPECT_TRUE(IsBlocked(edit(member, to_pro, "insult"), "2026-11-27T10:15:01Z"));
  // Once the block is over, as for a send.
  clock_.Advance(absl::Hours(24) + absl::Milliseconds(750));
  EXPECT_TRUE(IsOk(edit(member, to_pro, "first, edited")));
  EXPECT_EQ(content(to_pro), "first, edited");
  // An admin's block covers every recipient.
  ASSERT_TRUE(IsOk(BlockCall(admin, member.id, 2)));
  EXPECT_TRUE(IsBlocked(edit(member, to_pro2, "insult"), "2026-11-27T12:15:01Z"));
  EXPECT_EQ(content(to_pro2), "second, edited");
  // Deleting stays allowed: it sends the recipient nothing new.
  EXPECT_TRUE(IsOk(DeleteCall(Bearer(member.token), to_pro2.message_id())));
  EXPECT_EQ(Db("SELECT count(*) FROM changes WHERE kind = 'message_updated' AND message_id IN (" +
               std::to_string(to_pro.message_id()) + ", " +
               std::to_string(to_pro2.message_id()) + ")"),
            "2");
}

TEST_F(ModerationTest, LiftingWhatDoesNotExistAnswersOk) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const Account admin = NewAccount(v1::ROLE_ADMIN);
  for (const Account* by : {&pro, &admin}) {
    v1::LiftResponse lifted;
    ASSERT_TRUE(IsOk(UnblockCall(*by, member.id, &lifted)));
    EXPECT_EQ(lifted.user_id(), member.id);
    ASSERT_TRUE(IsOk(UnbanCall(*by, member.id, &lifted)));
    EXPECT_EQ(lifted.user_id(), member.id);
  }
  // An expired block, too.
  ASSERT_TRUE(IsOk(BlockCall(pro, member.id, 1)));
  clock_.Advance(absl::Hours(1));
  ASSERT_TRUE(IsOk(UnblockCall(pro, member.id)));
  EXPECT_TRUE(IsOk(Try(member, pro)));
  EXPECT_EQ(Restrictions(), "1");
}

// ===========================================================================
// The admin API key

// Its own suite, so its own database, and each test starts with no key replaced yet:
// a key an earlier test replaced would keep the next test's core out.
class AdminKeyTest : public ModerationTest {
 protected:
  void SetUp() override {
    Db("DELETE FROM admin_key_markers");
    ModerationTest::SetUp();
  }

  // A second core on the same database whose settings hold `admin_key` (a pod of
  // another generation, or a core not yet given the new key).
  struct OtherCore {
    OtherCore(AdminKeyTest& test, const std::string& admin_key)
        : settings([&] {
            Settings s = *test.settings_->Get();
            s.admin_api_key = admin_key;
            return s;
          }()),
          server(*test.store_, test.clock_, settings) {
      absl::StatusOr<int> port = server.Start("127.0.0.1", 0);
      if (!port.ok()) throw std::runtime_error(std::string(port.status().message()));
      chat = v1::ChatService::NewStub(grpc::CreateChannel(
          "127.0.0.1:" + std::to_string(*port), grpc::InsecureChannelCredentials()));
    }
    ~OtherCore() { server.Shutdown(absl::Seconds(1)); }
    // LOGIN through this core.
    grpc::Status Login(const std::string& api_key, v1::LoginResponse* out) {
      grpc::ClientContext context;
      v1::LoginRequest request;
      request.set_api_key(api_key);
      return chat->Login(&context, request, out);
    }
    SettingsHolder settings;
    CoreServer server;
    std::unique_ptr<v1::ChatService::Stub> chat;
  };
};

TEST_F(AdminKeyTest, AdminApiKeyLogsInAsTheBuiltInAdministrator) {
  v1::LoginResponse first;
  ASSERT_TRUE(IsOk(LoginCall(kAdminKey, &first)));
  EXPECT_EQ(first.role(), v1::ROLE_ADMIN);
  EXPECT_TRUE(IsSecret(first.token())) << first.token();
  EXPECT_GT(first.user_id(), 0);
  v1::User user;
  ASSERT_TRUE(IsOk(GetUserCall(first.user_id(), Bearer(kAdminKey), &user)));
  EXPECT_EQ(user.name(), "Administrateur");
  EXPECT_EQ(user.role(), v1::ROLE_ADMIN);
  v1::LoginResponse second;
  ASSERT_TRUE(IsOk(LoginCall(kAdminKey, &second)));
  EXPECT_EQ(second.user_id(), first.user_id());
  EXPECT_NE(second.token(), first.token());

  // It moderates like any admin.
  const Account admin{first.user_id(), kAdminKey, first.token()};
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  ASSERT_TRUE(IsOk(BanCall(admin, member.id)));
  EXPECT_TRUE(IsBanned(LoginCall(member.api_key)));
  ASSERT_TRUE(IsOk(UnbanCall(admin, member.id)));
  EXPECT_TRUE(IsOk(LoginCall(member.api_key)));
  EXPECT_TRUE(IsOk(Try(admin, pro)));
  EXPECT_TRUE(IsOk(Try(admin, member)));
}

// admin-api-key is the operator's way in: another admin cannot lock it out (probe 24
// F1: banned, it could not log in to lift the ban).
TEST_F(AdminKeyTest, TheBuiltInAdministratorCannotBeBlockedOrBanned) {
  v1::LoginResponse built_in;
  ASSERT_TRUE(IsOk(LoginCall(kAdminKey, &built_in)));
  const Account other = NewAccount(v1::ROLE_ADMIN);
  EXPECT_TRUE(IsError(BanCall(other, built_in.user_id()), kDenied, "forbidden"));
  EXPECT_TRUE(IsError(BlockCall(other, built_in.user_id(), 1), kDenied, "forbidden"));
  EXPECT_TRUE(IsOk(LoginCall(kAdminKey)));
  const Account member = NewAccount(v1::ROLE_MEMBER);
  EXPECT_TRUE(IsOk(SendCall(Bearer(built_in.token()), member.id, "toujours là")));
  // Any other admin can be, as before.
  const Account admin = NewAccount(v1::ROLE_ADMIN);
  EXPECT_TRUE(IsOk(BanCall(other, admin.id)));
  EXPECT_TRUE(IsBanned(LoginCall(admin.api_key)));
}

TEST_F(AdminKeyTest, EmptyAdminApiKeyDisablesTheAdminLoginAndEndsItsSessions) {
  v1::LoginResponse session;
  ASSERT_TRUE(IsOk(LoginCall(kAdminKey, &session)));  // the built-in administrator exists
  const Account member = NewAccount(v1::ROLE_MEMBER);
  ASSERT_TRUE(IsOk(SendCall(Bearer(session.token()), member.id, "avant")));
  Reconfigure([](Settings& s) { s.admin_api_key = ""; });
  ASSERT_TRUE(server_->FollowAdminKey().ok());
  for (const std::string& key : {std::string(kAdminKey), std::string("")}) {
    SCOPED_TRACE(key);
    v1::LoginResponse login;
    EXPECT_TRUE(IsError(LoginCall(key, &login), kDenied, "invalid-api-key"));
    EXPECT_TRUE(login.token().empty());
  }
  EXPECT_TRUE(IsError(SendCall(Bearer(session.token()), member.id, "après"),
                      grpc::StatusCode::UNAUTHENTICATED, "not-authenticated"));
  // A key configured again logs in as the same administrator.
  Reconfigure([](Settings& s) { s.admin_api_key = kAdminKey; });
  v1::LoginResponse again;
  ASSERT_TRUE(IsOk(LoginCall(kAdminKey, &again)));
  EXPECT_EQ(again.user_id(), session.user_id());
  EXPECT_TRUE(IsOk(SendCall(Bearer(again.token()), member.id, "de nouveau")));
}

TEST_F(AdminKeyTest, ANewAdminApiKeyReplacesTheOldOneAndEndsItsSessions) {
  v1::LoginResponse old_login;
  ASSERT_TRUE(IsOk(LoginCall(kAdminKey, &old_login)));
  const Account member = NewAccount(v1::ROLE_MEMBER);
  Reconfigure([](Settings& s) { s.admin_api_key = "the-new-admin-key-for-tests"; });
  ASSERT_TRUE(server_->FollowAdminKey().ok());
  EXPECT_TRUE(IsError(SendCall(Bearer(old_login.token()), member.id, "ancienne clé"),
                      grpc::StatusCode::UNAUTHENTICATED, "not-authenticated"));
  EXPECT_TRUE(IsError(LoginCall(kAdminKey), kDenied, "invalid-api-key"));
  v1::LoginResponse login;
  ASSERT_TRUE(IsOk(LoginCall("the-new-admin-key-for-tests", &login)));
  EXPECT_EQ(login.role(), v1::ROLE_ADMIN);
  EXPECT_EQ(login.user_id(), old_login.user_id());  // still the one built-in administrator
  // Following the same key again ends nothing.
  ASSERT_TRUE(server_->FollowAdminKey().ok());
  EXPECT_TRUE(IsOk(SendCall(Bearer(login.token()), member.id, "nouvelle clé")));
  EXPECT_EQ(Db("SELECT count(*) FROM users WHERE api_key_hash LIKE 'built-in-admin%'"), "1");
}

TEST_F(AdminKeyTest, TheServerFollowsANewAdminKeyByItself) {
  // No call to FollowAdminKey: the server checks every second.
  v1::LoginResponse old_login;
  ASSERT_TRUE(IsOk(LoginCall(kAdminKey, &old_login)));
  Reconfigure([](Settings& s) { s.admin_api_key = "another-admin-key-for-tests"; });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  Reply read;
  do {
    read = UnreadCall(Bearer(old_login.token()));
    if (!IsOk(read)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling interval
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_TRUE(IsError(read, grpc::StatusCode::UNAUTHENTICATED, "not-authenticated"));
}

TEST_F(AdminKeyTest, ACoreStartedWithAnotherAdminKeyEndsTheOldKeysSessionsBeforeServing) {
  v1::LoginResponse old_login;
  ASSERT_TRUE(IsOk(LoginCall(kAdminKey, &old_login)));
  const Account member = NewAccount(v1::ROLE_MEMBER);
  // A second core on the same database, configured with another key (the first one
  // never hears of it: its own settings keep kAdminKey).
  OtherCore restarted(*this, "the-key-of-the-restarted-core");
  EXPECT_TRUE(IsError(SendCall(Bearer(old_login.token()), member.id, "ancienne clé"),
                      grpc::StatusCode::UNAUTHENTICATED, "not-authenticated"));
  v1::LoginResponse login;
  ASSERT_TRUE(restarted.Login("the-key-of-the-restarted-core", &login).ok());
  EXPECT_EQ(login.user_id(), old_login.user_id());
}

// Probe 22a: two cores on different keys moved the row to and fro every second, each
// move ending every session of the built-in administrator, on either key, for as long
// as they disagreed (a rolling rotation, a core not given the new key). Now the key
// replaced stays replaced: the core still on it neither takes the row back nor logs in
// with it, and says so once.
TEST_F(AdminKeyTest, ACoreStillOnAReplacedKeyNeitherTakesItBackNorLogsInWithIt) {
  v1::LoginResponse old_login;
  ASSERT_TRUE(IsOk(LoginCall(kAdminKey, &old_login)));
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const std::string marker_before = Db(
      "SELECT api_key_hash FROM users WHERE id = " + std::to_string(old_login.user_id()));
  // Before the rotation: server_ checks every second, and may warn at once.
  const std::string log_path = ::testing::TempDir() + "replaced-admin-key.log";
  std::remove(log_path.c_str());
  ASSERT_TRUE(Log::Configure(log_path, false));
  // The rotation, through a core of the new generation.
  OtherCore rotated(*this, "the-rotated-admin-key");
  v1::LoginResponse fresh;
  ASSERT_TRUE(rotated.Login("the-rotated-admin-key", &fresh).ok());
  EXPECT_EQ(fresh.user_id(), old_login.user_id());
  const std::string marker_after = Db(
      "SELECT api_key_hash FROM users WHERE id = " + std::to_string(fresh.user_id()));
  EXPECT_NE(marker_after, marker_before);
  // server_ still has kAdminKey: its checks, however many, move nothing back.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(server_->FollowAdminKey().ok());
  EXPECT_TRUE(IsError(LoginCall(kAdminKey), kDenied, "invalid-api-key"));
  // Nor does the old key authorise the AccountService there.
  EXPECT_TRUE(IsError(CreateUserCall(v1::ROLE_ADMIN, "par l'ancienne clé"), kDenied,
                      "invalid-api-key"));
  EXPECT_EQ(Db("SELECT api_key_hash FROM users WHERE id = " + std::to_string(fresh.user_id())),
            marker_after);
  EXPECT_TRUE(IsOk(SendCall(Bearer(fresh.token()), member.id, "nouvelle clé")));
  EXPECT_TRUE(IsError(SendCall(Bearer(old_login.token()), member.id, "ancienne clé"),
                      grpc::StatusCode::UNAUTHENTICATED, "not-authenticated"));
  // A core started later with the old key (a stale configuration) is kept out too.
  {
    OtherCore stale(*this, kAdminKey);
    v1::LoginResponse refused;
    EXPECT_EQ(stale.Login(kAdminKey, &refused).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  EXPECT_TRUE(IsOk(SendCall(Bearer(fresh.token()), member.id, "toujours")));
  Log::Configure("", false);
  // Once by each core on the old key.
  std::ifstream log_file(log_path);
  std::string line;
  int warnings = 0;
  while (std::getline(log_file, line)) {
    warnings += line.find("admin-api-key (or its absence) was replaced through another core") !=
                line.npos;
  }
  EXPECT_EQ(warnings, 2);
  // Given the new key (a reload), server_ follows it, and nothing ends.
  Reconfigure([](Settings& s) { s.admin_api_key = "the-rotated-admin-key"; });
  ASSERT_TRUE(server_->FollowAdminKey().ok());
  EXPECT_TRUE(IsOk(LoginCall("the-rotated-admin-key")));
  EXPECT_TRUE(IsOk(SendCall(Bearer(fresh.token()), member.id, "encore")));
}

// No key's absence replaces a key: a key removed (its sessions ended) and configured
// again, even by a restart, logs in as before; and a core without a key ends the
// administrator's sessions each time, wherever they were opened (probe 22c: removed,
// restored, then removed again by restarts, a session lived on).
TEST_F(AdminKeyTest, AKeyRemovedThenConfiguredAgainByARestartLogsInAsBefore) {
  v1::LoginResponse first;
  ASSERT_TRUE(IsOk(LoginCall(kAdminKey, &first)));
  {
    OtherCore without_key(*this, "");
    EXPECT_TRUE(IsError(UnreadCall(Bearer(first.token())), grpc::StatusCode::UNAUTHENTICATED,
                        "not-authenticated"));
  }
  OtherCore restarted(*this, kAdminKey);
  v1::LoginResponse again;
  ASSERT_TRUE(restarted.Login(kAdminKey, &again).ok());
  EXPECT_EQ(again.user_id(), first.user_id());
  EXPECT_TRUE(IsOk(UnreadCall(Bearer(again.token()))));
  OtherCore removed_again(*this, "");
  EXPECT_TRUE(IsError(UnreadCall(Bearer(again.token())), grpc::StatusCode::UNAUTHENTICATED,
                      "not-authenticated"));
  // While it runs, a session opened through a core that still has the key ends within
  // its next check.
  v1::LoginResponse meanwhile;
  ASSERT_TRUE(restarted.Login(kAdminKey, &meanwhile).ok());
  ASSERT_TRUE(removed_again.server.FollowAdminKey().ok());
  EXPECT_TRUE(IsError(UnreadCall(Bearer(meanwhile.token())), grpc::StatusCode::UNAUTHENTICATED,
                      "not-authenticated"));
}

// An operator who changes a core's key back, by a reload, takes the row back: the
// change is the operator's word, unlike a key a core merely still has.
TEST_F(AdminKeyTest, AKeyConfiguredAgainByAReloadTakesTheRowBack) {
  ASSERT_TRUE(IsOk(LoginCall(kAdminKey)));
  OtherCore rotated(*this, "the-rotated-admin-key");
  v1::LoginResponse fresh;
  ASSERT_TRUE(rotated.Login("the-rotated-admin-key", &fresh).ok());
  Reconfigure([](Settings& s) { s.admin_api_key = "a-third-key"; });
  ASSERT_TRUE(server_->FollowAdminKey().ok());
  Reconfigure([](Settings& s) { s.admin_api_key = kAdminKey; });
  ASSERT_TRUE(server_->FollowAdminKey().ok());
  v1::LoginResponse back;
  ASSERT_TRUE(IsOk(LoginCall(kAdminKey, &back)));
  EXPECT_EQ(back.user_id(), fresh.user_id());
  EXPECT_TRUE(IsError(UnreadCall(Bearer(fresh.token())), grpc::StatusCode::UNAUTHENTICATED,
                      "not-authenticated"));
}

// Its own suite, so its own database: no built-in administrator exists yet.
using LegacyBuiltInAdminTest = ModerationTest;

TEST_F(LegacyBuiltInAdminTest, ARowStoredUnderTheKeysHashIsAdoptedThenTheKeyCanBeRemoved) {
  // What an older core stored: the built-in administrator under the key's own hash.
  const std::string legacy_id =
      Db("INSERT INTO users (role, name, api_key_hash) VALUES ('admin', 'Administrateur', "
         "encode(sha256(convert_to('" +
         std::string(kAdminKey) + "', 'UTF8')), 'hex')) RETURNING id");
  ASSERT_FALSE(legacy_id.empty());
  v1::LoginResponse login;
  ASSERT_TRUE(IsOk(LoginCall(kAdminKey, &login)));
  EXPECT_EQ(std::to_string(login.user_id()), legacy_id);
  EXPECT_EQ(login.role(), v1::ROLE_ADMIN);
  EXPECT_EQ(Db("SELECT count(*) FROM users WHERE role = 'admin'"), "1");
  const Account member = NewAccount(v1::ROLE_MEMBER);
  // The session it opened is an ordinary admin session...
  EXPECT_TRUE(IsOk(SendCall(Bearer(login.token()), member.id, "bonjour")));
  Reconfigure([](Settings& s) { s.admin_api_key = ""; });
  ASSERT_TRUE(server_->FollowAdminKey().ok());
  EXPECT_TRUE(IsError(LoginCall(kAdminKey), kDenied, "invalid-api-key"));
  // ... which ends with the key.
  EXPECT_TRUE(IsError(SendCall(Bearer(login.token()), member.id, "au revoir"),
                      grpc::StatusCode::UNAUTHENTICATED, "not-authenticated"));
}

TEST_F(LegacyBuiltInAdminTest, ASecondBuiltInAdministratorMadeByAnOlderReleaseIsRetired) {
  v1::LoginResponse login;
  ASSERT_TRUE(IsOk(LoginCall(kAdminKey, &login)));
  // What a core of a release before the marker followed the key does once it no longer
  // finds its row: it makes one under the constant marker.
  const std::string second =
      Db("INSERT INTO users (role, name, api_key_hash) VALUES ('admin', 'Administrateur', "
         "'built-in-admin') RETURNING id");
  ASSERT_TRUE(server_->FollowAdminKey().ok());
  EXPECT_EQ(Db("SELECT api_key_hash FROM users WHERE id = " + second),
            "retired-built-in-admin:" + second);
  EXPECT_EQ(Db("SELECT count(*) FROM users WHERE api_key_hash LIKE 'built-in-admin%'"), "1");
  // The one kept keeps its session; the retired one is an ordinary admin with no key.
  const Account member = NewAccount(v1::ROLE_MEMBER);
  EXPECT_TRUE(IsOk(SendCall(Bearer(login.token()), member.id, "toujours là")));
  v1::LoginResponse again;
  ASSERT_TRUE(IsOk(LoginCall(kAdminKey, &again)));
  EXPECT_EQ(again.user_id(), login.user_id());
}

// ===========================================================================
// Rate limits

TEST_F(ModerationTest, MinuteWindowSlides) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  // Twelve sends, 5 s apart: at 0, 5, ..., 55 s.
  for (int i = 0; i < 12; ++i) {
    if (i > 0) clock_.Advance(absl::Seconds(5));
    ASSERT_TRUE(IsOk(Try(member, pro, "m" + std::to_string(i)))) << i;
  }
  EXPECT_TRUE(IsRateLimited(Try(member, pro), "5"));
  clock_.Advance(absl::Milliseconds(4500));  // 59.5 s: half a second left, rounded up
  EXPECT_TRUE(IsRateLimited(Try(member, pro), "1"));
  clock_.Advance(absl::Milliseconds(499));
  EXPECT_TRUE(IsRateLimited(Try(member, pro), "1"));
  clock_.Advance(absl::Milliseconds(1));  // 60 s after the first: one more
  EXPECT_TRUE(IsOk(Try(member, pro)));
  EXPECT_TRUE(IsRateLimited(Try(member, pro), "5"));
  clock_.Advance(absl::Seconds(5));
  EXPECT_TRUE(IsOk(Try(member, pro)));
  EXPECT_TRUE(IsRateLimited(Try(member, pro), "5"));
  EXPECT_EQ(MessageCount(), "14");
}

TEST_F(ModerationTest, NinetyMessagesPerHour) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  // Twelve a minute for seven minutes (0 to 360 s), then six at 420 s: 90.
  for (int minute = 0; minute < 8; ++minute) {
    if (minute > 0) clock_.Advance(absl::Seconds(60));
    for (int i = 0; i < (minute < 7 ? 12 : 6); ++i) {
      ASSERT_TRUE(IsOk(Try(member, pro, "x"))) << minute << " " << i;
    }
  }
  EXPECT_EQ(MessageCount(), "90");
  // The minute allows more, the hour does not: the first twelve leave it at 3600 s.
  EXPECT_TRUE(IsRateLimited(Try(member, pro), "3180"));
  clock_.Advance(absl::Seconds(3179));
  EXPECT_TRUE(IsRateLimited(Try(member, pro), "1"));
  clock_.Advance(absl::Seconds(1));
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(IsOk(Try(member, pro, "y"))) << i;
  // Both windows are full again; the 60 s one and the hour both free at 3660 s.
  EXPECT_TRUE(IsRateLimited(Try(member, pro), "60"));
  // Other users are not limited by this one.
  const Account other = NewAccount(v1::ROLE_MEMBER);
  EXPECT_TRUE(IsOk(Try(other, pro)));
  EXPECT_TRUE(IsOk(Try(pro, member)));
  EXPECT_EQ(MessageCount(), "104");
}

TEST_F(ModerationTest, RefusedSendsDoNotCount) {
  const Account member = NewAccount(v1::ROLE_MEMBER);
  const Account member2 = NewAccount(v1::ROLE_MEMBER);
  const Account pro = NewAccount(v1::ROLE_PRO);
  const Account blocker = NewAccount(v1::ROLE_PRO);
  const Account banner = NewAccount(v1::ROLE_PRO);
  ASSERT_TRUE(IsOk(BlockCall(blocker, member.id)));
  ASSERT_TRUE(IsOk(BanCall(banner, member.id)));
  for (int i = 0; i < 20; ++i) {
    SCOPED_TRACE(i);
    EXPECT_TRUE(IsBlocked(Try(member, blocker), "2026-11-27T10:15:01Z"));
    EXPECT_TRUE(IsBanned(Try(member, banner)));
    EXPECT_TRUE(IsError(SendCall(Bearer(member.token), pro.id + 1000, "x"),
                        grpc::StatusCode::NOT_FOUND, "unknown-user"));
    EXPECT_TRUE(IsError(Try(member, member2), kDenied, "recipient-not-allowed"));
    EXPECT_TRUE(IsError(Try(member, pro, ""), grpc::StatusCode::INVALID_ARGUMENT, "empty-content"));
  }
  clock_.Advance(absl::Seconds(1));
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(IsOk(Try(member, pro))) << i;
  // Refusals for the rate limit itself do not count either.
  clock_.Advance(absl::Seconds(30));
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(IsRateLimited(Try(member, pro), "30")) << i;
  clock_.Advance(absl::Seconds(30));
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(IsOk(Try(member, pro))) << i;
  EXPECT_TRUE(IsRateLimited(Try(member, pro), "60"));
  EXPECT_EQ(MessageCount(), "24");
}

}  // namespace
}  // namespace tchatator::core
