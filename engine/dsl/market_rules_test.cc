// Market rules (docs/market-rules.md): every quarter-hour of 2026, both DST days included, for
// three markets against closures computed here independently of the engine's time-zone code
// (the EU summer-time rule written out); valid_from and one-day overrides; the rules file's
// errors; the DSL functions over them.
#include "engine/dsl/market_rules.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/dsl/functions.h"

namespace gridflow::dsl {
namespace {

using std::chrono::seconds;

// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
int DaysFromCivil(int y, int m, int d) {
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// The last Sunday of a month (1970-01-01 was a Thursday).
int LastSunday(int year, int month) {
  const int last = DaysFromCivil(month == 12 ? year + 1 : year, month == 12 ? 1 : month + 1, 1) - 1;
  const int weekday = ((last % 7) + 11) % 7;  // 0 = Sunday
  return last - weekday;
}

// Central European time: +1 h, +2 h from the last Sunday of March 01:00 UTC to the last Sunday
// of October 01:00 UTC. At local midnight the change has not happened yet on either Sunday; at
// any time from 03:00 local on, it has.
seconds CetOffsetAtMidnight(int day, int year) {
  return seconds(day > LastSunday(year, 3) && day <= LastSunday(year, 10) ? 7200 : 3600);
}
seconds CetOffsetAfterThree(int day, int year) {
  return seconds(day >= LastSunday(year, 3) && day < LastSunday(year, 10) ? 7200 : 3600);
}
TimePoint Utc(int day, seconds local_time_of_day, seconds offset) {
  return TimePoint(seconds(int64_t{day} * 86400) + local_time_of_day - offset);
}

TEST(MarketRules, EveryQuarterHourOf2026ForThreeMarketsMatchesAnIndependentComputation) {
  const auto rules = MarketRules::BuiltIn();
  const int first = DaysFromCivil(2026, 1, 1);
  const int last = DaysFromCivil(2026, 12, 31);
  int quarter_hours = 0;
  for (const std::string market : {"EPEX-DE-LU", "EPEX-FR", "EPEX-NL"}) {
    for (int day = first; day <= last; ++day) {
      const TimePoint midnight = Utc(day, seconds(0), CetOffsetAtMidnight(day, 2026));
      const TimePoint next = Utc(day + 1, seconds(0), CetOffsetAtMidnight(day + 1, 2026));
      const int periods = static_cast<int>((next - midnight) / seconds(900));
      const int expected_periods = day == LastSunday(2026, 3)    ? 92
                                   : day == LastSunday(2026, 10) ? 100
                                                                 : 96;
      EXPECT_EQ(periods, expected_periods) << FormatDate(day);
      for (TimePoint start = midnight; start < next; start += seconds(900)) {
        TimePoint got;
        ASSERT_TRUE(
            rules->ClosureBefore(market, product::kIntradayContinuous, "cross_border", start, &got)
                .ok());
        ASSERT_EQ(got, start - seconds(3600)) << market << " " << FormatRfc3339(start);
        ASSERT_TRUE(
            rules->ClosureBefore(market, product::kIntradayContinuous, "local", start, &got).ok());
        ASSERT_EQ(got, start - seconds(300)) << market << " " << FormatRfc3339(start);
        if (market == "EPEX-DE-LU") {
          ASSERT_TRUE(
              rules->ClosureBefore("DE", product::kBalancingEnergy, "aFRR", start, &got).ok());
          ASSERT_EQ(got, start - seconds(1500)) << FormatRfc3339(start);
        }
        ++quarter_hours;
      }
      // The auctions of the day: day-ahead 12:00, IDA1 15:00 and IDA2 22:00 the day before,
      // IDA3 10:00 the same day, Brussels time.
      TimePoint got;
      ASSERT_TRUE(rules->Closure(market, product::kDayAhead, "", day, &got).ok());
      EXPECT_EQ(got, Utc(day - 1, seconds(12 * 3600), CetOffsetAfterThree(day - 1, 2026)));
      ASSERT_TRUE(rules->Closure(market, product::kIntradayAuction, "IDA1", day, &got).ok());
      EXPECT_EQ(got, Utc(day - 1, seconds(15 * 3600), CetOffsetAfterThree(day - 1, 2026)));
      ASSERT_TRUE(rules->Closure(market, product::kIntradayAuction, "IDA2", day, &got).ok());
      EXPECT_EQ(got, Utc(day - 1, seconds(22 * 3600), CetOffsetAfterThree(day - 1, 2026)));
      ASSERT_TRUE(rules->Closure(market, product::kIntradayAuction, "IDA3", day, &got).ok());
      EXPECT_EQ(got, Utc(day, seconds(10 * 3600), CetOffsetAfterThree(day, 2026)));
    }
  }
  EXPECT_EQ(quarter_hours, 3 * 365 * 96);  // one day of 92 and one of 100 in each market
}

MarketRules Extra(const std::string& rules, const std::string& overrides = "[]") {
  MarketRules extra;
  const Status s =
      MarketRules::Parse(R"({"format": "gridflow-market-rules", "version": "test", "rules": )" +
                             rules + R"(, "overrides": )" + overrides + "}",
                         &extra);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return MarketRules::BuiltIn()->With(extra);
}

TEST(MarketRules, ARuleWithALaterValidFromChangesResultsFromThatDayOnly) {
  // The cross-border lead time shortened to 30 minutes for deliveries from 1 June 2026 on.
  const MarketRules rules = Extra(
      R"([{"market": "EPEX-DE-LU", "product": "intraday_continuous", "variant": "cross_border",
           "zone": "Europe/Berlin", "lead": "30m", "valid_from": "2026-06-01"}])");
  TimePoint got;
  const TimePoint before = *ParseTimestamp("2026-05-31T21:45:00Z");  // 23:45 on 31 May, Berlin
  const TimePoint from = *ParseTimestamp("2026-05-31T22:00:00Z");    // 00:00 on 1 June
  ASSERT_TRUE(
      rules.ClosureBefore("EPEX-DE-LU", "intraday_continuous", "cross_border", before, &got).ok());
  EXPECT_EQ(got, before - std::chrono::minutes(60));
  ASSERT_TRUE(
      rules.ClosureBefore("EPEX-DE-LU", "intraday_continuous", "cross_border", from, &got).ok());
  EXPECT_EQ(got, from - std::chrono::minutes(30));
  // Other markets and the built-in rules as they were.
  ASSERT_TRUE(
      rules.ClosureBefore("EPEX-FR", "intraday_continuous", "cross_border", from, &got).ok());
  EXPECT_EQ(got, from - std::chrono::minutes(60));
  ASSERT_TRUE(MarketRules::BuiltIn()
                  ->ClosureBefore("EPEX-DE-LU", "intraday_continuous", "cross_border", from, &got)
                  .ok());
  EXPECT_EQ(got, from - std::chrono::minutes(60));
}

TEST(MarketRules, KindOfSaysPerDayOrPerPeriodWithTheLongestLead) {
  const MarketRules rules = Extra(
      R"([{"market": "EPEX-DE-LU", "product": "intraday_continuous", "variant": "cross_border",
           "zone": "Europe/Berlin", "lead": "90m", "valid_from": "2027-01-01"},
          {"market": "XX", "product": "balancing_energy", "variant": "aFRR",
           "zone": "Europe/Berlin", "lead": "25m", "valid_from": "2026-01-01"},
          {"market": "XX", "product": "balancing_energy", "variant": "aFRR",
           "zone": "Europe/Berlin", "days_before": 1, "at": "10:00", "valid_from": "2027-01-01"}])");
  MarketRules::ClosureKind kind;
  ASSERT_TRUE(rules.KindOf("EPEX-DE-LU", "intraday_continuous", "cross_border", &kind).ok());
  EXPECT_TRUE(kind.per_period);
  EXPECT_EQ(kind.longest_lead, std::chrono::minutes(90));
  EXPECT_EQ(kind.zone, "Europe/Berlin");
  ASSERT_TRUE(rules.KindOf("EPEX-DE-LU", "intraday_auction", "IDA1", &kind).ok());
  EXPECT_FALSE(kind.per_period);
  EXPECT_EQ(kind.zone, "Europe/Brussels");
  EXPECT_EQ(rules.KindOf("XX", "balancing_energy", "aFRR", &kind).message(),
            "XX balancing_energy aFRR has rules of both kinds (a fixed closure and a lead time)");
  EXPECT_EQ(rules.KindOf("EPEX-DE-LU", "intraday_auction", "IDA9", &kind).message(),
            "unknown intraday_auction variant 'IDA9' for market 'EPEX-DE-LU' (known: IDA1, IDA2, "
            "IDA3)");
}

