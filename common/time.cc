#include "common/time.h"

#include <cstdio>

namespace gridflow {
namespace {

// Reads exactly `width` decimal digits at `pos`.
std::optional<int> Digits(std::string_view text, size_t pos, size_t width) {
  if (pos + width > text.size()) return std::nullopt;
  int value = 0;
  for (size_t i = pos; i < pos + width; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

}  // namespace

std::string FormatRfc3339(TimePoint t) {
  using namespace std::chrono;
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<Micros> hms{t - day};
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                static_cast<long long>(hms.subseconds().count()));
  return buffer;
}

std::string FormatRfc3339Seconds(TimePoint t) {
  std::string text = FormatRfc3339(std::chrono::floor<std::chrono::seconds>(t));
  text.erase(19, 7);  // ".000000"
  return text;
}

std::optional<int> ParseDate(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  const auto y = Digits(text, 0, 4), m = Digits(text, 5, 2), d = Digits(text, 8, 2);
  if (!y || !m || !d || *y == 0) return std::nullopt;
  using namespace std::chrono;
  const year_month_day ymd{year{*y}, month{static_cast<unsigned>(*m)},
                           day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return std::nullopt;
  return static_cast<int>(sys_days{ymd}.time_since_epoch().count());
}

std::string FormatDate(int days_since_epoch) {
  using namespace std::chrono;
  const year_month_day ymd{sys_days{days{days_since_epoch}}};
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buffer;
}

std::optional<std::chrono::seconds> ParseTimeOfDay(std::string_view text) {
  if ((text.size() != 5 && text.size() != 8) || text[2] != ':') return std::nullopt;
  const auto h = Digits(text, 0, 2), m = Digits(text, 3, 2);
  std::optional<int> s = 0;
  if (text.size() == 8) s = text[5] == ':' ? Digits(text, 6, 2) : std::nullopt;
  if (!h || !m || !s || *h > 23 || *m > 59 || *s > 59) return std::nullopt;
  return std::chrono::hours(*h) + std::chrono::minutes(*m) + std::chrono::seconds(*s);
}

std::optional<TimePoint> ParseTimestamp(std::string_view text) {
  // YYYY-MM-DD(T|t| )HH:MM:SS[.fraction](Z|z|±HH[:MM])
  if (text.size() < 20) return std::nullopt;
  const char separator = text[10];
  if (separator != 'T' && separator != 't' && separator != ' ') return std::nullopt;
  const auto day = ParseDate(text.substr(0, 10));
  const auto time = ParseTimeOfDay(text.substr(11, 8));
  if (!day || !time) return std::nullopt;
  size_t pos = 19;
  int64_t micros = 0;
  if (text[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 6) micros = micros * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 6; ++digits)
      micros *= 10;
  }
  const std::string_view zone = text.substr(pos);
  int offset_minutes = 0;
  if (zone == "Z" || zone == "z") {
    offset_minutes = 0;
  } else if ((zone.size() == 3 || (zone.size() == 6 && zone[3] == ':')) &&
             (zone[0] == '+' || zone[0] == '-')) {
    const auto h = Digits(zone, 1, 2);
    const auto m = zone.size() == 6 ? Digits(zone, 4, 2) : std::optional<int>(0);
    if (!h || !m || *h > 23 || *m > 59) return std::nullopt;
    offset_minutes = (*h * 60 + *m) * (zone[0] == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }
  using namespace std::chrono;
  const auto local = sys_days{days{*day}} + *time + Micros(micros);
  return time_point_cast<Micros>(local - minutes(offset_minutes));
}

}  // namespace gridflow
