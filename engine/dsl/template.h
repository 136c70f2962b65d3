// Template: a JSON value in which string leaves that start with "=" are expressions, evaluated
// against the run's data to build a value ("==" at the start escapes a literal "=").
//
//   {"day": "=$/input/delivery_day", "bids": "=$/optimise/bids", "note": "static text"}
//   "=$/optimise"                           (a whole value from one expression)
//
// An absent template (default-constructed) evaluates to the whole scope.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "engine/dsl/expression.h"

namespace gridflow::dsl {

class Template {
 public:
  Template() = default;

  // Compiles every expression in `doc`; errors name `path` plus the JSON pointer of the leaf:
  // "steps[2].input/day: column 4: ...".
  static Status Compile(const nlohmann::json& doc, const std::string& path, Template* out);

  bool present() const { return present_; }
  // No expression in it: its value is literal().
  bool constant() const { return expressions_.empty(); }
  const nlohmann::json& literal() const { return doc_; }
  Status Evaluate(const EvalContext& context, nlohmann::json* out) const;
  // The value as JSON text (DumpJson's). An absent template's scope is written as it is, not
  // copied first: a task given the whole run data costs one pass over it.
  Status EvaluateText(const EvalContext& context, std::string* out) const;

 private:
  bool present_ = false;
  nlohmann::json doc_;
  std::vector<std::pair<nlohmann::json::json_pointer, Expression>> expressions_;
};

}  // namespace gridflow::dsl
