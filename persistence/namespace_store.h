// Namespaces (table namespaces): the managed objects NamespaceService serves. Management calls
// are rare, so these run plain parameterised statements rather than prepared ones.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <pqxx/transaction_base>

#include "common/duration.h"
#include "common/time.h"

namespace gridflow::persistence {

struct NamespaceRow {
  std::string name;
  std::string description;
  std::optional<Millis> closed_run_retention;
  std::string time_zone;  // "" : none set
  std::optional<TimePoint> deprecated_at;
  std::optional<std::string> deprecated_reason;
  std::string created_by;
  TimePoint created_at;
  std::optional<std::string> updated_by;
  std::optional<TimePoint> updated_at;
};

// What UpdateNamespace changes: the fields that are set.
struct NamespaceChange {
  std::optional<std::string> description;
  std::optional<std::optional<Millis>> closed_run_retention;  // set to nullopt: keep forever
  std::optional<std::string> time_zone;
  std::optional<bool> deprecated;
  std::string reason;  // with deprecated = true
  std::string by;
};

std::optional<NamespaceRow> FindNamespace(pqxx::transaction_base& txn, const std::string& name);
std::vector<NamespaceRow> ListNamespaces(pqxx::transaction_base& txn, bool include_deprecated);
// False when the name is taken.
bool InsertNamespace(pqxx::transaction_base& txn, const NamespaceRow& row);
// False when there is no such namespace.
bool UpdateNamespace(pqxx::transaction_base& txn, const std::string& name,
                     const NamespaceChange& change);

}  // namespace gridflow::persistence
