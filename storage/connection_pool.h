#ifndef TCHATATOR_STORAGE_CONNECTION_POOL_H_
#define TCHATATOR_STORAGE_CONNECTION_POOL_H_

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/status/status.h"

namespace tchatator::storage {

// A fixed number of PostgreSQL connections, each used by one caller at a time.
// Connections are opened on demand, so the pool works while the database is down and
// recovers by itself when it comes back. Thread-safe.
class ConnectionPool {
 public:
  // `prepare` runs on every new connection (to prepare statements).
  ConnectionPool(std::string url, size_t size,
                 std::function<void(pqxx::connection&)> prepare);

  // Exclusive use of one connection until destroyed.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    ~Lease();
    pqxx::connection& connection() { return *connection_; }
    // The connection is broken: close it instead of returning it to the pool.
    void Discard();

   private:
    friend class ConnectionPool;
    ConnectionPool* pool_ = nullptr;
    std::unique_ptr<pqxx::connection> connection_;
  };

  // Waits for a free connection, opening one if needed. Unavailable when a new
  // connection cannot be opened.
  absl::Status Acquire(Lease& lease);

 private:
  void Release(std::unique_ptr<pqxx::connection> connection, bool broken);

  const std::string url_;
  const size_t size_;
  const std::function<void(pqxx::connection&)> prepare_;
  std::mutex mu_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  size_t open_ = 0;  // connections in idle_ or leased, plus those being opened
};

}  // namespace tchatator::storage

#endif  // TCHATATOR_STORAGE_CONNECTION_POOL_H_
