// Points in time as Gridflow passes them around: UTC, microsecond precision (PostgreSQL's).
#pragma once

#include <chrono>
#include <string>

namespace gridflow {

using Micros = std::chrono::microseconds;
using TimePoint = std::chrono::sys_time<Micros>;

// "2026-11-25T14:28:42.123456Z"
std::string FormatRfc3339(TimePoint t);

}  // namespace gridflow
