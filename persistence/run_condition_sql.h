// The SQL of a run query (persistence/run_condition.h) over the table `runs`: every name and
// operator from a whitelist, every value a bound parameter — never text from the query in the
// statement. Shared by the run list and the snapshot of a batch operation's runs.
#pragma once

#include <string>
#include <vector>

#include "persistence/run_condition.h"

namespace gridflow::persistence {

// Parameters of a statement built at run time: values are always parameters, never SQL text.
class QueryParams {
 public:
  // The placeholder of a new parameter, cast to `type`.
  std::string Add(std::string value, const char* type) {
    values_.push_back(std::move(value));
    return "$" + std::to_string(values_.size()) + "::" + type;
  }
  const std::vector<std::string>& values() const { return values_; }

 private:
  std::vector<std::string> values_;
};

// A WHERE condition on `runs` (and run_attributes, for search attributes) for `condition`;
// `namespace_param` is the placeholder of the namespace's parameter. Throws
// std::invalid_argument for a field, type or operator the engine would never send.
std::string RunConditionSql(QueryParams& p, const std::string& namespace_param,
                            const RunCondition& condition);

}  // namespace gridflow::persistence
