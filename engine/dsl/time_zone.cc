#include "engine/dsl/time_zone.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

namespace gridflow::dsl {
namespace {

constexpr int64_t kDay = 86400;

// ---- the POSIX TZ rule of a TZif footer ----

struct RuleDate {
  enum class Kind { kJulianNoLeap, kZeroBased, kMonthWeekDay } kind = Kind::kMonthWeekDay;
  int day = 0;    // Jn: 1..365; n: 0..365
  int month = 0;  // M: 1..12
  int week = 0;   // M: 1..5 (5 = last)
  int weekday = 0;
  int64_t time = 2 * 3600;  // seconds after local midnight; may be negative or past 24 h
};

bool IsLeap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  using namespace std::chrono;
  return sys_days{year{static_cast<int>(y)} / month{m} / day{d}}.time_since_epoch().count();
}

int64_t YearOf(int64_t seconds) {
  using namespace std::chrono;
  const int64_t days = seconds >= 0 ? seconds / kDay : -((-seconds + kDay - 1) / kDay);
  return static_cast<int>(year_month_day{sys_days{std::chrono::days{days}}}.year());
}

// Days since the epoch of `d` in year `y`.
int64_t RuleDay(const RuleDate& d, int64_t y) {
  const int64_t jan1 = DaysFromCivil(y, 1, 1);
  switch (d.kind) {
    case RuleDate::Kind::kJulianNoLeap:
      return jan1 + d.day - 1 + (IsLeap(y) && d.day >= 60 ? 1 : 0);
    case RuleDate::Kind::kZeroBased:
      return jan1 + d.day;
    case RuleDate::Kind::kMonthWeekDay: {
      static constexpr std::array<int, 12> kLength{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
      const int64_t first = DaysFromCivil(y, static_cast<unsigned>(d.month), 1);
      // 1970-01-01 was a Thursday (4).
      const int first_weekday = static_cast<int>(((first % 7) + 7 + 4) % 7);
      int64_t day = (d.weekday - first_weekday + 7) % 7 + 7 * (d.week - 1);
      const int length = kLength[static_cast<size_t>(d.month - 1)] + (d.month == 2 && IsLeap(y));
      while (day >= length)
        day -= 7;
      return first + day;
    }
  }
  return jan1;
}

class RuleParser {
 public:
  explicit RuleParser(std::string_view text) : s_(text) {}

  bool Name() {
    if (Peek() == '<') {
      const size_t end = s_.find('>', pos_);
      if (end == std::string_view::npos || end == pos_ + 1) return false;
      pos_ = end + 1;
      return true;
    }
    const size_t start = pos_;
    while (pos_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[pos_])))
      ++pos_;
    return pos_ - start >= 1;
  }

  // [+-]h[hh][:mm[:ss]] in seconds.
  bool Time(int64_t* out, int max_hours) {
    int sign = 1;
    if (Peek() == '+' || Peek() == '-') sign = s_[pos_++] == '-' ? -1 : 1;
    int64_t parts[3] = {0, 0, 0};
    for (int i = 0; i < 3; ++i) {
      if (i > 0) {
        if (Peek() != ':') break;
        ++pos_;
      }
      const size_t start = pos_;
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_])) &&
             pos_ - start < 3) {
        parts[i] = parts[i] * 10 + (s_[pos_++] - '0');
      }
      if (pos_ == start) return false;
    }
    if (parts[0] > max_hours || parts[1] > 59 || parts[2] > 59) return false;
    *out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
    return true;
  }

  bool Number(int* out, int lo, int hi) {
    const size_t start = pos_;
    int value = 0;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_])) &&
           pos_ - start < 4) {
      value = value * 10 + (s_[pos_++] - '0');
    }
    if (pos_ == start || value < lo || value > hi) return false;
    *out = value;
    return true;
  }

  bool Date(RuleDate* d) {
    if (Peek() == 'J') {
      ++pos_;
      d->kind = RuleDate::Kind::kJulianNoLeap;
      if (!Number(&d->day, 1, 365)) return false;
    } else if (Peek() == 'M') {
      ++pos_;
      d->kind = RuleDate::Kind::kMonthWeekDay;
      if (!Number(&d->month, 1, 12) || !Eat('.') || !Number(&d->week, 1, 5) || !Eat('.') ||
          !Number(&d->weekday, 0, 6)) {
        return false;
      }
    } else {
      d->kind = RuleDate::Kind::kZeroBased;
      if (!Number(&d->day, 0, 365)) return false;
    }
    if (Peek() == '/') {
      ++pos_;
      if (!Time(&d->time, 167)) return false;  // RFC 8536 allows -167..167 hours
    }
    return true;
  }

  bool Eat(char c) {
    if (Peek() != c) return false;
    ++pos_;
    return true;
  }
  char Peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool AtEnd() const { return pos_ >= s_.size(); }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

