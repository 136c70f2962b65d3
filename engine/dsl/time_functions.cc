#include "engine/dsl/time_functions.h"

#include <cstdio>

#include "common/json_text.h"
#include "engine/dsl/market_rules.h"
#include "engine/dsl/time_zone.h"

namespace gridflow::dsl {
namespace {

using std::chrono::duration_cast;
using std::chrono::minutes;
using std::chrono::seconds;

Status UnknownZone(std::string_view zone) {
  return Status::InvalidArgument("unknown time zone '" + std::string(zone) +
                                 "' (use an IANA name such as Europe/Berlin)");
}

// `t` on the zone's wall clock: seconds since 1970-01-01T00:00 local.
seconds LocalSeconds(TimePoint t, const TimeZone& tz, seconds* offset) {
  const seconds utc = std::chrono::floor<seconds>(t.time_since_epoch());
  *offset = tz.OffsetAt(utc);
  return utc + *offset;
}

std::string FormatLocal(seconds local, seconds offset) {
  using namespace std::chrono;
  const auto day = floor<days>(sys_seconds{local});
  const year_month_day ymd{day};
  const hh_mm_ss<seconds> hms{sys_seconds{local} - day};
  const int64_t off = offset.count();
  const int64_t abs_off = off < 0 ? -off : off;
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d%c%02d:%02d",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                off < 0 ? '-' : '+', static_cast<int>(abs_off / 3600),
                static_cast<int>(abs_off % 3600 / 60));
  return buffer;
}

}  // namespace

Status LocalTime(std::string_view date_text, std::string_view time_of_day, std::string_view zone,
                 TimePoint* out) {
  const auto day = ParseDate(date_text);
  if (!day)
    return Status::InvalidArgument("'" + QuotePrefix(std::string(date_text)) +
                                   "' is not a date (YYYY-MM-DD)");
  const auto tod = ParseTimeOfDay(time_of_day);
  if (!tod) {
    return Status::InvalidArgument("'" + QuotePrefix(std::string(time_of_day)) +
                                   "' is not a time of day (HH:MM or HH:MM:SS)");
  }
  const TimeZone* tz = TimeZone::Find(zone);
  if (tz == nullptr) return UnknownZone(zone);
  // Unique: that instant; the repeated hour: the first one; the skipped hour: moved forward by
  // the gap (as PostgreSQL and Python's zoneinfo read it).
  const seconds local = std::chrono::days{*day} + *tod;
  *out = TimePoint(duration_cast<Micros>(tz->FromLocal(local).first));
  return Status::Ok();
}

Status LocalDate(TimePoint t, std::string_view zone, std::string* out) {
  const TimeZone* tz = TimeZone::Find(zone);
  if (tz == nullptr) return UnknownZone(zone);
  seconds offset{};
  const seconds local = LocalSeconds(t, *tz, &offset);
  *out = FormatDate(static_cast<int>(std::chrono::floor<std::chrono::days>(local).count()));
  return Status::Ok();
}

Status FormatInZone(TimePoint t, std::string_view zone, std::string* out) {
  const TimeZone* tz = TimeZone::Find(zone);
  if (tz == nullptr) return UnknownZone(zone);
  seconds offset{};
  const seconds local = LocalSeconds(t, *tz, &offset);
  *out = FormatLocal(local, offset);
  return Status::Ok();
}

Status QuarterHours(std::string_view date_text, std::string_view zone,
                    std::vector<QuarterHour>* out) {
  TimePoint start, end;
  Status s = LocalTime(date_text, "00:00", zone, &start);
  if (!s.ok()) return s;
  const int day = *ParseDate(date_text);
  if (s = LocalTime(FormatDate(day + 1), "00:00", zone, &end); !s.ok()) return s;
  out->clear();
  for (TimePoint t = start; t < end; t += minutes(15))
    out->push_back({t, t + minutes(15)});
  return Status::Ok();
}

Status GateClosure(std::string_view market, std::string_view date_text, TimePoint* out) {
  const auto day = ParseDate(date_text);
  if (!day)
    return Status::InvalidArgument("'" + QuotePrefix(std::string(date_text)) +
                                   "' is not a date (YYYY-MM-DD)");
  return CurrentMarketRules()->Closure(market, product::kDayAhead, "", *day, out);
}

bool IsKnownTimeZone(std::string_view zone) {
  return TimeZone::Find(zone) != nullptr;
}

}  // namespace gridflow::dsl
