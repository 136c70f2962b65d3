// ScheduleSpec and CronExpression without a database: parsing with errors naming the field, the
// nominal times of each trigger kind, daylight saving time, calendars and jitter.
#include "engine/schedules/schedule_spec.h"

#include <gtest/gtest.h>

#include <fstream>
#include <memory>

#include "engine/dsl/market_rules.h"

namespace gridflow::engine {
namespace {

using nlohmann::json;

TimePoint At(const char* rfc3339) {
  return *ParseTimestamp(rfc3339);
}

ScheduleSpec Spec(const json& trigger, const json& extra = json::object()) {
  json spec = {{"workflow", {{"definition", "bid"}}}, {"trigger", trigger}};
  spec.update(extra);
  ScheduleSpec out;
  const Status s = ScheduleSpec::Parse(spec, &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

std::string Next(const ScheduleSpec& spec, const char* after) {
  const auto n = spec.NextNominal(At(after));
  return n ? FormatRfc3339Seconds(n->at) : "none";
}

Status ParseError(const json& spec) {
  ScheduleSpec out;
  return ScheduleSpec::Parse(spec, &out);
}

TEST(ScheduleSpec, BadSpecsAreRefusedNamingTheField) {
  const json workflow = {{"definition", "bid"}};
  const auto message = [&](const json& spec) { return ParseError(spec).message(); };
  EXPECT_EQ(message(json::array()), "spec: must be a JSON object");
  EXPECT_NE(message({{"trigger", {{"cron", "* * * * *"}}}}).find("workflow"), std::string::npos);
  EXPECT_EQ(message({{"workflow", workflow}, {"trigger", {{"cron", "61 * * * *"}}}}),
            "trigger.cron: minute: 61 is out of range 0-59");
  EXPECT_EQ(message({{"workflow", workflow}, {"trigger", {{"cron", "* * *"}}}}).substr(0, 23),
            "trigger.cron: expected ");
  EXPECT_EQ(message({{"workflow", workflow}, {"trigger", {{"cron", "0 9-5 * * *"}}}}),
            "trigger.cron: hour: range '9-5' runs backwards");
  EXPECT_EQ(message({{"workflow", workflow},
                     {"trigger", {{"cron", "0 6 * * *"}, {"time_zone", "Europe/Atlantis"}}}}),
            "trigger.time_zone: unknown time zone 'Europe/Atlantis' (an IANA name such as "
            "Europe/Berlin)");
  EXPECT_EQ(
      message({{"workflow", workflow}, {"trigger", {{"cron", "* * * * *"}, {"every", "1m"}}}}),
      "trigger: needs exactly one of cron, every, event");
  EXPECT_EQ(message({{"workflow", workflow}, {"trigger", {{"every", "1m"}}}, {"overlap", "queue"}}),
            "overlap: must be skip, buffer_one, cancel_running or allow_all");
  EXPECT_EQ(message({{"workflow", workflow}, {"trigger", {{"every", "1m"}}}, {"overlapp", "x"}})
                .substr(0, 24),
            "overlapp: unknown field ");
  EXPECT_EQ(message({{"workflow", workflow},
                     {"trigger", {{"event", "gate_closure"}, {"market", "EPEX-XX"}}}})
                .substr(0, 41),
            "trigger.market: unknown market 'EPEX-XX' ");
  EXPECT_EQ(message({{"workflow", {{"definition", "bid"}, {"input", {{"schedule", 1}}}}},
                     {"trigger", {{"every", "1m"}}}}),
            "workflow.input.schedule: is set by the schedule for each run");
  EXPECT_EQ(message({{"workflow", workflow}, {"trigger", {{"every", "1m"}}}, {"max_runs", 0}}),
            "max_runs: must be a whole number of at least 1");
  EXPECT_EQ(message({{"workflow", workflow}, {"trigger", {{"every", "250ms"}}}}),
            "trigger.every: must be whole seconds, at least 1s");
}

TEST(ScheduleSpec, CronInUtcAndWithSecondsNamesAndLists) {
  EXPECT_EQ(Next(Spec({{"cron", "*/15 * * * *"}}), "2026-12-01T10:07:00Z"), "2026-12-01T10:15:00Z");
  EXPECT_EQ(Next(Spec({{"cron", "*/15 * * * *"}}), "2026-12-01T10:15:00Z"), "2026-12-01T10:30:00Z");
  EXPECT_EQ(Next(Spec({{"cron", "*/5 * * * * *"}}), "2026-12-01T10:00:03.5Z"),
            "2026-12-01T10:00:05Z");
  // Weekdays by name: 2026-12-05 is a Saturday.
  EXPECT_EQ(Next(Spec({{"cron", "0 6 * * MON-FRI"}}), "2026-12-04T07:00:00Z"),
            "2026-12-07T06:00:00Z");
  EXPECT_EQ(Next(Spec({{"cron", "0 0 1 JAN,JUL *"}}), "2026-02-01T00:00:00Z"),
            "2026-07-01T00:00:00Z");
  // Both day fields restricted: either matches (the 15th, or any Sunday).
  EXPECT_EQ(Next(Spec({{"cron", "0 0 15 * SUN"}}), "2026-12-01T00:00:00Z"), "2026-12-06T00:00:00Z");
  EXPECT_EQ(Next(Spec({{"cron", "@daily"}}), "2026-12-01T00:00:00Z"), "2026-12-02T00:00:00Z");
  EXPECT_EQ(Next(Spec({{"cron", "0 0 30 2 *"}}), "2026-12-01T00:00:00Z"), "none");
}

TEST(ScheduleSpec, CronInBerlinAcrossDaylightSavingTime) {
  const json daily = {{"cron", "30 2 * * *"}, {"time_zone", "Europe/Berlin"}};
  // 2026-03-29: 02:30 does not exist; fired shifted forward by the gap, at 03:30 CEST.
  EXPECT_EQ(Next(Spec(daily), "2026-03-28T02:00:00Z"), "2026-03-29T01:30:00Z");
  EXPECT_EQ(Next(Spec(daily), "2026-03-29T01:30:00Z"), "2026-03-30T00:30:00Z");
  // 2026-10-25: 02:30 happens twice; fired once, at the first (CEST).
  EXPECT_EQ(Next(Spec(daily), "2026-10-24T01:00:00Z"), "2026-10-25T00:30:00Z");
  EXPECT_EQ(Next(Spec(daily), "2026-10-25T00:30:00Z"), "2026-10-26T01:30:00Z");
  // Every quarter-hour on the spring night: the skipped wall times land on 03:00-03:45, each
  // fired once, in order.
  const json quarters = {{"cron", "*/15 * * * *"}, {"time_zone", "Europe/Berlin"}};
  std::vector<std::string> fired;
  TimePoint t = At("2026-03-29T00:40:00Z");
  for (int i = 0; i < 6; ++i) {
    t = Spec(quarters).NextNominal(t)->at;
    fired.push_back(FormatRfc3339Seconds(t));
  }
  EXPECT_EQ(fired, (std::vector<std::string>{"2026-03-29T00:45:00Z", "2026-03-29T01:00:00Z",
                                             "2026-03-29T01:15:00Z", "2026-03-29T01:30:00Z",
                                             "2026-03-29T01:45:00Z", "2026-03-29T02:00:00Z"}));
}

TEST(ScheduleSpec, IntervalsAreMultiplesOfTheirLengthMovedByTheOffset) {
  const ScheduleSpec spec = Spec({{"every", "15m"}, {"offset", "5m"}});
  EXPECT_EQ(Next(spec, "2026-12-01T10:05:00Z"), "2026-12-01T10:20:00Z");
  EXPECT_EQ(Next(spec, "2026-12-01T10:04:59Z"), "2026-12-01T10:05:00Z");
}

TEST(ScheduleSpec, GateClosureMinus45MinutesForEveryDeliveryDay) {
  const ScheduleSpec spec =
      Spec({{"event", "gate_closure"}, {"market", "EPEX-DE-LU"}, {"offset", "-45m"}});
  // Delivery day 2026-12-03: gate closure 2026-12-02 12:00 CET = 11:00Z; fired at 10:15Z.
  const auto n = spec.NextNominal(At("2026-12-01T10:15:00Z"));
  ASSERT_TRUE(n);
  EXPECT_EQ(FormatRfc3339Seconds(n->at), "2026-12-02T10:15:00Z");
  EXPECT_EQ(n->delivery_day, "2026-12-03");
  json input;
  ASSERT_TRUE(spec.RunInput("da-bid", *n, &input).ok());
  EXPECT_EQ(input["schedule"]["delivery_day"], "2026-12-03");
  EXPECT_EQ(input["schedule"]["gate_closure"], "2026-12-02T11:00:00Z");
  EXPECT_EQ(ScheduleSpec::WorkflowId("da-bid", n->at), "da-bid@2026-12-02T10:15:00Z");
  // In summer the closure is 12:00 CEST = 10:00Z.
  EXPECT_EQ(Next(spec, "2026-07-01T12:00:00Z"), "2026-07-02T09:15:00Z");
}

TEST(ScheduleSpec, IntradayAuctionClosuresOncePerDeliveryDay) {
  // IDA1 closes at 15:00 Brussels time the day before delivery, IDA3 at 10:00 on the day.
  const ScheduleSpec ida1 = Spec({{"event", "gate_closure"},
                                  {"market", "EPEX-DE-LU"},
                                  {"product", "intraday_auction"},
                                  {"variant", "IDA1"},
                                  {"offset", "-30m"}});
  const auto n = ida1.NextNominal(At("2026-12-01T12:00:00Z"));
  ASSERT_TRUE(n);
  EXPECT_EQ(FormatRfc3339Seconds(n->at), "2026-12-01T13:30:00Z");
  EXPECT_EQ(n->delivery_day, "2026-12-02");
  EXPECT_EQ(FormatRfc3339Seconds(*n->gate_closure), "2026-12-01T14:00:00Z");
  EXPECT_TRUE(n->periods.empty());
  EXPECT_EQ(Next(ida1, "2026-12-01T13:30:00Z"), "2026-12-02T13:30:00Z");
  const ScheduleSpec ida3 = Spec({{"event", "gate_closure"},
                                  {"market", "EPEX-DE-LU"},
                                  {"product", "intraday_auction"},
                                  {"variant", "IDA3"}});
  const auto m = ida3.NextNominal(At("2026-07-01T07:00:00Z"));
  ASSERT_TRUE(m);
  EXPECT_EQ(FormatRfc3339Seconds(m->at), "2026-07-01T08:00:00Z");  // 10:00 CEST
  EXPECT_EQ(m->delivery_day, "2026-07-01");
}

TEST(ScheduleSpec, BalancingClosuresOncePerDeliveryQuarterHour) {
  // German aFRR energy bids close 25 minutes before each delivery quarter-hour.
  const ScheduleSpec spec = Spec({{"event", "gate_closure"},
                                  {"market", "DE"},
                                  {"product", "balancing_energy"},
                                  {"variant", "aFRR"},
                                  {"offset", "-5m"}});
  std::vector<std::string> fired;
  TimePoint t = At("2026-12-01T10:00:00Z");
  for (int i = 0; i < 3; ++i) {
    const auto n = spec.NextNominal(t);
    ASSERT_TRUE(n);
    ASSERT_EQ(n->periods.size(), 1u);
    EXPECT_EQ(*n->period_start, n->periods[0].start);
    EXPECT_EQ(*n->period_end - *n->period_start, Millis(900'000));
    EXPECT_EQ(*n->period_start - *n->gate_closure, Millis(25 * 60'000));
    fired.push_back(FormatRfc3339Seconds(n->at) + " " + FormatRfc3339Seconds(*n->period_start));
    t = n->at;
  }
  EXPECT_EQ(fired, (std::vector<std::string>{"2026-12-01T10:15:00Z 2026-12-01T10:45:00Z",
                                             "2026-12-01T10:30:00Z 2026-12-01T11:00:00Z",
                                             "2026-12-01T10:45:00Z 2026-12-01T11:15:00Z"}));
  // The delivery day is the period's local date in the rules' zone (Berlin).
  const auto midnight = spec.NextNominal(At("2026-12-01T22:25:00Z"));
  ASSERT_TRUE(midnight);
  EXPECT_EQ(FormatRfc3339Seconds(*midnight->period_start), "2026-12-01T23:00:00Z");
  EXPECT_EQ(midnight->delivery_day, "2026-12-02");
  json input;
  ASSERT_TRUE(spec.RunInput("afrr", *midnight, &input).ok());
  EXPECT_EQ(input["schedule"]["gate_closure"], "2026-12-01T22:35:00Z");
  EXPECT_EQ(input["schedule"]["periods"],
            json::parse(R"([{"start": "2026-12-01T23:00:00Z", "end": "2026-12-01T23:15:00Z"}])"));
}

// Installs extra market rules for the test's lifetime.
class ExtraMarketRules {
 public:
  explicit ExtraMarketRules(const char* file) : before_(dsl::CurrentMarketRules()) {
    dsl::MarketRules extra;
    const Status s = dsl::MarketRules::Parse(file, &extra);
    EXPECT_TRUE(s.ok()) << s.ToString();
    dsl::SetMarketRules(std::make_shared<const dsl::MarketRules>(before_->With(extra)));
  }
  ~ExtraMarketRules() { dsl::SetMarketRules(before_); }

 private:
  const std::shared_ptr<const dsl::MarketRules> before_;
};

TEST(ScheduleSpec, ADayClosedEarlyFiresOnceForEveryPeriodItCloses) {
  // Continuous cross-border trading (60 minutes' lead) for delivery on 2026-12-24 closes at
  // 13:00Z: the periods from 14:00Z to the day's end (23:00Z) all close then.
  const ExtraMarketRules rules(R"({"format": "gridflow-market-rules", "version": "x",
      "overrides": [{"market": "EPEX-DE-LU", "product": "intraday_continuous",
                     "variant": "cross_border", "day": "2026-12-24",
                     "closes_at": "2026-12-24T13:00:00Z"}]})");
  const json cross_border = {{"event", "gate_closure"},
                             {"market", "EPEX-DE-LU"},
                             {"product", "intraday_continuous"},
                             {"variant", "cross_border"},
                             {"period", "15m"}};
  const ScheduleSpec spec = Spec(cross_border);
  EXPECT_EQ(Next(spec, "2026-12-24T12:30:00Z"), "2026-12-24T12:45:00Z");  // 13:45Z, as usual
  const auto early = spec.NextNominal(At("2026-12-24T12:45:00Z"));
  ASSERT_TRUE(early);
  EXPECT_EQ(FormatRfc3339Seconds(early->at), "2026-12-24T13:00:00Z");
  EXPECT_EQ(early->delivery_day, "2026-12-24");
  ASSERT_EQ(early->periods.size(), 36u);
  EXPECT_EQ(FormatRfc3339Seconds(*early->period_start), "2026-12-24T14:00:00Z");
  EXPECT_EQ(FormatRfc3339Seconds(*early->period_end), "2026-12-24T23:00:00Z");
  EXPECT_EQ(early->periods.back().start, At("2026-12-24T22:45:00Z"));
  // The same nominal time is found again from just before it (as a firing rebuilds it).
  const auto again = spec.NextNominal(early->at - Micros(1));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->periods.size(), 36u);
  // Then the next day's first period, 60 minutes before Berlin's midnight.
  const auto next = spec.NextNominal(early->at);
  ASSERT_TRUE(next);
  EXPECT_EQ(FormatRfc3339Seconds(next->at), "2026-12-24T22:00:00Z");
  EXPECT_EQ(next->delivery_day, "2026-12-25");
  ASSERT_EQ(next->periods.size(), 1u);
  // A closure moved earlier than one already due is found first: seen from the day before, a
  // close at 12:05Z on 2026-12-23 for all of the 24th's trading comes before 12:15Z's.
  const ExtraMarketRules sooner(R"({"format": "gridflow-market-rules", "version": "y",
      "overrides": [{"market": "EPEX-DE-LU", "product": "intraday_continuous",
                     "variant": "cross_border", "day": "2026-12-24",
                     "closes_at": "2026-12-23T12:05:00Z"}]})");
  const ScheduleSpec reparsed = Spec(cross_border);
  const auto first = reparsed.NextNominal(At("2026-12-23T12:00:00Z"));
  ASSERT_TRUE(first);
  EXPECT_EQ(FormatRfc3339Seconds(first->at), "2026-12-23T12:05:00Z");
  EXPECT_EQ(first->delivery_day, "2026-12-24");
  EXPECT_EQ(first->periods.size(), 96u);
}

TEST(ScheduleSpec, GateClosureTriggersNameTheWrongField) {
  const json workflow = {{"definition", "bid"}};
  const auto message = [&](json trigger) {
    trigger["event"] = "gate_closure";
    return ParseError({{"workflow", workflow}, {"trigger", trigger}}).message();
  };
  EXPECT_EQ(message({{"market", "EPEX-DE-LU"}, {"product", "futures"}}),
            "trigger.product: must be day_ahead, intraday_auction, intraday_continuous or "
            "balancing_energy");
  EXPECT_EQ(message({{"market", "EPEX-DE-LU"}, {"variant", "IDA1"}}),
            "trigger.variant: is not used with day_ahead");
  EXPECT_EQ(message({{"market", "EPEX-DE-LU"}, {"product", "intraday_auction"}}),
            "trigger.variant: is required: unknown intraday_auction variant '' for market "
            "'EPEX-DE-LU' (known: IDA1, IDA2, IDA3)");
  EXPECT_EQ(message({{"market", "EPEX-DE-LU"}, {"product", "balancing_energy"}}).substr(0, 65),
            "trigger.market: unknown market 'EPEX-DE-LU' for balancing_energy ");
  EXPECT_EQ(message({{"market", "EPEX-DE-LU"},
                     {"product", "intraday_auction"},
                     {"variant", "IDA2"},
                     {"period", "15m"}}),
            "trigger.period: is not used with intraday_auction, which closes once per delivery "
            "day");
  EXPECT_EQ(message({{"market", "DE"},
                     {"product", "balancing_energy"},
                     {"variant", "mFRR"},
                     {"period", "5m"}}),
            "trigger.period: must be 15m, 30m or 1h");
}

TEST(ScheduleSpec, TheRunInputMayTakeTheNominalTimesFieldsByExpression) {
  ScheduleSpec spec;
  ASSERT_TRUE(
      ScheduleSpec::Parse(
          {{"workflow",
            {{"definition", "bid"},
             {"input", {{"market", "EPEX-DE-LU"}, {"delivery_day", "=$/schedule/delivery_day"}}}}},
           {"trigger", {{"event", "gate_closure"}, {"market", "EPEX-DE-LU"}}}},
          &spec)
          .ok());
  json input;
  ASSERT_TRUE(spec.RunInput("s", *spec.NextNominal(At("2026-12-01T12:00:00Z")), &input).ok());
  EXPECT_EQ(input["delivery_day"], "2026-12-03");
  EXPECT_EQ(input["market"], "EPEX-DE-LU");
  EXPECT_EQ(input["schedule"]["id"], "s");
  EXPECT_EQ(ParseError({{"workflow", {{"definition", "bid"}, {"input", {{"x", "=$/schedule/("}}}}},
                        {"trigger", {{"every", "1h"}}}})
                .message()
                .substr(0, 23),
            "workflow.input/x: colum");
}

TEST(ScheduleSpec, SettlementPeriodsFireAfterTheirEnd) {
  const ScheduleSpec spec = Spec({{"event", "settlement_period"},
                                  {"period", "15m"},
                                  {"offset", "15m"},
                                  {"time_zone", "Europe/Berlin"}});
  const auto n = spec.NextNominal(At("2026-12-01T23:20:00Z"));
  ASSERT_TRUE(n);
  EXPECT_EQ(FormatRfc3339Seconds(n->at), "2026-12-01T23:30:00Z");
  EXPECT_EQ(FormatRfc3339Seconds(*n->period_start), "2026-12-01T23:00:00Z");
  // 23:00Z is midnight in Berlin: the period belongs to the next delivery day.
  EXPECT_EQ(n->delivery_day, "2026-12-02");
}

TEST(ScheduleSpec, CalendarsSkipOrMoveNonBusinessDays) {
  Calendar calendar;
  ASSERT_TRUE(Calendar::FromJson("epex", {{"holidays", {"2026-12-25"}}}, &calendar).ok());
  EXPECT_EQ(calendar.ToJson()["weekend"], json({"SUN", "SAT"}));
  const json trigger = {{"cron", "0 6 * * *"}, {"time_zone", "Europe/Berlin"}};
  bool skip = false;
  const ScheduleSpec skipping = Spec(trigger, {{"calendar", "epex"}});
  const auto christmas = skipping.NextNominal(At("2026-12-24T06:00:00Z"));
  skipping.FireAt("s", *christmas, &calendar, &skip);
  EXPECT_TRUE(skip);
  const ScheduleSpec moving =
      Spec(trigger, {{"calendar", "epex"}, {"on_non_business_day", "next_business_day"}});
  // Friday 25th (holiday), then the weekend: moved to Monday 28th, 06:00 CET.
  EXPECT_EQ(FormatRfc3339Seconds(moving.FireAt("s", *christmas, &calendar, &skip)),
            "2026-12-28T05:00:00Z");
  EXPECT_FALSE(skip);
  Calendar bad;
  EXPECT_EQ(Calendar::FromJson("x", {{"holidays", {"25.12.2026"}}}, &bad).message(),
            "holidays: every entry must be a date (YYYY-MM-DD)");
}

TEST(ScheduleSpec, JitterIsTheSameOnEveryReplicaAndWithinItsBound) {
  const ScheduleSpec spec = Spec({{"every", "1h"}}, {{"jitter", "30s"}});
  const auto n = spec.NextNominal(At("2026-12-01T10:00:00Z"));
  bool skip = false;
  const TimePoint a = spec.FireAt("s", *n, nullptr, &skip);
  EXPECT_EQ(a, spec.FireAt("s", *n, nullptr, &skip));
  EXPECT_GE(a, n->at);
  EXPECT_LT(a, n->at + std::chrono::seconds(30));
}

TEST(ScheduleSpec, StartAndEndBoundTheNominalTimes) {
  const ScheduleSpec spec = Spec({{"every", "1h"}}, {{"start_at", "2026-12-05T00:00:00Z"},
                                                     {"end_at", "2026-12-05T02:00:00Z"}});
  EXPECT_EQ(Next(spec, "2026-12-01T00:00:00Z"), "2026-12-05T00:00:00Z");
  EXPECT_EQ(Next(spec, "2026-12-05T01:00:00Z"), "2026-12-05T02:00:00Z");
  EXPECT_EQ(Next(spec, "2026-12-05T02:00:00Z"), "none");
}

ScheduleSpec Example(const std::string& path) {
  std::ifstream in(std::string(GRIDFLOW_EXAMPLES_DIR) + "/" + path);
  EXPECT_TRUE(in) << path;
  ScheduleSpec spec;
  const Status s = ScheduleSpec::Parse(json::parse(in), &spec);
  EXPECT_TRUE(s.ok()) << path << ": " << s.ToString();
  return spec;
}

TEST(ScheduleSpec, TheShippedExampleSchedules) {
  // The day-ahead bid: 45 minutes before gate closure, for the delivery day of that closure.
  const ScheduleSpec bid = Example("day-ahead/schedule.json");
  EXPECT_EQ(bid.definition(), "day-ahead-bid");
  const auto n = bid.NextNominal(At("2027-03-26T12:00:00Z"));
  json input;
  ASSERT_TRUE(bid.RunInput("da-bid-de", *n, &input).ok());
  EXPECT_EQ(FormatRfc3339Seconds(n->at), "2027-03-27T10:15:00Z");
  EXPECT_EQ(input["delivery_day"], "2027-03-28");  // a 23-hour day: 92 quarter-hours
  // The settlement of each day, the morning after it (06:00 Berlin): yesterday's periods.
  const ScheduleSpec settle = Example("settlement/schedule.json");
  const auto m = settle.NextNominal(At("2027-03-28T12:00:00Z"));
  ASSERT_TRUE(settle.RunInput("settle-de", *m, &input).ok());
  EXPECT_EQ(FormatRfc3339Seconds(m->at), "2027-03-29T04:00:00Z");
  EXPECT_EQ(input["settlement_day"], "2027-03-28");
  EXPECT_EQ(input["periods"], 92);
}

}  // namespace
}  // namespace gridflow::engine
