#ifndef TCHATATOR_STORAGE_CONNECTION_POOL_H_
#define TCHATATOR_STORAGE_CONNECTION_POOL_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "absl/status/status.h"

namespace tchatator::storage {

// `text` (a libpq error about connection string `url`, which it may quote whole or in
// part) with every occurrence of the password `url` carries masked as ***: the one of
// `user:secret@` in a URI, or of `password=secret` in key=value form or a URI's query,
// read even from a malformed `url`. For messages that reach a log.
std::string WithoutPasswords(std::string_view text, std::string_view url);

// OK when libpq can parse `url` (a URI or key=value pairs); else InvalidArgument,
// "database-url is not a valid connection string: <libpq's reason>", with no password in
// it. Reaches no server.
absl::Status CheckDatabaseUrl(const std::string& url);

// A new connection to `url` with the session settings every statement of the product
// runs under: JIT off. Compiling a statement with JIT costs tens of milliseconds (42 ms
// for a batch of 16 sends, against 0.6 ms to run it), and the planner's estimates, of
// array arguments or of a busy sender's messages, can be large enough to ask for it.
// Throws what pqxx::connection throws.
std::unique_ptr<pqxx::connection> OpenConnection(const std::string& url);

// A bounded number of PostgreSQL connections, each used by one caller at a time.
// Connections are opened on demand (OpenConnection), so the pool works while the
// database is down and recovers by itself when it comes back. Reconfigure changes the
// database and the bound while the pool is in use. Thread-safe.
class ConnectionPool {
 public:
  // `prepare` runs on every new connection (to prepare statements).
  ConnectionPool(std::string url, size_t size,
                 std::function<void(pqxx::connection&)> prepare);

  // From now on, connections are opened on `url`, `size` at most. When the URL changes,
  // idle connections are closed at once and leased ones when their lease ends: their
  // callers finish on the old database, every later Acquire gets the new one. A smaller
  // size closes idle connections beyond it, then leased ones as they come back; a larger
  // one wakes the callers waiting for a connection.
  void Reconfigure(std::string url, size_t size);

  // Connections open (idle, leased or being opened).
  size_t OpenConnections();

  // Exclusive use of one connection until destroyed.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    ~Lease();
    pqxx::connection& connection() { return *connection_; }
    // Holds a connection.
    explicit operator bool() const { return connection_ != nullptr; }
    // The connection is broken: close it instead of returning it to the pool.
    void Discard();

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::unique_ptr<pqxx::connection> connection, uint64_t generation)
        : pool_(pool), connection_(std::move(connection)), generation_(generation) {}
    ConnectionPool* pool_ = nullptr;
    std::unique_ptr<pqxx::connection> connection_;
    uint64_t generation_ = 0;  // the pool's generation_ when the connection was opened
  };

  // Waits for a free connection, opening one if needed; an idle connection that the
  // server closed meanwhile is replaced before it is handed out. Unavailable when a new
  // connection cannot be opened.
  absl::Status Acquire(Lease& lease);

 private:
  void Release(std::unique_ptr<pqxx::connection> connection, uint64_t generation,
               bool broken);

  const std::function<void(pqxx::connection&)> prepare_;
  std::mutex mu_;
  std::string url_;          // guarded by mu_
  size_t size_;              // guarded by mu_
  uint64_t generation_ = 0;  // guarded by mu_; counts the changes of url_
  std::condition_variable available_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  size_t open_ = 0;  // connections in idle_ or leased, plus those being opened
};

}  // namespace tchatator::storage

#endif  // TCHATATOR_STORAGE_CONNECTION_POOL_H_
