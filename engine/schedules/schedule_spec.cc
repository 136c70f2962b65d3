#include "engine/schedules/schedule_spec.h"

#include <algorithm>
#include <array>
#include <chrono>

#include "engine/dsl/market_rules.h"
#include "engine/dsl/time_functions.h"
#include "engine/dsl/time_zone.h"

namespace gridflow::engine {
namespace {

using nlohmann::json;

constexpr int64_t kMicrosPerMs = 1000;
constexpr Millis kMaxDuration{10LL * 366 * 24 * 3'600'000};
constexpr std::array<const char*, 7> kWeekdays = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

Status Invalid(const std::string& field, const std::string& message) {
  return Status::InvalidArgument(field + ": " + message);
}

Status OnlyKnownFields(const json& object, const std::string& where,
                       std::initializer_list<const char*> known) {
  for (const auto& item : object.items()) {
    const std::string& key = item.key();
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return key == k; })) {
      std::string list;
      for (const char* k : known)
        list += (list.empty() ? "" : ", ") + std::string(k);
      return Invalid(where.empty() ? key.substr(0, 64) : where + "." + key.substr(0, 64),
                     "unknown field (known: " + list + ")");
    }
  }
  return Status::Ok();
}

Status Text(const json& object, const char* key, const std::string& field, bool required,
            std::string* out) {
  const auto it = object.find(key);
  if (it == object.end()) {
    return required ? Invalid(field, "is required") : Status::Ok();
  }
  if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
    return Invalid(field, "must be a non-empty string");
  }
  if (it->get_ref<const std::string&>().size() > 200) return Invalid(field, "is too long");
  *out = it->get<std::string>();
  return Status::Ok();
}

