// Several instances on one database (issue #7 items 4-5, issue #5 across cores): two
// cores and two gateways share one PostgreSQL database, gateway A in front of core A and
// gateway B in front of core B. Covers live events for send, edit and delete (contract
// 2.7) on the sender's instance and across instances, catch-up after a reconnection
// (GET_UNREAD, NEW_CHG_AVAILABLE) and after a core restart (the gateway's stream
// resumes), session tokens valid on both gateways, the per-minute rate limit exact
// under 20 simultaneous sends split over both cores, one core killed while the other
// keeps serving, a gateway on both cores skipping the one that lost its database, a
// change whose NOTIFY hint was lost still delivered, and the delivery latency across
// instances (printed; asserted only beyond a liveness bound, and a median that shows
// the NOTIFY hints, not the once-a-second sweep, woke the subscribers).

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/e2e/stack.h"
#include "tests/support/process.h"
#include "tests/support/test_database.h"

namespace tchatator::e2e {
namespace {

using Clock = std::chrono::steady_clock;

std::string LastLines(const std::string& path, size_t count) {
  const std::string out =
      testing::RunCommand("tail -n " + std::to_string(count) + " '" + path + "' 2>/dev/null");
  return out.empty() ? "(nothing in " + path + ")\n" : out;
}

// Pair A is a Stack (the database, core A, gateway A); pair B is a second core on the
// same database and a second gateway in front of it, started here with their logs
// (core-b.log, gateway-b.log) in the stack's directory. `core_env` applies to both cores.
// With `core_b_database_url`, core B has that database instead; with
// `gateway_b_on_both_cores`, gateway B's core-address names core A and core B.
class TwoInstances {
 public:
  explicit TwoInstances(const std::map<std::string, std::string>& core_env = {},
                        std::string core_b_database_url = "",
                        bool gateway_b_on_both_cores = false)
      : stack_(Options(core_env)),
        core_env_(core_env),
        core_b_database_url_(core_b_database_url.empty() ? stack_.db().url()
                                                         : std::move(core_b_database_url)),
        gateway_b_on_both_cores_(gateway_b_on_both_cores) {
    for (int attempt = 0;; ++attempt) {
      core_b_port_ = testing::FreePort();
      try {
        StartCoreB();
        break;
      } catch (const std::runtime_error&) {
        if (attempt == 2) throw;
      }
    }
    for (int attempt = 0;; ++attempt) {
      gateway_b_port_ = testing::FreePort();
      try {
        StartGatewayB();
        break;
      } catch (const std::runtime_error&) {
        if (attempt == 2) throw;
      }
    }
  }

  ~TwoInstances() {
    if (::testing::Test::HasFailure()) {
      std::fprintf(stderr,
                   "----- last lines of core-b.log\n%s----- last lines of gateway-b.log\n%s",
                   LastLines(stack_.dir() + "/core-b.log", 40).c_str(),
                   LastLines(stack_.dir() + "/gateway-b.log", 40).c_str());
    }
    gateway_b_.reset();
    core_b_.reset();
  }

  Stack& stack() { return stack_; }
  Client ConnectA() const { return stack_.Connect(); }
  Client ConnectB() const { return Client(gateway_b_port_); }

  // SIGKILL to core B; waits for its exit.
  void KillCoreB() {
    core_b_->Signal(SIGKILL);
    core_b_->Wait(10s);
    core_b_.reset();
  }

  // Starts core B on its port; waits until it accepts connections.
  void StartCoreB() {
    std::map<std::string, std::string> env = {
        {"TCHATATOR_DATABASE_URL", core_b_database_url_},
        {"TCHATATOR_GRPC_PORT", std::to_string(core_b_port_)},
        {"TCHATATOR_ADMIN_API_KEY", stack_.admin_key()},
        {"TCHATATOR_LISTEN_ADDRESS", "127.0.0.1"},
        {"TCHATATOR_LOG_FILE", stack_.dir() + "/core-b.log"},
    };
    for (const auto& [k, v] : core_env_) env[k] = v;
    core_b_ = std::make_unique<testing::ChildProcess>(
        TCHATATOR_CORE_BIN, std::vector<std::string>{}, env, stack_.dir() + "/core-b.log");
    if (!WaitListening(*core_b_, core_b_port_)) {
      core_b_.reset();
      throw std::runtime_error("core B did not listen:\n" +
                               LastLines(stack_.dir() + "/core-b.log", 30));
    }
  }

 private:
  static StackOptions Options(const std::map<std::string, std::string>& core_env) {
    StackOptions options;
    options.core_env = core_env;
    return options;
  }

  static bool WaitListening(testing::ChildProcess& child, int port) {
    const Clock::time_point deadline = Clock::now() + 30s;
    while (Clock::now() < deadline) {
      if (testing::WaitForPort(port, 100ms)) return true;
      if (!child.Running()) return false;
    }
    return false;
  }

  void StartGatewayB() {
    const std::string core_b = "127.0.0.1:" + std::to_string(core_b_port_);
    const std::map<std::string, std::string> env = {
        {"TCHATATOR_PORT", std::to_string(gateway_b_port_)},
        {"TCHATATOR_CORE_ADDRESS",
         gateway_b_on_both_cores_
             ? "ipv4:127.0.0.1:" + std::to_string(stack_.grpc_port()) + "," + core_b
             : core_b},
        {"TCHATATOR_LISTEN_ADDRESS", "127.0.0.1"},
        {"TCHATATOR_LOG_FILE", stack_.dir() + "/gateway-b.log"},
    };
    gateway_b_ = std::make_unique<testing::ChildProcess>(
        TCHATATOR_GATEWAY_BIN, std::vector<std::string>{}, env, stack_.dir() + "/gateway-b.log");
    if (!WaitListening(*gateway_b_, gateway_b_port_)) {
      gateway_b_.reset();
      throw std::runtime_error("gateway B did not listen:\n" +
                               LastLines(stack_.dir() + "/gateway-b.log", 30));
    }
  }

