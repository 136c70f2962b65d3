// Dispatch classes of tasks, most urgent first: 0 urgent, 1 high, 2 normal (the default), 3 low,
// 4 bulk. Claims take a more urgent class first; a worker's reserved slots take only a class up
// to the one they reserve (docs/dispatch.md).
#pragma once

#include <optional>
#include <string_view>

namespace gridflow {

inline constexpr int kUrgentPriority = 0;
inline constexpr int kDefaultPriority = 2;
inline constexpr int kLowestPriority = 4;

// "urgent" for 0 .. "bulk" for 4 ("normal" for anything out of range).
std::string_view PriorityName(int priority);
// The class of a name ("urgent") or a digit ("0"); nullopt for anything else.
std::optional<int> PriorityFromText(std::string_view text);

}  // namespace gridflow
