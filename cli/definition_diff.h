// The difference between two versions of a definition, as operators read it: paths into the
// JSON where lists of named things (steps, branches) are matched by name, not position, so
// inserting a step shows as one added step rather than every later step changed.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace gridflow::cli {

struct JsonChange {
  enum class Kind { kAdded, kRemoved, kChanged };
  Kind kind;
  std::string path;     // "steps[submit].retry.max_attempts", "time_zone"
  nlohmann::json from;  // null when added
  nlohmann::json to;    // null when removed
};

// Changes from `a` to `b`, in document order. A list of objects that all have distinct "name"
// members is compared by name (and a change of their order is reported at the list's path).
std::vector<JsonChange> DiffDefinitions(const nlohmann::json& a, const nlohmann::json& b);

const char* ChangeKindName(JsonChange::Kind kind);  // "added", "removed", "changed"

}  // namespace gridflow::cli