  Stack stack_;
  std::map<std::string, std::string> core_env_;
  std::string core_b_database_url_;
  bool gateway_b_on_both_cores_;
  int core_b_port_ = 0;
  int gateway_b_port_ = 0;
  std::unique_ptr<testing::ChildProcess> core_b_;
  std::unique_ptr<testing::ChildProcess> gateway_b_;
};

// Creates a user of `role` and logs it in on `conn` (a connection to either gateway).
Session LoginOn(TwoInstances& env, Client conn, std::string_view role) {
  Session s{env.stack().AddUser(role), std::move(conn), ""};
  const Response r = s.conn.Request("LOGIN", {{"api-token", s.user.api_key}});
  EXPECT_TRUE(IsOk(r, {"token", "user-id", "role"})) << "LOGIN of a fresh " << role;
  s.token = r.Get("token");
  return s;
}

// SUBSCRIBE with `token` on `conn`, answered exactly 200/OK.
::testing::AssertionResult Subscribe(Client& conn, const std::string& token) {
  const Response r = conn.Request("SUBSCRIBE", {{"token", token}});
  if (r.raw != "200/OK\n\n") {
    return ::testing::AssertionFailure() << "SUBSCRIBE must answer exactly 200/OK, got " << r;
  }
  return ::testing::AssertionSuccess();
}

// The event frame of a new or edited message `id` to `recipient` from `sender`.
::testing::AssertionResult IsMessageEvent(const Response& event, std::string_view change,
                                          const std::string& id, int64_t sender, int64_t recipient,
                                          const std::string& content) {
  if (event.status != "EVENT") {
    return ::testing::AssertionFailure() << "expected an EVENT frame, got " << event;
  }
  std::vector<std::string> keys = {"change",       "message-id",     "sender-id",
                                   "recipient-id", "direction",      "sent-at",
                                   "read",         "message-length", "content"};
  if (change == "message_updated") {
    keys.push_back("modified-at");
    keys.push_back("modified-ago");
  }
  std::sort(keys.begin(), keys.end());
  if (event.Keys() != keys || event.Get("change") != change || event.Get("message-id") != id ||
      event.Get("sender-id") != std::to_string(sender) ||
      event.Get("recipient-id") != std::to_string(recipient) ||
      event.Get("direction") != "received" || event.Get("read") != "yes" ||
      event.Get("message-length") != std::to_string(CharCount(content)) ||
      event.Get("content") != content || !IsRfc3339Utc(event.Get("sent-at"))) {
    return ::testing::AssertionFailure()
           << "expected change:" << change << " of message " << id << " from " << sender << " to "
           << recipient << " (received, read) with content '" << content << "', got " << event;
  }
  return ::testing::AssertionSuccess();
}

std::string Id(int64_t id) { return std::to_string(id); }

// ---------------------------------------------------------------------- live events

// A pro with one subscribed connection on each gateway gets every change to a message
// sent to it by a member on gateway A, in order, with the exact record; the sender's own
// subscription gets nothing; a message delivered by an event is read.
TEST(MultiInstanceTest, LiveEventsForSendEditDeleteOnBothGateways) {
  TwoInstances env;
  Session m = LoginOn(env, env.ConnectA(), "member");
  Session p = LoginOn(env, env.ConnectB(), "pro");
  ASSERT_FALSE(HasFailure());
  Client p_on_a = env.ConnectA();
  Client p_on_b = env.ConnectB();
  Client m_sub = env.ConnectA();
  ASSERT_TRUE(Subscribe(p_on_a, p.token));
  ASSERT_TRUE(Subscribe(p_on_b, p.token));
  ASSERT_TRUE(Subscribe(m_sub, m.token));

  const std::string first = "Bonjour, comment ça va ?";
  const Response sent = SendMsg(m.conn, m.token, p.user.id, first);
  ASSERT_TRUE(IsOk(sent, {"message-id", "sent-at"}));
  const std::string id = sent.Get("message-id");
  for (Client* sub : {&p_on_a, &p_on_b}) {
    const Response event = sub->Read(5s);
    EXPECT_TRUE(IsMessageEvent(event, "new_message", id, m.user.id, p.user.id, first));
    EXPECT_EQ(event.Get("sent-at"), sent.Get("sent-at"));
  }
  // Delivered by an event: read, so not unread any more.
  EXPECT_EQ(p.conn.Request("GET_UNREAD", {{"token", p.token}}).raw, "200/OK\ncount:0\n\n");

  const std::string edited = "Ligne un\nligne deux : ç";
  const Response updated =
      m.conn.Request("UPDT_MSG", {{"token", m.token},
                                  {"message-id", id},
                                  {"message-length", std::to_string(CharCount(edited))},
                                  {"content", edited}});
  ASSERT_TRUE(IsOk(updated, {"message-id", "modified-at"}));
  for (Client* sub : {&p_on_a, &p_on_b}) {
    const Response event = sub->Read(5s);
    EXPECT_TRUE(IsMessageEvent(event, "message_updated", id, m.user.id, p.user.id, edited));
    EXPECT_EQ(event.Get("sent-at"), sent.Get("sent-at"));
    EXPECT_EQ(event.Get("modified-at"), updated.Get("modified-at"));
    EXPECT_EQ(event.Get("modified-ago"), "quelques secondes");
  }

  ASSERT_TRUE(
      IsOk(m.conn.Request("DEL_MSG", {{"token", m.token}, {"message-id", id}}), {"message-id"}));
  for (Client* sub : {&p_on_a, &p_on_b}) {
    EXPECT_EQ(sub->Read(5s).raw, "EVENT\nchange:message_deleted\nmessage-id:" + id + "\n\n");
  }

  // Nothing else: no duplicate on either connection, nothing for the sender.
  EXPECT_EQ(p_on_a.ReadFor(300ms), "");
  EXPECT_EQ(p_on_b.ReadFor(300ms), "");
  EXPECT_EQ(m_sub.ReadFor(300ms), "");
  // Subscribed connections still serve requests.
  EXPECT_TRUE(Alive(p_on_a));
  EXPECT_TRUE(Alive(p_on_b));
  EXPECT_TRUE(Alive(m_sub));
}

// SUBSCRIBE again on a subscribed connection checks its session as the first did: an
// unknown token is 401 and another user's 403 forbidden, and the subscription stays
// as it was; the same user's other session is 200 and adds no second copy of events.
TEST(MultiInstanceTest, SubscribeAgainChecksItsSessionAndKeepsOneSubscription) {
  TwoInstances env;
  Session m = LoginOn(env, env.ConnectA(), "member");
  Session p = LoginOn(env, env.ConnectA(), "pro");
  Session other = LoginOn(env, env.ConnectA(), "pro");
  ASSERT_FALSE(HasFailure());
  Client p_sub = env.ConnectB();
  ASSERT_TRUE(Subscribe(p_sub, p.token));
  EXPECT_TRUE(IsError(p_sub.Request("SUBSCRIBE", {{"token", "bogus"}}), "401/UNAUTH",
                      "not-authenticated"));
  EXPECT_EQ(p_sub.Request("SUBSCRIBE", {{"token", other.token}}).raw,
            "403/DENIED\nerror:forbidden\nmessage:this connection receives another user's "
            "events\n\n");
  const Response second_login = p_sub.Request("LOGIN", {{"api-token", p.user.api_key}});
  ASSERT_TRUE(IsOk(second_login, {"token", "user-id", "role"}));
  ASSERT_TRUE(Subscribe(p_sub, second_login.Get("token")));

  const Response sent = SendMsg(m.conn, m.token, p.user.id, "une seule fois");
  ASSERT_TRUE(IsOk(sent, {"message-id", "sent-at"}));
  EXPECT_TRUE(IsMessageEvent(p_sub.Read(5s), "new_message", sent.Get("message-id"), m.user.id,
                             p.user.id, "une seule fois"));
  const Response to_other = SendMsg(m.conn, m.token, other.user.id, "pas pour p");
  ASSERT_TRUE(IsOk(to_other, {"message-id", "sent-at"}));
  EXPECT_EQ(p_sub.ReadFor(500ms), "");
}

// Events stop when the subscription's session ends or its user is banned; SUBSCRIBE
// again with a live session of the user starts them again on the same connection, from
// the last event written: what came meanwhile is written then, nothing twice.
TEST(MultiInstanceTest, SubscribeAgainAfterTheSessionEndedResumesTheEvents) {
  TwoInstances env;
  Session m = LoginOn(env, env.ConnectA(), "member");
  Session p = LoginOn(env, env.ConnectA(), "pro");
  Session admin = LoginOn(env, env.ConnectA(), "admin");
  ASSERT_FALSE(HasFailure());
  Client p_sub = env.ConnectB();
  const auto login = [&] {
    const Response r = p_sub.Request("LOGIN", {{"api-token", p.user.api_key}});
    EXPECT_TRUE(IsOk(r, {"token", "user-id", "role"})) << r;
    return r.Get("token");
  };
  const auto send = [&](const std::string& text) {
    const Response r = SendMsg(m.conn, m.token, p.user.id, text);
    EXPECT_TRUE(IsOk(r, {"message-id", "sent-at"})) << r;
    return r.Get("message-id");
  };
  const auto expect_event = [&](const std::string& id, const std::string& text) {
    EXPECT_TRUE(
        IsMessageEvent(p_sub.Read(5s), "new_message", id, m.user.id, p.user.id, text));
  };
  const std::string first = login();
  ASSERT_TRUE(Subscribe(p_sub, first));
  const std::string s1 = send("un");
  expect_event(s1, "un");

  // The session ends on another connection; no change comes before the next SUBSCRIBE,
  // so the stream does not know yet.
  Client elsewhere = env.ConnectA();
  ASSERT_TRUE(IsOk(elsewhere.Request("USER_INFO", {{"token", first}, {"user-id", Id(p.user.id)}}),
                   {"user-id", "name", "role"}));
  ASSERT_TRUE(elsewhere.Send("DISCONNECTED\n"));
  ASSERT_EQ(elsewhere.Read(3s).raw, "200/OK\n\n");
  const std::string second = login();
  ASSERT_TRUE(Subscribe(p_sub, second));
  const std::string s2 = send("deux");
  expect_event(s2, "deux");

  // An administrator's ban ends the stream at the next change; once lifted, SUBSCRIBE
  // with the same session writes what came meanwhile, then the rest.
  const std::string core_b_log = env.stack().dir() + "/core-b.log";
  const std::string ended = "user=" + Id(p.user.id) + " ip=127.0.0.1 Subscribe ended";
  const size_t ended_before = LogLinesWith(core_b_log, ended).size();
  ASSERT_TRUE(IsOk(admin.conn.Request("BAN_USER", {{"token", admin.token},
                                                   {"user-id", Id(p.user.id)}}),
                   {"user-id"}));
  const std::string s3 = send("trois, pendant le bannissement");
  ASSERT_TRUE(WaitForLogLine(core_b_log, ended, ended_before, 5s).has_value())
      << "core B never ended the stream";
  EXPECT_EQ(p_sub.ReadFor(300ms), "");
  ASSERT_TRUE(IsOk(admin.conn.Request("UNBAN_USER", {{"token", admin.token},
                                                     {"user-id", Id(p.user.id)}}),
                   {"user-id"}));
  ASSERT_TRUE(Subscribe(p_sub, second));
  expect_event(s3, "trois, pendant le bannissement");
  const std::string s4 = send("quatre");
  expect_event(s4, "quatre");
  // Written once each, and read: nothing left for GET_UNREAD.
  EXPECT_EQ(p_sub.ReadFor(500ms), "");
  EXPECT_EQ(p.conn.Request("GET_UNREAD", {{"token", p.token}}).raw, "200/OK\ncount:0\n\n");
}

// SUBSCRIBE again with other sessions of the user while messages arrive: each move of
// the events to a new stream writes every message once, in order, none lost.
TEST(MultiInstanceTest, SubscribeAgainWhileMessagesArriveWritesEachOnceInOrder) {
  TwoInstances env(kNoSendLimits);
  Session m = LoginOn(env, env.ConnectA(), "member");
  Session p = LoginOn(env, env.ConnectA(), "pro");
  ASSERT_FALSE(HasFailure());
  Client p_sub = env.ConnectB();
  std::vector<std::string> written;  // message ids of the events, as written
  // One request on p_sub; the events written before its answer are collected.
  const auto request = [&](std::string_view command, const std::vector<Field>& params) {
    EXPECT_TRUE(p_sub.Send(Build(command, params)));
    for (;;) {
      Response r = p_sub.Read(5s);
      if (r.status != "EVENT") return r;
      written.push_back(r.Get("message-id"));
    }
  };
  const auto subscribe_anew = [&] {
    const Response login = request("LOGIN", {{"api-token", p.user.api_key}});
    ASSERT_TRUE(IsOk(login, {"token", "user-id", "role"})) << login;
    EXPECT_EQ(request("SUBSCRIBE", {{"token", login.Get("token")}}).raw, "200/OK\n\n");
  };
  subscribe_anew();
  constexpr int kMessages = 40;
  std::vector<std::string> sent;
  std::thread sender([&] {
    for (int i = 0; i < kMessages; ++i) {
      const Response r = SendMsg(m.conn, m.token, p.user.id, "n" + std::to_string(i));
      EXPECT_TRUE(IsOk(r, {"message-id", "sent-at"})) << r;
      sent.push_back(r.Get("message-id"));
      std::this_thread::sleep_for(3ms);
    }
  });
  for (int k = 0; k < 5; ++k) {
    subscribe_anew();
    std::this_thread::sleep_for(15ms);
  }
  sender.join();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (written.size() < sent.size() && std::chrono::steady_clock::now() < deadline) {
    const Response r = p_sub.Read(1s);
    if (r.status == "EVENT") written.push_back(r.Get("message-id"));
  }
  EXPECT_EQ(written, sent);
  EXPECT_EQ(p_sub.ReadFor(300ms), "");
}

// A subscriber that lost its connection catches up on the other gateway: GET_UNREAD has
// what it missed (edited content, not the deleted message, not what an event delivered)
// and NEW_CHG_AVAILABLE every change since the session's previous poll, in order.
TEST(MultiInstanceTest, CatchUpAfterReconnectingToTheOtherGateway) {
  TwoInstances env;
  Session m = LoginOn(env, env.ConnectA(), "member");
  Session p = LoginOn(env, env.ConnectB(), "pro");
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(p.conn.Request("NEW_CHG_AVAILABLE", {{"token", p.token}}).raw,
            "200/OK\ncount:0\nhas-more:no\n\n");
  ASSERT_TRUE(Subscribe(p.conn, p.token));

  const Response s1 = SendMsg(m.conn, m.token, p.user.id, "premier, en direct");
  ASSERT_TRUE(IsOk(s1, {"message-id", "sent-at"}));
  ASSERT_TRUE(IsMessageEvent(p.conn.Read(5s), "new_message", s1.Get("message-id"), m.user.id,
                             p.user.id, "premier, en direct"));
  p.conn.Close();  // the connection is lost; the session lives on
  // Until core B ends the stream, a message would still go to it (and count as read).
  const std::string ended = "user=" + Id(p.user.id) + " ip=127.0.0.1 Subscribe ended";
  ASSERT_TRUE(WaitForLogLine(env.stack().dir() + "/core-b.log", ended, 0, 5s).has_value())
      << "core B never ended the stream";

  const Response s2 = SendMsg(m.conn, m.token, p.user.id, "deuxième");
  const Response s3 = SendMsg(m.conn, m.token, p.user.id, "troisième");
  ASSERT_TRUE(IsOk(s2, {"message-id", "sent-at"}));
  ASSERT_TRUE(IsOk(s3, {"message-id", "sent-at"}));
  const std::string id1 = s1.Get("message-id");
  const std::string id2 = s2.Get("message-id");
  const std::string id3 = s3.Get("message-id");
  ASSERT_TRUE(IsOk(
      m.conn.Request("UPDT_MSG", {{"token", m.token},
                                  {"message-id", id2},
                                  {"message-length", std::to_string(CharCount("deuxième, revu"))},
                                  {"content", "deuxième, revu"}}),
      {"message-id", "modified-at"}));
  ASSERT_TRUE(
      IsOk(m.conn.Request("DEL_MSG", {{"token", m.token}, {"message-id", id3}}), {"message-id"}));

  Client back = env.ConnectA();
  const Response unread = back.Request("GET_UNREAD", {{"token", p.token}});
  ASSERT_EQ(unread.status, "200/OK") << unread;
  EXPECT_EQ(unread.Get("count"), "1") << unread;
  ASSERT_EQ(unread.records.size(), 1u) << unread;
  EXPECT_EQ(unread.records[0].at("message-id"), id2);
  EXPECT_EQ(unread.records[0].at("content"), "deuxième, revu");
  EXPECT_EQ(unread.records[0].at("read"), "yes");

  // Changes since LOGIN's cursor moved by the first poll: the live one included; the
  // deleted message's creation is not delivered again, only its deletion.
  const Response changes = back.Request("NEW_CHG_AVAILABLE", {{"token", p.token}});
  ASSERT_EQ(changes.status, "200/OK") << changes;
  EXPECT_EQ(changes.Get("count"), "4") << changes;
  ASSERT_EQ(changes.records.size(), 4u) << changes;
  const std::vector<std::pair<std::string, std::string>> want = {{"new_message", id1},
                                                                 {"new_message", id2},
                                                                 {"message_updated", id2},
                                                                 {"message_deleted", id3}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(changes.records[i].at("change"), want[i].first) << i << ": " << changes;
    EXPECT_EQ(changes.records[i].at("message-id"), want[i].second) << i << ": " << changes;
  }
  EXPECT_EQ(changes.records[1].at("content"), "deuxième, revu");
  EXPECT_EQ(changes.records[3].size(), 2u) << "a deleted message's record holds only its id";
  EXPECT_EQ(back.Request("NEW_CHG_AVAILABLE", {{"token", p.token}}).raw,
            "200/OK\ncount:0\nhas-more:no\n\n");
}

// ---------------------------------------------------------------------- sessions

// A token from LOGIN on gateway A works on gateway B (and B's core), and DISCONNECTED on
// gateway B ends it on gateway A too.
TEST(MultiInstanceTest, TokensWorkOnBothGateways) {
  TwoInstances env;
  Session m = LoginOn(env, env.ConnectA(), "member");
  Session p = LoginOn(env, env.ConnectB(), "pro");
  ASSERT_FALSE(HasFailure());

  Client m_on_b = env.ConnectB();
  EXPECT_TRUE(IsOk(m_on_b.Request("USER_INFO", {{"token", m.token}, {"user-id", Id(p.user.id)}}),
                   {"user-id", "name", "role"}));
  const Response sent = SendMsg(m_on_b, m.token, p.user.id, "envoyé par B");
  ASSERT_TRUE(IsOk(sent, {"message-id", "sent-at"}));
  // The pro, logged in on B, reads it on A.
  Client p_on_a = env.ConnectA();
  const Response unread = p_on_a.Request("GET_UNREAD", {{"token", p.token}});
  ASSERT_EQ(unread.records.size(), 1u) << unread;
  EXPECT_EQ(unread.records[0].at("message-id"), sent.Get("message-id"));
  EXPECT_EQ(unread.records[0].at("content"), "envoyé par B");

  // The session ends everywhere.
  ASSERT_TRUE(m_on_b.Send(Build("DISCONNECTED")));
  EXPECT_TRUE(m_on_b.WaitClosed(5s));
  EXPECT_TRUE(IsError(m.conn.Request("USER_INFO", {{"token", m.token}, {"user-id", Id(p.user.id)}}),
                      "401/UNAUTH", "not-authenticated"));
  EXPECT_TRUE(
      IsError(SendMsg(p_on_a, m.token, p.user.id, "après"), "401/UNAUTH", "not-authenticated"));
}

// ---------------------------------------------------------------------- rate limit

// 20 SEND_MSG by one user at the same moment, 10 through each gateway (so each core):
// with 12 per minute, exactly 12 are stored (200) and 8 refused (426, retry-after), and
// the recipient's subscription receives exactly the 12 stored.
TEST(MultiInstanceTest, RateLimitExactAcrossBothCores) {
  TwoInstances env;  // default limits: 12 per minute, 90 per hour
  Session m = LoginOn(env, env.ConnectA(), "member");
  Session p = LoginOn(env, env.ConnectB(), "pro");
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(Subscribe(p.conn, p.token));

  constexpr int kSends = 20;
  std::vector<Client> conns;
  for (int i = 0; i < kSends; ++i) conns.push_back(i % 2 == 0 ? env.ConnectA() : env.ConnectB());
  std::vector<Response> answers(kSends);
  std::latch start(kSends);
  std::vector<std::thread> threads;
  for (int i = 0; i < kSends; ++i) {
    threads.emplace_back([&, i] {
      const std::string content = "rafale " + std::to_string(i);
      start.arrive_and_wait();
      answers[static_cast<size_t>(i)] =
          SendMsg(conns[static_cast<size_t>(i)], m.token, p.user.id, content);
    });
  }
  for (std::thread& t : threads) t.join();

  std::set<std::string> stored_ids;
  int accepted = 0;
  int refused = 0;
  for (int i = 0; i < kSends; ++i) {
    const Response& r = answers[static_cast<size_t>(i)];
    if (r.status == "200/OK") {
      EXPECT_TRUE(IsOk(r, {"message-id", "sent-at"})) << "send " << i;
      stored_ids.insert(r.Get("message-id"));
      ++accepted;
    } else {
      EXPECT_TRUE(IsError(r, "426/TOOMRQ", "rate-limited", {"retry-after"})) << "send " << i;
      const int retry_after = std::atoi(r.Get("retry-after").c_str());
      EXPECT_TRUE(retry_after >= 1 && retry_after <= 60) << r;
      ++refused;
    }
  }
  EXPECT_EQ(accepted, 12);
  EXPECT_EQ(refused, 8);
  EXPECT_EQ(stored_ids.size(), 12u);
  const std::string sender = Id(m.user.id);
  EXPECT_EQ(env.stack().db().Query("SELECT count(*) FROM messages WHERE sender_id = " + sender),
            "12");
  // For the log: how the stored ones split over the cores (varies from run to run).
  int on_a = 0;
  for (int i = 0; i < kSends; i += 2) on_a += answers[static_cast<size_t>(i)].status == "200/OK";
  std::printf("[multi-instance] accepted through gateway A: %d, through gateway B: %d\n", on_a,
              accepted - on_a);

  // The 13th, on either gateway, is still refused.
  EXPECT_TRUE(IsError(SendMsg(m.conn, m.token, p.user.id, "encore"), "426/TOOMRQ", "rate-limited",
                      {"retry-after"}));
  Client late_b = env.ConnectB();
  EXPECT_TRUE(IsError(SendMsg(late_b, m.token, p.user.id, "encore"), "426/TOOMRQ", "rate-limited",
                      {"retry-after"}));

  // Exactly the stored ones were delivered live.
  std::set<std::string> delivered;
  for (size_t i = 0; i < stored_ids.size(); ++i) {
    const Response event = p.conn.Read(5s);
    ASSERT_EQ(event.status, "EVENT") << event;
    EXPECT_EQ(event.Get("change"), "new_message") << event;
    delivered.insert(event.Get("message-id"));
  }
  EXPECT_EQ(delivered, stored_ids);
  EXPECT_EQ(p.conn.ReadFor(300ms), "");
}

// ---------------------------------------------------------------------- faults

// Core B killed: gateway A's users go on (200); gateway B answers 503 at once (no
// hang) and keeps its connections; once core B is back, gateway B serves again and its
// subscriber receives, without subscribing again, the messages sent meanwhile.
TEST(MultiInstanceTest, KillingOneCoreLeavesTheOtherServing) {
  TwoInstances env;
  Session m = LoginOn(env, env.ConnectA(), "member");
  Session p = LoginOn(env, env.ConnectB(), "pro");
  ASSERT_FALSE(HasFailure());
  Client p_sub = env.ConnectB();
  ASSERT_TRUE(Subscribe(p_sub, p.token));  // no event yet: resuming must not skip any

  env.KillCoreB();
  const Response s1 = SendMsg(m.conn, m.token, p.user.id, "pendant la panne 1");
  ASSERT_TRUE(IsOk(s1, {"message-id", "sent-at"}));
  const Clock::time_point asked = Clock::now();
  const Response down =
      p.conn.Request("USER_INFO", {{"token", p.token}, {"user-id", Id(m.user.id)}});
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - asked);
  EXPECT_TRUE(IsError(down, "503/UNAVAIL", "unavailable"));
  EXPECT_LT(took, 3s) << "gateway B must answer 503 without waiting";
  EXPECT_TRUE(IsError(SendMsg(p.conn, p.token, m.user.id, "refusé"), "503/UNAVAIL", "unavailable"));
  const Response s2 = SendMsg(m.conn, m.token, p.user.id, "pendant la panne 2");
  ASSERT_TRUE(IsOk(s2, {"message-id", "sent-at"}));
  // The pro reaches its messages through gateway A meanwhile (without reading them).
  Client p_on_a = env.ConnectA();
  EXPECT_TRUE(IsOk(p_on_a.Request("USER_INFO", {{"token", p.token}, {"user-id", Id(m.user.id)}}),
                   {"user-id", "name", "role"}));

