// TimeZone: one IANA time zone from the operating system's tz database (/usr/share/zoneinfo, or
// $TZDIR), read from its TZif file (RFC 8536). The file lists explicit transitions up to some
// year (2037 in Debian's files); later instants follow the POSIX TZ rule in the file's footer
// (e.g. "CET-1CEST,M3.5.0,M10.5.0/3"), so every year up to 2100 and beyond has its daylight
// saving time. (Howard Hinnant's date library, built on the system files, ignores that footer:
// from 2038 it applied no DST at all.)
//
// Zones are loaded once and kept for the life of the process; Find() is thread-safe and the
// zones it returns are immutable.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gridflow::dsl {

using Seconds = std::chrono::seconds;

class TimeZone {
 public:
  // The zone named `name` ("Europe/Berlin"), or nullptr when the tz database has no such zone.
  static const TimeZone* Find(std::string_view name);

  const std::string& name() const { return name_; }

  // The UTC offset in effect at `utc` (seconds since the epoch, UTC).
  Seconds OffsetAt(Seconds utc) const;

  // How a wall-clock time maps to UTC: one instant, two (the repeated hour when clocks go back),
  // or none (the hour skipped when clocks go forward).
  struct LocalMapping {
    enum class Kind { kUnique, kAmbiguous, kNonexistent } kind = Kind::kUnique;
    Seconds first{};   // unique or earlier instant; nonexistent: the instant the gap ends
    Seconds second{};  // ambiguous: the later instant
  };
  // `local`: seconds since 1970-01-01T00:00 on the zone's wall clock.
  LocalMapping FromLocal(Seconds local) const;

  // A parsed POSIX TZ rule (public for tests of the parser).
  struct Rule;
  static std::shared_ptr<const Rule> ParseRule(std::string_view posix_tz);
  static Seconds RuleOffsetAt(const Rule& rule, Seconds utc);

 private:
  struct Transition {
    int64_t at;      // UTC seconds
    int32_t offset;  // in effect from `at`
  };

  static std::unique_ptr<TimeZone> Load(const std::string& name);

  std::string name_;
  int32_t initial_offset_ = 0;  // before the first transition
  std::vector<Transition> transitions_;
  std::shared_ptr<const Rule> rule_;  // after the last transition; null: the last offset stays
};

}  // namespace gridflow::dsl
