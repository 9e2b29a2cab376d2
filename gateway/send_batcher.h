#ifndef TCHATATOR_GATEWAY_SEND_BATCHER_H_
#define TCHATATOR_GATEWAY_SEND_BATCHER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "gateway/core_client.h"

namespace tchatator::gateway {

// SEND_MSG's calls to the core, gathered: the SendMessage calls that the gateway's
// connections start in the same turn of the event loop go to the core as one
// SendMessages call, one round trip and one gRPC call instead of one each. A call alone
// in its turn (a lone client) is an ordinary SendMessage, so it waits for nothing.
// Each caller gets exactly what its own SendMessage would have answered. Thread-safe.
//
// A core that does not know SendMessages (an older release, during a rolling upgrade)
// answers UNIMPLEMENTED: the calls are then made one by one, and the gateway stops
// gathering for kRetryBatchesAfter.
class SendBatcher {
 public:
  // At most this many calls in one SendMessages (the core accepts 256), and about this
  // many bytes of requests (the core's gRPC accepts 4 MiB, and a SEND_MSG can carry
  // 64 KiB); a call bigger than that goes alone.
  static constexpr size_t kMaxCalls = 64;
  static constexpr size_t kMaxBatchBytes = 1 << 20;
  static constexpr std::chrono::seconds kRetryBatchesAfter{60};

  // `core` must outlive the batcher, and the batcher the calls it starts (they hold work
  // on their callers' executors); the calls gathered are sent from a task posted on
  // `executor` (the gateway's event loop), which runs once the ready handlers have.
  SendBatcher(CoreClient& core, asio::any_io_executor executor)
      : core_(core), executor_(std::move(executor)) {}

  // As core.Call(SendMessage): the caller is resumed on its own executor.
  asio::awaitable<CallResult<v1::SendMessageResponse>> Send(v1::SendMessageRequest request,
                                                            const CallContext& call);

  // How many SendMessages calls were made (tests, benchmarks).
  size_t batches_sent() const { return batches_sent_.load(); }

 private:
  using Done = std::function<void(CallResult<v1::SendMessageResponse>)>;
  struct Pending {
    CallContext call;
    v1::SendMessageRequest request;
    Done done;
  };

  void Enqueue(Pending pending);
  // Sends what was gathered (on executor_).
  void Flush();
  void SendOne(Pending pending);
  void SendBatch(std::vector<Pending> batch);
  // Gives each call of `gathered` its outcome in `result`, the answer to their SendMessages.
  void Answer(std::vector<Pending> gathered, CallResult<v1::SendMessagesResponse> result);
  bool BatchesOff() const;

  CoreClient& core_;
  const asio::any_io_executor executor_;
  std::mutex mu_;
  std::vector<Pending> queue_;
  bool flush_posted_ = false;
  // steady_clock nanoseconds until which calls are made one by one.
  std::atomic<int64_t> batches_off_until_{0};
  std::atomic<size_t> batches_sent_{0};
};

}  // namespace tchatator::gateway

#endif  // TCHATATOR_GATEWAY_SEND_BATCHER_H_