  env.StartCoreB();
  Response again;
  const Clock::time_point deadline = Clock::now() + 15s;
  do {
    again = p.conn.Request("USER_INFO", {{"token", p.token}, {"user-id", Id(m.user.id)}});
    if (again.status == "200/OK") break;
    ASSERT_TRUE(IsError(again, "503/UNAVAIL", "unavailable"));
    std::this_thread::sleep_for(100ms);  // polling interval, not synchronisation
  } while (Clock::now() < deadline);
  EXPECT_TRUE(IsOk(again, {"user-id", "name", "role"})) << "gateway B did not recover";
  EXPECT_TRUE(IsOk(SendMsg(p.conn, p.token, m.user.id, "de retour"), {"message-id", "sent-at"}));

  // The stream reopened from where it was: both messages of the outage arrive, in order.
  EXPECT_TRUE(IsMessageEvent(p_sub.Read(10s), "new_message", s1.Get("message-id"), m.user.id,
                             p.user.id, "pendant la panne 1"));
  EXPECT_TRUE(IsMessageEvent(p_sub.Read(10s), "new_message", s2.Get("message-id"), m.user.id,
                             p.user.id, "pendant la panne 2"));
  EXPECT_EQ(p_sub.ReadFor(300ms), "");
}

// A subscription on a gateway in front of two cores lives on whichever core its stream
// reached. Each core in turn is killed (so the stream has to move at least once, from
// whichever core held it): the subscriber, without subscribing again, receives the
// message sent meanwhile through the core left, exactly once.
TEST(MultiInstanceTest, ASubscriptionMovesToTheCoreLeft) {
  TwoInstances env({}, "", /*gateway_b_on_both_cores=*/true);
  Session m = LoginOn(env, env.ConnectA(), "member");
  Session p = LoginOn(env, env.ConnectB(), "pro");
  ASSERT_FALSE(HasFailure());
  Client p_sub = env.ConnectB();
  ASSERT_TRUE(Subscribe(p_sub, p.token));

  // Core B is gone: sent through gateway A, whose core is core A.
  env.KillCoreB();
  const Response s1 = SendMsg(m.conn, m.token, p.user.id, "cœur A seul");
  ASSERT_TRUE(IsOk(s1, {"message-id", "sent-at"}));
  EXPECT_TRUE(IsMessageEvent(p_sub.Read(10s), "new_message", s1.Get("message-id"), m.user.id,
                             p.user.id, "cœur A seul"));
  EXPECT_EQ(p_sub.ReadFor(300ms), "");

  env.StartCoreB();
  env.stack().KillCore();
  // Through gateway B, which may pick dead core A until it notices: a 503 from there
  // reached no core, so the send is repeated until one is 200.
  Client m_on_b = env.ConnectB();
  Response s2;
  const Clock::time_point deadline = Clock::now() + 15s;
  do {
    s2 = SendMsg(m_on_b, m.token, p.user.id, "cœur B seul");
    if (s2.status == "200/OK") break;
    ASSERT_TRUE(IsError(s2, "503/UNAVAIL", "unavailable"));
    std::this_thread::sleep_for(100ms);  // polling interval, not synchronisation
  } while (Clock::now() < deadline);
  ASSERT_TRUE(IsOk(s2, {"message-id", "sent-at"})) << "gateway B did not reach core B";
  EXPECT_TRUE(IsMessageEvent(p_sub.Read(10s), "new_message", s2.Get("message-id"), m.user.id,
                             p.user.id, "cœur B seul"));
  EXPECT_EQ(p_sub.ReadFor(300ms), "");
}

// A gateway whose core-address names two cores calls only those whose health service
// says SERVING: a core that lost its database gets no calls until it has it again,
// instead of answering 503 to its share of them. Core B has a database of its own here,
// which does not know core A's users: core A answers their LOGIN 200, core B 403.
TEST(MultiInstanceTest, AGatewayOnTwoCoresSkipsTheCoreThatLostItsDatabase) {
  testing::TestDatabase db_b;  // outlives core B
  TwoInstances env({}, db_b.url(), /*gateway_b_on_both_cores=*/true);
  const User user = env.stack().AddUser("member");
  auto login = [&] {
    Client conn = env.ConnectB();
    return conn.Request("LOGIN", {{"api-token", user.api_key}}).status;
  };

  std::map<std::string, int> statuses;
  Clock::time_point deadline = Clock::now() + 15s;
  while (!(statuses.contains("200/OK") && statuses.contains("403/DENIED")) &&
         Clock::now() < deadline) {
    ++statuses[login()];
  }
  ASSERT_TRUE(statuses.contains("200/OK") && statuses.contains("403/DENIED"))
      << "both cores must take calls first: " << ::testing::PrintToString(statuses);

  const std::string quoted = "'" + db_b.name() + "'";
  env.stack().db().Query("ALTER DATABASE " + db_b.name() + " WITH ALLOW_CONNECTIONS false");
  env.stack().db().Query(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = " + quoted);
  const std::string core_b_log = env.stack().dir() + "/core-b.log";
  deadline = Clock::now() + 15s;
  while (LastLines(core_b_log, 1000).find("health: NOT_SERVING") == std::string::npos) {
    ASSERT_LT(Clock::now(), deadline) << "core B did not notice that its database is gone";
    std::this_thread::sleep_for(100ms);  // polling interval, not synchronisation
  }
  // The gateway hears of it through its health stream, moments later; from then on,
  // every call goes to core A.
  statuses.clear();
  int in_a_row = 0;
  deadline = Clock::now() + 5s;
  while (in_a_row < 20 && Clock::now() < deadline) {
    const std::string status = login();
    ++statuses[status];
    in_a_row = status == "200/OK" ? in_a_row + 1 : 0;
  }
  EXPECT_EQ(in_a_row, 20) << "LOGIN answers meanwhile: " << ::testing::PrintToString(statuses);

  env.stack().db().Query("ALTER DATABASE " + db_b.name() + " WITH ALLOW_CONNECTIONS true");
  std::string status;
  deadline = Clock::now() + 15s;
  while ((status = login()) != "403/DENIED" && Clock::now() < deadline) {
    // 503 only while core B reconnects to its database, if it is still picked then.
    ASSERT_TRUE(status == "200/OK" || status == "503/UNAVAIL") << status;
    std::this_thread::sleep_for(100ms);  // polling interval, not synchronisation
  }
  EXPECT_EQ(status, "403/DENIED") << "core B takes calls again once its database is back";
}

// A change committed without its hint reaching the cores (hints are sent after the
// commit, at best effort; here the row is written with SQL and no NOTIFY) still reaches
// the subscriber, on both cores, through the feed's periodic sweep.
TEST(MultiInstanceTest, ChangeWithoutHintIsStillDelivered) {
  TwoInstances env;
  Session m = LoginOn(env, env.ConnectA(), "member");
  Session p = LoginOn(env, env.ConnectB(), "pro");
  ASSERT_FALSE(HasFailure());
  Client p_on_a = env.ConnectA();
  ASSERT_TRUE(Subscribe(p_on_a, p.token));
  ASSERT_TRUE(Subscribe(p.conn, p.token));

  const std::string id = env.stack().db().Query(
      "WITH m AS (INSERT INTO messages (sender_id, recipient_id, content, sent_at) VALUES (" +
      Id(m.user.id) + ", " + Id(p.user.id) +
      ", 'sans signal', now()) RETURNING id), "
      "c AS (INSERT INTO changes (user_id, kind, message_id, created_at) "
      "SELECT " +
      Id(p.user.id) + ", 'new_message', id, now() FROM m) SELECT id FROM m");
  ASSERT_TRUE(IsId(id)) << id;
  for (Client* sub : {&p_on_a, &p.conn}) {
    EXPECT_TRUE(
        IsMessageEvent(sub->Read(10s), "new_message", id, m.user.id, p.user.id, "sans signal"));
  }
  EXPECT_EQ(p_on_a.ReadFor(300ms), "");
  EXPECT_EQ(p.conn.ReadFor(300ms), "");
}

// ---------------------------------------------------------------------- latency

struct Percentiles {
  double p50 = 0;
  double p99 = 0;
  double max = 0;
};

Percentiles Summarise(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  Percentiles out;
  if (ms.empty()) return out;
  auto at = [&](double q) {
    const size_t index = static_cast<size_t>(q * static_cast<double>(ms.size() - 1) + 0.5);
    return ms[std::min(index, ms.size() - 1)];
  };
  out.p50 = at(0.50);
  out.p99 = at(0.99);
  out.max = ms.back();
  return out;
}

// 200 messages from a member on gateway A, one at a time, to a pro subscribed on both
// gateways: every one arrives on both, in order, each within 2 s of the sender writing
// SEND_MSG; the p50/p99/max of each path are printed.
TEST(MultiInstanceTest, DeliveryLatencyAcrossInstances) {
  constexpr int kMessages = 200;
  TwoInstances env(kNoSendLimits);
  Session m = LoginOn(env, env.ConnectA(), "member");
  Session p = LoginOn(env, env.ConnectB(), "pro");
  ASSERT_FALSE(HasFailure());
  Client same = env.ConnectA();   // the sender's instance
  Client other = env.ConnectB();  // the other gateway and core
  ASSERT_TRUE(Subscribe(same, p.token));
  ASSERT_TRUE(Subscribe(other, p.token));

  std::vector<Clock::time_point> written(kMessages);
  std::vector<Clock::time_point> answered(kMessages);
  struct Arrivals {
    std::vector<Clock::time_point> at = std::vector<Clock::time_point>(kMessages);
    std::vector<std::string> ids;
    std::string failure;
  };
  Arrivals on_same;
  Arrivals on_other;
  auto read_events = [](Client& conn, Arrivals& out) {
    for (int i = 0; i < kMessages; ++i) {
      const Response event = conn.Read(10s);
      const Clock::time_point now = Clock::now();
      if (event.status != "EVENT" || event.Get("change") != "new_message" ||
          event.Get("content") != "latence " + std::to_string(i)) {
        out.failure = "event " + std::to_string(i) + ": " + ::testing::PrintToString(event);
        return;
      }
      out.at[static_cast<size_t>(i)] = now;
      out.ids.push_back(event.Get("message-id"));
    }
  };
  std::thread same_reader(read_events, std::ref(same), std::ref(on_same));
  std::thread other_reader(read_events, std::ref(other), std::ref(on_other));
  std::vector<std::string> sent_ids;
  for (int i = 0; i < kMessages; ++i) {
    const std::string content = "latence " + std::to_string(i);
    const std::string request =
        Build("SEND_MSG", {{"token", m.token},
                           {"recipient-id", Id(p.user.id)},
                           {"message-length", std::to_string(CharCount(content))},
                           {"content", content}});
    const size_t at = static_cast<size_t>(i);
    written[at] = Clock::now();
    const Response r = m.conn.Send(request) ? m.conn.Read() : Response();
    answered[at] = Clock::now();
    // No ASSERT here: the readers must be joined first.
    EXPECT_TRUE(IsOk(r, {"message-id", "sent-at"})) << i;
    if (HasFailure()) break;
    sent_ids.push_back(r.Get("message-id"));
  }
  same_reader.join();
  other_reader.join();
  ASSERT_EQ(on_same.failure, "");
  ASSERT_EQ(on_other.failure, "");
  EXPECT_EQ(on_same.ids, sent_ids);
  EXPECT_EQ(on_other.ids, sent_ids);

  auto report = [&](const char* what, const std::vector<Clock::time_point>& until) {
    std::vector<double> ms;
    for (size_t i = 0; i < kMessages; ++i) {
      const Clock::duration latency = until[i] - written[i];
      // A liveness bound, not a latency target (the figures are printed below): one
      // commit can stall for seconds while the other ctest job writes a lot.
      EXPECT_LT(latency, 8s) << what << ", message " << i;
      ms.push_back(std::chrono::duration<double, std::milli>(latency).count());
    }
    const Percentiles summary = Summarise(ms);
    std::printf("[multi-instance] %s, %d messages: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", what,
                kMessages, summary.p50, summary.p99, summary.max);
  };
  report("SEND_MSG written to its 200 (the commit)", answered);
  report("SEND_MSG written to EVENT, same instance", on_same.at);
  report("SEND_MSG written to EVENT, across instances", on_other.at);
  // The subscriber's core marked it live (migration 0013), so each message was hinted
  // to both cores once committed: without the hint, an event would wait for the feed's
  // sweep, once a second, about 500 ms after the 200 at the median. Measured from the
  // 200, so that a slow commit under load does not count.
  auto median_after_answer = [&](const std::vector<Clock::time_point>& at) {
    std::vector<double> ms;
    for (size_t i = 0; i < kMessages; ++i) {
      const std::chrono::duration<double, std::milli> after = at[i] - answered[i];
      ms.push_back(std::max(0.0, after.count()));
    }
    return Summarise(ms).p50;
  };
  EXPECT_LT(median_after_answer(on_same.at), 250.0);
  EXPECT_LT(median_after_answer(on_other.at), 250.0);
}

}  // namespace
}  // namespace tchatator::e2e
