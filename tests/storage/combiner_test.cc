// Unit tests of storage::Combiner (no database): batches, the limit of batches at once,
// synchronous and asynchronous callers, and where asynchronous answers run.

#include "storage/combiner.h"

#include <gtest/gtest.h>

#include <asio/post.hpp>
#include <asio/thread_pool.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace tchatator::storage {
namespace {

struct Item {
  int value = 0;
  int result = 0;
  bool done = false;
  std::condition_variable wake;
  std::function<void()> on_done;
};

// A combiner whose batches double each value, take `batch_time`, and record how many
// run at once and how big they are.
class Doubler {
 public:
  Doubler(size_t max_in_flight, std::chrono::microseconds batch_time)
      : combiner_(
            max_in_flight,
            [](std::deque<Item*>& queue, std::vector<Item*>& batch) {
              while (!queue.empty() && batch.size() < 16) {
                batch.push_back(queue.front());
                queue.pop_front();
              }
            },
            [this, batch_time](const std::vector<Item*>& batch) -> std::function<void()> {
              const int now = running_.fetch_add(1) + 1;
              for (int seen = max_running_.load(); now > seen;) {
                if (max_running_.compare_exchange_weak(seen, now)) break;
              }
              std::this_thread::sleep_for(batch_time);
              for (Item* p : batch) p->result = 2 * p->value;
              batches_.fetch_add(1);
              running_.fetch_sub(1);
              return [] {};
            }) {}

  Combiner<Item>& combiner() { return combiner_; }
  int batches() const { return batches_.load(); }
  int max_running() const { return max_running_.load(); }

