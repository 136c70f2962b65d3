#include "engine/schedules/cron.h"

#include <array>
#include <cctype>
#include <chrono>
#include <vector>

namespace gridflow::engine {
namespace {

constexpr int64_t kDay = 86'400;
// No zone moves its clock by more than this at once: a candidate wall time further before the
// start cannot fire after it.
constexpr int64_t kMaxShift = 3 * 3'600;
constexpr int kSearchDays = 8 * 366;

struct Field {
  const char* name;
  int min;
  int max;
  const std::array<const char*, 12>* names;  // value `min + i` is names[i]; nullptr: none
};

constexpr std::array<const char*, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                     "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<const char*, 12> kDayNames = {"SUN", "MON", "TUE", "WED", "THU", "FRI",
                                                   "SAT", "",    "",    "",    "",    ""};

std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(sep, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

Status Value(const Field& f, std::string_view text, int* out) {
  if (f.names != nullptr && text.size() == 3 && std::isalpha(static_cast<unsigned char>(text[0]))) {
    std::string upper;
    for (const char c : text)
      upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (size_t i = 0; i < f.names->size(); ++i) {
      if (upper == (*f.names)[i]) {
        *out = f.min + static_cast<int>(i);
        return Status::Ok();
      }
    }
  }
  if (text.empty() || text.size() > 4) {
    return Status::InvalidArgument(std::string(f.name) + ": '" + std::string(text.substr(0, 16)) +
                                   "' is not a value");
  }
  int value = 0;
  for (const char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      return Status::InvalidArgument(std::string(f.name) + ": '" + std::string(text) +
                                     "' is not a value");
    }
    value = value * 10 + (c - '0');
  }
  // Day of week: 7 is Sunday too.
  const int max = f.names == &kDayNames ? 7 : f.max;
  if (value < f.min || value > max) {
    return Status::InvalidArgument(std::string(f.name) + ": " + std::to_string(value) +
                                   " is out of range " + std::to_string(f.min) + "-" +
                                   std::to_string(max));
  }
  *out = value;
  return Status::Ok();
}

// Sets the bits of `field`'s values in *bits (index = value); *any: the field was '*'.
template <size_t N>
Status ParseField(const Field& f, std::string_view text, std::bitset<N>* bits, bool* any) {
  *any = text == "*";
  for (const std::string_view item : Split(text, ',')) {
    std::string_view range = item;
    int step = 1;
    if (const size_t slash = item.find('/'); slash != std::string_view::npos) {
      range = item.substr(0, slash);
      const std::string_view step_text = item.substr(slash + 1);
      Field steps{f.name, 1, f.max - f.min + 1, nullptr};
      if (Status s = Value(steps, step_text, &step); !s.ok()) return s;
    }
    int low = f.min;
    int high = f.names == &kDayNames ? 6 : f.max;
    if (range != "*") {
      const size_t dash = range.find('-');
      if (Status s = Value(f, range.substr(0, dash), &low); !s.ok()) return s;
      high = low;
      if (dash != std::string_view::npos) {
        if (Status s = Value(f, range.substr(dash + 1), &high); !s.ok()) return s;
      } else if (item.find('/') != std::string_view::npos) {
        high = f.names == &kDayNames ? 6 : f.max;  // "5/15": from 5 to the end
      }
      if (high < low) {
        return Status::InvalidArgument(std::string(f.name) + ": range '" + std::string(range) +
                                       "' runs backwards");
      }
    }
    for (int v = low; v <= high; v += step)
      bits->set(static_cast<size_t>(f.names == &kDayNames && v == 7 ? 0 : v));
  }
  return Status::Ok();
}

std::string_view Macro(std::string_view text) {
  if (text == "@yearly" || text == "@annually") return "0 0 1 1 *";
  if (text == "@monthly") return "0 0 1 * *";
  if (text == "@weekly") return "0 0 * * 0";
  if (text == "@daily" || text == "@midnight") return "0 0 * * *";
  if (text == "@hourly") return "0 * * * *";
  return text;
}

}  // namespace

