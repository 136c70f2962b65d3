// Versioned, forward-only schema migrations (persistence/migrations/NNNN_name.sql, embedded in the
// binary at build time). Migrate() applies the missing ones under a PostgreSQL advisory lock, each
// in its own transaction, so replicas starting together apply every migration exactly once.
// A database already at a newer version than this binary knows is accepted (expand/contract
// upgrades run old and new replicas side by side); a recorded migration whose SQL differs from the
// embedded one is refused.
#pragma once

#include <string>
#include <vector>

#include <pqxx/connection>
#include <pqxx/transaction_base>

#include "common/status.h"

namespace gridflow::persistence {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// The migrations compiled into this binary, ascending by version.
const std::vector<Migration>& EmbeddedMigrations();

struct MigrationReport {
  int applied = 0;         // migrations applied by this call
  int schema_version = 0;  // highest version recorded after the call
};

// The highest migration recorded in the database (0 when none).
int RecordedSchemaVersion(pqxx::transaction_base& txn);

Status Migrate(pqxx::connection& connection, const std::vector<Migration>& migrations,
               MigrationReport* report);

}  // namespace gridflow::persistence
