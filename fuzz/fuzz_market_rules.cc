// Any bytes as a market rules file (--market-rules): parsing must answer (a Status), never crash,
// hang or leak; with an accepted file in force, every rule's closures and a gate-closure
// schedule over its market answer too, and the schedule's nominal times strictly increase.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/dsl/market_rules.h"
#include "engine/schedules/schedule_spec.h"

namespace {

using gridflow::FromEpochMicros;
using gridflow::TimePoint;
using gridflow::dsl::MarketRule;
using gridflow::dsl::MarketRules;

constexpr int64_t kMicrosPerDay = 86'400LL * 1'000'000;

void Exercise(const MarketRules& rules, const MarketRule& rule) {
  MarketRules::ClosureKind kind;
  if (!rules.KindOf(rule.market, rule.product, rule.variant, &kind).ok()) return;
  TimePoint closure;
  for (int day = rule.valid_from; day < rule.valid_from + 3; ++day) {
    (void)rules.Closure(rule.market, rule.product, rule.variant, day, &closure);
    (void)rules.ClosureBefore(rule.market, rule.product, rule.variant,
                              FromEpochMicros(day * kMicrosPerDay), &closure);
  }
  nlohmann::json trigger = {
      {"event", "gate_closure"}, {"market", rule.market}, {"product", rule.product}};
  if (!rule.variant.empty()) trigger["variant"] = rule.variant;
  gridflow::engine::ScheduleSpec spec;
  if (!gridflow::engine::ScheduleSpec::Parse(
           {{"workflow", {{"definition", "bid"}}}, {"trigger", trigger}}, &spec)
           .ok()) {
    return;
  }
  TimePoint after = FromEpochMicros((rule.valid_from - 1) * kMicrosPerDay);
  for (int i = 0; i < 4; ++i) {
    const auto next = spec.NextNominal(after);
    if (!next) return;
    if (next->at <= after) std::abort();  // nominal times must move forward
    after = next->at;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  MarketRules extra;
  if (!MarketRules::Parse(text, &extra).ok()) return 0;
  const auto in_force = std::make_shared<const MarketRules>(MarketRules::BuiltIn()->With(extra));
  gridflow::dsl::SetMarketRules(in_force);
  int exercised = 0;
  for (const MarketRule& rule : extra.rules()) {
    if (++exercised > 8) break;
    Exercise(*in_force, rule);
  }
  gridflow::dsl::SetMarketRules(MarketRules::BuiltIn());
  return 0;
}
