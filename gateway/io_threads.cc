#include "gateway/io_threads.h"

#include <pthread.h>

#include <algorithm>

#include <asio/post.hpp>

namespace tchatator::gateway {
namespace {

// Thrown by a handler out of io_context::run() to end the thread that runs it.
struct Retire {};

}  // namespace

IoThreads::IoThreads(asio::io_context& io) : io_(io) {}

IoThreads::~IoThreads() { Join(); }

void IoThreads::Resize(int count) {
  count = std::max(count, 1);
  std::lock_guard lock(mu_);
  // Threads that have left are joined (at once: they are done).
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (it->done) {
      it->thread.join();
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
  for (; wanted_ < count; ++wanted_) {
    // The list node first, then its thread, which may not start (std::system_error):
    // then no worker is left without one.
    Worker& worker = workers_.emplace_back();
    try {
      worker.thread = std::thread([this, &worker] { Run(worker); });
    } catch (...) {
      workers_.pop_back();
      throw;
    }
  }
  for (; wanted_ > count; --wanted_) {
    asio::post(io_, [] { throw Retire{}; });
  }
}

int IoThreads::size() const {
  std::lock_guard lock(mu_);
  return wanted_;
}

int IoThreads::running() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(
      std::count_if(workers_.begin(), workers_.end(), [](const Worker& w) { return !w.done; }));
}

void IoThreads::Run(Worker& worker) {
  // Named for operators (top -H, /proc/PID/task/*/comm) and tests.
  pthread_setname_np(pthread_self(), "tch-io");
  try {
    io_.run();
  } catch (const Retire&) {
    // Asked to leave: the other threads go on running the io_context.
  }
  {
    std::lock_guard lock(mu_);
    worker.done = true;
  }
  left_.notify_all();
}

void IoThreads::Join() {
  std::list<Worker> workers;
  {
    std::unique_lock lock(mu_);
    left_.wait(lock, [this] {
      return std::all_of(workers_.begin(), workers_.end(), [](const Worker& w) { return w.done; });
    });
    workers.swap(workers_);
  }
  for (Worker& worker : workers) worker.thread.join();
}

}  // namespace tchatator::gateway
