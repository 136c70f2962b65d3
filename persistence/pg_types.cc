#include "persistence/pg_types.h"

#include <charconv>
#include <stdexcept>

namespace gridflow::persistence {
namespace {

int ReadInt(std::string_view text, size_t pos, size_t len) {
  int value = 0;
  if (pos + len > text.size()) throw std::invalid_argument("timestamp too short");
  const auto [end, ec] = std::from_chars(text.data() + pos, text.data() + pos + len, value);
  if (ec != std::errc() || end != text.data() + pos + len) {
    throw std::invalid_argument("malformed timestamp: " + std::string(text));
  }
  return value;
}

}  // namespace

TimePoint ParseTimestamp(std::string_view text) {
  // YYYY-MM-DD HH:MM:SS[.ffffff]+00
  using namespace std::chrono;
  const year_month_day ymd{year{ReadInt(text, 0, 4)},
                           month{static_cast<unsigned>(ReadInt(text, 5, 2))},
                           day{static_cast<unsigned>(ReadInt(text, 8, 2))}};
  if (!ymd.ok()) throw std::invalid_argument("malformed timestamp: " + std::string(text));
  auto t = sys_days{ymd} + hours{ReadInt(text, 11, 2)} + minutes{ReadInt(text, 14, 2)} +
           seconds{ReadInt(text, 17, 2)};
  size_t pos = 19;
  int64_t micros = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 6) micros = micros * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    for (; digits < 6; ++digits)
      micros *= 10;
  }
  if (text.substr(pos) != "+00") {
    throw std::invalid_argument("timestamp not in UTC: " + std::string(text));
  }
  return time_point_cast<Micros>(t) + Micros(micros);
}

int64_t ToEpochMicros(TimePoint t) {
  return t.time_since_epoch().count();
}

TimePoint FromEpochMicros(int64_t micros) {
  return TimePoint(Micros(micros));
}

std::string ToTextArray(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::optional<std::string> OptionalText(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<std::string>();
}

std::optional<TimePoint> OptionalTimestamp(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return ParseTimestamp(f.c_str());
}

TimePoint Timestamp(const pqxx::field& f) {
  return ParseTimestamp(f.c_str());
}

}  // namespace gridflow::persistence
