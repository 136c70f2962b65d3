// MarketRules: the power markets' gate closures as data (docs/market-rules.md). A rule says, for
// a market, a product and a variant (an intraday auction's name, continuous trading's scope, a
// balancing product), when bids for a delivery close: at a fixed local time a number of days
// before the delivery day (day-ahead and intraday auctions), or a lead time before each delivery
// period starts (continuous intraday, balancing energy). Each rule applies from its valid_from
// delivery day until a later rule of the same market, product and variant takes over; an override
// moves one delivery day's closure (an auction delayed by the exchange). So a new lead time or an
// exceptional day is a data change with an effective date, not a new binary.
//
// The rules Gridflow ships (engine/dsl/market_rules.json) are built in; an engine started with
// --market-rules FILE adds that file's rules and overrides to them. CurrentMarketRules() is what
// every expression and schedule evaluates against.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/duration.h"
#include "common/status.h"
#include "common/time.h"

namespace gridflow::dsl {

namespace product {
inline constexpr std::string_view kDayAhead = "day_ahead";
inline constexpr std::string_view kIntradayAuction = "intraday_auction";
inline constexpr std::string_view kIntradayContinuous = "intraday_continuous";
inline constexpr std::string_view kBalancingEnergy = "balancing_energy";
}  // namespace product

// Whether `name` is one of the products above.
bool IsKnownProduct(std::string_view name);

struct MarketRule {
  std::string market;
  std::string product;
  std::string variant;  // "" for day-ahead
  std::string zone;     // IANA zone of the local times and of the delivery day
  // A fixed closure: `at` local time, `days_before` days before the delivery day. Otherwise a
  // lead time before the delivery period's start.
  std::optional<int> days_before;
  std::string at;
  Millis lead{0};
  int valid_from = 0;  // delivery day (days since 1970-01-01) from which the rule applies
};

struct MarketOverride {
  std::string market;
  std::string product;
  std::string variant;
  int day = 0;  // the delivery day it applies to
  // The closure that day: a local time on `days_before` days before (in the rule's zone), or an
  // instant.
  std::optional<int> days_before;
  std::string at;
  std::optional<TimePoint> closes_at;
};

class MarketRules {
 public:
  // A rules file (JSON, format "gridflow-market-rules"); INVALID_ARGUMENT naming the field
  // ("rules[3].lead: ...") for anything malformed.
  static Status Parse(std::string_view json_text, MarketRules* out);
  static constexpr size_t kMaxBytes = 1 << 20;  // a rules file's size at most
  static constexpr int kMaxDepth = 8;           // its objects and arrays nested at most
  // The rules shipped with Gridflow.
  static std::shared_ptr<const MarketRules> BuiltIn();
  // These rules with `extra`'s added (its overrides too); `extra`'s version names the result.
  MarketRules With(const MarketRules& extra) const;

  // When bids close for delivery on `day` (a fixed closure) or for the delivery period starting
  // at `period_start` (a lead time; its delivery day is its local date in the rule's zone).
  // INVALID_ARGUMENT for an unknown market, product or variant, or a day before the first rule.
  Status Closure(std::string_view market, std::string_view product, std::string_view variant,
                 int day, TimePoint* out) const;
  Status ClosureBefore(std::string_view market, std::string_view product, std::string_view variant,
                       TimePoint period_start, TimePoint* out) const;
  // OK if some rule exists for the market and product (any variant, any day).
  Status Knows(std::string_view market, std::string_view product) const;

  // How bids for a market's product (variant) close over all its rules: once per delivery day at
  // a fixed time, or a lead time before each delivery period — then with the longest lead of its
  // rules and the zone whose local date is a period's delivery day. INVALID_ARGUMENT as Closure
  // for an unknown market, product or variant, and for rules that mix the two kinds.
  struct ClosureKind {
    bool per_period = false;
    Millis longest_lead{0};
    std::string zone;
  };
  Status KindOf(std::string_view market, std::string_view product, std::string_view variant,
                ClosureKind* out) const;

  const std::string& version() const { return version_; }
  const std::vector<MarketRule>& rules() const { return rules_; }

 private:
  // The rule in force on `day` for the market, product and variant.
  Status Find(std::string_view market, std::string_view product, std::string_view variant, int day,
              const MarketRule** out) const;
  const MarketOverride* OverrideOn(std::string_view market, std::string_view product,
                                   std::string_view variant, int day) const;

  std::string version_;
  std::vector<MarketRule> rules_;
  std::vector<MarketOverride> overrides_;
};

// The rules in force in this process: the built-in ones until SetMarketRules. Thread-safe.
std::shared_ptr<const MarketRules> CurrentMarketRules();
void SetMarketRules(std::shared_ptr<const MarketRules> rules);

// Reads a rules file and combines it with the built-in rules.
Status LoadMarketRules(const std::string& path, MarketRules* out);

}  // namespace gridflow::dsl
