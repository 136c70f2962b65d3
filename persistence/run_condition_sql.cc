#include "persistence/run_condition_sql.h"

#include <map>
#include <stdexcept>

#include "persistence/pg_types.h"

namespace gridflow::persistence {
namespace {

// How values of a query type are stored: their SQL type, and run_attributes' column for them.
struct ValueType {
  const char* sql_type;
  const char* attribute_column;
};
const ValueType& ValueTypeOf(const std::string& type) {
  static const std::map<std::string, ValueType> kTypes = {
      {"keyword", {"text", "keyword"}},
      {"number", {"double precision", "number"}},
      {"date", {"date", "day"}},
      {"datetime", {"timestamptz", "instant"}},
      {"bool", {"boolean", "flag"}}};
  const auto it = kTypes.find(type);  // validated by the engine; anything else is refused
  if (it == kTypes.end()) throw std::invalid_argument("query: unknown value type " + type);
  return it->second;
}

// The runs column behind a run field of the query language.
const char* RunFieldColumn(const std::string& field) {
  static const std::map<std::string, const char*> kRunFields = {
      {"status", "runs.status"},
      {"definition", "runs.definition_name"},
      {"version", "runs.definition_version"},
      {"workflow_id", "runs.workflow_id"},
      {"started_by", "runs.started_by"},
      {"created_at", "runs.created_at"},
      {"updated_at", "runs.updated_at"},
      {"closed_at", "runs.closed_at"}};
  const auto it = kRunFields.find(field);
  if (it == kRunFields.end()) throw std::invalid_argument("query: unknown run field " + field);
  return it->second;
}

const char* SqlOperator(const std::string& op) {
  static const std::map<std::string, const char*> kOps = {{"=", "="},   {"!=", "<>"}, {"<", "<"},
                                                          {"<=", "<="}, {">", ">"},   {">=", ">="}};
  const auto it = kOps.find(op);
  if (it == kOps.end()) throw std::invalid_argument("query: unknown operator " + op);
  return it->second;
}

}  // namespace

// SQL for a condition: names and operators come from the whitelists above, values are parameters.
// A field without a value (an attribute not set, closed_at of an open run) satisfies no
// comparison, so NOT of a comparison matches such runs.
std::string RunConditionSql(QueryParams& p, const std::string& namespace_param,
                            const RunCondition& c) {
  switch (c.kind) {
    case RunCondition::Kind::kAnd:
    case RunCondition::Kind::kOr: {
      std::string sql = "(";
      for (size_t i = 0; i < c.operands.size(); ++i) {
        if (i > 0) sql += c.kind == RunCondition::Kind::kAnd ? " AND " : " OR ";
        sql += RunConditionSql(p, namespace_param, c.operands[i]);
      }
      return sql + ")";
    }
    case RunCondition::Kind::kNot:
      return "NOT " + RunConditionSql(p, namespace_param, c.operands.at(0));
    case RunCondition::Kind::kCompare:
    case RunCondition::Kind::kIn:
      break;
  }
  const ValueType& value_type = ValueTypeOf(c.type);
  const std::string type = value_type.sql_type;
  std::string test;
  if (c.kind == RunCondition::Kind::kIn) {
    test = " = ANY(" + p.Add(ToTextArray(c.values), "text[]") + "::" + type + "[])";
  } else {
    test = std::string(" ") + SqlOperator(c.op) + " " + p.Add(c.values.at(0), type.c_str());
  }
  if (!c.attribute) return "COALESCE(" + std::string(RunFieldColumn(c.field)) + test + ", false)";
  return "EXISTS (SELECT 1 FROM run_attributes a WHERE a.run_id = runs.id AND a.namespace = " +
         namespace_param + " AND a.name = " + p.Add(c.field, "text") + " AND a." +
         value_type.attribute_column + test + ")";
}

}  // namespace gridflow::persistence
