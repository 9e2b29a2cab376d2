#ifndef TCHATATOR_CORE_SERVICE_SUBSCRIPTION_H_
#define TCHATATOR_CORE_SERVICE_SUBSCRIPTION_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>

#include <asio/steady_timer.hpp>

#include "absl/time/time.h"

#include "core-service/change_feed.h"
#include "core-service/chat_logic.h"
#include "core-service/rpc_runner.h"
#include "grpcpp/grpcpp.h"
#include "tchatator/v1/chat.grpc.pb.h"

namespace tchatator::core {

// One ChatService.Subscribe stream. Authenticates on a worker, registers with the
// change feed, and on every wake reads the changes after its cursor from the database
// and writes them one at a time, in change order; it reads again only once all it read
// is written (a client that stops reading stops the reads). A read that fails is tried
// again after a backoff (1 s, doubling up to kMaxRetryDelay), so a change whose wake came
// then is not held until the user's next one. Deletes itself when gRPC is done with it,
// after any database work in flight. A check_only stream ends once it has said whose
// session it is.
class Subscription final : public grpc::ServerWriteReactor<v1::Change> {
 public:
  Subscription(grpc::CallbackServerContext* context, const v1::SubscribeRequest& request,
               ChatLogic& logic, RpcRunner& runner, ChangeFeed& feed);

  static constexpr absl::Duration kMaxRetryDelay = absl::Seconds(30);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  void Begin();    // on a worker
  void Wake();     // from the feed: fetch what is new
  void Fetch();    // on a worker
  // Starts a Fetch if a wake asked for one and all that was read is written.
  void FetchIfDueLocked();
  // After a failed Fetch: fetches again once the backoff has passed.
  void RetryLaterLocked();
  void WriteNextLocked();
  void FinishLocked(const grpc::Status& status);
  // Runs `task` on a worker, counted so that OnDone waits for it.
  void PostLocked(void (Subscription::*task)());

  grpc::CallbackServerContext* const context_;
  ChatLogic& logic_;
  RpcRunner& runner_;
  ChangeFeed& feed_;

  std::mutex mu_;
  std::condition_variable idle_;
  std::optional<Caller> caller_;
  std::string client_ip_;  // for the log line of the stream's end
  std::optional<uint64_t> feed_handle_;
  int64_t cursor_;
  const bool check_only_;  // SubscribeRequest.check_only
  std::deque<v1::Change> pending_;
  v1::Change writing_;
  bool write_in_flight_ = false;
  bool fetching_ = false;
  bool fetch_again_ = false;
  bool finished_ = false;
  int tasks_in_flight_ = 0;
  asio::steady_timer retry_timer_;  // its wait counts as a task in flight
  int failed_fetches_ = 0;          // in a row
};

}  // namespace tchatator::core

#endif  // TCHATATOR_CORE_SERVICE_SUBSCRIPTION_H_