TEST(MarketRules, AOneDayOverrideAppliesToThatDayAlone) {
  // The exchange delays the day-ahead auction for Christmas delivery to 12:45; continuous trading
  // for 24 December stops at 14:00.
  const MarketRules rules = Extra("[]", R"([
      {"market": "EPEX-DE-LU", "product": "day_ahead", "day": "2026-12-25", "days_before": 1,
       "at": "12:45"},
      {"market": "EPEX-DE-LU", "product": "intraday_continuous", "variant": "cross_border",
       "day": "2026-12-24", "closes_at": "2026-12-24T13:00:00Z"}])");
  TimePoint got;
  ASSERT_TRUE(rules.Closure("EPEX-DE-LU", "day_ahead", "", *ParseDate("2026-12-25"), &got).ok());
  EXPECT_EQ(FormatRfc3339(got), "2026-12-24T11:45:00.000000Z");
  for (const char* day : {"2026-12-24", "2026-12-26"}) {
    ASSERT_TRUE(rules.Closure("EPEX-DE-LU", "day_ahead", "", *ParseDate(day), &got).ok());
    EXPECT_EQ(FormatRfc3339(got).substr(11), "11:00:00.000000Z") << day;
  }
  ASSERT_TRUE(rules.Closure("EPEX-FR", "day_ahead", "", *ParseDate("2026-12-25"), &got).ok());
  EXPECT_EQ(FormatRfc3339(got), "2026-12-24T11:00:00.000000Z");
  // Continuous trading on the 24th: morning periods as usual, none closing after 13:00 UTC.
  const TimePoint morning = *ParseTimestamp("2026-12-24T08:00:00Z");
  const TimePoint evening = *ParseTimestamp("2026-12-24T18:00:00Z");
  const TimePoint next_day = *ParseTimestamp("2026-12-25T08:00:00Z");
  ASSERT_TRUE(
      rules.ClosureBefore("EPEX-DE-LU", "intraday_continuous", "cross_border", morning, &got).ok());
  EXPECT_EQ(got, morning - std::chrono::hours(1));
  ASSERT_TRUE(
      rules.ClosureBefore("EPEX-DE-LU", "intraday_continuous", "cross_border", evening, &got).ok());
  EXPECT_EQ(FormatRfc3339(got), "2026-12-24T13:00:00.000000Z");
  ASSERT_TRUE(
      rules.ClosureBefore("EPEX-DE-LU", "intraday_continuous", "cross_border", next_day, &got)
          .ok());
  EXPECT_EQ(got, next_day - std::chrono::hours(1));
}

