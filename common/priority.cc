#include "common/priority.h"

namespace gridflow {

std::string_view PriorityName(int priority) {
  static constexpr std::string_view kNames[] = {"urgent", "high", "normal", "low", "bulk"};
  if (priority < kUrgentPriority || priority > kLowestPriority) return "normal";
  return kNames[priority];
}

std::optional<int> PriorityFromText(std::string_view text) {
  if (text.size() == 1 && text[0] >= '0' && text[0] <= '0' + kLowestPriority) return text[0] - '0';
  for (int p = kUrgentPriority; p <= kLowestPriority; ++p) {
    if (text == PriorityName(p)) return p;
  }
  return std::nullopt;
}

}  // namespace gridflow