 private:
  std::atomic<int> running_{0};
  std::atomic<int> max_running_{0};
  std::atomic<int> batches_{0};
  Combiner<Item> combiner_;
};

// Counts the tasks given to a thread pool.
class CountingExecutor {
 public:
  explicit CountingExecutor(size_t threads) : pool_(threads) {}
  ~CountingExecutor() { pool_.join(); }
  Combiner<Item>::Executor executor() {
    return [this](std::function<void()> task) {
      {
        std::lock_guard lock(mu_);
        ++posted_;
      }
      asio::post(pool_, [this, task = std::move(task)] {
        task();
        std::lock_guard lock(mu_);
        ++finished_;
        idle_.notify_all();
      });
    };
  }
  int posted() {
    std::lock_guard lock(mu_);
    return posted_;
  }
  // Waits (at most 10 s) until every task given so far has returned.
  bool WaitIdle() {
    std::unique_lock lock(mu_);
    return idle_.wait_for(lock, std::chrono::seconds(10),
                          [&] { return finished_ == posted_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable idle_;
  int posted_ = 0;
  int finished_ = 0;
  asio::thread_pool pool_;
};

// A count that other threads raise, and a wait (at most 10 s) for it to reach n. What
// a thread wrote before Add() is seen by the thread that WaitFor() returned to.
class Counter {
 public:
  void Add() {
    std::lock_guard lock(mu_);
    ++n_;
    cv_.notify_all();
  }
  bool WaitFor(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return n_ >= n; });
  }
  int value() {
    std::lock_guard lock(mu_);
    return n_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0;
};

TEST(CombinerTest, SynchronousCallersShareBatchesWithinTheLimit) {
  constexpr int kThreads = 16;
  constexpr int kEach = 20;
  Doubler doubler(2, std::chrono::microseconds(500));
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        Item item;
        item.value = t * 1000 + i;
        doubler.combiner().Submit(item);
        if (!item.done || item.result != 2 * item.value) wrong.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(doubler.max_running(), 2);
  // 16 callers, 2 batches at a time: most batches carry several callers.
  EXPECT_LT(doubler.batches(), kThreads * kEach / 2);
}

TEST(CombinerTest, AsynchronousItemsAreAnsweredOnceOnAnExecutorThread) {
  constexpr int kItems = 400;
  Doubler doubler(2, std::chrono::microseconds(200));
  CountingExecutor executor(4);  // after the combiner: joined before it goes
  doubler.combiner().SetExecutor(executor.executor());
  Counter answered;
  std::vector<std::atomic<int>> answers(kItems);
  std::vector<std::atomic<int>> results(kItems);
  std::atomic<int> on_submitting_thread{0};
  std::vector<std::thread> submitters;
  for (int t = 0; t < 4; ++t) {
    submitters.emplace_back([&, t] {
      const std::thread::id me = std::this_thread::get_id();
      for (int i = t; i < kItems; i += 4) {
        auto item = std::make_unique<Item>();
        item->value = i;
        doubler.combiner().SubmitAsync(std::move(item), [&, i, me](Item& done) {
          if (std::this_thread::get_id() == me) on_submitting_thread.fetch_add(1);
          answers[i].fetch_add(1);
          results[i].store(done.result);
          answered.Add();
        });
      }
    });
  }
  for (std::thread& t : submitters) t.join();
  ASSERT_TRUE(answered.WaitFor(kItems)) << answered.value() << " answered";
  for (int i = 0; i < kItems; ++i) {
    EXPECT_EQ(answers[i].load(), 1) << i;
    EXPECT_EQ(results[i].load(), 2 * i) << i;
  }
  EXPECT_EQ(on_submitting_thread.load(), 0);
  EXPECT_LE(doubler.max_running(), 2);
  EXPECT_LT(doubler.batches(), kItems / 2);
  // Tasks are posted per batch at most, not per item.
  EXPECT_LE(executor.posted(), doubler.batches());
}

TEST(CombinerTest, HeldBatchesQueueEveryItemBeforeABatchStarts) {
  constexpr int kItems = 12;
  Doubler doubler(2, std::chrono::microseconds(0));
  CountingExecutor executor(2);  // after the combiner: joined before it goes
  doubler.combiner().SetExecutor(executor.executor());
  Counter answered;
  std::vector<int> results(kItems);
  {
    HeldBatches held(executor.executor());
    for (int i = 0; i < kItems; ++i) {
      auto item = std::make_unique<Item>();
      item->value = i;
      doubler.combiner().SubmitAsync(std::move(item), [&, i](Item& done) {
        results[i] = done.result;
        answered.Add();
      });
    }
    EXPECT_EQ(executor.posted(), 0) << "no batch may start while held";
    EXPECT_EQ(answered.value(), 0);
  }
  ASSERT_TRUE(answered.WaitFor(kItems));
  for (int i = 0; i < kItems; ++i) EXPECT_EQ(results[i], 2 * i) << i;
  EXPECT_EQ(doubler.batches(), 1) << "all " << kItems << " items fit one batch";
  EXPECT_EQ(executor.posted(), 1);

  // Nested inside an answer (which holds its own batches), it leaves them to the answer.
  Counter inner;
  auto outer = std::make_unique<Item>();
  doubler.combiner().SubmitAsync(std::move(outer), [&](Item&) {
    HeldBatches nested(executor.executor());
    auto item = std::make_unique<Item>();
    item->value = 5;
    doubler.combiner().SubmitAsync(std::move(item), [&](Item& done) {
      EXPECT_EQ(done.result, 10);
      inner.Add();
    });
  });
  ASSERT_TRUE(inner.WaitFor(1));
}

TEST(CombinerTest, AStepStartedByAnAnswerRunsOnThatThreadWithoutAnotherTask) {
  // A request in two steps, one at a time (lock-step): its first step's answer submits
  // the second step to another combiner. One task per request, not one per step.
  constexpr int kRequests = 50;
  Doubler first(2, std::chrono::microseconds(0));
  Doubler second(2, std::chrono::microseconds(0));
  CountingExecutor executor(4);  // after the combiners: joined before they go
  first.combiner().SetExecutor(executor.executor());
  second.combiner().SetExecutor(executor.executor());
  for (int r = 0; r < kRequests; ++r) {
    Counter finished;
    int result = 0;
    std::thread::id first_thread, second_thread;
    auto a = std::make_unique<Item>();
    a->value = r;
    first.combiner().SubmitAsync(std::move(a), [&](Item& a_done) {
      first_thread = std::this_thread::get_id();
      auto b = std::make_unique<Item>();
      b->value = a_done.result;
      second.combiner().SubmitAsync(std::move(b), [&](Item& b_done) {
        second_thread = std::this_thread::get_id();
        result = b_done.result;
        finished.Add();
      });
    });
    ASSERT_TRUE(finished.WaitFor(1)) << "request " << r;
    EXPECT_EQ(result, 4 * r);
    EXPECT_EQ(first_thread, second_thread) << "request " << r;
    // The task that answered may still be on its way out of the combiners; until it
    // is, it would take the next request's second step itself (on whichever thread).
    ASSERT_TRUE(executor.WaitIdle()) << "request " << r;
  }
  EXPECT_LE(executor.posted(), kRequests);
}

TEST(CombinerTest, SynchronousAndAsynchronousCallersTogetherAllFinish) {
  // One batch at a time: synchronous callers lead batches that carry asynchronous items,
  // and the executor's tasks carry synchronous ones; nobody is left waiting.
  constexpr int kSync = 8;
  constexpr int kAsyncEach = 50;
  Doubler doubler(1, std::chrono::microseconds(100));
  CountingExecutor executor(2);  // after the combiner: joined before it goes
  doubler.combiner().SetExecutor(executor.executor());
  Counter answered;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kSync; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAsyncEach; ++i) {
        auto item = std::make_unique<Item>();
        item->value = i;
        doubler.combiner().SubmitAsync(std::move(item), [&](Item& done) {
          if (done.result != 2 * done.value) wrong.fetch_add(1);
          answered.Add();
        });
        Item mine;
        mine.value = t;
        doubler.combiner().Submit(mine);
        if (!mine.done || mine.result != 2 * t) wrong.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_TRUE(answered.WaitFor(kSync * kAsyncEach)) << answered.value() << " answered";
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(doubler.max_running(), 1);
}

TEST(CombinerTest, WithoutAnExecutorSubmitAsyncAnswersBeforeReturning) {
  Doubler doubler(1, std::chrono::microseconds(0));
  int result = 0;
  std::thread::id answered_on;
  auto item = std::make_unique<Item>();
  item->value = 21;
  doubler.combiner().SubmitAsync(std::move(item), [&](Item& done) {
    result = done.result;
    answered_on = std::this_thread::get_id();
  });
  EXPECT_EQ(result, 42);
  EXPECT_EQ(answered_on, std::this_thread::get_id());
}

}  // namespace
}  // namespace tchatator::storage