TEST(MarketRules, UnknownNamesAndDaysBeforeTheRulesAreRefusedClearly) {
  const auto rules = MarketRules::BuiltIn();
  TimePoint got;
  Status s = rules->Closure("EPEX-XX", "day_ahead", "", *ParseDate("2026-01-01"), &got);
  EXPECT_NE(s.message().find("unknown market 'EPEX-XX' for day_ahead (known: "), std::string::npos)
      << s.message();
  s = rules->Closure("EPEX-DE-LU", "intraday_auction", "IDA9", *ParseDate("2026-01-01"), &got);
  EXPECT_NE(s.message().find("unknown intraday_auction variant 'IDA9' for market 'EPEX-DE-LU' "
                             "(known: IDA1, IDA2, IDA3)"),
            std::string::npos)
      << s.message();
  s = rules->Closure("EPEX-DE-LU", "intraday_auction", "IDA1", *ParseDate("2024-06-12"), &got);
  EXPECT_NE(s.message().find("no EPEX-DE-LU intraday_auction IDA1 rule for delivery on 2024-06-12"),
            std::string::npos)
      << s.message();
  s = rules->Closure("EPEX-DE-LU", "intraday_continuous", "local", *ParseDate("2026-01-01"), &got);
  EXPECT_NE(s.message().find("give the period's start"), std::string::npos) << s.message();
}

