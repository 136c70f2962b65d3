// JSON text from callers, checked the one way every entry point uses (API payloads, definitions):
// size, nesting depth, syntax (which includes valid UTF-8), and no U+0000 (PostgreSQL's jsonb
// cannot store it). The depth is measured by a flat scan BEFORE anything recursive touches the
// text, so no input can exhaust a thread's stack. Errors are INVALID_ARGUMENT, name the field,
// and never quote more than a short prefix of what was sent.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace gridflow {

struct JsonLimits {
  size_t max_bytes = 2 * 1024 * 1024;
  int max_depth = 64;  // arrays and objects inside one another
};

// Parses `text` into *out when it passes every check.
Status ParseJsonText(std::string_view field, std::string_view text, const JsonLimits& limits,
                     nlohmann::json* out);

// The nesting depth of JSON text, counting only brackets outside strings; stops counting (and
// returns limit + 1) as soon as `limit` is passed. Malformed text gets a number too: the parser
// that follows reports what is wrong with it.
int JsonNestingDepth(std::string_view text, int limit);

// JSON as stored (jsonb columns, state): compact; an invalid UTF-8 sequence inside a string
// (none should reach here) becomes U+FFFD rather than an exception.
std::string DumpJson(const nlohmann::json& value);

// About the bytes DumpJson writes for `value` (escapes inside strings are not counted), without
// writing them: what a run's stored data grows by (--max-run-data-bytes).
size_t JsonTextSize(const nlohmann::json& value);

// At most `max_bytes` of `text` for an error message, cut on a UTF-8 character boundary, with
// "..." when something was left out.
std::string QuotePrefix(std::string_view text, size_t max_bytes = 64);

}  // namespace gridflow
