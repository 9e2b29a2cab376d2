#include "storage/connection_pool.h"

#include "common/strings.h"

namespace tchatator::storage {

ConnectionPool::ConnectionPool(std::string url, size_t size,
                               std::function<void(pqxx::connection&)> prepare)
    : url_(std::move(url)), size_(size), prepare_(std::move(prepare)) {}

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), connection_(std::move(other.connection_)) {}

ConnectionPool::Lease& ConnectionPool::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    if (pool_ != nullptr && connection_) pool_->Release(std::move(connection_), false);
    pool_ = std::exchange(other.pool_, nullptr);
    connection_ = std::move(other.connection_);
  }
  return *this;
}

ConnectionPool::Lease::~Lease() {
  if (pool_ != nullptr && connection_) pool_->Release(std::move(connection_), false);
}

void ConnectionPool::Lease::Discard() {
  if (pool_ != nullptr && connection_) pool_->Release(std::move(connection_), true);
}

absl::Status ConnectionPool::Acquire(Lease& lease) {
  {
    std::unique_lock lock(mu_);
    available_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
    if (!idle_.empty()) {
      lease = Lease();
      lease.pool_ = this;
      lease.connection_ = std::move(idle_.back());
      idle_.pop_back();
      return absl::OkStatus();
    }
    ++open_;
  }
  // Opening a connection takes a round trip or a timeout: not under the lock.
  try {
    auto connection = std::make_unique<pqxx::connection>(url_);
    prepare_(*connection);
    lease = Lease();
    lease.pool_ = this;
    lease.connection_ = std::move(connection);
    return absl::OkStatus();
  } catch (const std::exception& e) {
    {
      std::lock_guard lock(mu_);
      --open_;
    }
    available_.notify_one();
    return absl::UnavailableError(StrCat("database unreachable: ", e.what()));
  }
}

void ConnectionPool::Release(std::unique_ptr<pqxx::connection> connection, bool broken) {
  {
    std::lock_guard lock(mu_);
    if (broken || !connection->is_open()) {
      --open_;
      connection.reset();
    } else {
      idle_.push_back(std::move(connection));
    }
  }
  available_.notify_one();
}

}  // namespace tchatator::storage
