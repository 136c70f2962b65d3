#include "engine/dsl/market_rules.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "common/file.h"
#include "common/json_text.h"
#include "engine/dsl/time_functions.h"

namespace gridflow::dsl {

extern const char kBuiltInMarketRules[];  // market_rules_builtin.cc, generated

namespace {

using nlohmann::json;

constexpr std::string_view kFormat = "gridflow-market-rules";
const std::set<std::string_view> kProducts = {product::kDayAhead, product::kIntradayAuction,
                                              product::kIntradayContinuous,
                                              product::kBalancingEnergy};

// Reads one object's fields, naming `where` in every complaint.
class Fields {
 public:
  Fields(const json& object, std::string where) : object_(object), where_(std::move(where)) {}

  Status Text(const char* key, bool required, std::string* out) const {
    const auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) {
      return required ? Bad(key, "is required") : Status::Ok();
    }
    if (!it->is_string()) return Bad(key, "must be a string");
    *out = it->get<std::string>();
    if (required && out->empty()) return Bad(key, "must not be empty");
    return Status::Ok();
  }
  Status Day(const char* key, int* out) const {
    std::string text;
    if (Status s = Text(key, true, &text); !s.ok()) return s;
    const auto day = ParseDate(text);
    if (!day) return Bad(key, "'" + QuotePrefix(text) + "' is not a date (YYYY-MM-DD)");
    *out = *day;
    return Status::Ok();
  }
  Status DaysBefore(std::optional<int>* out) const {
    const auto it = object_.find("days_before");
    if (it == object_.end() || it->is_null()) return Status::Ok();
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 31) {
      return Bad("days_before", "must be a whole number of days from 0 to 31");
    }
    *out = it->get<int>();
    return Status::Ok();
  }
  Status TimeOfDay(std::string* out) const {
    if (Status s = Text("at", false, out); !s.ok()) return s;
    if (!out->empty() && !ParseTimeOfDay(*out)) {
      return Bad("at", "'" + QuotePrefix(*out) + "' is not a time of day (HH:MM)");
    }
    return Status::Ok();
  }
  Status Zone(std::string* out) const {
    if (Status s = Text("zone", true, out); !s.ok()) return s;
    if (!IsKnownTimeZone(*out)) return Bad("zone", "unknown time zone '" + QuotePrefix(*out) + "'");
    return Status::Ok();
  }
  Status Bad(const char* key, const std::string& why) const {
    return Status::InvalidArgument(where_ + "." + key + ": " + why);
  }

 private:
  const json& object_;
  const std::string where_;
};

Status ParseRule(const json& j, const std::string& where, MarketRule* rule) {
  if (!j.is_object()) return Status::InvalidArgument(where + ": must be an object");
  const Fields f(j, where);
  Status s = f.Text("market", true, &rule->market);
  if (s.ok()) s = f.Text("product", true, &rule->product);
  if (s.ok() && !IsKnownProduct(rule->product)) {
    s = f.Bad("product", "unknown product '" + QuotePrefix(rule->product) +
                             "' (day_ahead, intraday_auction, intraday_continuous, "
                             "balancing_energy)");
  }
  if (s.ok()) s = f.Text("variant", rule->product != product::kDayAhead, &rule->variant);
  if (s.ok()) s = f.Zone(&rule->zone);
  if (s.ok()) s = f.DaysBefore(&rule->days_before);
  if (s.ok()) s = f.TimeOfDay(&rule->at);
  std::string lead;
  if (s.ok()) s = f.Text("lead", false, &lead);
  if (s.ok()) s = f.Day("valid_from", &rule->valid_from);
  if (!s.ok()) return s;
  const bool fixed = rule->days_before.has_value() && !rule->at.empty();
  if (fixed == !lead.empty()) {
    return f.Bad("lead", "give either days_before and at (a fixed closure) or lead");
  }
  if (!lead.empty()) {
    const auto parsed = ParseDuration(lead);
    if (!parsed || *parsed <= Millis(0) || *parsed > Millis(7 * 24 * 3600 * 1000)) {
      return f.Bad("lead", "'" + QuotePrefix(lead) + "' is not a duration up to 7d");
    }
    rule->lead = *parsed;
  }
  return Status::Ok();
}

Status ParseOverride(const json& j, const std::string& where, MarketOverride* o) {
  if (!j.is_object()) return Status::InvalidArgument(where + ": must be an object");
  const Fields f(j, where);
  Status s = f.Text("market", true, &o->market);
  if (s.ok()) s = f.Text("product", true, &o->product);
  if (s.ok()) s = f.Text("variant", false, &o->variant);
  if (s.ok()) s = f.Day("day", &o->day);
  if (s.ok()) s = f.DaysBefore(&o->days_before);
  if (s.ok()) s = f.TimeOfDay(&o->at);
  std::string closes_at;
  if (s.ok()) s = f.Text("closes_at", false, &closes_at);
  if (!s.ok()) return s;
  if (!closes_at.empty()) {
    o->closes_at = ParseTimestamp(closes_at);
    if (!o->closes_at) {
      return f.Bad("closes_at", "'" + QuotePrefix(closes_at) + "' is not an RFC 3339 instant");
    }
  }
  if (o->closes_at.has_value() == !o->at.empty()) {
    return f.Bad("closes_at", "give either closes_at (an instant) or at (with days_before)");
  }
  return Status::Ok();
}

