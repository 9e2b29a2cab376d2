// Graceful shutdown (issue #3 item 5). SIGTERM to the gateway or to the core while
// requests are in flight: those requests are answered (200 = stored), new ones are
// refused (gateway: the connection is refused or closed unanswered; core: the gateway
// answers 503), and the daemon exits with status 0 within a few seconds.
// Requests are held in flight deterministically: the test locks table messages, so
// that SEND_MSG waits inside the core's INSERT until the test releases it. The core
// stores concurrent sends in batches (storage::PgStore), so only the first request is
// provably in flight (a backend waits for the lock); the others, sent just after, may
// or may not have reached the daemon when the signal comes: each must then be either
// answered 200 and stored, or refused and not stored.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "tests/e2e/stack.h"

namespace tchatator::e2e {
namespace {

using Clock = std::chrono::steady_clock;

long long MillisSince(Clock::time_point start) {
  return static_cast<long long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
}

std::string SendMsgRequest(const Session& s, int64_t recipient, const std::string& content) {
  return Build("SEND_MSG", {{"token", s.token},
                            {"recipient-id", std::to_string(recipient)},
                            {"message-length", std::to_string(CharCount(content))},
                            {"content", content}});
}

// Sends SEND_MSG "en vol <i>" on each of `senders`; returns once the first one is
// provably in flight (waiting for the lock in the database).
void SendInFlight(Stack& stack, std::vector<Session>& senders, int64_t recipient) {
  for (size_t i = 0; i < senders.size(); ++i) {
    ASSERT_TRUE(senders[i].conn.Send(
        SendMsgRequest(senders[i], recipient, "en vol " + std::to_string(i))));
    if (i == 0) {
      ASSERT_TRUE(testing::WaitForLockWaiter(stack.db()))
          << "the request never reached the database";
    }
  }
}

std::string CountStored(const Stack& stack, const std::string& content) {
  return stack.db().Query("SELECT count(*) FROM messages WHERE content = '" + content + "'");
}

// True when a new connection to `port` is refused, or accepted then closed without a
// byte, within 3 s.
bool NewConnectionRefused(int port, std::string* detail) {
  const Clock::time_point deadline = Clock::now() + 3s;
  while (Clock::now() < deadline) {
    try {
      Client late(port);
      std::string received;
      if (late.WaitClosed(500ms, &received) && received.empty()) return true;
      *detail = "accepted; received \"" + received + "\"";
    } catch (const std::runtime_error&) {
      return true;  // refused
    }
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

// The exit status of `child` if it exits within `within`: "exit 0", "signal 9", or
// "still running".
std::string ExitWithin(testing::ChildProcess* child, std::chrono::milliseconds within) {
  if (child == nullptr) return "no process";
  const int status = child->Wait(within);
  if (status == -1) return "still running";
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

constexpr int kInFlight = 4;

TEST(ShutdownTest, GatewaySigtermAnswersRequestsInFlightRefusesNewAndExitsZero) {
  Stack stack;
  const User pro = stack.AddUser("pro");
  std::vector<Session> senders;
  for (int i = 0; i < kInFlight; ++i) senders.push_back(LoginNew(stack, "member"));
  Session idle = LoginNew(stack, "member");
  Session subscribed = LoginNew(stack, "member");
  ASSERT_TRUE(IsOk(subscribed.conn.Request("SUBSCRIBE", {{"token", subscribed.token}})));

  testing::TableLock lock(stack.db(), "messages");
  SendInFlight(stack, senders, pro.id);
  if (HasFatalFailure()) return;

  stack.SignalGateway(SIGTERM);
  std::string detail;
  EXPECT_TRUE(NewConnectionRefused(stack.gateway_port(), &detail))
      << "a new connection must be refused or closed once SIGTERM arrived: " << detail;
  std::string received;
  EXPECT_TRUE(idle.conn.WaitClosed(3s, &received)) << "an idle connection is closed";
  EXPECT_EQ(received, "");
  received.clear();
  EXPECT_TRUE(subscribed.conn.WaitClosed(3s, &received)) << "a subscribed connection is closed";
  EXPECT_EQ(received, "");
  // A request that arrives after SIGTERM on a connection with one in flight is not read.
  ASSERT_TRUE(senders[0].conn.Send(SendMsgRequest(senders[0], pro.id, "trop tard")));
  EXPECT_TRUE(stack.GatewayRunning()) << "requests are in flight: the gateway must wait";

  lock.Release();
  const Clock::time_point released = Clock::now();
  int answered = 0;
  for (int i = 0; i < kInFlight; ++i) {
    const std::string content = "en vol " + std::to_string(i);
    const Response r = senders[i].conn.Read(5s);
    if (i == 0 || r.ok()) {
      ASSERT_TRUE(IsOk(r, {"message-id", "sent-at"})) << "request in flight " << i;
      EXPECT_EQ(stack.db().Query("SELECT content FROM messages WHERE id = " + r.Get("message-id")),
                content);
      ++answered;
    } else {
      EXPECT_TRUE(r.failure.starts_with("connection closed")) << "unanswered means closed: " << r;
      EXPECT_EQ(CountStored(stack, content), "0") << "stored but never answered: " << content;
    }
    received.clear();
    EXPECT_TRUE(senders[i].conn.WaitClosed(3s, &received)) << i;
    EXPECT_EQ(received, "") << "nothing after the answer to the request in flight, " << i;
  }
  EXPECT_EQ(ExitWithin(stack.gateway_process(), 5s), "exit 0");
  std::fprintf(stderr, "[e2e] gateway exited %lld ms after the last request was released\n",
               MillisSince(released));
  EXPECT_EQ(CountStored(stack, "trop tard"), "0");
  EXPECT_EQ(stack.db().Query("SELECT count(*) FROM messages"), std::to_string(answered));
  std::fprintf(stderr, "[e2e] %d of the %d requests sent before SIGTERM answered 200\n", answered,
               kInFlight);
}

// A request half read when SIGTERM comes is answered 416 before the close (contract 2.1:
// closed after an answer).
TEST(ShutdownTest, GatewaySigtermWithNothingServedAnswersAHalfReadRequestAndExits) {
  Stack stack;
  Session a = LoginNew(stack, "member");
  Session b = LoginNew(stack, "pro");
  ASSERT_TRUE(IsOk(b.conn.Request("SUBSCRIBE", {{"token", b.token}})));
  // One write: once PING is answered, the gateway has read the GET_UNREAD line too.
  ASSERT_TRUE(a.conn.Send("PING\nGET_UNREAD\n"));
  ASSERT_TRUE(IsOk(a.conn.Read(), {}));
  const Clock::time_point sent = Clock::now();
  stack.SignalGateway(SIGTERM);
  EXPECT_EQ(ExitWithin(stack.gateway_process(), 3s), "exit 0");
  std::fprintf(stderr, "[e2e] idle gateway exited %lld ms after SIGTERM\n", MillisSince(sent));
  EXPECT_EQ(a.conn.Read(1s).raw,
            "416/MISFMT\nerror:incomplete-request\nmessage:the server is shutting down\n\n");
  std::string after;
  EXPECT_TRUE(a.conn.WaitClosed(1s, &after));
  EXPECT_EQ(after, "");
  EXPECT_TRUE(b.conn.WaitClosed(1s));
}

TEST(ShutdownTest, CoreSigtermFinishesCallsInFlightRefusesNewAndExitsZero) {
  Stack stack;
  const User pro = stack.AddUser("pro");
  std::vector<Session> senders;
  for (int i = 0; i < kInFlight; ++i) senders.push_back(LoginNew(stack, "member"));
  Session other = LoginNew(stack, "member");
  const User late = stack.AddUser("member");

  testing::TableLock lock(stack.db(), "messages");
  SendInFlight(stack, senders, pro.id);
  if (HasFatalFailure()) return;

  stack.SignalCore(SIGTERM);
  // New calls are refused at once: 503 from the gateway, while the calls in flight wait.
  // LOGIN touches no message: it would not wait for the lock if the core took it.
  Response refused;
  const Clock::time_point deadline = Clock::now() + 3s;
  do {
    Client fresh = stack.Connect();
    refused = fresh.Request("LOGIN", {{"api-token", late.api_key}});
  } while (refused.status == "200/OK" && Clock::now() < deadline);
  EXPECT_TRUE(IsError(refused, "503/UNAVAIL", "unavailable"))
      << "a new request after the core's SIGTERM must be answered 503";
  EXPECT_TRUE(IsError(SendMsg(other.conn, other.token, pro.id, "refusé"), "503/UNAVAIL",
                      "unavailable"));
  EXPECT_TRUE(stack.CoreRunning()) << "calls are in flight: the core must wait";

  lock.Release();
  const Clock::time_point released = Clock::now();
  int answered = 0;
  for (int i = 0; i < kInFlight; ++i) {
    const std::string content = "en vol " + std::to_string(i);
    const Response r = senders[i].conn.Read(5s);
    if (i == 0 || r.status == "200/OK") {
      ASSERT_TRUE(IsOk(r, {"message-id", "sent-at"})) << "call in flight " << i;
      EXPECT_EQ(stack.db().Query("SELECT content FROM messages WHERE id = " + r.Get("message-id")),
                content);
      ++answered;
    } else {
      EXPECT_TRUE(IsError(r, "503/UNAVAIL", "unavailable")) << i;
      EXPECT_EQ(CountStored(stack, content), "0") << "stored but answered 503: " << content;
    }
  }
  EXPECT_EQ(ExitWithin(stack.core_process(), 5s), "exit 0");
  std::fprintf(stderr, "[e2e] core exited %lld ms after the calls were released\n",
               MillisSince(released));
  EXPECT_EQ(stack.db().Query("SELECT count(*) FROM messages"), std::to_string(answered));
  std::fprintf(stderr, "[e2e] %d of the %d calls sent before SIGTERM answered 200\n", answered,
               kInFlight);

  // The gateway outlives its core and serves again once one is back.
  stack.KillCore();  // reaps it
  stack.StartCore();
  Response again;
  const Clock::time_point back_deadline = Clock::now() + 10s;
  do {
    again = SendMsg(other.conn, other.token, pro.id, "de retour");
  } while (again.status != "200/OK" && Clock::now() < back_deadline);
  EXPECT_TRUE(IsOk(again, {"message-id", "sent-at"}));
}

// A live SUBSCRIBE stream never ends by itself: the core must not wait its whole grace
// period for it. The stream ends so that the gateway reopens it: once a core is back,
// events flow again on the same connection.
TEST(ShutdownTest, CoreSigtermWithLiveSubscriptionsExitsPromptlyAndStreamsResume) {
  Stack stack;
  Session a = LoginNew(stack, "member");
  Session b = LoginNew(stack, "pro");
  ASSERT_TRUE(IsOk(a.conn.Request("SUBSCRIBE", {{"token", a.token}})));
  ASSERT_TRUE(IsOk(b.conn.Request("SUBSCRIBE", {{"token", b.token}})));
  const Clock::time_point sent = Clock::now();
  stack.SignalCore(SIGTERM);
  EXPECT_EQ(ExitWithin(stack.core_process(), 3s), "exit 0");
  std::fprintf(stderr, "[e2e] core with 2 subscriptions exited %lld ms after SIGTERM\n",
               MillisSince(sent));
  EXPECT_TRUE(Alive(a.conn)) << "the gateway keeps its connections when the core stops";

  stack.KillCore();  // reaps it
  stack.StartCore();
  Response r;
  const Clock::time_point deadline = Clock::now() + 10s;
  do {
    r = SendMsg(a.conn, a.token, b.user.id, "après le redémarrage");
  } while (r.status == "503/UNAVAIL" && Clock::now() < deadline);
  ASSERT_TRUE(IsOk(r, {"message-id", "sent-at"}));
  const Response event = b.conn.Read(5s);
  EXPECT_EQ(event.status, "EVENT") << "the subscription must resume after the core's restart: "
                                   << event;
  EXPECT_NE(event.raw.find("après le redémarrage"), std::string::npos) << event;
}

}  // namespace
}  // namespace tchatator::e2e
