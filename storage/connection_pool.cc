#include "storage/connection_pool.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <vector>

#include "common/strings.h"

namespace tchatator::storage {

namespace {

// The password `url` carries, read tolerantly (the URL may be malformed, which is when
// libpq quotes it): after "scheme://user:" up to the '@', or a `password=` value in
// key=value form or a URI's query (quotes removed). Empty when none.
std::vector<std::string> PasswordsIn(std::string_view url) {
  std::vector<std::string> found;
  if (const size_t scheme = url.find("://"); scheme != std::string_view::npos) {
    const std::string_view rest = url.substr(scheme + 3);
    const size_t at = rest.rfind('@', rest.find('?'));
    const std::string_view userinfo = rest.substr(0, at == std::string_view::npos ? 0 : at);
    if (const size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
      found.emplace_back(userinfo.substr(colon + 1));
    }
  }
  for (size_t at = url.find("password"); at != std::string_view::npos;
       at = url.find("password", at + 1)) {
    size_t i = at + 8;
    while (i < url.size() && (url[i] == ' ' || url[i] == '\t')) ++i;
    if (i >= url.size() || url[i] != '=') continue;
    ++i;
    while (i < url.size() && (url[i] == ' ' || url[i] == '\t')) ++i;
    std::string value;
    if (i < url.size() && url[i] == '\'') {
      for (++i; i < url.size() && url[i] != '\''; ++i) {
        if (url[i] == '\\' && i + 1 < url.size()) ++i;
        value.push_back(url[i]);
      }
    } else {
      for (; i < url.size() && url[i] != ' ' && url[i] != '\t' && url[i] != '&'; ++i) {
        value.push_back(url[i]);
      }
    }
    found.push_back(std::move(value));
  }
  std::erase_if(found, [](const std::string& p) { return p.empty(); });
  // Longest first: a password containing another is masked whole.
  std::sort(found.begin(), found.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return found;
}

}  // namespace

std::string WithoutPasswords(std::string_view text, std::string_view url) {
  std::string out(text);
  for (const std::string& password : PasswordsIn(url)) {
    for (size_t at = out.find(password); at != std::string::npos;
         at = out.find(password, at + 3)) {
      out.replace(at, password.size(), "***");
    }
  }
  return out;
}

std::unique_ptr<pqxx::connection> OpenConnection(const std::string& url) {
  auto connection = std::make_unique<pqxx::connection>(url);
  pqxx::nontransaction(*connection).exec0("SET jit = off");
  return connection;
}

absl::Status CheckDatabaseUrl(const std::string& url) {
  char* parse_error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &parse_error);
  if (options != nullptr) {
    PQconninfoFree(options);
    return absl::OkStatus();
  }
  std::string reason = parse_error != nullptr ? parse_error : "out of memory";
  PQfreemem(parse_error);
  while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
  return absl::InvalidArgumentError(StrCat("database-url is not a valid connection string: ",
                                           WithoutPasswords(reason, url)));
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
      std::unique_ptr<pqxx::connection> connection = OpenConnection(url);
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
            StrCat("database unreachable: ", WithoutPasswords(e.what(), url)));
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
