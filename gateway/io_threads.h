#ifndef TCHATATOR_GATEWAY_IO_THREADS_H_
#define TCHATATOR_GATEWAY_IO_THREADS_H_

#include <condition_variable>
#include <list>
#include <memory>
#include <mutex>
#include <thread>

#include <asio/io_context.hpp>

namespace tchatator::gateway {

// The threads that run an io_context (named "tch-io"), as many as asked, a number that can change while
// it runs (gateway-threads on SIGHUP). A thread leaves by running a handler that throws
// a private exception out of io_context::run(), so the threads run the event loop at
// full speed, with no polling.
class IoThreads {
 public:
  explicit IoThreads(asio::io_context& io);
  // Joins every thread: the io_context must be stopped (or out of work) first.
  ~IoThreads();
  IoThreads(const IoThreads&) = delete;
  IoThreads& operator=(const IoThreads&) = delete;

  // Starts or retires threads until `count` (at least 1) run the io_context. Retiring
  // is asynchronous: a thread leaves once it is done with the handler it is running.
  // Safe from any thread, including the io_context's own.
  void Resize(int count);

  // Threads asked for by the last Resize().
  int size() const;
  // Threads running the io_context now (those asked to leave included until they do).
  int running() const;

  // Blocks until every thread has left: once the io_context is stopped (or out of
  // work), as the threads never leave by themselves otherwise.
  void Join();

 private:
  struct Worker {
    std::thread thread;
    bool done = false;  // guarded by mu_
  };
  void Run(Worker& worker);

  asio::io_context& io_;
  mutable std::mutex mu_;
  std::condition_variable left_;  // a worker is done
  int wanted_ = 0;
  std::list<Worker> workers_;  // a list: a worker never moves while its thread runs
};

}  // namespace tchatator::gateway

#endif  // TCHATATOR_GATEWAY_IO_THREADS_H_
