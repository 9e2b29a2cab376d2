// The gateway's clocks: an unfinished request is answered 416 incomplete-request, an
// idle connection is closed, PING keeps a connection alive, a connection with no session
// is closed at the login timeout, a closing connection whose client never reads is given
// up after 10 s.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/stack.h"

namespace tchatator::e2e {
namespace {

using Clock = std::chrono::steady_clock;

long long MillisSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// A raw connection to the gateway for a client that never reads (or slowly): a small
// receive window, so that the gateway cannot push many answers ahead of it, and sends
// that give up after 10 s. -1 on failure.
int ConnectNeverReading(int port, int small = 4096) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  const timeval send_timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  return fd;
}

// Sends all of `bytes`; false (errno set) once the connection is gone.
bool SendAll(int fd, const std::string& bytes) {
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

TEST(TimeoutTest, UnfinishedRequestIs416IncompleteRequestThenTheConnectionCloses) {
  StackOptions options;
  options.gateway_env["TCHATATOR_REQUEST_TIMEOUT_SECONDS"] = "1";
  Stack stack(options);
  {
    Client c = stack.Connect();
    const Clock::time_point start = Clock::now();
    ASSERT_TRUE(c.Send("SEND_MSG\ntoken:abc\nrecipient-id:2\n"));
    EXPECT_TRUE(IsError(c.Read(4s), "416/MISFMT", "incomplete-request"));
    EXPECT_GE(MillisSince(start), 900);
    EXPECT_LE(MillisSince(start), 5000);
    std::string received;
    EXPECT_TRUE(c.WaitClosed(4s, &received));
    EXPECT_EQ(received, "");
  }
  {
    // A line left half-sent counts too.
    Client c = stack.Connect();
    const Clock::time_point start = Clock::now();
    ASSERT_TRUE(c.Send("PIN"));
    EXPECT_TRUE(IsError(c.Read(4s), "416/MISFMT", "incomplete-request"));
    EXPECT_GE(MillisSince(start), 900);
    EXPECT_TRUE(c.WaitClosed(4s));
  }
  // The rest of a content that comes late is never read as requests of its own: a
  // message quoting a command must not run it.
  const Session member = LoginNew(stack, "member");
  const Session pro = LoginNew(stack, "pro");
  Client other = stack.Connect();
  const Response sent = SendMsg(other, pro.token, member.user.id, "to be kept");
  ASSERT_TRUE(IsOk(sent, {"message-id", "sent-at"})) << sent.raw;
  const std::string kept = std::string(sent.Get("message-id"));
  Client c = stack.Connect();
  const std::string rest = "DEL_MSG\ntoken:" + pro.token + "\nmessage-id:" + kept + "\n";
  const std::string content = "Quote:\n" + rest;
  ASSERT_TRUE(c.Send("SEND_MSG\ntoken:" + pro.token + "\nrecipient-id:" +
                     std::to_string(member.user.id) + "\nmessage-length:" +
                     std::to_string(content.size() - 1) + "\ncontent:Quote:\n"));
  EXPECT_TRUE(IsError(c.Read(4s), "416/MISFMT", "incomplete-request"));
  c.Send(rest);
  std::string received;
  EXPECT_TRUE(c.WaitClosed(4s, &received));
  EXPECT_EQ(received, "");
  const Response history =
      other.Request("GET_HISTORY", {{"token", pro.token},
                                    {"user-id", std::to_string(member.user.id)}});
  EXPECT_NE(history.raw.find("content:to be kept"), std::string::npos) << history.raw;
}

TEST(TimeoutTest, ARequestTheClientEndsItsStreamInsideIsAnsweredBeforeTheClose) {
  Stack stack;
  for (const std::string& unfinished :
       {std::string("GET_HISTORY\ntoken:abc\n"), std::string("PING"),
        std::string("SEND_MSG\ntoken:abc\nrecipient-id:2\nmessage-length:10\ncontent:abc\n")}) {
    SCOPED_TRACE(unfinished);
    Client c = stack.Connect();
    ASSERT_TRUE(c.Send("PING\n" + unfinished));
    c.EndWriting();
    EXPECT_TRUE(IsOk(c.Read(4s), {}));
    const Response cut = c.Read(4s);
    EXPECT_EQ(cut.raw,
              "416/MISFMT\nerror:incomplete-request\nmessage:the stream ended inside a "
              "request\n\n");
    std::string after;
    EXPECT_TRUE(c.WaitClosed(4s, &after));
    EXPECT_EQ(after, "");
  }
  // A stream that ends between requests gets no extra answer.
  Client c = stack.Connect();
  ASSERT_TRUE(c.Send("PING\n"));
  c.EndWriting();
  EXPECT_TRUE(IsOk(c.Read(4s), {}));
  std::string after;
  EXPECT_TRUE(c.WaitClosed(4s, &after));
  EXPECT_EQ(after, "");
}

TEST(TimeoutTest, IdleConnectionClosedPingKeepsAlive) {
  StackOptions options;
  options.gateway_env["TCHATATOR_IDLE_TIMEOUT_SECONDS"] = "2";
  Stack stack(options);
  Client idle = stack.Connect();
  Client busy = stack.Connect();
  const Clock::time_point start = Clock::now();
  // 4.2 s of PING every 300 ms on one connection (a stall of 1.7 s would be needed to
  // idle it), silence on the other.
  for (int i = 0; i < 14; ++i) {
    ASSERT_TRUE(Alive(busy)) << "after " << MillisSince(start) << " ms";
    std::this_thread::sleep_for(300ms);
  }
  std::string received;
  EXPECT_TRUE(idle.WaitClosed(1s, &received)) << "idle connection still open after 5 s";
  EXPECT_EQ(received, "");
  EXPECT_TRUE(Alive(busy));
  // Idleness ends the connection, not only the lack of a session.
  Client late = stack.Connect();
  const Clock::time_point opened = Clock::now();
  EXPECT_TRUE(late.WaitClosed(5s));
  EXPECT_GE(MillisSince(opened), 1800);
}

// login-timeout-seconds: a connection with no session is closed, without an answer,
// that long after it opened, PINGs or not. What counts as a session: a LOGIN that
// succeeds, or a token the core accepts. A token too long to be one (answered 401 by
// the gateway itself, not refused by gRPC as oversized metadata, which the wire would
// answer as a 426) and an answer of a core that is down (503) do not count.
TEST(TimeoutTest, AConnectionWithNoSessionIsClosedAtTheLoginTimeout) {
  StackOptions options;
  options.gateway_env["TCHATATOR_LOGIN_TIMEOUT_SECONDS"] = "2";
  Stack stack(options);
  Session logged = LoginNew(stack, "member");
  Client borrowed = stack.Connect();
  EXPECT_TRUE(IsOk(borrowed.Request("GET_UNREAD", {{"token", logged.token}}), {"count"}));
  Client bogus = stack.Connect();
  const std::string long_token(12000, 'x');
  EXPECT_TRUE(IsError(bogus.Request("GET_UNREAD", {{"token", long_token}}), "401/UNAUTH",
                      "not-authenticated"));
  EXPECT_TRUE(IsError(SendMsg(bogus, long_token, logged.user.id, "hi"), "401/UNAUTH",
                      "not-authenticated"));
  EXPECT_TRUE(IsError(bogus.Request("GET_UNREAD", {{"token", std::string(257, 'x')}}),
                      "401/UNAUTH", "not-authenticated"));
  Client pinging = stack.Connect();
  const Clock::time_point start = Clock::now();
  long long closed_after = -1;
  while (MillisSince(start) < 5000) {
    if (!Alive(pinging)) {
      closed_after = MillisSince(start);
      break;
    }
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_NE(closed_after, -1) << "PING kept a connection with no session open";
  EXPECT_GE(closed_after, 1500) << "closed before the login timeout";
  std::string received;
  EXPECT_TRUE(bogus.WaitClosed(1s, &received));
  EXPECT_EQ(received, "");
  EXPECT_TRUE(Alive(logged.conn));
  EXPECT_TRUE(Alive(borrowed));

  stack.StopCore();
  Client during_outage = stack.Connect();
  const Clock::time_point opened = Clock::now();
  EXPECT_TRUE(IsError(during_outage.Request("GET_UNREAD", {{"token", logged.token}}),
                      "503/UNAVAIL", "unavailable"));
  EXPECT_TRUE(during_outage.WaitClosed(5s));
  EXPECT_GE(MillisSince(opened), 1500);
}

// The login timeout closes a connection after an answer to every request it has begun
// (contract 2.1): a request still being read is answered 416 incomplete-request; one
// the core is serving is answered first, and then the connection stays if it was a
// LOGIN that succeeded, and closes if it was one that failed.
TEST(TimeoutTest, RequestsUnderWayAtTheLoginTimeoutAreAnsweredBeforeTheClose) {
  StackOptions options;
  options.gateway_env["TCHATATOR_LOGIN_TIMEOUT_SECONDS"] = "3";
  Stack stack(options);
  const User user = stack.AddUser("member");
  std::string wrong_key = user.api_key;
  wrong_key.back() = wrong_key.back() == 'A' ? 'B' : 'A';
  // The gateway connects to the core on its first call: that one is made before the
  // stop below.
  const Session warm = LoginNew(stack, "member");

  Client reading = stack.Connect();
  Client logging_in = stack.Connect();
  Client failing = stack.Connect();
  const Clock::time_point opened = Clock::now();
  ASSERT_TRUE(reading.Send("GET_UNREAD\n"));  // the token line never comes
  ASSERT_TRUE(IsOk(logging_in.Request("PING"), {}));
  ASSERT_TRUE(IsOk(failing.Request("PING"), {}));
  // Both LOGINs are still with the (stopped) core when the login timeout passes. The
  // core goes on whatever happens below (an ASSERT returns early).
  stack.SignalCore(SIGSTOP);
  const std::unique_ptr<Stack, void (*)(Stack*)> resume(
      &stack, [](Stack* stopped) { stopped->SignalCore(SIGCONT); });
  ASSERT_TRUE(logging_in.Send("LOGIN\napi-token:" + user.api_key + "\n"));
  ASSERT_TRUE(failing.Send("LOGIN\napi-token:" + wrong_key + "\n"));

  const Response cut = reading.Read(5s);
  EXPECT_EQ(cut.raw,
            "416/MISFMT\nerror:incomplete-request\nmessage:no login in time: the connection "
            "closes\n\n");
  EXPECT_GE(MillisSince(opened), 2500) << "answered before the login timeout";
  std::string after;
  EXPECT_TRUE(reading.WaitClosed(4s, &after));
  EXPECT_EQ(after, "");

  while (MillisSince(opened) < 3500) std::this_thread::sleep_for(50ms);
  stack.SignalCore(SIGCONT);
  EXPECT_TRUE(IsOk(logging_in.Read(5s), {"token", "user-id", "role"}));
  EXPECT_TRUE(IsError(failing.Read(5s), "403/DENIED", "invalid-api-key"));
  EXPECT_TRUE(failing.WaitClosed(4s, &after));
  EXPECT_EQ(after, "");
  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE(Alive(logging_in)) << "a LOGIN that succeeded keeps its connection";
}

// Milliseconds since midnight UTC of a log line ("2026-11-27T21:55:59.748Z ..."), or -1.
long long LogLineMillis(const std::string& line) {
  int h = 0, m = 0, s = 0, ms = 0;
  if (line.size() < 24 || std::sscanf(line.c_str() + 11, "%2d:%2d:%2d.%3d", &h, &m, &s, &ms) != 4) {
    return -1;
  }
  return ((h * 60LL + m) * 60 + s) * 1000 + ms;
}

// A client that never reads, past an over-long line (416, then close): the gateway keeps
// reading and dropping what it sends, waits for it to take the answers still queued,
// then gives up 10 s after the 416, not at the idle timeout (2 minutes here). The 10 s
// are measured on the gateway's log, whose lines carry their times: on a busy machine
// the gateway may reach the over-long line well after the client has written it.
TEST(TimeoutTest, AClosingConnectionWhoseClientNeverReadsIsDroppedAfterTenSeconds) {
  StackOptions options;
  options.gateway_env["TCHATATOR_IDLE_TIMEOUT_SECONDS"] = "120";
  options.gateway_env["TCHATATOR_MAX_OUTPUT_BYTES"] = "67108864";
  Stack stack(options);
  const int fd = ConnectNeverReading(stack.gateway_port());
  ASSERT_GE(fd, 0);
  auto send_all = [fd](const std::string& bytes) { return SendAll(fd, bytes); };
  // Far more answers than the kernel holds for this client (100,000 416 unknown-command,
  // about 7 MB, under this max-output-bytes), then the over-long line.
  std::string unknown;
  for (int i = 0; i < 100000; ++i) unknown += "NOPE\n\n";
  ASSERT_TRUE(send_all(unknown));
  ASSERT_TRUE(send_all("LOGIN\napi-token:" + std::string(20000, 'a') + "\n"));
  const Clock::time_point start = Clock::now();
  // Keep writing, never read: the writes go through (read and dropped) until the
  // gateway gives up and resets the connection.
  bool closed = false;
  int error = 0;
  const std::string junk(1024, 'x');
  while (!closed && Clock::now() - start < 60s) {
    closed = !send_all(junk);
    error = errno;
    std::this_thread::sleep_for(100ms);
  }
  close(fd);
  ASSERT_TRUE(closed) << "still open after 60 s";
  EXPECT_TRUE(error == ECONNRESET || error == EPIPE) << std::strerror(error);
  EXPECT_GE(MillisSince(start), 9000) << "the answers were not given their 10 s";
  ASSERT_TRUE(WaitForLogLine(stack.gateway_log_path(), "closed: last answers not read in time",
                             0, 10s)
                  .has_value());
  const std::vector<std::string> too_large =
      LogLinesWith(stack.gateway_log_path(), "416 request-too-large");
  const std::vector<std::string> given_up =
      LogLinesWith(stack.gateway_log_path(), "closed: last answers not read in time");
  ASSERT_EQ(too_large.size(), 1u);
  ASSERT_EQ(given_up.size(), 1u);
  long long waited = LogLineMillis(given_up[0]) - LogLineMillis(too_large[0]);
  if (waited < -12 * 3600 * 1000LL) waited += 24 * 3600 * 1000LL;  // across midnight
  EXPECT_GE(waited, 9900) << too_large[0] << "\n" << given_up[0];
  EXPECT_LE(waited, 12000) << too_large[0] << "\n" << given_up[0];
}

// A client that asks without ever reading: once max-output-bytes of answers wait, the
// gateway reads none of its requests until it takes them (none is dropped: an answer
// may have marked messages read), and closes it at the idle timeout, nothing having
// been read either way meanwhile. (It used to close it at once, answers and all.)
TEST(TimeoutTest, AClientThatNeverReadsIsReadNoMoreThenClosedAtTheIdleTimeout) {
  StackOptions options;
  options.gateway_env["TCHATATOR_MAX_OUTPUT_BYTES"] = "65536";
  options.gateway_env["TCHATATOR_IDLE_TIMEOUT_SECONDS"] = "3";
  Stack stack(options);
  const int fd = ConnectNeverReading(stack.gateway_port());
  ASSERT_GE(fd, 0);
  // 416 unknown-command answers, about 70 bytes each, for 6 bytes asked: far more than
  // 64 KiB and what the kernel holds, if the gateway answered all it is sent.
  std::string unknown;
  for (int i = 0; i < 4000000; ++i) unknown += "NOPE\n\n";  // 24 MB
  size_t sent = 0;
  int error = 0;
  const Clock::time_point start = Clock::now();
  Clock::time_point last_progress = start;
  // Until the gateway takes no more (1 s without progress) or closes.
  while (sent < unknown.size() && Clock::now() - last_progress < 1s) {
    const ssize_t n =
        send(fd, unknown.data() + sent, unknown.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      last_progress = Clock::now();
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      std::this_thread::sleep_for(10ms);
    } else {
      error = errno;
      break;
    }
  }
  EXPECT_EQ(error, 0) << "closed while it was asking: " << std::strerror(error);
  EXPECT_LT(sent, unknown.size()) << "the gateway took every request";
  const size_t answered = LogLinesWith(stack.gateway_log_path(), "416 unknown-command").size();
  // 64 KiB waiting, what one read's requests make beyond it, and the kernel's buffers
  // (64 KiB not yet sent, and this client's 4 KiB window): some 20 000 answers at most.
  EXPECT_LT(answered, 30000u) << sent / 6 << " asked";
  // Then the idle timeout, which the client's sends held off until the gateway stopped
  // reading them.
  bool closed = false;
  while (!closed && Clock::now() - start < 30s) {
    closed = send(fd, "PING\n\n", 6, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN &&
             errno != EWOULDBLOCK;
    if (closed) error = errno;
    std::this_thread::sleep_for(100ms);
  }
  close(fd);
  ASSERT_TRUE(closed) << "still open after 30 s";
  EXPECT_TRUE(error == ECONNRESET || error == EPIPE) << std::strerror(error);
  ASSERT_TRUE(WaitForLogLine(stack.gateway_log_path(), "closed: idle timeout", 0, 10s).has_value());
}

// Probe 22b: the idle timeout and, once closing, the 10 s given to the last answers cut
// a long answer that the client was still reading, after it had marked its messages
// read. Now each write the client takes counts: it gets all of it.
TEST(TimeoutTest, ALongAnswerReadSlowlyArrivesWholePastTheIdleAndClosingTimeouts) {
  StackOptions options;
  options.core_env = kNoSendLimits;
  options.gateway_env["TCHATATOR_IDLE_TIMEOUT_SECONDS"] = "2";
  // The whole answer may wait: DISCONNECTED is served at once, and its closing begins.
  options.gateway_env["TCHATATOR_MAX_OUTPUT_BYTES"] = "67108864";
  Stack stack(options);
  Session m = LoginNew(stack, "member");
  Session p = LoginNew(stack, "pro");
  // 1 000 messages of 4 000 bytes (4 MB), written with SQL as a busy day's would be.
  constexpr int kMessages = 1000;
  stack.db().Query("INSERT INTO messages (sender_id, recipient_id, content, sent_at) "
                   "SELECT " + std::to_string(m.user.id) + ", " + std::to_string(p.user.id) +
                   ", repeat('x', 3990) || lpad(i::text, 10, '0'), now() "
                   "FROM generate_series(1, " + std::to_string(kMessages) + ") i");
  const int fd = ConnectNeverReading(stack.gateway_port(), 16384);
  ASSERT_GE(fd, 0);
  // DISCONNECTED behind it: the connection closes once all is written.
  ASSERT_TRUE(SendAll(fd, Build("GET_UNREAD", {{"token", p.token}}) +
                              Build("DISCONNECTED", {{"token", p.token}})));
  // At most 16 kB each 50 ms: some 12 s in all, past both.
  std::string received;
  std::array<char, 16384> chunk;
  const Clock::time_point start = Clock::now();
  for (;;) {
    const ssize_t n = recv(fd, chunk.data(), chunk.size(), 0);
    if (n <= 0) break;
    received.append(chunk.data(), static_cast<size_t>(n));
    if (Clock::now() - start > 60s) break;
    std::this_thread::sleep_for(50ms);
  }
  close(fd);
  EXPECT_GE(MillisSince(start), 10000) << "read faster than meant";
  size_t records = 0;
  for (size_t at = received.find("\nmessage-id:"); at != std::string::npos;
       at = received.find("\nmessage-id:", at + 1)) {
    ++records;
  }
  EXPECT_TRUE(received.starts_with("200/OK\ncount:" + std::to_string(kMessages) + "\n"))
      << received.substr(0, 40);
  EXPECT_EQ(records, static_cast<size_t>(kMessages)) << received.size() << " bytes received";
  EXPECT_TRUE(received.ends_with("\n\n200/OK\n\n")) << received.substr(received.size() - 40);
  EXPECT_EQ(LogLinesWith(stack.gateway_log_path(), "closed: last answers not read").size(), 0u);
}

}  // namespace
}  // namespace tchatator::e2e