// ---- TZif files ----

class ByteReader {
 public:
  explicit ByteReader(const std::string& data) : data_(data) {}
  bool Skip(size_t n) {
    if (data_.size() - pos_ < n) return false;
    pos_ += n;
    return true;
  }
  bool Int(size_t width, int64_t* out) {
    if (data_.size() - pos_ < width) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < width; ++i)
      v = (v << 8) | static_cast<unsigned char>(data_[pos_ + i]);
    pos_ += width;
    if (width == 4) {
      *out = static_cast<int32_t>(static_cast<uint32_t>(v));
    } else {
      *out = static_cast<int64_t>(v);
    }
    return true;
  }
  bool Byte(int* out) {
    if (pos_ >= data_.size()) return false;
    *out = static_cast<unsigned char>(data_[pos_++]);
    return true;
  }
  std::string Rest() const { return data_.substr(pos_); }
  size_t pos() const { return pos_; }

 private:
  const std::string& data_;
  size_t pos_ = 0;
};

struct TzifCounts {
  int64_t isut = 0, isstd = 0, leap = 0, time = 0, type = 0, chars = 0;
};

bool ReadHeader(ByteReader& r, char* version, TzifCounts* c) {
  int b[5];
  for (int& byte : b) {
    if (!r.Byte(&byte)) return false;
  }
  if (b[0] != 'T' || b[1] != 'Z' || b[2] != 'i' || b[3] != 'f') return false;
  *version = static_cast<char>(b[4]);
  return r.Skip(15) && r.Int(4, &c->isut) && r.Int(4, &c->isstd) && r.Int(4, &c->leap) &&
         r.Int(4, &c->time) && r.Int(4, &c->type) && r.Int(4, &c->chars) && c->type > 0 &&
         c->time >= 0 && c->type <= 256 && c->chars >= 0 && c->leap >= 0 && c->isut >= 0 &&
         c->isstd >= 0;
}

bool ValidZoneName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name.front() == '/' ||
      name.find("..") != std::string_view::npos) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' ||
           c == '+';
  });
}

std::string ZoneDirectory() {
  const char* dir = std::getenv("TZDIR");
  return dir != nullptr && *dir != '\0' ? dir : "/usr/share/zoneinfo";
}

}  // namespace

struct TimeZone::Rule {
  int64_t std_offset = 0;  // seconds east of UTC
  bool has_dst = false;
  int64_t dst_offset = 0;
  RuleDate start, end;
};

std::shared_ptr<const TimeZone::Rule> TimeZone::ParseRule(std::string_view text) {
  auto rule = std::make_shared<Rule>();
  RuleParser p(text);
  int64_t posix_offset = 0;  // POSIX counts west of UTC as positive
  if (!p.Name() || !p.Time(&posix_offset, 24)) return nullptr;
  rule->std_offset = -posix_offset;
  if (p.AtEnd()) return rule;
  if (!p.Name()) return nullptr;
  rule->has_dst = true;
  rule->dst_offset = rule->std_offset + 3600;
  if (p.Peek() != ',' && !p.AtEnd()) {
    if (!p.Time(&posix_offset, 24)) return nullptr;
    rule->dst_offset = -posix_offset;
  }
  if (p.AtEnd()) {  // no rule given: POSIX leaves it to the implementation; US rules, as glibc
    rule->start = RuleDate{RuleDate::Kind::kMonthWeekDay, 0, 3, 2, 0, 7200};
    rule->end = RuleDate{RuleDate::Kind::kMonthWeekDay, 0, 11, 1, 0, 7200};
    return rule;
  }
  if (!p.Eat(',') || !p.Date(&rule->start) || !p.Eat(',') || !p.Date(&rule->end) || !p.AtEnd()) {
    return nullptr;
  }
  return rule;
}

Seconds TimeZone::RuleOffsetAt(const Rule& rule, Seconds utc) {
  if (!rule.has_dst) return Seconds(rule.std_offset);
  // The transitions of the years around `utc`, in order; the last one at or before it applies.
  struct Change {
    int64_t at;
    int64_t offset;
  };
  std::vector<Change> changes;
  const int64_t y = YearOf(utc.count());
  for (int64_t year = y - 1; year <= y + 1; ++year) {
    changes.push_back(
        {RuleDay(rule.start, year) * kDay + rule.start.time - rule.std_offset, rule.dst_offset});
    changes.push_back(
        {RuleDay(rule.end, year) * kDay + rule.end.time - rule.dst_offset, rule.std_offset});
  }
  std::stable_sort(changes.begin(), changes.end(),
                   [](const Change& a, const Change& b) { return a.at < b.at; });
  int64_t offset = rule.std_offset;
  for (const Change& c : changes) {
    if (c.at > utc.count()) break;
    offset = c.offset;
  }
  return Seconds(offset);
}

