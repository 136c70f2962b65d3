#include "persistence/pg_types.h"

#include <stdexcept>

namespace gridflow::persistence {
namespace {

TimePoint ReadTimestamp(const pqxx::field& f) {
  const auto t = ParseTimestamp(f.c_str());
  if (!t) throw std::invalid_argument("malformed timestamp: " + std::string(f.c_str()));
  return *t;
}

}  // namespace

std::string ToIdArray(const std::vector<int64_t>& ids) {
  std::string out = "{";
  for (size_t i = 0; i < ids.size(); ++i)
    out += (i > 0 ? "," : "") + std::to_string(ids[i]);
  return out + "}";
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
  return ReadTimestamp(f);
}

TimePoint Timestamp(const pqxx::field& f) {
  return ReadTimestamp(f);
}

}  // namespace gridflow::persistence