// "45m", "-45m", "0s": a duration, negative when `signed_ok`.
Status Duration(const json& object, const char* key, const std::string& field, bool signed_ok,
                Millis* out) {
  std::string text;
  if (Status s = Text(object, key, field, false, &text); !s.ok() || text.empty()) return s;
  bool negative = false;
  std::string_view body = text;
  if (signed_ok && !body.empty() && (body[0] == '-' || body[0] == '+')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  const std::optional<Millis> d = ParseDuration(body);
  if (!d || *d > kMaxDuration) {
    return Invalid(field, "'" + text.substr(0, 32) + "' is not a duration (e.g. " +
                              (signed_ok ? "\"-45m\", \"15m\"" : "\"30s\", \"1h\"") + ")");
  }
  *out = negative ? -*d : *d;
  return Status::Ok();
}

Status Instant(const json& object, const char* key, const std::string& field,
               std::optional<TimePoint>* out) {
  std::string text;
  if (Status s = Text(object, key, field, false, &text); !s.ok() || text.empty()) return s;
  *out = ParseTimestamp(text);
  if (!*out) return Invalid(field, "must be an RFC 3339 instant (2026-12-01T00:00:00Z)");
  return Status::Ok();
}

Status Zone(const json& object, const std::string& field, std::string* out) {
  if (Status s = Text(object, "time_zone", field, false, out); !s.ok()) return s;
  if (dsl::TimeZone::Find(*out) == nullptr) {
    return Invalid(field, "unknown time zone '" + out->substr(0, 64) +
                              "' (an IANA name such as Europe/Berlin)");
  }
  return Status::Ok();
}

int DayOf(TimePoint t) {
  return static_cast<int>(std::chrono::floor<std::chrono::days>(t.time_since_epoch()).count());
}

// FNV-1a: the same on every replica and every build, unlike std::hash.
uint64_t StableHash(const std::string& text) {
  uint64_t h = 14695981039346656037ULL;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

// A settlement or delivery period's length: "15m", "30m" or "1h" (15m when not required and
// not given).
Status SettlementPeriod(const json& trigger, bool required, Millis* out) {
  *out = Millis(900'000);
  if (Status s = Duration(trigger, "period", "trigger.period", false, out); !s.ok()) return s;
  if (required && !trigger.contains("period")) return Invalid("trigger.period", "is required");
  if (*out != Millis(900'000) && *out != Millis(1'800'000) && *out != Millis(3'600'000)) {
    return Invalid("trigger.period", "must be 15m, 30m or 1h");
  }
  return Status::Ok();
}

// How far past the longest lead time a gate closure per period looks for an earlier one: an
// override closes a delivery day's trading early, at the earliest the day before that day
// begins (docs/schedules.md), so its periods start at most about two days after it.
constexpr Millis kEarlyCloseReach{3LL * 24 * 3'600'000};

}  // namespace

bool Calendar::IsBusinessDay(int day) const {
  const unsigned weekday =
      std::chrono::weekday(std::chrono::sys_days(std::chrono::days(day))).c_encoding();
  return weekend.count(weekday) == 0 && holidays.count(day) == 0;
}

Status Calendar::FromJson(const std::string& name, const json& body, Calendar* out) {
  if (!body.is_object()) return Invalid("calendar", "must be a JSON object");
  if (Status s = OnlyKnownFields(body, "", {"weekend", "holidays", "description"}); !s.ok()) {
    return s;
  }
  Calendar calendar;
  calendar.name = name;
  if (const auto it = body.find("weekend"); it != body.end()) {
    if (!it->is_array()) return Invalid("weekend", "must be a list of weekdays (\"SAT\", \"SUN\")");
    calendar.weekend.clear();
    for (const json& day : *it) {
      const auto found = day.is_string() ? std::find(kWeekdays.begin(), kWeekdays.end(),
                                                     day.get_ref<const std::string&>())
                                         : kWeekdays.end();
      if (found == kWeekdays.end()) {
        return Invalid("weekend", "weekdays are written SUN, MON, TUE, WED, THU, FRI, SAT");
      }
      calendar.weekend.insert(static_cast<unsigned>(found - kWeekdays.begin()));
    }
  }
  if (const auto it = body.find("holidays"); it != body.end()) {
    if (!it->is_array() || it->size() > 10'000) {
      return Invalid("holidays", "must be a list of at most 10,000 dates (\"2026-12-25\")");
    }
    for (const json& date : *it) {
      const std::optional<int> day =
          date.is_string() ? ParseDate(date.get_ref<const std::string&>()) : std::nullopt;
      if (!day) return Invalid("holidays", "every entry must be a date (YYYY-MM-DD)");
      calendar.holidays.insert(*day);
    }
  }
  *out = std::move(calendar);
  return Status::Ok();
}

json Calendar::ToJson() const {
  json out = {{"weekend", json::array()}, {"holidays", json::array()}};
  for (const unsigned day : weekend)
    out["weekend"].push_back(kWeekdays[day]);
  for (const int day : holidays)
    out["holidays"].push_back(FormatDate(day));
  return out;
}

Status ScheduleSpec::Parse(const json& spec, ScheduleSpec* out) {
  if (!spec.is_object()) return Status::InvalidArgument("spec: must be a JSON object");
  Status s = OnlyKnownFields(spec, "",
                             {"workflow", "trigger", "overlap", "catch_up_window", "jitter",
                              "calendar", "on_non_business_day", "start_at", "end_at", "max_runs"});
  if (!s.ok()) return s;
  ScheduleSpec result;

  const auto workflow = spec.find("workflow");
  if (workflow == spec.end() || !workflow->is_object()) {
    return Invalid("workflow", "is required: {\"definition\": ..., \"input\": {...}}");
  }
  if (s = OnlyKnownFields(*workflow, "workflow", {"definition", "version", "input"}); !s.ok()) {
    return s;
  }
  if (s = Text(*workflow, "definition", "workflow.definition", true, &result.definition_);
      !s.ok()) {
    return s;
  }
  if (const auto v = workflow->find("version"); v != workflow->end()) {
    if (!v->is_number_integer() || v->get<int64_t>() < 0 || v->get<int64_t>() > 1'000'000) {
      return Invalid("workflow.version", "must be a version number (0: the latest)");
    }
    result.version_ = v->get<int>();
  }
  if (const auto in = workflow->find("input"); in != workflow->end()) {
    if (!in->is_object()) return Invalid("workflow.input", "must be a JSON object");
    if (in->contains("schedule")) {
      return Invalid("workflow.input.schedule", "is set by the schedule for each run");
    }
    if (s = dsl::Template::Compile(*in, "workflow.input", &result.input_); !s.ok()) return s;
  } else {
    s = dsl::Template::Compile(json::object(), "workflow.input", &result.input_);
    if (!s.ok()) return s;
  }

  const auto trigger = spec.find("trigger");
  if (trigger == spec.end() || !trigger->is_object()) {
    return Invalid("trigger", "is required: {\"cron\": ...}, {\"every\": ...} or {\"event\": ...}");
  }
  if (s = OnlyKnownFields(*trigger, "trigger",
                          {"cron", "time_zone", "every", "offset", "event", "market", "product",
                           "variant", "period"});
      !s.ok()) {
    return s;
  }
  const int kinds = static_cast<int>(trigger->contains("cron")) +
                    static_cast<int>(trigger->contains("every")) +
                    static_cast<int>(trigger->contains("event"));
  if (kinds != 1) return Invalid("trigger", "needs exactly one of cron, every, event");
  if (s = Zone(*trigger, "trigger.time_zone", &result.zone_name_); !s.ok()) return s;
  if (result.zone_name_.empty()) result.zone_name_ = "UTC";
  if (s = Duration(*trigger, "offset", "trigger.offset", true, &result.offset_); !s.ok()) return s;
  if (trigger->contains("cron")) {
    result.kind_ = Kind::kCron;
    if (trigger->contains("offset")) return Invalid("trigger.offset", "is not used with cron");
    std::string text;
    if (s = Text(*trigger, "cron", "trigger.cron", true, &text); !s.ok()) return s;
    if (s = CronExpression::Parse(text, &result.cron_); !s.ok()) {
      return Status::InvalidArgument("trigger." + s.message());
    }
  } else if (trigger->contains("every")) {
    result.kind_ = Kind::kInterval;
    if (s = Duration(*trigger, "every", "trigger.every", false, &result.every_); !s.ok()) return s;
    if (result.every_ < Millis(1000) || result.every_.count() % 1000 != 0) {
      return Invalid("trigger.every", "must be whole seconds, at least 1s");
    }
  } else {
    std::string event;
    if (s = Text(*trigger, "event", "trigger.event", true, &event); !s.ok()) return s;
    if (event == "gate_closure") {
      if (s = ParseGateClosure(*trigger, &result); !s.ok()) return s;
    } else if (event == "settlement_period") {
      result.kind_ = Kind::kSettlementPeriod;
      if (s = SettlementPeriod(*trigger, true, &result.every_); !s.ok()) return s;
    } else {
      return Invalid("trigger.event", "must be gate_closure or settlement_period");
    }
  }

  std::string overlap = "skip";
  if (s = Text(spec, "overlap", "overlap", false, &overlap); !s.ok()) return s;
  if (overlap == "skip") {
    result.overlap_ = OverlapPolicy::kSkip;
  } else if (overlap == "buffer_one") {
    result.overlap_ = OverlapPolicy::kBufferOne;
  } else if (overlap == "cancel_running") {
    result.overlap_ = OverlapPolicy::kCancelRunning;
  } else if (overlap == "allow_all") {
    result.overlap_ = OverlapPolicy::kAllowAll;
  } else {
    return Invalid("overlap", "must be skip, buffer_one, cancel_running or allow_all");
  }
  if (s = Duration(spec, "catch_up_window", "catch_up_window", false, &result.catch_up_window_);
      !s.ok()) {
    return s;
  }
  if (s = Duration(spec, "jitter", "jitter", false, &result.jitter_); !s.ok()) return s;
  if (s = Text(spec, "calendar", "calendar", false, &result.calendar_); !s.ok()) return s;
  std::string non_business = result.calendar_.empty() ? "" : "skip";
  if (s = Text(spec, "on_non_business_day", "on_non_business_day", false, &non_business); !s.ok()) {
    return s;
  }
  if (!non_business.empty() && result.calendar_.empty()) {
    return Invalid("on_non_business_day", "needs a calendar");
  }
  if (non_business == "skip") {
    result.non_business_day_ = NonBusinessDay::kSkip;
  } else if (non_business == "next_business_day") {
    result.non_business_day_ = NonBusinessDay::kNextBusinessDay;
  } else if (!non_business.empty()) {
    return Invalid("on_non_business_day", "must be skip or next_business_day");
  }
  if (s = Instant(spec, "start_at", "start_at", &result.start_at_); !s.ok()) return s;
  if (s = Instant(spec, "end_at", "end_at", &result.end_at_); !s.ok()) return s;
  if (result.start_at_ && result.end_at_ && *result.end_at_ < *result.start_at_) {
    return Invalid("end_at", "is before start_at");
  }
  if (const auto m = spec.find("max_runs"); m != spec.end()) {
    if (!m->is_number_integer() || m->get<int64_t>() < 1) {
      return Invalid("max_runs", "must be a whole number of at least 1");
    }
    result.max_runs_ = m->get<int64_t>();
  }
  *out = std::move(result);
  return Status::Ok();
}

Status ScheduleSpec::ParseGateClosure(const json& trigger, ScheduleSpec* result) {
  result->kind_ = Kind::kGateClosure;
  Status s = Text(trigger, "market", "trigger.market", true, &result->market_);
  result->product_ = std::string(dsl::product::kDayAhead);
  if (s.ok()) s = Text(trigger, "product", "trigger.product", false, &result->product_);
  if (s.ok()) s = Text(trigger, "variant", "trigger.variant", false, &result->variant_);
  if (!s.ok()) return s;
  const std::string& product = result->product_;
  if (!dsl::IsKnownProduct(product)) {
    return Invalid("trigger.product",
                   "must be day_ahead, intraday_auction, intraday_continuous or balancing_energy");
  }
  if (product == dsl::product::kDayAhead && !result->variant_.empty()) {
    return Invalid("trigger.variant", "is not used with day_ahead");
  }
  const auto rules = dsl::CurrentMarketRules();
  if (s = rules->Knows(result->market_, product); !s.ok()) {
    return Invalid("trigger.market", s.message());
  }
  dsl::MarketRules::ClosureKind kind;
  if (s = rules->KindOf(result->market_, product, result->variant_, &kind); !s.ok()) {
    return Invalid("trigger.variant",
                   (result->variant_.empty() ? "is required: " : "") + s.message());
  }
  result->per_period_ = kind.per_period;
  result->longest_lead_ = kind.longest_lead;
  result->rules_zone_ = kind.zone;
  if (!kind.per_period) {
    if (trigger.contains("period")) {
      return Invalid("trigger.period",
                     "is not used with " + product + ", which closes once per delivery day");
    }
    return Status::Ok();
  }
  return SettlementPeriod(trigger, false, &result->every_);
}

std::optional<Nominal> ScheduleSpec::NextDayClosure(TimePoint after) const {
  // Delivery days from a few days before `after` on: the one whose gate closure plus the offset
  // (at most ten years either way) comes first after it — the earliest, not the first day's: an
  // override may close a later day before an earlier one (both fire, in closure order). A day the
  // rules do not cover (before the first rule) is passed over.
  const auto rules = dsl::CurrentMarketRules();
  const int64_t span_days = std::abs(offset_.count()) / 86'400'000 + 3;
  std::optional<Nominal> best;
  for (int day = DayOf(after) - static_cast<int>(span_days);
       day <= DayOf(after) + static_cast<int>(span_days) + 2; ++day) {
    TimePoint closure;
    if (!rules->Closure(market_, product_, variant_, day, &closure).ok()) continue;
    const TimePoint at = closure + offset_;
    if (at > after && (!best || at < best->at)) {
      best = Nominal{at, FormatDate(day), closure, std::nullopt, std::nullopt, {}};
    }
  }
  return best;
}

std::optional<Nominal> ScheduleSpec::NextPeriodClosure(TimePoint after) const {
  // A period closes before it starts, so only periods starting after `after` - offset can fire
  // after `after`. Closures follow the starts, except across a change of lead time (by at most
  // the longest lead) and where an override closes a day early: the earliest closure after
  // `after` is among the periods up to kEarlyCloseReach past the longest lead. Periods are
  // aligned on UTC multiples of their length, as settlement periods are.
  const auto rules = dsl::CurrentMarketRules();
  const int64_t period = every_.count() * kMicrosPerMs;
  const int64_t from = ToEpochMicros(after - offset_);
  const int64_t first =
      (from >= 0 ? from / period : (from - period + 1) / period) * period + period;
  const int64_t last = from + (longest_lead_ + kEarlyCloseReach).count() * kMicrosPerMs;
  std::optional<Nominal> best;
  for (int64_t start = first; start <= last; start += period) {
    const DeliveryPeriod p{FromEpochMicros(start), FromEpochMicros(start + period)};
    TimePoint closure;
    if (!rules->ClosureBefore(market_, product_, variant_, p.start, &closure).ok()) continue;
    const TimePoint at = closure + offset_;
    if (at <= after || (best && at > best->at)) continue;
    if (!best || at < best->at) best = Nominal{at, {}, closure, p.start, p.end, {}};
    best->periods.push_back(p);
    best->period_end = p.end;
  }
  if (best && !dsl::LocalDate(*best->period_start, rules_zone_, &best->delivery_day).ok()) {
    return std::nullopt;
  }
  return best;
}

std::optional<Nominal> ScheduleSpec::NextNominal(TimePoint after) const {
  if (start_at_ && after < *start_at_ - Micros(1)) after = *start_at_ - Micros(1);
  std::optional<Nominal> next = NextTriggerTime(after);
  if (next && end_at_ && next->at > *end_at_) return std::nullopt;
  return next;
}

std::optional<Nominal> ScheduleSpec::NextTriggerTime(TimePoint after) const {
  const dsl::TimeZone* zone = dsl::TimeZone::Find(zone_name_);
  switch (kind_) {
    case Kind::kCron: {
      const auto at = cron_.Next(after, *zone);
      if (!at) return std::nullopt;
      return Nominal{*at, {}, std::nullopt, std::nullopt, std::nullopt, {}};
    }
    case Kind::kInterval: {
      // Multiples of `every` since the epoch, moved by the offset.
      const int64_t every = every_.count() * kMicrosPerMs;
      const int64_t shifted = ToEpochMicros(after) - offset_.count() * kMicrosPerMs;
      const int64_t k = (shifted >= 0 ? shifted / every : (shifted - every + 1) / every) + 1;
      return Nominal{FromEpochMicros(k * every + offset_.count() * kMicrosPerMs),
                     {},
                     std::nullopt,
                     std::nullopt,
                     std::nullopt,
                     {}};
    }
    case Kind::kSettlementPeriod: {
      // Periods aligned on UTC multiples of their length (so on the local quarter-hours of every
      // zone whose offset is a whole number of periods: all European markets); each fires at its
      // end plus the offset.
      const int64_t period = every_.count() * kMicrosPerMs;
      const int64_t shifted = ToEpochMicros(after) - offset_.count() * kMicrosPerMs;
      const int64_t end =
          ((shifted >= 0 ? shifted / period : (shifted - period + 1) / period) + 1) * period;
      Nominal n{FromEpochMicros(end + offset_.count() * kMicrosPerMs),
                {},
                std::nullopt,
                FromEpochMicros(end - period),
                FromEpochMicros(end),
                {}};
      if (!dsl::LocalDate(*n.period_start, zone_name_, &n.delivery_day).ok()) return std::nullopt;
      return n;
    }
    case Kind::kGateClosure:
      return per_period_ ? NextPeriodClosure(after) : NextDayClosure(after);
  }
  return std::nullopt;
}

TimePoint ScheduleSpec::FireAt(const std::string& schedule_id, const Nominal& nominal,
                               const Calendar* calendar, bool* skip) const {
  *skip = false;
  TimePoint at = nominal.at;
  if (calendar != nullptr && non_business_day_ != NonBusinessDay::kFire) {
    // The calendar judges the local date (in the trigger's zone) on which the firing falls.
    const dsl::TimeZone* zone = dsl::TimeZone::Find(zone_name_);
    const auto seconds = std::chrono::floor<std::chrono::seconds>(at.time_since_epoch());
    const int64_t local = (seconds + zone->OffsetAt(seconds)).count();
    const int day = static_cast<int>(local >= 0 ? local / 86'400 : (local - 86'399) / 86'400);
    if (!calendar->IsBusinessDay(day)) {
      if (non_business_day_ == NonBusinessDay::kSkip) {
        *skip = true;
        return at;
      }
      // The same wall time on the next business day (at most a year ahead).
      int next = day + 1;
      while (!calendar->IsBusinessDay(next) && next < day + 366)
        ++next;
      const auto moved =
          zone->FromLocal(dsl::Seconds(local + static_cast<int64_t>(next - day) * 86'400));
      at = TimePoint(std::chrono::duration_cast<Micros>(moved.first)) +
           (at - TimePoint(std::chrono::duration_cast<Micros>(seconds)));
    }
  }
  if (jitter_.count() > 0) {
    const auto spread = static_cast<uint64_t>(jitter_.count());
    at += Millis(
        static_cast<int64_t>(StableHash(schedule_id + "@" + FormatRfc3339(nominal.at)) % spread));
  }
  return at;
}

std::string ScheduleSpec::WorkflowId(const std::string& schedule_id, TimePoint nominal) {
  // Nominal times are whole seconds (cron, whole-second intervals, market times).
  return schedule_id + "@" + FormatRfc3339Seconds(nominal);
}

Status ScheduleSpec::RunInput(const std::string& schedule_id, const Nominal& nominal,
                              json* out) const {
  json about = {{"id", schedule_id}, {"nominal_time", FormatRfc3339Seconds(nominal.at)}};
  if (!nominal.delivery_day.empty()) about["delivery_day"] = nominal.delivery_day;
  if (nominal.gate_closure) about["gate_closure"] = FormatRfc3339Seconds(*nominal.gate_closure);
  if (nominal.period_start) about["period_start"] = FormatRfc3339Seconds(*nominal.period_start);
  if (nominal.period_end) about["period_end"] = FormatRfc3339Seconds(*nominal.period_end);
  if (!nominal.periods.empty()) {
    json periods = json::array();
    for (const DeliveryPeriod& p : nominal.periods) {
      periods.push_back(
          {{"start", FormatRfc3339Seconds(p.start)}, {"end", FormatRfc3339Seconds(p.end)}});
    }
    about["periods"] = std::move(periods);
  }
  const json scope = {{"schedule", about}};
  dsl::EvalContext context;
  context.scope = &scope;
  context.now = nominal.at;
  json input;
  if (Status s = input_.Evaluate(context, &input); !s.ok()) {
    return Status::InvalidArgument("workflow.input: " + s.message());
  }
  input["schedule"] = std::move(about);
  *out = std::move(input);
  return Status::Ok();
}

}  // namespace gridflow::engine
