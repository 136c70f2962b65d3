// Definitions and namespaces. Definitions are immutable once inserted.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <pqxx/transaction_base>

#include "persistence/rows.h"

namespace gridflow::persistence {

enum class DefinitionInsert { kInserted, kSameContent, kDifferentContent };

// Inserts `row` unless (namespace, name, version) exists, and says which happened (content is
// compared as JSON). Either way `*stored` receives the row now in the database.
DefinitionInsert InsertDefinition(pqxx::transaction_base& txn, const DefinitionRow& row,
                                  DefinitionRow* stored);

// The version a start asking for the latest gets (docs/rollouts.md): during a canary rollout the
// workflow id decides between candidate and stable (no workflow id: stable); otherwise the
// highest version not withheld. *reason (when given) says which. nullopt when there is none.
std::optional<int> LatestDefinitionVersion(pqxx::transaction_base& txn,
                                           const std::string& namespace_name,
                                           const std::string& name,
                                           const std::optional<std::string>& workflow_id,
                                           std::string* reason);
// version 0 means the latest version (as LatestDefinitionVersion without a workflow id).
std::optional<DefinitionRow> FindDefinition(pqxx::transaction_base& txn,
                                            const std::string& namespace_name,
                                            const std::string& name, int version);

// Ordered by (name, version), starting after (after_name, after_version); `name` empty means all.
std::vector<DefinitionRow> ListDefinitions(pqxx::transaction_base& txn,
                                           const std::string& namespace_name,
                                           const std::string& name, const std::string& after_name,
                                           int after_version, int limit);

}  // namespace gridflow::persistence
