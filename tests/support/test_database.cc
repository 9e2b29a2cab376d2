#include "tests/support/test_database.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>
#include <utility>

#include <pqxx/pqxx>

namespace tchatator::testing {
namespace {

std::string RandomName() {
  std::random_device rd;
  std::mt19937_64 gen(rd());
  return "t_" + std::to_string(gen() % 1000000000000ULL);
}

}  // namespace

namespace {

std::string AdminUrlFromEnvironment() {
  const char* admin = std::getenv("TCHATATOR_TEST_PG");
  if (admin == nullptr || *admin == '\0') {
    std::fprintf(stderr,
                 "TCHATATOR_TEST_PG is not set: run the tests through tests/run, which starts "
                 "a throwaway PostgreSQL\n");
    std::abort();
  }
  return admin;
}

}  // namespace

TestDatabase::TestDatabase() : TestDatabase(AdminUrlFromEnvironment()) {}

TestDatabase::TestDatabase(std::string admin_url) : admin_url_(std::move(admin_url)) {
  name_ = RandomName();
  pqxx::connection connection(admin_url_);
  pqxx::nontransaction txn(connection);
  txn.exec0("CREATE DATABASE " + name_);
  url_ = admin_url_ + " dbname=" + name_;
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection connection(admin_url_);
    pqxx::nontransaction txn(connection);
    txn.exec0("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "could not drop %s: %s\n", name_.c_str(), e.what());
  }
}

std::string TestDatabase::Query(const std::string& sql) const {
  pqxx::connection connection(url_);
  pqxx::nontransaction txn(connection);
  pqxx::result r = txn.exec(sql);
  if (r.empty() || r[0].empty() || r[0][0].is_null()) return "";
  return r[0][0].as<std::string>();
}

TableLock::TableLock(const TestDatabase& db, const std::string& table)
    : connection_(db.url()) {
  txn_ = std::make_unique<pqxx::work>(connection_);
  txn_->exec0("LOCK TABLE " + txn_->quote_name(table) + " IN EXCLUSIVE MODE");
}

void TableLock::Release() {
  if (txn_) txn_->abort();
  txn_.reset();
}

bool WaitForLockWaiter(const TestDatabase& db) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  const std::string sql =
      "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() "
      "AND wait_event_type = 'Lock'";
  while (std::chrono::steady_clock::now() < deadline) {
    if (db.Query(sql) == "t") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace tchatator::testing
