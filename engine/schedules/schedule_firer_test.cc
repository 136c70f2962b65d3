// ScheduleFirer's planning without a database: each delivery fires once, in the order the
// closures come, when the closures do not follow the deliveries' order.
#include "engine/schedules/schedule_firer.h"

#include <gtest/gtest.h>

#include <memory>

#include "engine/dsl/market_rules.h"

namespace gridflow::engine {
namespace {

using nlohmann::json;

// The built-in rules, with the cross-border lead time of EPEX-DE-LU at 5 minutes for deliveries
// of 1–7 January 2030 and at 60 minutes again from 8 January on.
std::shared_ptr<const dsl::MarketRules> LeadTimeLengthened() {
  dsl::MarketRules extra;
  const Status s = dsl::MarketRules::Parse(
      R"({"format": "gridflow-market-rules", "version": "lead-change", "rules": [
          {"market": "EPEX-DE-LU", "product": "intraday_continuous", "variant": "cross_border",
           "zone": "Europe/Berlin", "lead": "5m", "valid_from": "2030-01-01"},
          {"market": "EPEX-DE-LU", "product": "intraday_continuous", "variant": "cross_border",
           "zone": "Europe/Berlin", "lead": "60m", "valid_from": "2030-01-08"}]})",
      &extra);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return std::make_shared<const dsl::MarketRules>(dsl::MarketRules::BuiltIn()->With(extra));
}

TEST(ScheduleFirerPlanning, PeriodsClosingOutOfOrderAcrossALeadTimeChangeEachFireOnce) {
  dsl::SetMarketRules(LeadTimeLengthened());
  ScheduleSpec spec;
  ASSERT_TRUE(ScheduleSpec::Parse({{"workflow", {{"definition", "bid"}}},
                                   {"trigger",
                                    {{"event", "gate_closure"},
                                     {"market", "EPEX-DE-LU"},
                                     {"product", "intraday_continuous"},
                                     {"variant", "cross_border"}}}},
                                  &spec)
                  .ok());
  // The last quarter-hours of 7 January (Berlin) close 5 minutes before they start, the first of
  // 8 January an hour before: the two days' closures interleave. Fired as planned, one after the
  // other, each period comes once, in closure order.
  std::vector<std::string> handled;
  std::vector<std::string> fired;
  TimePoint after = *ParseTimestamp("2030-01-07T21:50:00Z");
  for (int i = 0; i < 9; ++i) {
    std::optional<Nominal> n;
    std::optional<TimePoint> fire_at;
    ScheduleFirer::NextFiring(spec, "intraday", nullptr, after, handled, &n, &fire_at);
    ASSERT_TRUE(n);
    ASSERT_EQ(n->periods.size(), 1u);
    fired.push_back(FormatRfc3339Seconds(n->at).substr(11, 5) + ">" +
                    FormatRfc3339Seconds(n->periods.front().start).substr(11, 5));
    ScheduleFirer::NoteHandled(spec, *n, &handled);
    after = n->at;
  }
  EXPECT_EQ(fired, (std::vector<std::string>{"21:55>22:00", "22:00>23:00", "22:10>22:15",
                                             "22:15>23:15", "22:25>22:30", "22:30>23:30",
                                             "22:40>22:45", "22:45>23:45", "23:00>00:00"}));

  // A period handled already is passed over when its closure comes again later (the plan made
  // anew from an earlier point, as after a change of the rules).
  std::optional<Nominal> n;
  std::optional<TimePoint> fire_at;
  ScheduleFirer::NextFiring(spec, "intraday", nullptr, *ParseTimestamp("2030-01-07T21:50:00Z"),
                            handled, &n, &fire_at);
  ASSERT_TRUE(n);
  EXPECT_EQ(FormatRfc3339Seconds(n->periods.front().start), "2030-01-08T00:15:00Z");
  dsl::SetMarketRules(dsl::MarketRules::BuiltIn());
}

TEST(ScheduleFirerPlanning, AScheduleRemembersItsLastDeliveriesOfOneKind) {
  ScheduleSpec spec;
  ASSERT_TRUE(
      ScheduleSpec::Parse({{"workflow", {{"definition", "bid"}}},
                           {"trigger", {{"event", "gate_closure"}, {"market", "EPEX-DE-LU"}}}},
                          &spec)
          .ok());
  std::vector<std::string> handled;
  TimePoint after = *ParseTimestamp("2030-01-01T00:00:00Z");
  for (size_t i = 0; i < ScheduleFirer::kDeliveriesRemembered + 3; ++i) {
    const std::optional<Nominal> n = spec.NextNominal(after);
    ASSERT_TRUE(n);
    ScheduleFirer::NoteHandled(spec, *n, &handled);
    ScheduleFirer::NoteHandled(spec, *n, &handled);  // noted twice, kept once
    after = n->at;
  }
  ASSERT_EQ(handled.size(), ScheduleFirer::kDeliveriesRemembered);
  EXPECT_EQ(handled.front(), "2030-01-05");  // the first three forgotten
  EXPECT_TRUE(std::is_sorted(handled.begin(), handled.end()));
  // A schedule of another kind (no delivery) notes nothing.
  ScheduleSpec hourly;
  ASSERT_TRUE(
      ScheduleSpec::Parse(
          {{"workflow", {{"definition", "bid"}}}, {"trigger", {{"cron", "0 * * * *"}}}}, &hourly)
          .ok());
  ScheduleFirer::NoteHandled(hourly, *hourly.NextNominal(after), &handled);
  EXPECT_EQ(handled.size(), ScheduleFirer::kDeliveriesRemembered);
}

}  // namespace
}  // namespace gridflow::engine
