#ifndef TCHATATOR_TESTS_SUPPORT_TEST_DATABASE_H_
#define TCHATATOR_TESTS_SUPPORT_TEST_DATABASE_H_

#include <memory>
#include <string>

#include <pqxx/pqxx>

namespace tchatator::testing {

// A fresh, empty PostgreSQL database in the cluster named by the environment variable
// TCHATATOR_TEST_PG (a libpq connection string with the right to CREATE DATABASE),
// dropped when this object is destroyed. Aborts the test program with a clear message
// when the variable is missing: database tests never pass silently.
class TestDatabase {
 public:
  TestDatabase();
  // The same in the cluster named by `admin_url` (e.g. a private cluster a test stops).
  explicit TestDatabase(std::string admin_url);
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  // libpq connection string of this database.
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }

  // Runs one SQL statement and returns the first column of the first row ("" if none).
  std::string Query(const std::string& sql) const;

 private:
  std::string admin_url_;
  std::string name_;
  std::string url_;
};

// Holds an EXCLUSIVE lock on table `table` of `db` (reads pass, writes wait) until
// Release() or destruction.
class TableLock {
 public:
  TableLock(const TestDatabase& db, const std::string& table);
  void Release();

 private:
  pqxx::connection connection_;
  std::unique_ptr<pqxx::work> txn_;
};

// Waits until a session of `db` waits for a lock; false after 5 s.
bool WaitForLockWaiter(const TestDatabase& db);

}  // namespace tchatator::testing

#endif  // TCHATATOR_TESTS_SUPPORT_TEST_DATABASE_H_
