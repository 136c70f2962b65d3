// RunCondition: a run query (docs/search.md) as a tree, between the engine that parses and
// type-checks it (engine/api/run_query.h) and persistence::ListRuns, which compiles it into SQL
// whose values are all parameters. Plain data; no database types.
#pragma once

#include <string>
#include <vector>

namespace gridflow::persistence {

struct RunCondition {
  enum class Kind { kAnd, kOr, kNot, kCompare, kIn };
  Kind kind = Kind::kCompare;
  std::vector<RunCondition> operands;  // kAnd, kOr (two or more), kNot (one)
  // kCompare, kIn: a run field (status, definition, version, workflow_id, started_by,
  // created_at, updated_at, closed_at) or a search attribute.
  std::string field;
  bool attribute = false;
  // keyword, number, date, datetime or bool (a run field has its own: status is a keyword).
  std::string type;
  std::string op;                   // kCompare: =, !=, <, <=, >, >=
  std::vector<std::string> values;  // canonical text: one for kCompare; kIn: the list
};

}  // namespace gridflow::persistence
