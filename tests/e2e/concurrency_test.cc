// Many clients at once: every one is served, every message arrives.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/stack.h"

namespace tchatator::e2e {
namespace {

using ConcurrencyTest = SharedStackTest;

constexpr int kSenders = 50;
constexpr int kPros = 5;

// Runs fn(i) for i in [0, n) on `threads` threads; returns what each call threw ("" for
// none), so that a failure is reported rather than terminating the test program.
template <typename Fn>
std::vector<std::string> ParallelFor(int n, int threads, Fn fn) {
  std::vector<std::string> errors(n);
  std::atomic<int> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i; (i = next++) < n;) {
        try {
          fn(i);
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      }
    });
  }
  for (std::thread& t : pool) t.join();
  return errors;
}

TEST_F(ConcurrencyTest, FiftyConcurrentSendersAllDelivered) {
  std::vector<User> members(kSenders);
  std::vector<User> pros(kPros);
  for (const std::string& e : ParallelFor(kSenders + kPros, 8, [&](int i) {
         if (i < kSenders) {
           members[i] = stack().AddUser("member");
         } else {
           pros[i - kSenders] = stack().AddUser("pro");
         }
       })) {
    ASSERT_EQ(e, "");
  }

  struct Outcome {
    Response login;
    Response sent;
    bool alive = false;
  };
  std::vector<Outcome> outcomes(kSenders);
  std::barrier start(kSenders);
  std::vector<std::thread> senders;
  for (int i = 0; i < kSenders; ++i) {
    senders.emplace_back([&, i] {
      Outcome& out = outcomes[i];
      std::optional<Client> c;
      try {
        c.emplace(stack().gateway_port());
      } catch (const std::exception& e) {
        out.login.failure = e.what();
      }
      if (c) out.login = c->Request("LOGIN", {{"api-token", members[i].api_key}});
      start.arrive_and_wait();  // every connection is open and logged in: go
      if (!c || out.login.status != "200/OK") return;
      out.sent = SendMsg(*c, out.login.Get("token"), pros[i % kPros].id,
                         "message n°" + std::to_string(i) + " de " + std::to_string(members[i].id));
      out.alive = c->Request("PING").raw == "200/OK\n\n";
    });
  }
  for (std::thread& t : senders) t.join();

  std::multiset<std::string> ids;
  for (int i = 0; i < kSenders; ++i) {
    EXPECT_TRUE(IsOk(outcomes[i].login, {"token", "user-id", "role"})) << "sender " << i;
    EXPECT_TRUE(IsOk(outcomes[i].sent, {"message-id", "sent-at"})) << "sender " << i;
    EXPECT_TRUE(outcomes[i].alive) << "sender " << i;
    ids.insert(outcomes[i].sent.Get("message-id"));
  }
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size())
      << "message ids must be unique";

  // Each pro finds exactly the messages addressed to it, oldest first.
  for (int k = 0; k < kPros; ++k) {
    Client c = stack().Connect();
    const Response login = c.Request("LOGIN", {{"api-token", pros[k].api_key}});
    ASSERT_TRUE(IsOk(login, {"token", "user-id", "role"}));
    const Response u = c.Request("GET_UNREAD", {{"token", login.Get("token")}});
    ASSERT_TRUE(IsOk(u, {"count"}));
    std::set<std::string> expected;
    for (int i = k; i < kSenders; i += kPros) {
      expected.insert("message n°" + std::to_string(i) + " de " + std::to_string(members[i].id));
    }
    std::set<std::string> got;
    std::vector<long long> order;
    for (const Record& r : u.records) {
      got.insert(r.at("content"));
      order.push_back(std::stoll(r.at("message-id")));
    }
    EXPECT_EQ(u.Get("count"), std::to_string(expected.size()));
    EXPECT_EQ(got, expected) << "pro " << k;
    EXPECT_TRUE(std::is_sorted(order.begin(), order.end())) << "oldest first: " << u;
  }
}

