// SendBatcher against an in-process fake core: the sends started in one turn of the
// event loop go as one SendMessages call and each caller gets its own outcome; a lone
// send is an ordinary SendMessage; a core without SendMessages (UNIMPLEMENTED) gets the
// calls one by one; a failed SendMessages fails each send in it.
#include "gateway/send_batcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include "grpcpp/grpcpp.h"
#include "tchatator/v1/chat.grpc.pb.h"

namespace tchatator::gateway {
namespace {

// Answers SendMessage and SendMessages as `batches` says, and records what it was sent.
// A content "refuse" gets INVALID_ARGUMENT empty-content with retry-after and until, so
// that every field of an outcome is seen to travel; any other gets message id 1000 + the
// number of sends answered so far.
class FakeCore final : public v1::ChatService::Service {
 public:
  enum class Batches { kAnswer, kUnimplemented, kUnavailable, kOneOutcomeShort };
  explicit FakeCore(Batches batches) : batches_(batches) {}

  struct Seen {
    std::string token, client_ip, request_id, content;
  };

  grpc::Status SendMessage(grpc::ServerContext* context, const v1::SendMessageRequest* request,
                           v1::SendMessageResponse* response) override {
    auto get = [context](const char* key) {
      auto it = context->client_metadata().find(key);
      return it == context->client_metadata().end()
                 ? std::string()
                 : std::string(it->second.data(), it->second.size());
    };
    std::lock_guard lock(mu_);
    singles_.push_back({get("authorization"), get("x-client-ip"), get("x-request-id"),
                        request->content()});
    if (request->content() == "refuse") {
      context->AddTrailingMetadata("tchatator-error", "empty-content");
      context->AddTrailingMetadata("retry-after", "7");
      context->AddTrailingMetadata("until", "2026-11-26T10:00:00Z");
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "refused");
    }
    response->set_message_id(1000 + answered_++);
    return grpc::Status::OK;
  }

  grpc::Status SendMessages(grpc::ServerContext*, const v1::SendMessagesRequest* request,
                            v1::SendMessagesResponse* response) override {
    std::lock_guard lock(mu_);
    std::vector<Seen>& batch = batches_seen_.emplace_back();
    for (const v1::SendMessageCall& call : request->calls()) {
      batch.push_back({call.token(), call.client_ip(), call.request_id(),
                       call.request().content()});
    }
    switch (batches_) {
      case Batches::kUnimplemented:
        return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "");
      case Batches::kUnavailable:
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "core going away");
      case Batches::kAnswer:
      case Batches::kOneOutcomeShort:
        break;
    }
    const int n = request->calls_size() - (batches_ == Batches::kOneOutcomeShort ? 1 : 0);
    for (int i = 0; i < n; ++i) {
      v1::SendMessageOutcome* outcome = response->add_outcomes();
      if (request->calls(i).request().content() == "refuse") {
        outcome->set_code(grpc::StatusCode::INVALID_ARGUMENT);
        outcome->set_message("refused");
        outcome->set_error("empty-content");
        outcome->set_retry_after("7");
        outcome->set_until("2026-11-26T10:00:00Z");
      } else {
        outcome->mutable_response()->set_message_id(1000 + answered_++);
      }
    }
    return grpc::Status::OK;
  }

  std::vector<Seen> singles() {
    std::lock_guard lock(mu_);
    return singles_;
  }
  std::vector<std::vector<Seen>> batches() {
    std::lock_guard lock(mu_);
    return batches_seen_;
  }

 private:
  const Batches batches_;
  std::mutex mu_;
  int answered_ = 0;
  std::vector<Seen> singles_;
  std::vector<std::vector<Seen>> batches_seen_;
};