std::atomic<std::shared_ptr<const MarketRules>>& Current() {
  static std::atomic<std::shared_ptr<const MarketRules>> current{MarketRules::BuiltIn()};
  return current;
}

}  // namespace

Status MarketRules::Parse(std::string_view json_text, MarketRules* out) {
  // A rules file is small and flat (three levels); the limits keep a wrong file from costing a
  // replica its memory or stack.
  json doc;
  const JsonLimits limits{kMaxBytes, kMaxDepth};
  if (Status s = ParseJsonText("market rules", json_text, limits, &doc); !s.ok()) return s;
  if (!doc.is_object()) return Status::InvalidArgument("market rules: not a JSON object");
  if (!doc.contains("format") || !doc["format"].is_string() || doc["format"] != kFormat) {
    return Status::InvalidArgument("format: must be \"" + std::string(kFormat) + "\"");
  }
  MarketRules rules;
  const Fields top(doc, "market rules");
  if (Status s = top.Text("version", true, &rules.version_); !s.ok()) {
    return Status::InvalidArgument("version: is required (a name for this edition of the rules)");
  }
  const json empty = json::array();
  const json& list = doc.contains("rules") ? doc["rules"] : empty;
  const json& overrides = doc.contains("overrides") ? doc["overrides"] : empty;
  if (!list.is_array()) return Status::InvalidArgument("rules: must be an array");
  if (!overrides.is_array()) return Status::InvalidArgument("overrides: must be an array");
  for (size_t i = 0; i < list.size(); ++i) {
    MarketRule rule;
    const std::string where = "rules[" + std::to_string(i) + "]";
    if (Status s = ParseRule(list[i], where, &rule); !s.ok()) return s;
    for (const MarketRule& other : rules.rules_) {
      if (other.market == rule.market && other.product == rule.product &&
          other.variant == rule.variant && other.valid_from == rule.valid_from) {
        return Status::InvalidArgument(where + ".valid_from: another rule of " + rule.market + " " +
                                       rule.product + " " + rule.variant + " starts that day");
      }
    }
    rules.rules_.push_back(std::move(rule));
  }
  for (size_t i = 0; i < overrides.size(); ++i) {
    MarketOverride o;
    const std::string where = "overrides[" + std::to_string(i) + "]";
    if (Status s = ParseOverride(overrides[i], where, &o); !s.ok()) return s;
    rules.overrides_.push_back(std::move(o));
  }
  *out = std::move(rules);
  return Status::Ok();
}

std::shared_ptr<const MarketRules> MarketRules::BuiltIn() {
  static const std::shared_ptr<const MarketRules> kBuiltIn = [] {
    auto rules = std::make_shared<MarketRules>();
    const Status s = Parse(kBuiltInMarketRules, rules.get());
    if (!s.ok()) std::abort();  // the build embeds a file the tests parse: cannot happen
    return rules;
  }();
  return kBuiltIn;
}

MarketRules MarketRules::With(const MarketRules& extra) const {
  MarketRules combined;
  combined.version_ = version_ + "+" + extra.version_;
  // The extra rules first: on the same valid_from they win (Find takes the first it meets).
  combined.rules_ = extra.rules_;
  combined.rules_.insert(combined.rules_.end(), rules_.begin(), rules_.end());
  combined.overrides_ = extra.overrides_;
  combined.overrides_.insert(combined.overrides_.end(), overrides_.begin(), overrides_.end());
  return combined;
}

Status MarketRules::Find(std::string_view market, std::string_view product,
                         std::string_view variant, int day, const MarketRule** out) const {
  const MarketRule* best = nullptr;
  bool known = false;
  std::set<std::string> variants;
  for (const MarketRule& r : rules_) {
    if (r.market != market || r.product != product) continue;
    if (r.variant != variant) {
      variants.insert(r.variant);
      continue;
    }
    known = true;
    if (r.valid_from <= day && (best == nullptr || r.valid_from > best->valid_from)) best = &r;
  }
  const std::string what = std::string(market) + " " + std::string(product) +
                           (variant.empty() ? "" : " " + std::string(variant));
  if (!known) {
    if (!variants.empty()) {
      std::string names;
      for (const std::string& v : variants)
        names += (names.empty() ? "" : ", ") + v;
      return Status::InvalidArgument("unknown " + std::string(product) + " variant '" +
                                     QuotePrefix(variant) + "' for market '" + std::string(market) +
                                     "' (known: " + names + ")");
    }
    return Knows(market, product);
  }
  if (best == nullptr) {
    return Status::InvalidArgument("no " + what + " rule for delivery on " + FormatDate(day) +
                                   " (the rules start later)");
  }
  *out = best;
  return Status::Ok();
}

