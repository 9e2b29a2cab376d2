#ifndef TCHATATOR_STORAGE_MIGRATIONS_H_
#define TCHATATOR_STORAGE_MIGRATIONS_H_

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace tchatator::storage {

// One SQL file of storage/migrations/, compiled into the binary.
struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

// Every migration, in version order.
std::span<const Migration> Migrations();

// Applies, in one transaction, every migration that the database at `url` has not
// recorded in its schema_migrations table. Idempotent; safe when several processes
// call it at once (they serialise on an advisory lock). Unavailable when the database
// cannot be reached, InvalidArgument when `url` is no connection string libpq can parse
// (with no password in the message), Internal when a migration fails (nothing is
// applied then). With `unknown`, also lists there ("version name") the migrations the
// database records and this binary does not know: a newer release migrated it.
absl::Status Migrate(const std::string& url, std::vector<std::string>* unknown = nullptr);

}  // namespace tchatator::storage

#endif  // TCHATATOR_STORAGE_MIGRATIONS_H_
