#include "engine/dsl/functions.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "common/duration.h"
#include "common/json_text.h"
#include "engine/dsl/market_rules.h"
#include "engine/dsl/time_functions.h"

namespace gridflow::dsl {
namespace {

using nlohmann::json;
using Args = std::vector<json>;
using Fn = Status (*)(const Args&, const FunctionContext&, json*);

struct Spec {
  size_t min_args;
  size_t max_args;
  Fn fn;
};

Status TypeError(size_t index, const char* expected, const json& got) {
  return Status::InvalidArgument("argument " + std::to_string(index + 1) + " must be " + expected +
                                 ", not " + got.type_name());
}

Status Str(const Args& a, size_t i, std::string* out) {
  if (!a[i].is_string()) return TypeError(i, "a string", a[i]);
  *out = a[i].get<std::string>();
  return Status::Ok();
}

Status Num(const Args& a, size_t i, double* out) {
  if (!a[i].is_number()) return TypeError(i, "a number", a[i]);
  *out = a[i].get<double>();
  return Status::Ok();
}

Status Int(const Args& a, size_t i, int64_t* out) {
  if (!a[i].is_number_integer()) return TypeError(i, "an integer", a[i]);
  *out = a[i].get<int64_t>();
  return Status::Ok();
}

Status Instant(const Args& a, size_t i, TimePoint* out) {
  if (!a[i].is_string()) return TypeError(i, "an instant (RFC 3339 text)", a[i]);
  const auto t = ParseTimestamp(a[i].get<std::string>());
  if (!t)
    return Status::InvalidArgument("'" + QuotePrefix(a[i].get<std::string>()) +
                                   "' is not an RFC 3339 instant");
  *out = *t;
  return Status::Ok();
}

Status Spend(const FunctionContext& c, int64_t n) {
  *c.steps_left -= static_cast<int>(std::min<int64_t>(n, 1 << 30));
  return *c.steps_left < 0 ? Status::InvalidArgument("evaluation took too many steps")
                           : Status::Ok();
}

// Numbers that are whole stay integers in results (3.0 -> 3), so JSON stays tidy.
json Number(double x) {
  if (std::floor(x) == x && std::fabs(x) < 9e15) return static_cast<int64_t>(x);
  return x;
}

// --- general ---

Status Len(const Args& a, const FunctionContext&, json* out) {
  if (a[0].is_string()) return *out = a[0].get_ref<const std::string&>().size(), Status::Ok();
  if (a[0].is_array() || a[0].is_object()) return *out = a[0].size(), Status::Ok();
  return TypeError(0, "a string, array or object", a[0]);
}

Status Contains(const Args& a, const FunctionContext&, json* out) {
  if (a[0].is_string()) {
    std::string needle;
    if (Status s = Str(a, 1, &needle); !s.ok()) return s;
    *out = a[0].get_ref<const std::string&>().find(needle) != std::string::npos;
  } else if (a[0].is_array()) {
    *out = std::find(a[0].begin(), a[0].end(), a[1]) != a[0].end();
  } else if (a[0].is_object()) {
    std::string key;
    if (Status s = Str(a, 1, &key); !s.ok()) return s;
    *out = a[0].contains(key);
  } else {
    return TypeError(0, "a string, array or object", a[0]);
  }
  return Status::Ok();
}

Status Default(const Args& a, const FunctionContext&, json* out) {
  *out = a[0].is_null() ? a[1] : a[0];
  return Status::Ok();
}

Status If(const Args& a, const FunctionContext&, json* out) {
  if (!a[0].is_boolean()) return TypeError(0, "a boolean", a[0]);
  *out = a[0].get<bool>() ? a[1] : a[2];
  return Status::Ok();
}

Status Keys(const Args& a, const FunctionContext& c, json* out) {
  if (!a[0].is_object()) return TypeError(0, "an object", a[0]);
  *out = json::array();
  for (const auto& [k, v] : a[0].items())
    out->push_back(k);
  return Spend(c, static_cast<int64_t>(out->size()));
}

Status Range(const Args& a, const FunctionContext& c, json* out) {
  int64_t n = 0;
  if (Status s = Int(a, 0, &n); !s.ok()) return s;
  if (n < 0 || n > 100'000)
    return Status::InvalidArgument("the count must be between 0 and 100000");
  if (Status s = Spend(c, n); !s.ok()) return s;
  *out = json::array();
  for (int64_t i = 0; i < n; ++i)
    out->push_back(i);
  return Status::Ok();
}

// --- strings ---

Status String(const Args& a, const FunctionContext&, json* out) {
  *out = a[0].is_string() ? a[0].get<std::string>() : a[0].dump();
  return Status::Ok();
}

Status Concat(const Args& a, const FunctionContext& c, json* out) {
  std::string result;
  for (size_t i = 0; i < a.size(); ++i) {
    result += a[i].is_string() ? a[i].get<std::string>() : a[i].dump();
    if (result.size() > c.max_value_bytes) return Status::InvalidArgument("result too long");
  }
  *out = result;
  return Status::Ok();
}

Status Upper(const Args& a, const FunctionContext&, json* out) {
  std::string s;
  if (Status st = Str(a, 0, &s); !st.ok()) return st;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return std::toupper(ch); });
  *out = s;
  return Status::Ok();
}

Status Lower(const Args& a, const FunctionContext&, json* out) {
  std::string s;
  if (Status st = Str(a, 0, &s); !st.ok()) return st;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return std::tolower(ch); });
  *out = s;
  return Status::Ok();
}

