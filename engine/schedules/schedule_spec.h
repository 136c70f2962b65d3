// ScheduleSpec: what a schedule starts and when (docs/schedules.md), parsed from its JSON form and
// evaluated without any I/O. A schedule has a sequence of nominal times — from a cron expression
// in a time zone, a fixed interval, or the market's calendar (a product's gate closures — per
// delivery day or per delivery period, by the market rules — or every settlement period) — each of
// which starts at most one run, with the deterministic workflow id "<schedule id>@<nominal time>".
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/duration.h"
#include "common/status.h"
#include "common/time.h"
#include "engine/dsl/template.h"
#include "engine/schedules/cron.h"

namespace gridflow::engine {

// A named business-day calendar: weekend days and holidays, as local dates.
struct Calendar {
  std::string name;
  std::set<unsigned> weekend = {0, 6};  // weekdays that are not business days (0 = Sunday)
  std::set<int> holidays;               // days since 1970-01-01
  bool IsBusinessDay(int day) const;
  // INVALID_ARGUMENT naming the field: {"weekend": ["SAT", "SUN"], "holidays": ["2026-12-25", ...]}
  static Status FromJson(const std::string& name, const nlohmann::json& body, Calendar* out);
  nlohmann::json ToJson() const;
};

struct DeliveryPeriod {
  TimePoint start;
  TimePoint end;
};

// One nominal time of a schedule and what the run is told about it.
struct Nominal {
  TimePoint at;
  std::string delivery_day;  // market triggers: the delivery day ("2026-12-03")
  std::optional<TimePoint> gate_closure;
  std::optional<TimePoint> period_start;  // settlement periods; gate closures per period: from
  std::optional<TimePoint> period_end;    // the first period closing then to the last one's end
  // Gate closures per delivery period: every period that closes at this instant (one, except
  // where an override closes a day's trading early or a lead time changes), in order.
  std::vector<DeliveryPeriod> periods;
};

enum class OverlapPolicy { kSkip, kBufferOne, kCancelRunning, kAllowAll };
enum class NonBusinessDay { kFire, kSkip, kNextBusinessDay };

class ScheduleSpec {
 public:
  // INVALID_ARGUMENT naming the field ("trigger.cron: minute: 61 is out of range 0-59").
  static Status Parse(const nlohmann::json& spec, ScheduleSpec* out);

  // The first nominal time strictly after `after` inside [start_at, end_at]; nullopt: none left.
  std::optional<Nominal> NextNominal(TimePoint after) const;
  // When the firing of `nominal` goes: its nominal time plus the schedule's jitter (the same on
  // every replica for the same nominal time), moved to the next business day by the calendar
  // when asked. *skip: the calendar says this nominal time is not fired at all.
  TimePoint FireAt(const std::string& schedule_id, const Nominal& nominal, const Calendar* calendar,
                   bool* skip) const;
  // The run's workflow id and input for `nominal`.
  static std::string WorkflowId(const std::string& schedule_id, TimePoint nominal);
  // The run's input: the spec's workflow.input, whose "=..." strings are expressions over
  // {"schedule": {id, nominal_time, delivery_day, gate_closure, period_start, period_end,
  // periods}} (docs/dsl.md), plus that "schedule" object itself.
  Status RunInput(const std::string& schedule_id, const Nominal& nominal,
                  nlohmann::json* out) const;

  const std::string& definition() const { return definition_; }
  int version() const { return version_; }
  OverlapPolicy overlap() const { return overlap_; }
  Millis catch_up_window() const { return catch_up_window_; }
  const std::string& calendar() const { return calendar_; }
  std::optional<int64_t> max_runs() const { return max_runs_; }
  const std::string& time_zone() const { return zone_name_; }
  // Gate-closure triggers: their nominal times follow the market rules in force.
  bool follows_market_rules() const { return kind_ == Kind::kGateClosure; }

 private:
  enum class Kind { kCron, kInterval, kGateClosure, kSettlementPeriod };
  std::optional<Nominal> NextTriggerTime(TimePoint after) const;
  std::optional<Nominal> NextDayClosure(TimePoint after) const;
  std::optional<Nominal> NextPeriodClosure(TimePoint after) const;
  static Status ParseGateClosure(const nlohmann::json& trigger, ScheduleSpec* result);

  Kind kind_ = Kind::kCron;
  CronExpression cron_;
  std::string zone_name_ = "UTC";
  Millis every_{0};
  Millis offset_{0};  // interval, market and settlement triggers; may be negative
  // Gate closures: the market rules' market, product and variant; whether they close per
  // delivery period (of length every_), the longest lead time and the rules' zone.
  std::string market_;
  std::string product_;
  std::string variant_;
  bool per_period_ = false;
  Millis longest_lead_{0};
  std::string rules_zone_;
  std::string definition_;
  int version_ = 0;
  dsl::Template input_;
  OverlapPolicy overlap_ = OverlapPolicy::kSkip;
  Millis catch_up_window_{3'600'000};
  Millis jitter_{0};
  std::string calendar_;
  NonBusinessDay non_business_day_ = NonBusinessDay::kFire;
  std::optional<TimePoint> start_at_;
  std::optional<TimePoint> end_at_;
  std::optional<int64_t> max_runs_;
};

}  // namespace gridflow::engine
