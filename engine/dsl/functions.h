// The functions expressions may call (documented in docs/dsl.md, "Functions"). Each checks its
// arguments' types and keeps what it builds within the evaluation limits.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/time.h"

namespace gridflow::dsl {

struct FunctionContext {
  TimePoint now;
  size_t max_value_bytes;
  int* steps_left;  // shared evaluation budget; functions that build collections spend from it
  // The run's settlement revision (revision()); nullptr or null outside one.
  const nlohmann::json* revision = nullptr;
};

bool IsKnownFunction(const std::string& name);
// INVALID_ARGUMENT "gate_closure() takes 2 arguments, not 1" when the count is wrong.
Status CheckArity(const std::string& name, size_t count);
// Checks the arguments that are literals (nullptr where not) when the expression is parsed, so a
// definition naming an unknown time zone or market, or a malformed date or duration, is refused at
// registration. Returns the index of the offending argument in *bad.
Status CheckLiteralArguments(const std::string& name,
                             const std::vector<const nlohmann::json*>& literals, size_t* bad);

Status CallFunction(const std::string& name, const std::vector<nlohmann::json>& args,
                    const FunctionContext& context, nlohmann::json* out);

}  // namespace gridflow::dsl