Status StartsWith(const Args& a, const FunctionContext&, json* out) {
  std::string s, p;
  if (Status st = Str(a, 0, &s); !st.ok()) return st;
  if (Status st = Str(a, 1, &p); !st.ok()) return st;
  *out = s.rfind(p, 0) == 0;
  return Status::Ok();
}

Status Substr(const Args& a, const FunctionContext&, json* out) {
  std::string s;
  int64_t start = 0, length = -1;
  if (Status st = Str(a, 0, &s); !st.ok()) return st;
  if (Status st = Int(a, 1, &start); !st.ok()) return st;
  if (a.size() > 2) {
    if (Status st = Int(a, 2, &length); !st.ok()) return st;
  }
  if (start < 0 || static_cast<size_t>(start) > s.size())
    return Status::InvalidArgument("start out of range");
  *out = s.substr(static_cast<size_t>(start),
                  length < 0 ? std::string::npos : static_cast<size_t>(length));
  return Status::Ok();
}

Status NumberOf(const Args& a, const FunctionContext&, json* out) {
  if (a[0].is_number()) return *out = a[0], Status::Ok();
  std::string s;
  if (Status st = Str(a, 0, &s); !st.ok()) return st;
  const json parsed = json::parse(s, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_number()) {
    return Status::InvalidArgument("'" + QuotePrefix(s) + "' is not a number");
  }
  *out = parsed;
  return Status::Ok();
}

// --- numbers ---

Status Abs(const Args& a, const FunctionContext&, json* out) {
  double x = 0;
  if (Status s = Num(a, 0, &x); !s.ok()) return s;
  *out = a[0].is_number_integer() ? json(std::llabs(a[0].get<int64_t>())) : json(std::fabs(x));
  return Status::Ok();
}

Status Round(const Args& a, const FunctionContext&, json* out) {
  double x = 0;
  int64_t digits = 0;
  if (Status s = Num(a, 0, &x); !s.ok()) return s;
  if (a.size() > 1) {
    if (Status s = Int(a, 1, &digits); !s.ok()) return s;
    if (digits < 0 || digits > 12)
      return Status::InvalidArgument("digits must be between 0 and 12");
  }
  const double scale = std::pow(10.0, static_cast<double>(digits));
  *out = Number(std::round(x * scale) / scale);
  return Status::Ok();
}

