#include "persistence/namespace_store.h"

#include <pqxx/result>

#include "persistence/pg_types.h"

namespace gridflow::persistence {
namespace {

constexpr const char* kColumns =
    "name, description, (extract(epoch FROM closed_run_retention) * 1000)::bigint, time_zone, "
    "deprecated_at, deprecated_reason, created_by, created_at, updated_by, updated_at";

NamespaceRow ReadNamespace(const pqxx::row& r) {
  NamespaceRow n;
  n.name = r[0].as<std::string>();
  n.description = r[1].as<std::string>();
  if (!r[2].is_null()) n.closed_run_retention = Millis(r[2].as<int64_t>());
  n.time_zone = r[3].as<std::string>();
  n.deprecated_at = OptionalTimestamp(r[4]);
  n.deprecated_reason = OptionalText(r[5]);
  n.created_by = r[6].as<std::string>();
  n.created_at = Timestamp(r[7]);
  n.updated_by = OptionalText(r[8]);
  n.updated_at = OptionalTimestamp(r[9]);
  return n;
}

}  // namespace

std::optional<NamespaceRow> FindNamespace(pqxx::transaction_base& txn, const std::string& name) {
  const pqxx::result r =
      txn.exec_params(std::string("SELECT ") + kColumns + " FROM namespaces WHERE name = $1", name);
  if (r.empty()) return std::nullopt;
  return ReadNamespace(r[0]);
}

std::vector<NamespaceRow> ListNamespaces(pqxx::transaction_base& txn, bool include_deprecated) {
  std::vector<NamespaceRow> rows;
  for (const pqxx::row& r :
       txn.exec_params(std::string("SELECT ") + kColumns +
                           " FROM namespaces WHERE $1 OR deprecated_at IS NULL ORDER BY name",
                       include_deprecated)) {
    rows.push_back(ReadNamespace(r));
  }
  return rows;
}

bool InsertNamespace(pqxx::transaction_base& txn, const NamespaceRow& row) {
  std::optional<int64_t> retention;
  if (row.closed_run_retention) retention = row.closed_run_retention->count();
  return !txn.exec_params(
                 "INSERT INTO namespaces (name, description, closed_run_retention, time_zone,"
                 " created_by, created_at) VALUES ($1, $2, $3::bigint * interval '1 millisecond', "
                 "$4, $5,"
                 " gf_now()) ON CONFLICT (name) DO NOTHING RETURNING 1",
                 row.name, row.description, retention, row.time_zone, row.created_by)
              .empty();
}

bool UpdateNamespace(pqxx::transaction_base& txn, const std::string& name,
                     const NamespaceChange& c) {
  std::optional<int64_t> retention;
  if (c.closed_run_retention && *c.closed_run_retention) {
    retention = (*c.closed_run_retention)->count();
  }
  return !txn.exec_params(
                 "UPDATE namespaces SET"
                 " description = COALESCE($2::text, description),"
                 " closed_run_retention = CASE WHEN $3::boolean THEN $4::bigint * interval '1 "
                 "millisecond'"
                 "  ELSE closed_run_retention END,"
                 " time_zone = COALESCE($5::text, time_zone),"
                 " deprecated_at = CASE WHEN $6::boolean IS NULL THEN deprecated_at WHEN "
                 "$6::boolean"
                 "  THEN COALESCE(deprecated_at, gf_now()) END,"
                 " deprecated_reason = CASE WHEN $6::boolean IS NULL THEN deprecated_reason WHEN "
                 "$6::boolean"
                 "  THEN $7::text END,"
                 " updated_by = $8, updated_at = gf_now()"
                 " WHERE name = $1 RETURNING 1",
                 name, c.description, c.closed_run_retention.has_value(), retention, c.time_zone,
                 c.deprecated, c.reason, c.by)
              .empty();
}

}  // namespace gridflow::persistence