std::unique_ptr<TimeZone> TimeZone::Load(const std::string& name) {
  std::ifstream in(ZoneDirectory() + "/" + name, std::ios::binary);
  if (!in) return nullptr;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string data = buffer.str();
  ByteReader r(data);
  char version = 0;
  TzifCounts c;
  if (!ReadHeader(r, &version, &c)) return nullptr;
  size_t time_width = 4;
  if (version >= '2') {  // skip the 32-bit block; the 64-bit one follows with its own header
    if (!r.Skip(static_cast<size_t>(c.time * 5 + c.type * 6 + c.chars + c.leap * 8 + c.isstd +
                                    c.isut)) ||
        !ReadHeader(r, &version, &c)) {
      return nullptr;
    }
    time_width = 8;
  }
  std::vector<int64_t> times(static_cast<size_t>(c.time));
  for (int64_t& t : times) {
    if (!r.Int(time_width, &t)) return nullptr;
  }
  std::vector<int> type_of(static_cast<size_t>(c.time));
  for (int& index : type_of) {
    if (!r.Byte(&index) || index >= c.type) return nullptr;
  }
  std::vector<int32_t> offsets(static_cast<size_t>(c.type));
  for (int32_t& offset : offsets) {
    int64_t utoff = 0;
    int isdst = 0, designation = 0;
    if (!r.Int(4, &utoff) || !r.Byte(&isdst) || !r.Byte(&designation)) return nullptr;
    offset = static_cast<int32_t>(utoff);
  }
  if (!r.Skip(static_cast<size_t>(c.chars + c.leap * (time_width + 4) + c.isstd + c.isut))) {
    return nullptr;
  }
  auto zone = std::unique_ptr<TimeZone>(new TimeZone());
  zone->name_ = name;
  zone->initial_offset_ = offsets[0];
  for (size_t i = 0; i < times.size(); ++i) {
    if (!zone->transitions_.empty() && times[i] <= zone->transitions_.back().at) return nullptr;
    zone->transitions_.push_back({times[i], offsets[static_cast<size_t>(type_of[i])]});
  }
  if (version >= '2') {
    const std::string rest = r.Rest();
    if (rest.size() >= 2 && rest.front() == '\n') {
      const size_t end = rest.find('\n', 1);
      const std::string footer = rest.substr(1, end == std::string::npos ? end : end - 1);
      if (!footer.empty()) {
        zone->rule_ = ParseRule(footer);
        if (!zone->rule_) return nullptr;
      }
    }
  }
  return zone;
}

const TimeZone* TimeZone::Find(std::string_view name) {
  if (!ValidZoneName(name)) return nullptr;
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<TimeZone>, std::less<>> zones;
  std::lock_guard lock(mu);
  if (const auto it = zones.find(name); it != zones.end()) return it->second.get();
  auto zone = Load(std::string(name));
  if (!zone) return nullptr;  // unknown names are not cached: callers choose them
  return zones.emplace(std::string(name), std::move(zone)).first->second.get();
}

Seconds TimeZone::OffsetAt(Seconds utc) const {
  const auto after =
      std::upper_bound(transitions_.begin(), transitions_.end(), utc.count(),
                       [](int64_t t, const Transition& transition) { return t < transition.at; });
  if (after == transitions_.end() && rule_) return RuleOffsetAt(*rule_, utc);
  if (after == transitions_.begin()) return Seconds(initial_offset_);
  return Seconds(std::prev(after)->offset);
}

TimeZone::LocalMapping TimeZone::FromLocal(Seconds local) const {
  // Offsets in effect within a day either side: no zone has changed its offset twice in a day.
  std::vector<int64_t> candidates;
  for (int64_t shift : {-2 * kDay, -kDay, int64_t{0}, kDay, 2 * kDay}) {
    const int64_t offset = OffsetAt(local + Seconds(shift)).count();
    if (std::find(candidates.begin(), candidates.end(), offset) == candidates.end()) {
      candidates.push_back(offset);
    }
  }
  std::vector<int64_t> instants;
  for (int64_t offset : candidates) {
    const Seconds utc = local - Seconds(offset);
    if (OffsetAt(utc).count() == offset) instants.push_back(utc.count());
  }
  std::sort(instants.begin(), instants.end());
  LocalMapping m;
  if (instants.empty()) {
    // Skipped: read the wall time with the offset before the gap, i.e. move it forward.
    const int64_t largest = *std::max_element(candidates.begin(), candidates.end());
    m.kind = LocalMapping::Kind::kNonexistent;
    m.first = local - OffsetAt(local - Seconds(largest));
  } else if (instants.size() == 1) {
    m.first = Seconds(instants.front());
  } else {
    m.kind = LocalMapping::Kind::kAmbiguous;
    m.first = Seconds(instants.front());
    m.second = Seconds(instants.back());
  }
  return m;
}

}  // namespace gridflow::dsl