Status CronExpression::Parse(std::string_view text, CronExpression* out) {
  CronExpression cron;
  cron.text_ = std::string(text);
  std::vector<std::string_view> fields;
  for (const std::string_view part : Split(Macro(text), ' ')) {
    if (!part.empty()) fields.push_back(part);
  }
  if (fields.size() == 5) fields.insert(fields.begin(), "0");
  if (fields.size() != 6) {
    return Status::InvalidArgument(
        "cron: expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with a "
        "leading second), got " +
        std::to_string(fields.size()));
  }
  bool any = false;
  Status s = ParseField({"second", 0, 59, nullptr}, fields[0], &cron.seconds_, &any);
  if (s.ok()) s = ParseField({"minute", 0, 59, nullptr}, fields[1], &cron.minutes_, &any);
  if (s.ok()) s = ParseField({"hour", 0, 23, nullptr}, fields[2], &cron.hours_, &any);
  if (s.ok())
    s = ParseField({"day_of_month", 1, 31, nullptr}, fields[3], &cron.days_, &cron.any_day_);
  if (s.ok()) s = ParseField({"month", 1, 12, &kMonthNames}, fields[4], &cron.months_, &any);
  if (s.ok()) {
    s = ParseField({"day_of_week", 0, 6, &kDayNames}, fields[5], &cron.weekdays_,
                   &cron.any_weekday_);
  }
  if (!s.ok()) return Status::InvalidArgument("cron: " + s.message());
  *out = std::move(cron);
  return Status::Ok();
}

bool CronExpression::DayMatches(int /*year*/, unsigned month, unsigned day,
                                unsigned weekday) const {
  if (!months_.test(month)) return false;
  const bool by_day = days_.test(day);
  const bool by_weekday = weekdays_.test(weekday);
  if (any_day_ && any_weekday_) return true;
  if (any_day_) return by_weekday;
  if (any_weekday_) return by_day;
  return by_day || by_weekday;  // both restricted: either (classic cron)
}

std::optional<TimePoint> CronExpression::Next(TimePoint after, const dsl::TimeZone& zone) const {
  using std::chrono::days;
  using std::chrono::sys_days;
  const int64_t after_s =
      std::chrono::floor<std::chrono::seconds>(after.time_since_epoch()).count();
  const int64_t threshold = after_s + zone.OffsetAt(dsl::Seconds(after_s)).count() - kMaxShift;
  const int64_t first_day = threshold >= 0 ? threshold / kDay : (threshold - kDay + 1) / kDay;
  // Wall times are tried in order; they map to instants in order too, except a wall time the
  // clocks skip, which is moved forward by the gap: such a candidate is kept while wall times
  // up to its own are tried.
  std::optional<int64_t> best;
  int64_t best_limit = 0;
  for (int64_t d = first_day; d < first_day + kSearchDays; ++d) {
    if (best && d * kDay > best_limit) break;
    const sys_days date{days(d)};
    const std::chrono::year_month_day ymd(date);
    const unsigned weekday = std::chrono::weekday(date).c_encoding();
    if (!DayMatches(static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                    static_cast<unsigned>(ymd.day()), weekday)) {
      continue;
    }
    for (int h = 0; h < 24; ++h) {
      const int64_t hour_start = d * kDay + h * 3'600;
      if (!hours_.test(h) || hour_start + 3'599 < threshold) continue;
      for (int m = 0; m < 60; ++m) {
        const int64_t minute_start = hour_start + m * 60;
        if (!minutes_.test(m) || minute_start + 59 < threshold) continue;
        for (int sec = 0; sec < 60; ++sec) {
          const int64_t local = minute_start + sec;
          if (!seconds_.test(sec) || local < threshold) continue;
          if (best && local > best_limit) return TimePoint(std::chrono::seconds(*best));
          const dsl::TimeZone::LocalMapping mapping = zone.FromLocal(dsl::Seconds(local));
          const int64_t instant = mapping.first.count();
          if (instant <= after_s) continue;
          if (mapping.kind == dsl::TimeZone::LocalMapping::Kind::kNonexistent) {
            if (!best || instant < *best) best = instant;
            best_limit = std::max(best_limit, local + kMaxShift);
            continue;
          }
          const int64_t next = best ? std::min(*best, instant) : instant;
          return TimePoint(std::chrono::seconds(next));
        }
      }
    }
  }
  if (best) return TimePoint(std::chrono::seconds(*best));
  return std::nullopt;
}

}  // namespace gridflow::engine
