// ScheduleObserver: told of every firing a ScheduleFirer records (the engine's metrics).
#pragma once

#include <string>

namespace gridflow::engine {

class ScheduleObserver {
 public:
  virtual ~ScheduleObserver() = default;
  // `lateness_seconds`: how long after its fire time the nominal time was handled.
  virtual void ScheduleFired(const std::string& outcome, double lateness_seconds) = 0;
};

}  // namespace gridflow::engine
