#include "engine/scheduler/kinds.h"

#include <array>
#include <utility>

namespace gridflow::engine {
namespace {

template <typename Kind, size_t N>
std::string_view Name(const std::array<std::pair<Kind, std::string_view>, N>& names, Kind kind) {
  for (const auto& [k, name] : names) {
    if (k == kind) return name;
  }
  return "";
}

template <typename Kind, size_t N>
std::optional<Kind> Parse(const std::array<std::pair<Kind, std::string_view>, N>& names,
                          std::string_view stored) {
  for (const auto& [k, name] : names) {
    if (name == stored) return k;
  }
  return std::nullopt;
}

// The stored names are the schema's CHECK constraints' values.
constexpr std::array<std::pair<TimerKind, std::string_view>, 4> kTimerKinds{{
    {TimerKind::kTimer, "timer"},
    {TimerKind::kSignalTimeout, "signal_timeout"},
    {TimerKind::kDeadline, "deadline"},
    {TimerKind::kRunDeadline, "run_deadline"},
}};
constexpr std::array<std::pair<TaskKind, std::string_view>, 2> kTaskKinds{{
    {TaskKind::kStep, "step"},
    {TaskKind::kCompensation, "compensation"},
}};
constexpr std::array<std::pair<MessageKind, std::string_view>, 2> kMessageKinds{{
    {MessageKind::kChildClosed, "child_closed"},
    {MessageKind::kCancel, "cancel"},
}};

}  // namespace

std::string_view ToStored(TimerKind kind) {
  return Name(kTimerKinds, kind);
}
std::optional<TimerKind> TimerKindFromStored(std::string_view stored) {
  return Parse(kTimerKinds, stored);
}
std::string_view ToStored(TaskKind kind) {
  return Name(kTaskKinds, kind);
}
std::optional<TaskKind> TaskKindFromStored(std::string_view stored) {
  return Parse(kTaskKinds, stored);
}
std::string_view ToStored(MessageKind kind) {
  return Name(kMessageKinds, kind);
}
std::optional<MessageKind> MessageKindFromStored(std::string_view stored) {
  return Parse(kMessageKinds, stored);
}

}  // namespace gridflow::engine
