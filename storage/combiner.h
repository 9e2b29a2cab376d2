#ifndef TCHATATOR_STORAGE_COMBINER_H_
#define TCHATATOR_STORAGE_COMBINER_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace tchatator::storage {
namespace combiner_internal {
// While a thread answers a batch's asynchronous items: the batches those answers
// started in other combiners (or this one), to lead on this thread once they are all
// answered, instead of waking another thread for each.
inline thread_local std::vector<std::function<void()>>* deferred = nullptr;
}  // namespace combiner_internal

// While alive, the batches that this thread's asynchronous submissions (to any
// combiner) would start are held back; when it ends they are given to `executor`. For a
// thread that submits many items at once: they are all queued before any batch takes
// some, so they share as few batches as the limits allow. Inside a batch's answers
// (which already hold their batches for the thread answering them) it does nothing.
class HeldBatches {
 public:
  using Executor = std::function<void(std::function<void()>)>;
  explicit HeldBatches(Executor executor)
      : executor_(std::move(executor)), active_(combiner_internal::deferred == nullptr) {
    if (active_) combiner_internal::deferred = &held_;
  }
  ~HeldBatches() {
    if (!active_) return;
    combiner_internal::deferred = nullptr;
    for (std::function<void()>& task : held_) executor_(std::move(task));
  }
  HeldBatches(const HeldBatches&) = delete;
  HeldBatches& operator=(const HeldBatches&) = delete;

 private:
  const Executor executor_;
  const bool active_;
  std::vector<std::function<void()>> held_;
};

// Runs the queued items of concurrent callers in batches, at most `max_in_flight`
// batches at once. An item has `bool done`, `std::condition_variable wake` and
// `std::function<void()> on_done` members (the last one for the combiner's own use).
// Thread-safe.
//
// A synchronous caller (Submit) waits for its item and, whenever a batch may start,
// leads the next one itself, as today's database callers do. An asynchronous caller
// (SubmitAsync) returns at once: its batch is led by a task given to the executor (or by
// a waiting synchronous caller), and its `on_done` runs on the thread that led the batch,
// so no thread waits on the item and none is woken for it alone. A batch that such an
// answer starts (the next step of the same request, in this or another combiner) is led
// by that thread once the batch's answers are given, unless it is a synchronous caller.
template <typename Item>
class Combiner {
 public:
  // take(queue, batch): moves items from the front part of `queue` into the (empty)
  // `batch`, at least one. run(batch): does their work and returns what to do once their
  // callers have their answers.
  using Take = std::function<void(std::deque<Item*>&, std::vector<Item*>&)>;
  using Run = std::function<std::function<void()>(const std::vector<Item*>&)>;
  // Runs a task on another thread.
  using Executor = std::function<void(std::function<void()>)>;

  Combiner(size_t max_in_flight, Take take, Run run)
      : take_(std::move(take)), run_(std::move(run)), max_in_flight_(max_in_flight) {}

  // Changes how many batches may run at once.
  void SetMaxInFlight(size_t max_in_flight) {
    std::lock_guard lock(mu_);
    max_in_flight_ = max_in_flight;
    Kick();
  }

  // Where asynchronous items' batches are led; none: SubmitAsync runs the item's batch
  // on the calling thread before it returns.
  void SetExecutor(Executor executor) {
    std::lock_guard lock(mu_);
    executor_ = std::move(executor);
  }

  // Returns once `item` is done (by this caller or another).
  void Submit(Item& item) {
    std::unique_lock lock(mu_);
    queue_.push_back(&item);
    while (!item.done) {
      if (in_flight_ >= max_in_flight_ || queue_.empty()) {
        item.wake.wait(lock);
        continue;
      }
      LeadOne(lock, false);
      Kick();
    }
  }

  // Queues `item` and returns; once it is done, `done(item)` runs on the thread that ran
  // its batch, then the item is freed.
  void SubmitAsync(std::unique_ptr<Item> item, std::function<void(Item&)> done) {
    std::unique_lock lock(mu_);
    if (!executor_) {
      lock.unlock();
      Submit(*item);
      done(*item);
      return;
    }
    Item* p = item.release();
    p->on_done = [p, done = std::move(done)] {
      std::unique_ptr<Item> owned(p);
      done(*owned);
    };
    queue_.push_back(p);
    Kick();
  }

 private:
  // Under mu_, with a batch allowed to start: runs the next batch, then returns under
  // mu_ again. Synchronous items are woken, asynchronous ones answered outside mu_. With
  // `lead_next_steps` (an executor's task), the batches those answers start are led here
  // too; a synchronous caller leaves them to the executor, so that it returns to its own
  // work once its batch is answered.
  void LeadOne(std::unique_lock<std::mutex>& lock, bool lead_next_steps) {
    std::vector<Item*> batch;
    take_(queue_, batch);
    ++in_flight_;
    Kick();
    lock.unlock();
    std::function<void()> after = run_(batch);
    std::vector<std::function<void()>> answers;
    lock.lock();
    for (Item* p : batch) {
      if (p->on_done) {
        answers.push_back(std::move(p->on_done));
      } else {
        p->done = true;
        p->wake.notify_one();
      }
    }
    lock.unlock();
    std::vector<std::function<void()>> deferred;
    std::vector<std::function<void()>>* const outer = combiner_internal::deferred;
    if (lead_next_steps) combiner_internal::deferred = &deferred;
    for (std::function<void()>& answer : answers) answer();
    combiner_internal::deferred = outer;
    after();
    lock.lock();
    --in_flight_;
    if (deferred.empty()) return;
    Kick();
    lock.unlock();
    for (std::function<void()>& task : deferred) task();
    lock.lock();
  }

  // Under mu_: when a batch may start, makes sure someone leads it: the first waiting
  // synchronous caller, else a task on the executor (one at a time is idle).
  void Kick() {
    if (queue_.empty() || in_flight_ >= max_in_flight_) return;
    for (Item* p : queue_) {
      if (!p->on_done) {
        p->wake.notify_one();
        return;
      }
    }
    if (idle_drains_ > 0 || !executor_) return;
    ++idle_drains_;
    if (combiner_internal::deferred != nullptr) {
      combiner_internal::deferred->push_back([this] { Drain(); });
    } else {
      executor_([this] { Drain(); });
    }
  }

  // An executor's task: leads batches while there are items and room for a batch.
  void Drain() {
    std::unique_lock lock(mu_);
    while (!queue_.empty() && in_flight_ < max_in_flight_) {
      --idle_drains_;
      LeadOne(lock, true);
      ++idle_drains_;
    }
    --idle_drains_;
    Kick();
  }

  const Take take_;
  const Run run_;
  std::mutex mu_;
  std::deque<Item*> queue_;
  size_t in_flight_ = 0;
  size_t max_in_flight_;
  size_t idle_drains_ = 0;  // drain tasks posted or between two batches
  Executor executor_;
};

}  // namespace tchatator::storage

#endif  // TCHATATOR_STORAGE_COMBINER_H_