Status Floor(const Args& a, const FunctionContext&, json* out) {
  double x = 0;
  if (Status s = Num(a, 0, &x); !s.ok()) return s;
  *out = Number(std::floor(x));
  return Status::Ok();
}

Status Ceil(const Args& a, const FunctionContext&, json* out) {
  double x = 0;
  if (Status s = Num(a, 0, &x); !s.ok()) return s;
  *out = Number(std::ceil(x));
  return Status::Ok();
}

// min/max/sum take either several numbers or one array of numbers.
Status Numbers(const Args& a, std::vector<double>* out) {
  const Args& values = a.size() == 1 && a[0].is_array() ? a[0].get_ref<const json::array_t&>() : a;
  for (size_t i = 0; i < values.size(); ++i) {
    if (!values[i].is_number()) return TypeError(i, "a number", values[i]);
    out->push_back(values[i].get<double>());
  }
  return Status::Ok();
}

Status Min(const Args& a, const FunctionContext& c, json* out) {
  std::vector<double> v;
  if (Status s = Numbers(a, &v); !s.ok()) return s;
  if (v.empty()) return Status::InvalidArgument("needs at least one number");
  *out = Number(*std::min_element(v.begin(), v.end()));
  return Spend(c, static_cast<int64_t>(v.size()));
}

Status Max(const Args& a, const FunctionContext& c, json* out) {
  std::vector<double> v;
  if (Status s = Numbers(a, &v); !s.ok()) return s;
  if (v.empty()) return Status::InvalidArgument("needs at least one number");
  *out = Number(*std::max_element(v.begin(), v.end()));
  return Spend(c, static_cast<int64_t>(v.size()));
}

Status Sum(const Args& a, const FunctionContext& c, json* out) {
  std::vector<double> v;
  if (Status s = Numbers(a, &v); !s.ok()) return s;
  double total = 0;
  for (double x : v)
    total += x;
  *out = Number(total);
  return Spend(c, static_cast<int64_t>(v.size()));
}

// --- time ---

Status Now(const Args&, const FunctionContext& c, json* out) {
  *out = FormatRfc3339(c.now);
  return Status::Ok();
}

// --- the run ---

Status Revision(const Args&, const FunctionContext& c, json* out) {
  *out = c.revision == nullptr ? json(nullptr) : *c.revision;
  return Status::Ok();
}

Status InstantOf(const Args& a, const FunctionContext&, json* out) {
  TimePoint t;
  if (Status s = Instant(a, 0, &t); !s.ok()) return s;
  *out = FormatRfc3339(t);
  return Status::Ok();
}

Status TimeAdd(const Args& a, const FunctionContext&, json* out) {
  TimePoint t;
  std::string text;
  if (Status s = Instant(a, 0, &t); !s.ok()) return s;
  if (Status s = Str(a, 1, &text); !s.ok()) return s;
  const bool negative = !text.empty() && text[0] == '-';
  const auto d =
      ParseDuration(negative ? std::string_view(text).substr(1) : std::string_view(text));
  if (!d)
    return Status::InvalidArgument("'" + QuotePrefix(text) + "' is not a duration (e.g. 30m, -1h)");
  *out = FormatRfc3339(negative ? t - *d : t + *d);
  return Status::Ok();
}

Status SecondsBetween(const Args& a, const FunctionContext&, json* out) {
  TimePoint from, to;
  if (Status s = Instant(a, 0, &from); !s.ok()) return s;
  if (Status s = Instant(a, 1, &to); !s.ok()) return s;
  *out = Number(std::chrono::duration<double>(to - from).count());
  return Status::Ok();
}

Status DurationMs(const Args& a, const FunctionContext&, json* out) {
  std::string text;
  if (Status s = Str(a, 0, &text); !s.ok()) return s;
  const auto d = ParseDuration(text);
  if (!d) return Status::InvalidArgument("'" + QuotePrefix(text) + "' is not a duration");
  *out = d->count();
  return Status::Ok();
}

