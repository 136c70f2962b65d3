// Any text as an expression: parsed, and when it parses evaluated against a run's scope (input,
// step outputs, an item); both answer with a Status within the evaluation limits.
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/dsl/expression.h"

namespace {

const nlohmann::json& Scope() {
  static const nlohmann::json scope = nlohmann::json::parse(R"({
    "input": {"market": "EPEX-DE-LU", "delivery_day": "2026-12-02", "volume_mw": 12.5,
              "assets": ["a1", "a2", "a3"], "gate": "2026-12-01T11:00:00Z", "n": 3,
              "nested": {"deep": [1, [2, [3, {"x": null}]]]}},
    "forecast": {"mw": [1, 2, 3, 4], "ok": true},
    "item": {"id": "a2", "setpoint": 4.5},
    "index": 1
  })");
  return scope;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  gridflow::dsl::Expression expression;
  if (!gridflow::dsl::Expression::Parse(text, &expression).ok()) return 0;
  gridflow::dsl::EvalContext context;
  context.scope = &Scope();
  context.now = gridflow::TimePoint(gridflow::Micros(1'795'000'000'000'000));
  nlohmann::json out;
  (void)expression.Evaluate(context, &out);
  return 0;
}
