#include "persistence/definition_store.h"

#include <pqxx/connection>
#include <pqxx/result>

#include "persistence/statements.h"

namespace gridflow::persistence {
namespace {

constexpr const char* kColumns =
    "namespace, name, version, body::text, created_by, created_at, withheld";

DefinitionRow ReadDefinition(const pqxx::row& r) {
  DefinitionRow d;
  d.namespace_name = r[0].as<std::string>();
  d.name = r[1].as<std::string>();
  d.version = r[2].as<int>();
  d.body_json = r[3].as<std::string>();
  d.created_by = r[4].as<std::string>();
  d.created_at = Timestamp(r[5]);
  d.withheld = r[6].as<bool>();
  return d;
}

}  // namespace

void PrepareDefinitionStatements(pqxx::connection& c) {
  const std::string cols = kColumns;
  c.prepare("def_insert",
            "INSERT INTO definitions (namespace, name, version, body, created_by, withheld) "
            "VALUES ($1, $2, $3, $4::jsonb, $5, $6) ON CONFLICT DO NOTHING RETURNING " +
                cols);
  c.prepare("def_get", "SELECT " + cols +
                           " FROM definitions WHERE namespace = $1 AND name = $2 AND version = $3");
  c.prepare("def_get_compare", "SELECT " + cols +
                                   ", body = $4::jsonb FROM definitions "
                                   "WHERE namespace = $1 AND name = $2 AND version = $3");
  // "The latest" is what a start without a workflow id would get (docs/rollouts.md): the stable
  // version during a rollout, else the highest version not withheld.
  c.prepare("def_get_latest", "SELECT " + cols +
                                  " FROM definitions WHERE namespace = $1 AND name = $2 AND "
                                  "version = (SELECT version FROM gf_route_version($1, $2, NULL))");
  c.prepare("def_latest_version", "SELECT version, reason FROM gf_route_version($1, $2, $3)");
  c.prepare("def_list", "SELECT " + cols +
                            " FROM definitions WHERE namespace = $1 AND ($2 = '' OR name = $2) "
                            "AND (name, version) > ($3, $4) ORDER BY name, version LIMIT $5");
}

std::optional<int> LatestDefinitionVersion(pqxx::transaction_base& txn,
                                           const std::string& namespace_name,
                                           const std::string& name,
                                           const std::optional<std::string>& workflow_id,
                                           std::string* reason) {
  const pqxx::result r = txn.exec_prepared("def_latest_version", namespace_name, name, workflow_id);
  if (r.empty() || r[0][0].is_null()) return std::nullopt;
  if (reason != nullptr) *reason = r[0][1].as<std::string>();
  return r[0][0].as<int>();
}

DefinitionInsert InsertDefinition(pqxx::transaction_base& txn, const DefinitionRow& row,
                                  DefinitionRow* stored) {
  const pqxx::result r = txn.exec_prepared("def_insert", row.namespace_name, row.name, row.version,
                                           row.body_json, row.created_by, row.withheld);
  if (!r.empty()) {
    *stored = ReadDefinition(r[0]);
    return DefinitionInsert::kInserted;
  }
  const pqxx::result existing = txn.exec_prepared("def_get_compare", row.namespace_name, row.name,
                                                  row.version, row.body_json);
  *stored = ReadDefinition(existing[0]);
  return existing[0][7].as<bool>() ? DefinitionInsert::kSameContent
                                   : DefinitionInsert::kDifferentContent;
}

std::optional<DefinitionRow> FindDefinition(pqxx::transaction_base& txn,
                                            const std::string& namespace_name,
                                            const std::string& name, int version) {
  const pqxx::result r = version == 0 ? txn.exec_prepared("def_get_latest", namespace_name, name)
                                      : txn.exec_prepared("def_get", namespace_name, name, version);
  if (r.empty()) return std::nullopt;
  return ReadDefinition(r[0]);
}

std::vector<DefinitionRow> ListDefinitions(pqxx::transaction_base& txn,
                                           const std::string& namespace_name,
                                           const std::string& name, const std::string& after_name,
                                           int after_version, int limit) {
  std::vector<DefinitionRow> rows;
  for (const pqxx::row& r :
       txn.exec_prepared("def_list", namespace_name, name, after_name, after_version, limit)) {
    rows.push_back(ReadDefinition(r));
  }
  return rows;
}

}  // namespace gridflow::persistence