Status DateAdd(const Args& a, const FunctionContext&, json* out) {
  std::string text;
  int64_t days = 0;
  if (Status s = Str(a, 0, &text); !s.ok()) return s;
  if (Status s = Int(a, 1, &days); !s.ok()) return s;
  const auto day = ParseDate(text);
  if (!day)
    return Status::InvalidArgument("'" + QuotePrefix(text) + "' is not a date (YYYY-MM-DD)");
  if (days < -100'000 || days > 100'000) return Status::InvalidArgument("too many days");
  *out = FormatDate(*day + static_cast<int>(days));
  return Status::Ok();
}

Status LocalTimeFn(const Args& a, const FunctionContext&, json* out) {
  std::string day, time_of_day, zone;
  if (Status s = Str(a, 0, &day); !s.ok()) return s;
  if (Status s = Str(a, 1, &time_of_day); !s.ok()) return s;
  if (Status s = Str(a, 2, &zone); !s.ok()) return s;
  TimePoint t;
  if (Status s = LocalTime(day, time_of_day, zone, &t); !s.ok()) return s;
  *out = FormatRfc3339(t);
  return Status::Ok();
}

Status LocalDateFn(const Args& a, const FunctionContext&, json* out) {
  TimePoint t;
  std::string zone, day;
  if (Status s = Instant(a, 0, &t); !s.ok()) return s;
  if (Status s = Str(a, 1, &zone); !s.ok()) return s;
  if (Status s = LocalDate(t, zone, &day); !s.ok()) return s;
  *out = day;
  return Status::Ok();
}

Status ToZone(const Args& a, const FunctionContext&, json* out) {
  TimePoint t;
  std::string zone, text;
  if (Status s = Instant(a, 0, &t); !s.ok()) return s;
  if (Status s = Str(a, 1, &zone); !s.ok()) return s;
  if (Status s = FormatInZone(t, zone, &text); !s.ok()) return s;
  *out = text;
  return Status::Ok();
}

Status QuarterHoursFn(const Args& a, const FunctionContext& c, json* out) {
  std::string day, zone;
  if (Status s = Str(a, 0, &day); !s.ok()) return s;
  if (Status s = Str(a, 1, &zone); !s.ok()) return s;
  std::vector<QuarterHour> qhs;
  if (Status s = QuarterHours(day, zone, &qhs); !s.ok()) return s;
  if (Status s = Spend(c, static_cast<int64_t>(qhs.size())); !s.ok()) return s;
  *out = json::array();
  for (size_t i = 0; i < qhs.size(); ++i) {
    out->push_back(
        {{"index", i}, {"start", FormatRfc3339(qhs[i].start)}, {"end", FormatRfc3339(qhs[i].end)}});
  }
  return Status::Ok();
}

Status GateClosureFn(const Args& a, const FunctionContext&, json* out) {
  std::string market, day;
  if (Status s = Str(a, 0, &market); !s.ok()) return s;
  if (Status s = Str(a, 1, &day); !s.ok()) return s;
  TimePoint t;
  if (Status s = GateClosure(market, day, &t); !s.ok()) return s;
  *out = FormatRfc3339(t);
  return Status::Ok();
}

// auction_gate_closure(market, day, auction): an intraday auction's closure (market_rules.h).
Status AuctionGateClosureFn(const Args& a, const FunctionContext&, json* out) {
  std::string market, day_text, auction;
  if (Status s = Str(a, 0, &market); !s.ok()) return s;
  if (Status s = Str(a, 1, &day_text); !s.ok()) return s;
  if (Status s = Str(a, 2, &auction); !s.ok()) return s;
  const auto day = ParseDate(day_text);
  if (!day)
    return Status::InvalidArgument("'" + QuotePrefix(day_text) + "' is not a date (YYYY-MM-DD)");
  TimePoint t;
  if (Status s =
          CurrentMarketRules()->Closure(market, product::kIntradayAuction, auction, *day, &t);
      !s.ok())
    return s;
  *out = FormatRfc3339(t);
  return Status::Ok();
}

