// The run query language of ListRuns.query and `gridflowctl runs list --query` (docs/search.md):
//
//   market = 'DE-LU' AND delivery_day = '2026-12-03' AND status = 'FAILED'
//   (volume_mw >= 50 OR portfolio IN ('P-1', 'P-2')) AND NOT definition = 'settlement'
//
// ParseRunQuery checks the text against the run fields and the namespace's search attribute
// types and returns a condition for persistence::ListRuns, whose values are only ever SQL
// parameters. Errors are INVALID_ARGUMENT starting "query: column N: ". Pure: no I/O.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/status.h"
#include "persistence/run_condition.h"

namespace gridflow::engine {

inline constexpr size_t kMaxRunQueryBytes = 4096;
inline constexpr int kMaxRunQueryConditions = 64;
inline constexpr int kMaxRunQueryDepth = 16;
inline constexpr size_t kMaxRunQueryInValues = 1000;

// `attribute_types`: the namespace's search attributes, name -> keyword|number|date|datetime|bool.
Status ParseRunQuery(std::string_view text,
                     const std::map<std::string, std::string>& attribute_types,
                     persistence::RunCondition* out);

}  // namespace gridflow::engine
