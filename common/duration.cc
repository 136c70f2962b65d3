#include "common/duration.h"

#include <array>
#include <cstdint>
#include <limits>

namespace gridflow {
namespace {

struct Unit {
  std::string_view suffix;
  int64_t millis;
};

// Ordered from largest to smallest; "ms" is tested before "m" by length where needed.
constexpr std::array<Unit, 5> kUnits{{
    {"d", 86'400'000},
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
    {"ms", 1},
}};

}  // namespace

std::optional<Millis> ParseDuration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t total = 0;
  size_t last_unit = 0;  // index into kUnits + 1 of the previous component; enforces order
  size_t i = 0;
  while (i < text.size()) {
    int64_t value = 0;
    size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (value > (std::numeric_limits<int64_t>::max() - 9) / 10) return std::nullopt;
      value = value * 10 + (text[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0) return std::nullopt;
    size_t unit_index = kUnits.size();
    if (text.substr(i, 2) == "ms") {
      unit_index = 4;
    } else if (i < text.size()) {
      for (size_t u = 0; u < 4; ++u) {
        if (text[i] == kUnits[u].suffix[0]) unit_index = u;
      }
    }
    if (unit_index == kUnits.size()) return std::nullopt;
    if (unit_index + 1 <= last_unit) return std::nullopt;  // units must strictly decrease
    last_unit = unit_index + 1;
    i += kUnits[unit_index].suffix.size();
    const int64_t factor = kUnits[unit_index].millis;
    if (value > (std::numeric_limits<int64_t>::max() - total) / factor) return std::nullopt;
    total += value * factor;
  }
  return Millis(total);
}

std::string FormatDuration(Millis d) {
  int64_t rest = d.count();
  if (rest == 0) return "0s";
  std::string out;
  if (rest < 0) {
    out = "-";
    rest = -rest;
  }
  for (const Unit& unit : kUnits) {
    if (rest >= unit.millis) {
      out += std::to_string(rest / unit.millis);
      out += unit.suffix;
      rest %= unit.millis;
    }
  }
  return out;
}

}  // namespace gridflow