// The closure of a lead-time product for the delivery period starting at argument 1; argument 2
// (optional) names the variant.
Status PeriodClosure(const Args& a, std::string_view product, std::string_view default_variant,
                     json* out) {
  std::string market, variant(default_variant);
  TimePoint start;
  if (Status s = Str(a, 0, &market); !s.ok()) return s;
  if (Status s = Instant(a, 1, &start); !s.ok()) return s;
  if (a.size() > 2) {
    if (Status s = Str(a, 2, &variant); !s.ok()) return s;
  }
  TimePoint t;
  if (Status s = CurrentMarketRules()->ClosureBefore(market, product, variant, start, &t); !s.ok())
    return s;
  *out = FormatRfc3339(t);
  return Status::Ok();
}

// intraday_gate_closure(market, period_start[, scope]): continuous intraday trading's closure
// for a delivery period, cross_border (the default) or local.
Status IntradayGateClosureFn(const Args& a, const FunctionContext&, json* out) {
  return PeriodClosure(a, product::kIntradayContinuous, "cross_border", out);
}

// balancing_gate_closure(market, period_start[, product]): the balancing energy bid closure for a
// delivery period, aFRR (the default) or mFRR.
Status BalancingGateClosureFn(const Args& a, const FunctionContext&, json* out) {
  return PeriodClosure(a, product::kBalancingEnergy, "aFRR", out);
}

constexpr size_t kMany = 64;

const std::map<std::string, Spec>& Table() {
  static const std::map<std::string, Spec> kTable = {
      {"abs", {1, 1, Abs}},
      {"auction_gate_closure", {3, 3, AuctionGateClosureFn}},
      {"balancing_gate_closure", {2, 3, BalancingGateClosureFn}},
      {"ceil", {1, 1, Ceil}},
      {"concat", {1, kMany, Concat}},
      {"contains", {2, 2, Contains}},
      {"date_add", {2, 2, DateAdd}},
      {"default", {2, 2, Default}},
      {"duration_ms", {1, 1, DurationMs}},
      {"floor", {1, 1, Floor}},
      {"gate_closure", {2, 2, GateClosureFn}},
      {"if", {3, 3, If}},
      {"instant", {1, 1, InstantOf}},
      {"intraday_gate_closure", {2, 3, IntradayGateClosureFn}},
      {"keys", {1, 1, Keys}},
      {"len", {1, 1, Len}},
      {"local_date", {2, 2, LocalDateFn}},
      {"local_time", {3, 3, LocalTimeFn}},
      {"lower", {1, 1, Lower}},
      {"max", {1, kMany, Max}},
      {"min", {1, kMany, Min}},
      {"now", {0, 0, Now}},
      {"number", {1, 1, NumberOf}},
      {"quarter_hours", {2, 2, QuarterHoursFn}},
      {"range", {1, 1, Range}},
      {"revision", {0, 0, Revision}},
      {"round", {1, 2, Round}},
      {"seconds_between", {2, 2, SecondsBetween}},
      {"starts_with", {2, 2, StartsWith}},
      {"string", {1, 1, String}},
      {"substr", {2, 3, Substr}},
      {"sum", {1, kMany, Sum}},
      {"time_add", {2, 2, TimeAdd}},
      {"to_zone", {2, 2, ToZone}},
      {"upper", {1, 1, Upper}},
  };
  return kTable;
}

// kMarket: a day-ahead market; the others: a market with rules for that product.
enum class Literal {
  kDate,
  kZone,
  kMarket,
  kAuctionMarket,
  kIntradayMarket,
  kBalancingMarket,
  kDuration,
  kSignedDuration
};

struct LiteralCheck {
  const char* function;
  size_t argument;
  Literal what;
};

