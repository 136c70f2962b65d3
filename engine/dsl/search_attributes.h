// Search attributes: typed business fields a definition declares (docs/search.md), e.g.
//
//   "search_attributes": {
//     "market":       {"type": "keyword", "value": "=$/input/market"},
//     "delivery_day": {"type": "date",    "value": "=$/input/delivery_day"},
//     "bid_status":   {"type": "keyword", "value": "=$/submit/status"}}
//
// Each value is a template over the run data, evaluated when the run starts and again after every
// transition, so an attribute follows the input and the steps' outputs. A value of the wrong type
// (or null) leaves the attribute unset. Pure: no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "engine/dsl/template.h"

namespace gridflow::dsl {

enum class AttributeType { kKeyword, kNumber, kDate, kDatetime, kBool };

std::string_view AttributeTypeName(AttributeType type);
std::optional<AttributeType> AttributeTypeFromName(std::string_view name);
// "keyword, number, date, datetime, bool", for messages.
const char* AttributeTypeList();

struct SearchAttribute {
  std::string name;
  AttributeType type = AttributeType::kKeyword;
  Template value;
};

// The names a query uses for a run's own fields (status, definition, ...): an attribute may not
// take one of them.
bool IsBuiltInRunField(std::string_view name);

// Keyword values longer than this are not indexed: the attribute is left unset.
inline constexpr size_t kMaxKeywordBytes = 256;

// Parses obj["search_attributes"] (absent: none). Errors name the path:
// "search_attributes.market.type: must be one of keyword, number, date, datetime, bool".
Status ParseSearchAttributes(const nlohmann::json& doc, std::vector<SearchAttribute>* out);

// The stored form of a value of `type`: a keyword's string, a finite number, a date
// "YYYY-MM-DD", an instant normalised to UTC (RFC 3339, microseconds), true/false. nullopt when
// `value` is null or not of the type (a number or boolean is also accepted as a keyword, as its
// JSON text).
std::optional<nlohmann::json> AttributeValue(AttributeType type, const nlohmann::json& value);

}  // namespace gridflow::dsl
