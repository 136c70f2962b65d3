// Run statuses and task states as stored (the schema's CHECK constraints).
#pragma once

#include <string_view>

namespace gridflow::engine {

namespace run_status {
inline constexpr std::string_view kRunning = "RUNNING";
inline constexpr std::string_view kCancelling = "CANCELLING";
inline constexpr std::string_view kCompensating = "COMPENSATING";
inline constexpr std::string_view kCompleted = "COMPLETED";
inline constexpr std::string_view kFailed = "FAILED";
inline constexpr std::string_view kCancelled = "CANCELLED";
inline constexpr std::string_view kTerminated = "TERMINATED";
}  // namespace run_status

namespace task_state {
inline constexpr std::string_view kPending = "PENDING";
inline constexpr std::string_view kLeased = "LEASED";
inline constexpr std::string_view kCompleted = "COMPLETED";
inline constexpr std::string_view kFailed = "FAILED";
inline constexpr std::string_view kCancelled = "CANCELLED";
}  // namespace task_state

inline bool IsClosedRunStatus(std::string_view status) {
  return status == run_status::kCompleted || status == run_status::kFailed ||
         status == run_status::kCancelled || status == run_status::kTerminated;
}

}  // namespace gridflow::engine