constexpr LiteralCheck kLiteralChecks[] = {
    {"date_add", 0, Literal::kDate},
    {"local_time", 0, Literal::kDate},
    {"local_time", 2, Literal::kZone},
    {"local_date", 1, Literal::kZone},
    {"to_zone", 1, Literal::kZone},
    {"quarter_hours", 0, Literal::kDate},
    {"quarter_hours", 1, Literal::kZone},
    {"gate_closure", 0, Literal::kMarket},
    {"gate_closure", 1, Literal::kDate},
    {"time_add", 1, Literal::kSignedDuration},
    {"duration_ms", 0, Literal::kDuration},
    {"auction_gate_closure", 0, Literal::kAuctionMarket},
    {"auction_gate_closure", 1, Literal::kDate},
    {"intraday_gate_closure", 0, Literal::kIntradayMarket},
    {"balancing_gate_closure", 0, Literal::kBalancingMarket},
};

Status CheckLiteral(Literal what, const std::string& value) {
  switch (what) {
    case Literal::kDate:
      if (!ParseDate(value))
        return Status::InvalidArgument("'" + QuotePrefix(value) + "' is not a date (YYYY-MM-DD)");
      return Status::Ok();
    case Literal::kZone:
      if (!IsKnownTimeZone(value)) {
        return Status::InvalidArgument("unknown time zone '" + value +
                                       "' (use an IANA name such as Europe/Berlin)");
      }
      return Status::Ok();
    case Literal::kMarket:
      return CurrentMarketRules()->Knows(value, product::kDayAhead);
    case Literal::kAuctionMarket:
      return CurrentMarketRules()->Knows(value, product::kIntradayAuction);
    case Literal::kIntradayMarket:
      return CurrentMarketRules()->Knows(value, product::kIntradayContinuous);
    case Literal::kBalancingMarket:
      return CurrentMarketRules()->Knows(value, product::kBalancingEnergy);
    case Literal::kDuration:
    case Literal::kSignedDuration: {
      const std::string_view text =
          what == Literal::kSignedDuration && !value.empty() && value[0] == '-'
              ? std::string_view(value).substr(1)
              : std::string_view(value);
      if (!ParseDuration(text))
        return Status::InvalidArgument("'" + QuotePrefix(value) + "' is not a duration");
      return Status::Ok();
    }
  }
  return Status::Ok();
}

}  // namespace

Status CheckLiteralArguments(const std::string& name, const std::vector<const json*>& literals,
                             size_t* bad) {
  for (const LiteralCheck& check : kLiteralChecks) {
    if (name != check.function || check.argument >= literals.size()) continue;
    const json* literal = literals[check.argument];
    if (literal == nullptr) continue;
    *bad = check.argument;
    if (!literal->is_string()) {
      return Status::InvalidArgument("argument " + std::to_string(check.argument + 1) +
                                     " must be a string, not " + literal->type_name());
    }
    if (Status s = CheckLiteral(check.what, literal->get<std::string>()); !s.ok()) return s;
  }
  return Status::Ok();
}

bool IsKnownFunction(const std::string& name) {
  return Table().count(name) > 0;
}

Status CheckArity(const std::string& name, size_t count) {
  const Spec& spec = Table().at(name);
  if (count >= spec.min_args && count <= spec.max_args) return Status::Ok();
  const std::string expected =
      spec.min_args == spec.max_args ? std::to_string(spec.min_args)
      : spec.max_args == kMany
          ? "at least " + std::to_string(spec.min_args)
          : std::to_string(spec.min_args) + " to " + std::to_string(spec.max_args);
  return Status::InvalidArgument(name + "() takes " + expected + " argument" +
                                 (expected == "1" ? "" : "s") + ", not " + std::to_string(count));
}

Status CallFunction(const std::string& name, const std::vector<json>& args,
                    const FunctionContext& context, json* out) {
  return Table().at(name).fn(args, context, out);
}

}  // namespace gridflow::dsl
