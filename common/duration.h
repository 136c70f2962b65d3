// Durations as people write them in definitions and flags: "250ms", "30s", "5m", "1h30m", "2d".
// Units: ms, s, m, h, d; components in decreasing order, each a whole number. No sign, no spaces.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace gridflow {

using Millis = std::chrono::milliseconds;

// The parsed duration, or nullopt when `text` is not a valid duration (see the header comment).
std::optional<Millis> ParseDuration(std::string_view text);

// The shortest text ParseDuration reads back as `d` ("1h30m", "250ms", "0s").
std::string FormatDuration(Millis d);

}  // namespace gridflow
