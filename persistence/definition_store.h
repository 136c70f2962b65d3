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

// version 0 means the latest version.
// The highest registered version of a definition; nullopt when there is none.
std::optional<int> LatestDefinitionVersion(pqxx::transaction_base& txn,
                                           const std::string& namespace_name,
                                           const std::string& name);
std::optional<DefinitionRow> FindDefinition(pqxx::transaction_base& txn,
                                            const std::string& namespace_name,
                                            const std::string& name, int version);

// Ordered by (name, version), starting after (after_name, after_version); `name` empty means all.
std::vector<DefinitionRow> ListDefinitions(pqxx::transaction_base& txn,
                                           const std::string& namespace_name,
                                           const std::string& name, const std::string& after_name,
                                           int after_version, int limit);

}  // namespace gridflow::persistence
