#include "storage/connection_pool.h"

#include <poll.h>

#include <regex>

#include "common/strings.h"

namespace tchatator::storage {

std::string WithoutPasswords(std::string_view text) {
  // Error paths only: a regex is cheap enough.
  static const std::regex uri_password(R"(([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s"]*:)[^@\s"]*@)");
  static const std::regex keyword_password(R"((password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'"&]+))",
                                           std::regex::icase);
  std::string out = std::regex_replace(std::string(text), uri_password, "$1***@");
  return std::regex_replace(out, keyword_password, "$1***");
}

namespace {

// Nothing arrives on a connection between statements unless the server closed it (a
// restart, pg_terminate_backend) or has something unasked to say: such a connection is
// dropped before any statement is sent on it, so that a failure on a connection that
// looked sound means the statement reached the server.
bool QuietWhileIdle(const pqxx::connection& connection) {
  pollfd p{connection.sock(), POLLIN, 0};
  return p.fd >= 0 && ::poll(&p, 1, 0) == 0;
}

}  // namespace

ConnectionPool::ConnectionPool(std::string url, size_t size,
                               std::function<void(pqxx::connection&)> prepare)
    : prepare_(std::move(prepare)), url_(std::move(url)), size_(size) {}

void ConnectionPool::Reconfigure(std::string url, size_t size) {
  std::vector<std::unique_ptr<pqxx::connection>> closing;
  {
    std::lock_guard lock(mu_);
    if (url != url_) {
      url_ = std::move(url);
      ++generation_;
      open_ -= idle_.size();
      closing = std::move(idle_);
      idle_.clear();
    }
    size_ = size;
    while (open_ > size_ && !idle_.empty()) {
      closing.push_back(std::move(idle_.back()));
      idle_.pop_back();
      --open_;
    }
  }
  available_.notify_all();
  // Closing sends a message to the server: not under the lock (closing goes out of scope).
}

size_t ConnectionPool::OpenConnections() {
  std::lock_guard lock(mu_);
  return open_;
}

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      connection_(std::move(other.connection_)),
      generation_(other.generation_) {}

ConnectionPool::Lease& ConnectionPool::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    if (pool_ != nullptr && connection_) {
      pool_->Release(std::move(connection_), generation_, false);
    }
    pool_ = std::exchange(other.pool_, nullptr);
    connection_ = std::move(other.connection_);
    generation_ = other.generation_;
  }
  return *this;
}

ConnectionPool::Lease::~Lease() {
  if (pool_ != nullptr && connection_) pool_->Release(std::move(connection_), generation_, false);
}

void ConnectionPool::Lease::Discard() {
  if (pool_ != nullptr && connection_) pool_->Release(std::move(connection_), generation_, true);
}

absl::Status ConnectionPool::Acquire(Lease& lease) {
  for (;;) {
    std::string url;
    uint64_t generation = 0;
    {
      std::unique_lock lock(mu_);
      for (;;) {
        available_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
        if (idle_.empty()) break;
        std::unique_ptr<pqxx::connection> connection = std::move(idle_.back());
        idle_.pop_back();
        if (QuietWhileIdle(*connection)) {
          lease = Lease(this, std::move(connection), generation_);
          return absl::OkStatus();
        }
        --open_;
      }
      ++open_;
      url = url_;
      generation = generation_;
    }
    // Opening a connection takes a round trip or a timeout: not under the lock.
    try {
      auto connection = std::make_unique<pqxx::connection>(url);
      prepare_(*connection);
      {
        std::lock_guard lock(mu_);
        if (generation == generation_) {
          lease = Lease(this, std::move(connection), generation);
          return absl::OkStatus();
        }
        // Reconfigured to another database meanwhile: open one there instead.
        --open_;
      }
      available_.notify_one();
    } catch (const std::exception& e) {
      bool stale = false;
      {
        std::lock_guard lock(mu_);
        --open_;
        stale = generation != generation_;
      }
      available_.notify_one();
      // A failure on the URL just replaced says nothing about the new one.
      if (!stale) {
        return absl::UnavailableError(
            StrCat("database unreachable: ", WithoutPasswords(e.what())));
      }
    }
  }
}

void ConnectionPool::Release(std::unique_ptr<pqxx::connection> connection, uint64_t generation,
                             bool broken) {
  {
    std::lock_guard lock(mu_);
    if (broken || !connection->is_open() || generation != generation_ || open_ > size_) {
      --open_;
    } else {
      idle_.push_back(std::move(connection));
    }
  }
  available_.notify_one();
  // A connection not kept is closed here, outside the lock.
}

}  // namespace tchatator::storage