class SendBatcherTest : public ::testing::Test {
 protected:
  void Start(FakeCore::Batches batches) {
    fake_ = std::make_unique<FakeCore>(batches);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(fake_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    core_ = std::make_unique<CoreClient>(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                            grpc::InsecureChannelCredentials()),
        std::chrono::milliseconds(10000));
    batcher_ = std::make_unique<SendBatcher>(*core_, io_.get_executor());
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // Sends the contents, all started in the same turn of the loop, and runs the loop
  // until every send is answered.
  std::vector<CallResult<v1::SendMessageResponse>> SendAll(
      const std::vector<std::string>& contents) {
    std::vector<std::optional<CallResult<v1::SendMessageResponse>>> results(contents.size());
    for (size_t i = 0; i < contents.size(); ++i) {
      asio::co_spawn(
          io_,
          [this, &results, &contents, i]() -> asio::awaitable<void> {
            v1::SendMessageRequest request;
            request.set_recipient_id(42);
            request.set_content(contents[i]);
            const CallContext call{"token-" + std::to_string(i), "192.0.2." + std::to_string(i),
                                   "req-" + std::to_string(i)};
            results[i] = co_await batcher_->Send(std::move(request), call);
          },
          asio::detached);
    }
    io_.restart();
    // Not run(): a send never answered fails the test instead of hanging it.
    io_.run_for(std::chrono::seconds(20));
    std::vector<CallResult<v1::SendMessageResponse>> out;
    for (auto& r : results) {
      EXPECT_TRUE(r.has_value()) << "a send was never answered";
      if (r) out.push_back(std::move(*r));
    }
    return out;
  }

  asio::io_context io_;
  std::unique_ptr<FakeCore> fake_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<CoreClient> core_;
  std::unique_ptr<SendBatcher> batcher_;
};

void ExpectRefused(const CallResult<v1::SendMessageResponse>& r) {
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(r.status.error_message(), "refused");
  EXPECT_EQ(r.error_token, "empty-content");
  EXPECT_EQ(r.retry_after, "7");
  EXPECT_EQ(r.until, "2026-11-26T10:00:00Z");
  EXPECT_EQ(r.response.message_id(), 0);
}

TEST_F(SendBatcherTest, SendsOfOneTurnGoAsOneCallAndEachGetsItsOwnOutcome) {
  Start(FakeCore::Batches::kAnswer);
  const auto results = SendAll({"a", "refuse", "c", "d", "refuse"});
  ASSERT_EQ(results.size(), 5u);
  EXPECT_TRUE(fake_->singles().empty());
  const auto batches = fake_->batches();
  ASSERT_EQ(batches.size(), 1u);
  ASSERT_EQ(batches[0].size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(batches[0][i].token, "token-" + std::to_string(i));
    EXPECT_EQ(batches[0][i].client_ip, "192.0.2." + std::to_string(i));
    EXPECT_EQ(batches[0][i].request_id, "req-" + std::to_string(i));
  }
  EXPECT_EQ(batches[0][1].content, "refuse");
  EXPECT_EQ(batcher_->batches_sent(), 1u);

  // In order: the accepted ones numbered as the core answered them.
  EXPECT_TRUE(results[0].status.ok());
  EXPECT_EQ(results[0].response.message_id(), 1000);
  ExpectRefused(results[1]);
  EXPECT_EQ(results[2].response.message_id(), 1001);
  EXPECT_EQ(results[3].response.message_id(), 1002);
  EXPECT_TRUE(results[3].error_token.empty());
  ExpectRefused(results[4]);
}

TEST_F(SendBatcherTest, ALoneSendIsAnOrdinarySendMessage) {
  Start(FakeCore::Batches::kAnswer);
  auto results = SendAll({"alone"});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].status.ok());
  EXPECT_EQ(results[0].response.message_id(), 1000);
  results = SendAll({"refuse"});
  ASSERT_EQ(results.size(), 1u);
  ExpectRefused(results[0]);
  EXPECT_TRUE(fake_->batches().empty());
  const auto singles = fake_->singles();
  ASSERT_EQ(singles.size(), 2u);
  EXPECT_EQ(singles[0].token, "Bearer token-0");
  EXPECT_EQ(singles[0].client_ip, "192.0.2.0");
  EXPECT_EQ(singles[0].request_id, "req-0");
  EXPECT_EQ(singles[0].content, "alone");
}

