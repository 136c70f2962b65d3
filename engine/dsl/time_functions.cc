#include "engine/dsl/time_functions.h"

#include <date/date.h>
#include <date/tz.h>

#include <array>
#include <cstdio>
#include <sstream>

namespace gridflow::dsl {
namespace {

using std::chrono::duration_cast;
using std::chrono::minutes;
using std::chrono::seconds;

struct Market {
  std::string_view name;
  std::string_view zone;
  std::string_view closure;  // local time on the day before delivery
};

// Day-ahead auctions. SDAC (the European single day-ahead coupling) closes at 12:00 CET/CEST for
// every coupled bidding zone; Switzerland and Great Britain run their own auctions.
constexpr std::array<Market, 14> kMarkets{{
    {"SDAC", "Europe/Brussels", "12:00"},
    {"EPEX-DE-LU", "Europe/Brussels", "12:00"},
    {"EPEX-FR", "Europe/Brussels", "12:00"},
    {"EPEX-NL", "Europe/Brussels", "12:00"},
    {"EPEX-BE", "Europe/Brussels", "12:00"},
    {"EPEX-AT", "Europe/Brussels", "12:00"},
    {"EPEX-PL", "Europe/Brussels", "12:00"},
    {"NORDPOOL-NO1", "Europe/Brussels", "12:00"},
    {"NORDPOOL-SE3", "Europe/Brussels", "12:00"},
    {"NORDPOOL-FI", "Europe/Brussels", "12:00"},
    {"NORDPOOL-DK1", "Europe/Brussels", "12:00"},
    {"OMIE-ES", "Europe/Brussels", "12:00"},
    {"EPEX-CH", "Europe/Zurich", "11:00"},
    {"EPEX-GB", "Europe/London", "09:20"},
}};

const date::time_zone* FindZone(std::string_view zone) {
  try {
    return date::locate_zone(std::string(zone));
  } catch (const std::exception&) {
    return nullptr;
  }
}

Status UnknownZone(std::string_view zone) {
  return Status::InvalidArgument("unknown time zone '" + std::string(zone) +
                                 "' (use an IANA name such as Europe/Berlin)");
}

std::optional<std::chrono::seconds> ParseTimeOfDay(std::string_view text) {
  int h = 0, m = 0, s = 0;
  char tail = 0;
  const std::string t(text);
  const int n = std::sscanf(t.c_str(), "%2d:%2d:%2d%c", &h, &m, &s, &tail);
  if ((n != 2 && n != 3) || h < 0 || h > 23 || m < 0 || m > 59 || s < 0 || s > 59) {
    return std::nullopt;
  }
  if (n == 2 && t.size() != 5) return std::nullopt;
  if (n == 3 && t.size() != 8) return std::nullopt;
  return std::chrono::hours(h) + minutes(m) + seconds(s);
}

}  // namespace

std::optional<TimePoint> ParseInstant(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.f+](Z|±HH:MM)
  const std::string s(text);
  if (s.size() < 20 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')) return std::nullopt;
  const auto day = ParseDate(s.substr(0, 10));
  if (!day) return std::nullopt;
  const auto tod = ParseTimeOfDay(s.substr(11, 8));
  if (!tod) return std::nullopt;
  size_t pos = 19;
  int64_t micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 6) micros = micros * 10 + (s[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 6; ++digits)
      micros *= 10;
  }
  int offset_minutes = 0;
  const std::string zone = s.substr(pos);
  if (zone == "Z" || zone == "z") {
    offset_minutes = 0;
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    const auto hm = ParseTimeOfDay(zone.substr(1, 5));
    if (!hm) return std::nullopt;
    offset_minutes =
        static_cast<int>(duration_cast<minutes>(*hm).count()) * (zone[0] == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }
  const auto local = date::sys_days{date::days{*day}} + *tod + Micros(micros);
  return std::chrono::time_point_cast<Micros>(local - minutes(offset_minutes));
}

std::optional<int> ParseDate(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  int y = 0;
  unsigned m = 0, d = 0;
  const std::string s(text);
  char tail = 0;
  if (std::sscanf(s.c_str(), "%4d-%2u-%2u%c", &y, &m, &d, &tail) != 3) return std::nullopt;
  const date::year_month_day ymd{date::year{y}, date::month{m}, date::day{d}};
  if (!ymd.ok()) return std::nullopt;
  return static_cast<int>(date::sys_days{ymd}.time_since_epoch().count());
}

std::string FormatDate(int days_since_epoch) {
  return date::format("%F", date::sys_days{date::days{days_since_epoch}});
}

Status LocalTime(std::string_view date_text, std::string_view time_of_day, std::string_view zone,
                 TimePoint* out) {
  const auto day = ParseDate(date_text);
  if (!day)
    return Status::InvalidArgument("'" + std::string(date_text) + "' is not a date (YYYY-MM-DD)");
  const auto tod = ParseTimeOfDay(time_of_day);
  if (!tod) {
    return Status::InvalidArgument("'" + std::string(time_of_day) +
                                   "' is not a time of day (HH:MM or HH:MM:SS)");
  }
  const date::time_zone* tz = FindZone(zone);
  if (tz == nullptr) return UnknownZone(zone);
  const date::local_seconds local = date::local_days{date::days{*day}} + *tod;
  const date::local_info info = tz->get_info(local);
  date::sys_seconds sys;
  switch (info.result) {
    case date::local_info::unique:
      sys = date::sys_seconds{local.time_since_epoch() - info.first.offset};
      break;
    case date::local_info::ambiguous:  // the repeated hour: take the first occurrence
      sys = date::sys_seconds{local.time_since_epoch() - info.first.offset};
      break;
    case date::local_info::nonexistent:  // the skipped hour: move forward by the gap
      sys = date::sys_seconds{local.time_since_epoch() - info.first.offset};
      break;
  }
  *out = std::chrono::time_point_cast<Micros>(sys);
  return Status::Ok();
}

Status LocalDate(TimePoint t, std::string_view zone, std::string* out) {
  const date::time_zone* tz = FindZone(zone);
  if (tz == nullptr) return UnknownZone(zone);
  const auto local = tz->to_local(t);
  *out = date::format("%F", date::floor<date::days>(local));
  return Status::Ok();
}

Status FormatInZone(TimePoint t, std::string_view zone, std::string* out) {
  const date::time_zone* tz = FindZone(zone);
  if (tz == nullptr) return UnknownZone(zone);
  const date::zoned_time<seconds> zt{tz, std::chrono::floor<seconds>(t)};
  std::string text = date::format("%FT%T%z", zt);  // ...+0200
  text.insert(text.size() - 2, ":");
  *out = text;
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
    return Status::InvalidArgument("'" + std::string(date_text) + "' is not a date (YYYY-MM-DD)");
  for (const Market& m : kMarkets) {
    if (m.name == market) return LocalTime(FormatDate(*day - 1), m.closure, m.zone, out);
  }
  std::string known;
  for (const Market& m : kMarkets)
    known += (known.empty() ? "" : ", ") + std::string(m.name);
  return Status::InvalidArgument("unknown market '" + std::string(market) + "' (known: " + known +
                                 ")");
}

bool IsKnownTimeZone(std::string_view zone) {
  return FindZone(zone) != nullptr;
}

}  // namespace gridflow::dsl
