// Search attribute types per namespace (docs/search.md): the first definition that declares a
// name fixes its type, so one name never means two things in a namespace's queries.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/transaction_base>

namespace gridflow::persistence {

// name -> type (keyword, number, date, datetime, bool) of every attribute declared in the
// namespace.
std::map<std::string, std::string> ReadAttributeTypes(pqxx::transaction_base& txn,
                                                      const std::string& namespace_name);

struct AttributeTypeConflict {
  std::string name;
  std::string existing_type;
  std::string declared_by;
};
// Records (name, type) pairs for the namespace, declared by `declared_by` ("<definition>
// v<version>"). A name already declared with another type changes nothing and is returned.
std::optional<AttributeTypeConflict> DeclareAttributeTypes(
    pqxx::transaction_base& txn, const std::string& namespace_name, const std::string& declared_by,
    const std::vector<std::pair<std::string, std::string>>& types);

}  // namespace gridflow::persistence
