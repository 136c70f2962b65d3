// Conversions between PostgreSQL's text representations and C++ values, for the stores.
// Sessions run with TimeZone=UTC, so timestamptz values arrive as "2026-11-25 14:28:42.123456+00".
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/result>

#include "common/time.h"

namespace gridflow::persistence {

// Instants go to SQL as gridflow::ToEpochMicros (common/time.h):
// `timestamptz 'epoch' + $n * interval '1 microsecond'`.
using gridflow::FromEpochMicros;
using gridflow::ToEpochMicros;

// A text[] literal ("{\"a\",\"b\"}") for array parameters; every element is quoted and escaped.
std::string ToTextArray(const std::vector<std::string>& values);
// A bigint[] literal: {1,2,3}.
std::string ToIdArray(const std::vector<int64_t>& ids);

// Reading columns; a timestamptz that is not a timestamp throws std::invalid_argument.
std::optional<std::string> OptionalText(const pqxx::field& f);
std::optional<TimePoint> OptionalTimestamp(const pqxx::field& f);
TimePoint Timestamp(const pqxx::field& f);

}  // namespace gridflow::persistence