// Sends that reach the gateway in the same instant travel to the core together
// (gateway/send_batcher.h); each connection must still get its own answer, byte for
// byte, whatever its neighbours' sends did.
TEST_F(ConcurrencyTest, SimultaneousSendsWithDifferentOutcomesEachGetTheirOwnAnswer) {
  constexpr int kConnections = 40;
  const User pro = stack().AddUser("pro");
  const User other_member = stack().AddUser("member");
  std::vector<User> members(kConnections);
  for (const std::string& e :
       ParallelFor(kConnections, 8, [&](int i) { members[i] = stack().AddUser("member"); })) {
    ASSERT_EQ(e, "");
  }

  struct Outcome {
    Response login;
    Response sent;
  };
  std::vector<Outcome> outcomes(kConnections);
  std::barrier start(kConnections);
  std::vector<std::thread> threads;
  for (int i = 0; i < kConnections; ++i) {
    threads.emplace_back([&, i] {
      std::optional<Client> c;
      try {
        c.emplace(stack().gateway_port());
      } catch (const std::exception& e) {
        outcomes[i].login.failure = e.what();
      }
      if (c) outcomes[i].login = c->Request("LOGIN", {{"api-token", members[i].api_key}});
      const std::string token = outcomes[i].login.Get("token");
      start.arrive_and_wait();
      if (!c) return;
      switch (i % 4) {
        case 0:
          outcomes[i].sent = SendMsg(*c, token, pro.id, "pour le pro, n°" + std::to_string(i));
          break;
        case 1:
          outcomes[i].sent = SendMsg(*c, "not-a-session-token", pro.id, "perdu");
          break;
        case 2:
          outcomes[i].sent = SendMsg(*c, token, other_member.id, "entre membres");
          break;
        case 3:
          outcomes[i].sent = SendMsg(*c, token, pro.id + 100000, "à personne");
          break;
      }
    });
  }
  for (std::thread& t : threads) t.join();

  std::set<std::string> ids;
  for (int i = 0; i < kConnections; ++i) {
    SCOPED_TRACE("connection " + std::to_string(i));
    ASSERT_TRUE(IsOk(outcomes[i].login, {"token", "user-id", "role"}));
    const Response& r = outcomes[i].sent;
    switch (i % 4) {
      case 0:
        EXPECT_TRUE(IsOk(r, {"message-id", "sent-at"}));
        ids.insert(r.Get("message-id"));
        break;
      case 1:
        EXPECT_TRUE(IsError(r, "401/UNAUTH", "not-authenticated"));
        break;
      case 2:
        EXPECT_TRUE(IsError(r, "403/DENIED", "recipient-not-allowed"));
        break;
      case 3:
        EXPECT_TRUE(IsError(r, "404/NOTFND", "unknown-user"));
        break;
    }
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kConnections / 4));

  // The pro received exactly the accepted ones, each with the content its sender sent.
  Client c = stack().Connect();
  const Response login = c.Request("LOGIN", {{"api-token", pro.api_key}});
  ASSERT_TRUE(IsOk(login, {"token", "user-id", "role"}));
  const Response unread = c.Request("GET_UNREAD", {{"token", login.Get("token")}});
  ASSERT_TRUE(IsOk(unread, {"count"}));
  EXPECT_EQ(unread.Get("count"), std::to_string(kConnections / 4));
  for (const Record& record : unread.records) {
    const std::string& id = record.at("message-id");
    EXPECT_TRUE(ids.contains(id)) << id;
    const int64_t sender = std::stoll(record.at("sender-id"));
    const auto from = std::find_if(members.begin(), members.end(),
                                   [sender](const User& u) { return u.id == sender; });
    ASSERT_NE(from, members.end()) << sender;
    EXPECT_EQ(record.at("content"),
              "pour le pro, n°" + std::to_string(from - members.begin()));
  }
}

}  // namespace
}  // namespace tchatator::e2e
