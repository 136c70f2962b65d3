#include "persistence/migrations.h"

#include <spdlog/spdlog.h>

#include <pqxx/nontransaction>
#include <pqxx/transaction>

namespace gridflow::persistence {
namespace {

// "gridflow" in ASCII: the advisory lock key every replica takes to migrate.
constexpr int64_t kMigrationLockKey = 0x67726964666c6f77;

class AdvisoryLock {
 public:
  explicit AdvisoryLock(pqxx::connection& c) : c_(c) {
    pqxx::nontransaction(c_).exec("SELECT pg_advisory_lock(" + std::to_string(kMigrationLockKey) +
                                  ")");
  }
  ~AdvisoryLock() {
    try {
      pqxx::nontransaction(c_).exec("SELECT pg_advisory_unlock(" +
                                    std::to_string(kMigrationLockKey) + ")");
    } catch (const std::exception& e) {
      // The session ends with the connection, which releases the lock anyway.
      spdlog::warn("could not release the migration lock: {}", e.what());
    }
  }
  AdvisoryLock(const AdvisoryLock&) = delete;
  AdvisoryLock& operator=(const AdvisoryLock&) = delete;

 private:
  pqxx::connection& c_;
};

}  // namespace

int RecordedSchemaVersion(pqxx::transaction_base& txn) {
  return txn.exec("SELECT COALESCE(max(version), 0) FROM gridflow_schema_migrations")[0][0]
      .as<int>();
}

Status Migrate(pqxx::connection& connection, const std::vector<Migration>& migrations,
               MigrationReport* report) {
  *report = MigrationReport{};
  try {
    AdvisoryLock lock(connection);
    {
      // Created only when missing: a runtime role (no CREATE on the schema) checks the version
      // of a schema that is current without being refused.
      pqxx::work txn(connection, "migrations table");
      if (txn.exec("SELECT to_regclass('gridflow_schema_migrations') IS NULL")[0][0].as<bool>()) {
        txn.exec(
            "CREATE TABLE gridflow_schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())");
      }
      txn.commit();
    }
    for (const Migration& m : migrations) {
      pqxx::work txn(connection, "migration " + std::to_string(m.version));
      const pqxx::result recorded = txn.exec_params(
          "SELECT checksum = md5($2) FROM gridflow_schema_migrations WHERE version = $1", m.version,
          std::string(m.sql));
      if (!recorded.empty()) {
        if (!recorded[0][0].as<bool>()) {
          return Status::FailedPrecondition(
              "migration " + std::to_string(m.version) + " (" + m.name +
              ") differs from the one applied to this database; released migrations must never be "
              "edited, add a new one instead");
        }
        continue;
      }
      txn.exec(m.sql);
      txn.exec_params(
          "INSERT INTO gridflow_schema_migrations (version, name, checksum) VALUES ($1, $2, "
          "md5($3))",
          m.version, std::string(m.name), std::string(m.sql));
      txn.commit();
      ++report->applied;
      spdlog::info("applied schema migration {} ({})", m.version, m.name);
    }
    pqxx::work txn(connection, "schema version");
    report->schema_version = RecordedSchemaVersion(txn);
    txn.commit();
    return Status::Ok();
  } catch (const pqxx::broken_connection& e) {
    return Status::Unavailable(std::string("cannot migrate, database unreachable: ") + e.what());
  } catch (const std::exception& e) {
    return Status::Internal(std::string("schema migration failed: ") + e.what());
  }
}

}  // namespace gridflow::persistence
