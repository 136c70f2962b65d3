// Wall-clock time for definitions: instants (UTC, RFC 3339), calendar dates, IANA time zones
// (from the operating system's tz database through TimeZone, DST-correct for any year), and the
// day-ahead gate closure (the other closures: market_rules.h). Instants and dates are parsed by
// common/time.h (ParseTimestamp, ParseDate).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/time.h"

namespace gridflow::dsl {

// The instant when the wall clock in `zone` shows `date` `time_of_day` ("12:00" or "12:00:30").
// In a DST gap the time is moved forward by the gap; in a repeated hour the first one is taken.
Status LocalTime(std::string_view date, std::string_view time_of_day, std::string_view zone,
                 TimePoint* out);

// The local date in `zone` at instant `t`.
Status LocalDate(TimePoint t, std::string_view zone, std::string* out);

// `t` as local time in `zone` with its offset: "2026-03-29T03:00:00+02:00".
Status FormatInZone(TimePoint t, std::string_view zone, std::string* out);

struct QuarterHour {
  TimePoint start;
  TimePoint end;
};
// The quarter-hours of delivery day `date` in `zone`: 96, or 92 / 100 on DST change days.
Status QuarterHours(std::string_view date, std::string_view zone, std::vector<QuarterHour>* out);

// Day-ahead gate closure of `market` for delivery day `date` (e.g. SDAC markets: 12:00
// Europe/Brussels the day before), by the market rules in force (market_rules.h).
// INVALID_ARGUMENT for unknown markets.
Status GateClosure(std::string_view market, std::string_view date, TimePoint* out);

// Whether `zone` names a time zone in the tz database.
bool IsKnownTimeZone(std::string_view zone);

}  // namespace gridflow::dsl