TEST(MarketRules, AMalformedRulesFileNamesTheField) {
  const auto parse = [](const std::string& text) {
    MarketRules rules;
    return MarketRules::Parse(text, &rules).message();
  };
  const std::string head = R"({"format": "gridflow-market-rules", "version": "v", "rules": [)";
  EXPECT_EQ(parse("[]"), "market rules: not a JSON object");
  EXPECT_EQ(parse(R"({"format": "other"})"), "format: must be \"gridflow-market-rules\"");
  EXPECT_EQ(parse(R"({"format": 777777})"), "format: must be \"gridflow-market-rules\"");  // fuzz
  EXPECT_EQ(parse(head + R"({"market": "M", "product": "spot", "zone": "Europe/Berlin",
      "lead": "5m", "valid_from": "2026-01-01"}]})"),
            "rules[0].product: unknown product 'spot' (day_ahead, intraday_auction, "
            "intraday_continuous, balancing_energy)");
  EXPECT_EQ(parse(head + R"({"market": "M", "product": "day_ahead", "zone": "Mars/Olympus",
      "days_before": 1, "at": "12:00", "valid_from": "2026-01-01"}]})"),
            "rules[0].zone: unknown time zone 'Mars/Olympus'");
  EXPECT_EQ(parse(head + R"({"market": "M", "product": "intraday_continuous", "variant": "local",
      "zone": "Europe/Berlin", "lead": "5 minutes", "valid_from": "2026-01-01"}]})"),
            "rules[0].lead: '5 minutes' is not a duration up to 7d");
  EXPECT_EQ(parse(head + R"({"market": "M", "product": "day_ahead", "zone": "Europe/Berlin",
      "days_before": 1, "at": "12:00", "lead": "1h", "valid_from": "2026-01-01"}]})"),
            "rules[0].lead: give either days_before and at (a fixed closure) or lead");
  EXPECT_EQ(parse(head + R"({"market": "M", "product": "day_ahead", "zone": "Europe/Berlin",
      "days_before": 1, "at": "25:00", "valid_from": "2026-01-01"}]})"),
            "rules[0].at: '25:00' is not a time of day (HH:MM)");
  EXPECT_EQ(parse(head + R"({"market": "M", "product": "day_ahead", "zone": "Europe/Berlin",
      "days_before": 1, "at": "12:00", "valid_from": "2026-02-30"}]})"),
            "rules[0].valid_from: '2026-02-30' is not a date (YYYY-MM-DD)");
  EXPECT_EQ(parse(head + R"(], "overrides": [{"market": "M", "product": "day_ahead",
      "day": "2026-01-01"}]})"),
            "overrides[0].closes_at: give either closes_at (an instant) or at (with days_before)");
  // Bounded before anything recursive reads it: depth, and size.
  const std::string deep = head + std::string(9, '[') + std::string(9, ']') + "]}";
  EXPECT_NE(parse(deep).find("market rules: is nested more than 8 levels deep"), std::string::npos)
      << parse(deep);
  const std::string big = head + "], \"padding\": \"" + std::string(1 << 20, 'x') + "\"}";
  EXPECT_NE(parse(big).find("market rules: is " + std::to_string(big.size()) + " bytes"),
            std::string::npos)
      << parse(big).substr(0, 200);
}

TEST(MarketRules, AnOversizedRulesFileIsNotRead) {
  const std::string path = ::testing::TempDir() + "/gf-oversized-rules.json";
  std::ofstream(path) << std::string(MarketRules::kMaxBytes + 1, ' ');
  MarketRules rules;
  const Status s = LoadMarketRules(path, &rules);
  EXPECT_EQ(s.message(), path + ": market rules: is 1048577 bytes; the limit is 1048576");
  std::remove(path.c_str());
}

TEST(MarketRules, TheFunctionsUseTheRulesInForce) {
  FunctionContext context{TimePoint(), 1 << 20, nullptr};
  int steps = 1000;
  context.steps_left = &steps;
  nlohmann::json out;
  ASSERT_TRUE(
      CallFunction("intraday_gate_closure", {"EPEX-DE-LU", "2026-03-29T01:00:00Z"}, context, &out)
          .ok());
  EXPECT_EQ(out, "2026-03-29T00:00:00.000000Z");
  ASSERT_TRUE(CallFunction("intraday_gate_closure", {"EPEX-NL", "2026-03-29T01:00:00Z", "local"},
                           context, &out)
                  .ok());
  EXPECT_EQ(out, "2026-03-29T00:55:00.000000Z");
  ASSERT_TRUE(
      CallFunction("balancing_gate_closure", {"DE", "2026-10-25T01:00:00Z", "mFRR"}, context, &out)
          .ok());
  EXPECT_EQ(out, "2026-10-25T00:35:00.000000Z");
  ASSERT_TRUE(
      CallFunction("auction_gate_closure", {"EPEX-FR", "2026-10-25", "IDA3"}, context, &out).ok());
  EXPECT_EQ(out, "2026-10-25T09:00:00.000000Z");  // 10:00 CET, the first day of winter time
  // A market named in a definition is checked against the rules for that product.
  const nlohmann::json market = "DE";
  size_t bad = 99;
  const Status s = CheckLiteralArguments("intraday_gate_closure", {&market, nullptr}, &bad);
  EXPECT_EQ(bad, 0u);
  EXPECT_NE(s.message().find("unknown market 'DE' for intraday_continuous"), std::string::npos)
      << s.message();
  // Rules put in force reach the functions; the built-in ones come back after.
  SetMarketRules(std::make_shared<const MarketRules>(Extra(
      R"([{"market": "EPEX-DE-LU", "product": "intraday_continuous", "variant": "cross_border",
           "zone": "Europe/Berlin", "lead": "30m", "valid_from": "2026-01-01"}])")));
  ASSERT_TRUE(
      CallFunction("intraday_gate_closure", {"EPEX-DE-LU", "2026-03-29T01:00:00Z"}, context, &out)
          .ok());
  EXPECT_EQ(out, "2026-03-29T00:30:00.000000Z");
  SetMarketRules(MarketRules::BuiltIn());
  EXPECT_EQ(CurrentMarketRules(), MarketRules::BuiltIn());
}

}  // namespace
}  // namespace gridflow::dsl
