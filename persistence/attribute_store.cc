#include "persistence/attribute_store.h"

#include <pqxx/result>

namespace gridflow::persistence {

std::map<std::string, std::string> ReadAttributeTypes(pqxx::transaction_base& txn,
                                                      const std::string& namespace_name) {
  std::map<std::string, std::string> types;
  for (const pqxx::row& r : txn.exec_params(
           "SELECT name, type FROM search_attribute_types WHERE namespace = $1", namespace_name)) {
    types[r[0].as<std::string>()] = r[1].as<std::string>();
  }
  return types;
}

std::optional<AttributeTypeConflict> DeclareAttributeTypes(
    pqxx::transaction_base& txn, const std::string& namespace_name, const std::string& declared_by,
    const std::vector<std::pair<std::string, std::string>>& types) {
  for (const auto& [name, type] : types) {
    txn.exec_params(
        "INSERT INTO search_attribute_types (namespace, name, type, declared_by)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (namespace, name) DO NOTHING",
        namespace_name, name, type, declared_by);
    // A statement of its own: it sees a declaration another transaction committed meanwhile.
    const pqxx::result r = txn.exec_params(
        "SELECT type, declared_by FROM search_attribute_types WHERE namespace = $1 AND name = $2",
        namespace_name, name);
    if (!r.empty() && r[0][0].as<std::string>() != type) {
      return AttributeTypeConflict{name, r[0][0].as<std::string>(), r[0][1].as<std::string>()};
    }
  }
  return std::nullopt;
}

}  // namespace gridflow::persistence