const MarketOverride* MarketRules::OverrideOn(std::string_view market, std::string_view product,
                                              std::string_view variant, int day) const {
  for (const MarketOverride& o : overrides_) {
    if (o.market == market && o.product == product && o.variant == variant && o.day == day)
      return &o;
  }
  return nullptr;
}

Status MarketRules::Closure(std::string_view market, std::string_view product,
                            std::string_view variant, int day, TimePoint* out) const {
  const MarketRule* rule = nullptr;
  if (Status s = Find(market, product, variant, day, &rule); !s.ok()) return s;
  if (!rule->days_before) {
    return Status::InvalidArgument(std::string(market) + " " + std::string(product) +
                                   " closes a lead time before each delivery period: give the "
                                   "period's start, not a day");
  }
  int days_before = *rule->days_before;
  std::string at = rule->at;
  if (const MarketOverride* o = OverrideOn(market, product, variant, day); o != nullptr) {
    if (o->closes_at) {
      *out = *o->closes_at;
      return Status::Ok();
    }
    days_before = o->days_before.value_or(days_before);
    at = o->at;
  }
  return LocalTime(FormatDate(day - days_before), at, rule->zone, out);
}

Status MarketRules::ClosureBefore(std::string_view market, std::string_view product,
                                  std::string_view variant, TimePoint period_start,
                                  TimePoint* out) const {
  // The delivery day is the period's local date in the zone of the market's rules.
  const MarketRule* any = nullptr;
  for (const MarketRule& r : rules_) {
    if (r.market == market && r.product == product && r.variant == variant) any = &r;
  }
  std::string date;
  if (any != nullptr) {
    if (Status s = LocalDate(period_start, any->zone, &date); !s.ok()) return s;
  }
  const MarketRule* rule = nullptr;
  if (Status s = Find(market, product, variant, ParseDate(date).value_or(0), &rule); !s.ok())
    return s;
  if (rule->days_before) {
    return Status::InvalidArgument(std::string(market) + " " + std::string(product) +
                                   " closes at a fixed time for a delivery day: give the day");
  }
  *out = period_start - rule->lead;
  // An override on a lead-time product closes that day's trading early: no period closes later.
  const int day = *ParseDate(date);
  if (const MarketOverride* o = OverrideOn(market, product, variant, day); o != nullptr) {
    TimePoint cap;
    if (o->closes_at) {
      cap = *o->closes_at;
    } else if (Status s =
                   LocalTime(FormatDate(day - o->days_before.value_or(0)), o->at, rule->zone, &cap);
               !s.ok()) {
      return s;
    }
    *out = std::min(*out, cap);
  }
  return Status::Ok();
}

Status MarketRules::Knows(std::string_view market, std::string_view product) const {
  std::set<std::string> markets;
  for (const MarketRule& r : rules_) {
    if (r.product != product) continue;
    if (r.market == market) return Status::Ok();
    markets.insert(r.market);
  }
  std::string known;
  for (const std::string& m : markets)
    known += (known.empty() ? "" : ", ") + m;
  return Status::InvalidArgument("unknown market '" + QuotePrefix(market) + "' for " +
                                 std::string(product) + " (known: " + known + ")");
}

Status MarketRules::KindOf(std::string_view market, std::string_view product,
                           std::string_view variant, ClosureKind* out) const {
  const MarketRule* latest = nullptr;
  if (Status s = Find(market, product, variant, std::numeric_limits<int>::max(), &latest);
      !s.ok()) {
    return s;
  }
  ClosureKind kind;
  kind.per_period = !latest->days_before.has_value();
  kind.zone = latest->zone;
  for (const MarketRule& r : rules_) {
    if (r.market != market || r.product != product || r.variant != variant) continue;
    if (r.days_before.has_value() == kind.per_period) {
      return Status::InvalidArgument(std::string(market) + " " + std::string(product) + " " +
                                     std::string(variant) +
                                     " has rules of both kinds (a fixed closure and a lead time)");
    }
    kind.longest_lead = std::max(kind.longest_lead, r.lead);
  }
  *out = std::move(kind);
  return Status::Ok();
}

bool IsKnownProduct(std::string_view name) {
  return kProducts.count(name) != 0;
}

std::shared_ptr<const MarketRules> CurrentMarketRules() {
  return Current().load();
}

void SetMarketRules(std::shared_ptr<const MarketRules> rules) {
  Current().store(std::move(rules));
}

Status LoadMarketRules(const std::string& path, MarketRules* out) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > MarketRules::kMaxBytes) {  // not read at all: it could be any size
    return Status::InvalidArgument(path + ": market rules: is " + std::to_string(size) +
                                   " bytes; the limit is " +
                                   std::to_string(MarketRules::kMaxBytes));
  }
  std::string text;
  if (Status s = ReadTextFile("market rules", path, &text); !s.ok()) return s;
  MarketRules extra;
  if (Status s = MarketRules::Parse(text, &extra); !s.ok()) {
    return Status::InvalidArgument(path + ": " + s.message());
  }
  *out = MarketRules::BuiltIn()->With(extra);
  return Status::Ok();
}

}  // namespace gridflow::dsl
