// CronExpression: a cron schedule evaluated on the wall clock of an IANA time zone.
//
// Five fields (minute hour day-of-month month day-of-week) or six (a leading second field);
// each is `*`, a value, a range `a-b`, a step `*/n` or `a-b/n`, or a comma list of those. Months
// and weekdays may be named (JAN-DEC, SUN-SAT; 0 and 7 are Sunday). When both day fields are
// restricted a day matches if either does (classic cron). Also @yearly, @monthly, @weekly, @daily
// and @hourly.
//
// Daylight saving time (docs/schedules.md): a wall time the clocks skip fires shifted forward by
// the gap (02:30 on the spring-forward night in Europe/Berlin fires at 03:30 CEST), unless that
// instant is already a fire time; a wall time that occurs twice fires once, at its first
// occurrence. This is PostgreSQL's reading of such times and the DSL's (LocalTime).
#pragma once

#include <bitset>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/time.h"
#include "engine/dsl/time_zone.h"

namespace gridflow::engine {

class CronExpression {
 public:
  // INVALID_ARGUMENT naming the field ("minute: 61 is out of range 0-59").
  static Status Parse(std::string_view text, CronExpression* out);

  // The first fire instant strictly after `after` on the wall clock of `zone`; nullopt when
  // there is none within the next 8 years (e.g. "0 0 30 2 *").
  std::optional<TimePoint> Next(TimePoint after, const dsl::TimeZone& zone) const;

  const std::string& text() const { return text_; }

 private:
  bool DayMatches(int year, unsigned month, unsigned day, unsigned weekday) const;

  std::string text_;
  std::bitset<60> seconds_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1-31
  std::bitset<13> months_;   // 1-12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool any_day_ = true;      // day-of-month was '*'
  bool any_weekday_ = true;  // day-of-week was '*'
};

}  // namespace gridflow::engine