TEST_F(SendBatcherTest, ACoreWithoutSendMessagesGetsTheSendsOneByOne) {
  Start(FakeCore::Batches::kUnimplemented);
  auto results = SendAll({"a", "refuse", "c"});
  ASSERT_EQ(results.size(), 3u);
  // The single calls run at once: the core numbers them in the order they reach it.
  EXPECT_EQ(results[0].response.message_id() + results[2].response.message_id(), 1000 + 1001);
  EXPECT_NE(results[0].response.message_id(), results[2].response.message_id());
  ExpectRefused(results[1]);
  std::vector<std::string> tokens;
  for (const FakeCore::Seen& seen : fake_->singles()) tokens.push_back(seen.token);
  std::sort(tokens.begin(), tokens.end());
  EXPECT_EQ(tokens, (std::vector<std::string>{"Bearer token-0", "Bearer token-1",
                                              "Bearer token-2"}));
  // It stops trying for a while: the next turn goes one by one at once.
  results = SendAll({"d", "e"});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].response.message_id() + results[1].response.message_id(), 1002 + 1003);
  EXPECT_EQ(fake_->batches().size(), 1u);
  EXPECT_EQ(fake_->singles().size(), 5u);
}

TEST_F(SendBatcherTest, AFailedCallFailsEverySendInIt) {
  Start(FakeCore::Batches::kUnavailable);
  const auto results = SendAll({"a", "b", "c"});
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) {
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(r.response.message_id(), 0);
  }
  EXPECT_TRUE(fake_->singles().empty()) << "a send that may have been stored is not sent again";
}

TEST_F(SendBatcherTest, AnAnswerWithoutAnOutcomeForEachSendFailsThemAll) {
  Start(FakeCore::Batches::kOneOutcomeShort);
  const auto results = SendAll({"a", "b"});
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INTERNAL);
    EXPECT_EQ(r.response.message_id(), 0);
  }
}

TEST_F(SendBatcherTest, MoreSendsThanOneCallTakesGoInSeveralCalls) {
  Start(FakeCore::Batches::kAnswer);
  std::vector<std::string> contents(SendBatcher::kMaxCalls * 2 + 1, "x");
  const auto results = SendAll(contents);
  ASSERT_EQ(results.size(), contents.size());
  const auto batches = fake_->batches();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].size(), SendBatcher::kMaxCalls);
  EXPECT_EQ(batches[1].size(), SendBatcher::kMaxCalls);
  EXPECT_EQ(fake_->singles().size(), 1u) << "the one left over is alone in its call";
  for (const auto& r : results) EXPECT_TRUE(r.status.ok());
}

TEST_F(SendBatcherTest, ACallCarriesAboutAMebibyteOfSendsAtMost) {
  Start(FakeCore::Batches::kAnswer);
  // Five sends of 300 KiB: three fit in one call, not four.
  std::vector<std::string> contents(5, std::string(300 * 1024, 'x'));
  // One bigger than a call may carry goes alone, and the next ones start another call.
  contents.push_back(std::string(SendBatcher::kMaxBatchBytes + 1, 'y'));
  contents.push_back("a");
  contents.push_back("b");
  const auto results = SendAll(contents);
  ASSERT_EQ(results.size(), contents.size());
  for (const auto& r : results) EXPECT_TRUE(r.status.ok()) << r.status.error_message();
  // The calls run at once: they may reach the core in any order.
  std::vector<std::string> batches;
  for (const auto& batch : fake_->batches()) {
    std::string seen;
    for (const FakeCore::Seen& send : batch) seen += send.content.substr(0, 1);
    batches.push_back(seen);
  }
  std::sort(batches.begin(), batches.end());
  EXPECT_EQ(batches, (std::vector<std::string>{"ab", "xx", "xxx"}));
  const auto singles = fake_->singles();
  ASSERT_EQ(singles.size(), 1u);
  EXPECT_EQ(singles[0].content, contents[5]);
}

}  // namespace
}  // namespace tchatator::gateway
