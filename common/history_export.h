// The history export format (docs/security.md, "Audit trail"; docs/operations.md, "Retention and
// archive"): a header line, then one event per line as the API's JSON for gridflow.v1.Event.
// Written by `gridflowctl runs export` and by the engine's retention archive, read by
// `gridflowctl runs verify --file`. The header pins the history's length and chain head.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace gridflow {

inline constexpr const char* kHistoryExportFormat = "gridflow-history";
inline constexpr int kHistoryExportVersion = 1;

struct HistoryExportHeader {
  std::string namespace_name;
  std::string workflow_id;
  std::string run_id;
  int64_t history_length = 0;
  std::string history_head;      // the last exported event's hash (hex)
  std::string run_history_head;  // the run's recorded head (hex)
};

// The header line's JSON; `extra` fields (e.g. "run") are added to it.
inline nlohmann::json HistoryExportHeaderJson(const HistoryExportHeader& h,
                                              nlohmann::json extra = nlohmann::json::object()) {
  extra["format"] = kHistoryExportFormat;
  extra["version"] = kHistoryExportVersion;
  extra["namespace"] = h.namespace_name;
  extra["workflow_id"] = h.workflow_id;
  extra["run_id"] = h.run_id;
  extra["history_length"] = h.history_length;
  extra["history_head"] = h.history_head;
  extra["run_history_head"] = h.run_history_head;
  return extra;
}

}  // namespace gridflow
