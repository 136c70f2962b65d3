// Points in time as Gridflow passes them around: UTC, microsecond precision (PostgreSQL's), and
// the one parser of timestamps in text (RFC 3339, and PostgreSQL's output form of timestamptz).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gridflow {

using Micros = std::chrono::microseconds;
using TimePoint = std::chrono::sys_time<Micros>;

// Microseconds since the Unix epoch (how instants are stored in JSON state and SQL parameters).
inline int64_t ToEpochMicros(TimePoint t) {
  return t.time_since_epoch().count();
}
inline TimePoint FromEpochMicros(int64_t micros) {
  return TimePoint(Micros(micros));
}

// "2026-11-25T14:28:42.123456Z"
std::string FormatRfc3339(TimePoint t);
// "2026-11-25T14:28:42Z": whole seconds, the fraction cut.
std::string FormatRfc3339Seconds(TimePoint t);

// An instant with its offset, as RFC 3339 writes it ("2026-11-25T14:28:42Z",
// "2026-11-25T15:28:42.5+01:00") or as PostgreSQL prints a timestamptz ("2026-11-25
// 14:28:42.123456+00"); fractions beyond microseconds are cut. nullopt when malformed, not a
// real date or time, or outside the years 0001..9999.
std::optional<TimePoint> ParseTimestamp(std::string_view text);

// A calendar date "YYYY-MM-DD" as days since 1970-01-01; nullopt when malformed or not a real date.
std::optional<int> ParseDate(std::string_view text);
std::string FormatDate(int days_since_epoch);

// "HH:MM" or "HH:MM:SS" (00:00..23:59:59) as time since midnight; nullopt when malformed.
std::optional<std::chrono::seconds> ParseTimeOfDay(std::string_view text);

}  // namespace gridflow
