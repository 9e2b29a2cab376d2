#include "storage/migrations.h"

#include <pqxx/pqxx>

#include "common/strings.h"
#include "storage/connection_pool.h"

namespace tchatator::storage {
namespace {
// Any constant shared by every core: the advisory lock that serialises migrations.
constexpr int64_t kMigrationLock = 0x7463686174;  // "tchat"
}  // namespace

absl::Status Migrate(const std::string& url, std::vector<std::string>* unknown) {
  // A connection string libpq cannot parse will not get better by waiting.
  if (absl::Status parsed = CheckDatabaseUrl(url); !parsed.ok()) return parsed;
  try {
    pqxx::connection connection(url);
    pqxx::work txn(connection);
    txn.exec("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLock) + ")");
    txn.exec0(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())");
    for (const Migration& m : Migrations()) {
      pqxx::result done =
          txn.exec_params("SELECT 1 FROM schema_migrations WHERE version = $1", m.version);
      if (!done.empty()) continue;
      txn.exec0(std::string(m.sql));
      txn.exec_params0("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                       m.version, std::string(m.name));
    }
    if (unknown != nullptr) {
      unknown->clear();
      const pqxx::result recorded = txn.exec_params(
          "SELECT version, name FROM schema_migrations WHERE version > $1 ORDER BY version",
          Migrations().back().version);
      for (const pqxx::row& row : recorded) {
        unknown->push_back(StrCat(row[0].as<int>(), " ", row[1].as<std::string>()));
      }
    }
    txn.commit();
    return absl::OkStatus();
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(StrCat("database unreachable: ", WithoutPasswords(e.what(), url)));
  } catch (const std::exception& e) {
    return absl::InternalError(StrCat("migration failed: ", WithoutPasswords(e.what(), url)));
  }
}

}  // namespace tchatator::storage
