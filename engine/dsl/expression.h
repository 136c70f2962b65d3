// Expressions: the small, safe language definitions use to read run data and compute values.
//
//   $/input/delivery_day                      JSON-pointer reference into the evaluation scope
//   $/forecast/forecast_mw[3]  $/order.price  indexing and member access on any value
//   len($/bids) > 0 && $/input/mode == "auto" comparisons and boolean logic
//   gate_closure($/input/market, $/input/delivery_day)   functions (see docs/dsl.md)
//
// The grammar is in docs/dsl.md. There are no loops, no assignments and no user functions;
// evaluation is bounded (steps, output size) so a definition cannot make the engine spin or
// allocate without limit. Parse errors and evaluation errors name the column of the problem.
// Thread-safe once parsed (immutable).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/time.h"

namespace gridflow::dsl {

struct EvalLimits {
  int max_steps = 100'000;           // nodes evaluated plus elements produced
  size_t max_value_bytes = 1 << 20;  // largest string or array a function may build
};

// What an expression sees: the scope `$` refers to, and the engine's clock. `overlay` (optional,
// an object) shadows the scope's top-level fields: a foreach iteration sees its `item`, `index`
// and its own steps' outputs over the run data without copying the run data.
struct EvalContext {
  const nlohmann::json* scope = nullptr;
  const nlohmann::json* overlay = nullptr;
  TimePoint now{};
  EvalLimits limits{};
  // The run's settlement revision, for revision() (docs/revisions.md); nullptr outside one.
  const nlohmann::json* revision = nullptr;
};

// The scope as one document (overlay fields win), for when a whole scope must be materialised.
nlohmann::json MergedScope(const EvalContext& context);

class Expression {
 public:
  static constexpr size_t kMaxLength = 8192;

  // INVALID_ARGUMENT "column 7: expected ')'" and the like.
  static Status Parse(std::string_view text, Expression* out);

  // INVALID_ARGUMENT "column 3: '+' needs two numbers, two strings or two arrays" and the like.
  Status Evaluate(const EvalContext& context, nlohmann::json* out) const;

  const std::string& text() const { return text_; }

  struct Node;

 private:
  std::string text_;
  std::shared_ptr<const Node> root_;
};

}  // namespace gridflow::dsl
