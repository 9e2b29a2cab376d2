#include "gateway/io_threads.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

#include "gtest/gtest.h"

namespace tchatator::gateway {
namespace {

using std::chrono::milliseconds;

// True once `done()` holds, false after 5 s.
template <typename F>
bool Eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

class IoThreadsTest : public ::testing::Test {
 protected:
  ~IoThreadsTest() override {
    work_.reset();
    io_.stop();
  }

  // How many of `handlers` handlers, each waiting up to `wait` for all of them to be
  // running, ran at the same time: the number of threads serving the io_context. Where
  // all should run at once, a long wait (every thread wakes, however busy the machine);
  // where fewer threads serve, a short one (each handler waits it in full).
  int MostAtOnce(int handlers, milliseconds wait = milliseconds(5000)) {
    std::atomic<int> inside = 0;
    std::atomic<int> most = 0;
    std::atomic<int> finished = 0;
    for (int i = 0; i < handlers; ++i) {
      asio::post(io_, [&] {
        const int now = ++inside;
        int seen = most.load();
        while (seen < now && !most.compare_exchange_weak(seen, now)) {
        }
        const auto give_up = std::chrono::steady_clock::now() + wait;
        while (inside.load() < handlers && std::chrono::steady_clock::now() < give_up) {
          std::this_thread::yield();
        }
        // Stay until every thread that will come in has come in.
        std::this_thread::sleep_for(milliseconds(20));
        --inside;
        ++finished;
      });
    }
    EXPECT_TRUE(Eventually([&] { return finished.load() == handlers; }));
    return most.load();
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
};

TEST_F(IoThreadsTest, RunsAsManyThreadsAsAsked) {
  IoThreads threads(io_);
  threads.Resize(3);
  EXPECT_EQ(threads.size(), 3);
  EXPECT_EQ(MostAtOnce(3), 3);
  EXPECT_EQ(threads.running(), 3);
  io_.stop();
}

TEST_F(IoThreadsTest, ShrinksAndGrowsWhileRunning) {
  IoThreads threads(io_);
  threads.Resize(4);
  EXPECT_EQ(MostAtOnce(4), 4);
  threads.Resize(1);
  EXPECT_EQ(threads.size(), 1);
  ASSERT_TRUE(Eventually([&] { return threads.running() == 1; })) << threads.running();
  // One thread left, and it still serves: never two handlers at once.
  EXPECT_EQ(MostAtOnce(3, milliseconds(300)), 1);
  threads.Resize(2);
  EXPECT_EQ(threads.running(), 2);
  EXPECT_EQ(MostAtOnce(2), 2);
  io_.stop();
  threads.Join();
  EXPECT_EQ(threads.running(), 0);
}

TEST_F(IoThreadsTest, ResizeFromAHandlerOfItsOwnIoContext) {
  IoThreads threads(io_);
  threads.Resize(2);
  // SIGHUP is handled on the io_context's threads: a thread may retire itself.
  asio::post(io_, [&] { threads.Resize(1); });
  ASSERT_TRUE(Eventually([&] { return threads.running() == 1; })) << threads.running();
  EXPECT_EQ(MostAtOnce(2, milliseconds(300)), 1);
  io_.stop();
}

TEST_F(IoThreadsTest, AtLeastOneThread) {
  IoThreads threads(io_);
  threads.Resize(0);
  EXPECT_EQ(threads.size(), 1);
  EXPECT_EQ(MostAtOnce(1), 1);
  io_.stop();
}

}  // namespace
}  // namespace tchatator::gateway
