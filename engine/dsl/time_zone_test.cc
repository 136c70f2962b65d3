#include "engine/dsl/time_zone.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <sstream>
#include <string>

#include "common/time.h"
#include "engine/dsl/time_functions.h"

namespace gridflow::dsl {
namespace {

using std::chrono::seconds;

seconds Utc(const char* rfc3339) {
  return std::chrono::floor<seconds>(ParseTimestamp(rfc3339)->time_since_epoch());
}

TEST(TimeZoneRule, ParsesPosixRulesOfTzifFooters) {
  const auto berlin = TimeZone::ParseRule("CET-1CEST,M3.5.0,M10.5.0/3");
  ASSERT_NE(berlin, nullptr);
  // 2040: last Sunday of March is the 25th, of October the 28th.
  EXPECT_EQ(TimeZone::RuleOffsetAt(*berlin, Utc("2040-03-25T00:59:59Z")).count(), 3600);
  EXPECT_EQ(TimeZone::RuleOffsetAt(*berlin, Utc("2040-03-25T01:00:00Z")).count(), 7200);
  EXPECT_EQ(TimeZone::RuleOffsetAt(*berlin, Utc("2040-10-28T00:59:59Z")).count(), 7200);
  EXPECT_EQ(TimeZone::RuleOffsetAt(*berlin, Utc("2040-10-28T01:00:00Z")).count(), 3600);

  // Southern hemisphere, quoted names and a 30-minute DST (Lord Howe Island).
  const auto lord_howe = TimeZone::ParseRule("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0");
  ASSERT_NE(lord_howe, nullptr);
  EXPECT_EQ(TimeZone::RuleOffsetAt(*lord_howe, Utc("2050-01-15T00:00:00Z")).count(), 39600);
  EXPECT_EQ(TimeZone::RuleOffsetAt(*lord_howe, Utc("2050-07-15T00:00:00Z")).count(), 37800);

  // Negative DST (Ireland: "summer" is standard time, winter the rule's DST).
  const auto dublin = TimeZone::ParseRule("IST-1GMT0,M10.5.0,M3.5.0/1");
  ASSERT_NE(dublin, nullptr);
  EXPECT_EQ(TimeZone::RuleOffsetAt(*dublin, Utc("2060-01-15T12:00:00Z")).count(), 0);
  EXPECT_EQ(TimeZone::RuleOffsetAt(*dublin, Utc("2060-07-15T12:00:00Z")).count(), 3600);

  // Julian days and zone without DST.
  const auto julian = TimeZone::ParseRule("XST5XDT,J60/2,300");
  ASSERT_NE(julian, nullptr);
  EXPECT_EQ(TimeZone::RuleOffsetAt(*julian, Utc("2044-06-01T00:00:00Z")).count(), -4 * 3600);
  const auto fixed = TimeZone::ParseRule("<+03>-3");
  ASSERT_NE(fixed, nullptr);
  EXPECT_EQ(TimeZone::RuleOffsetAt(*fixed, Utc("2090-06-01T00:00:00Z")).count(), 3 * 3600);

  for (const char* bad : {"", "CET", "CET-1CEST,M13.5.0,M10.5.0", "CET-1CEST,M3.6.0,M10.5.0",
                          "<CET-1", "CET-1CEST,M3.5.0", "CET-1CEST,M3.5.0,M10.5.0/3junk"}) {
    EXPECT_EQ(TimeZone::ParseRule(bad), nullptr) << bad;
  }
}

TEST(TimeZone, UnknownOrUnsafeNamesAreNotZones) {
  EXPECT_NE(TimeZone::Find("Europe/Berlin"), nullptr);
  EXPECT_NE(TimeZone::Find("UTC"), nullptr);
  for (const char* bad : {"Europe/Atlantis", "", "../../etc/passwd", "/etc/passwd",
                          "Europe/../Europe/Berlin", "Europe/Berlin\n", "zone.tab"}) {
    EXPECT_EQ(TimeZone::Find(bad), nullptr) << bad;
  }
}

TEST(TimeZone, DaylightSavingContinuesAfter2037) {
  std::vector<QuarterHour> qhs;
  ASSERT_TRUE(QuarterHours("2038-03-28", "Europe/Berlin", &qhs).ok());
  EXPECT_EQ(qhs.size(), 92u);
  ASSERT_TRUE(QuarterHours("2099-10-25", "Europe/Berlin", &qhs).ok());
  EXPECT_EQ(qhs.size(), 100u);
  std::string text;
  ASSERT_TRUE(FormatInZone(*ParseTimestamp("2070-07-01T10:00:00Z"), "Europe/Paris", &text).ok());
  EXPECT_EQ(text, "2070-07-01T12:00:00+02:00");
  TimePoint closure;
  ASSERT_TRUE(GateClosure("SDAC", "2050-07-01", &closure).ok());
  EXPECT_EQ(FormatRfc3339(closure), "2050-06-30T10:00:00.000000Z");
}

// Every day 2024-2100 in European, American, Australian zones (30-minute DST on Lord Howe,
// negative DST in Dublin, 45-minute offsets on the Chatham Islands, midnight transitions in
// Santiago), against Python's zoneinfo reading the same tz database.
TEST(TimeZone, EveryDayTo2100AgreesWithPythonZoneinfo) {
  const std::vector<std::string> zones = {
      "Europe/Berlin",       "Europe/Brussels", "Europe/Paris",     "Europe/Amsterdam",
      "Europe/London",       "Europe/Dublin",   "Europe/Lisbon",    "Europe/Helsinki",
      "Europe/Athens",       "Europe/Warsaw",   "Europe/Madrid",    "Europe/Oslo",
      "Europe/Zurich",       "Europe/Istanbul", "America/New_York", "Australia/Sydney",
      "Australia/Lord_Howe", "Pacific/Chatham", "America/Santiago"};
  std::string command =
      "/usr/bin/python3 " GRIDFLOW_DSL_TESTDATA "/tz_oracle.py 2024-01-01 2100-12-31";
  for (const auto& zone : zones)
    command += " " + zone;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  ASSERT_NE(pipe, nullptr);
  char line[256];
  int checked = 0, mismatches = 0;
  const auto at = [](const std::string& day, const char* time, const std::string& zone) {
    TimePoint t;
    EXPECT_TRUE(LocalTime(day, time, zone, &t).ok());
    return std::chrono::floor<seconds>(t.time_since_epoch()).count();
  };
  while (fgets(line, sizeof line, pipe.get()) != nullptr) {
    std::istringstream in(line);
    std::string zone, day, noon_text;
    int64_t midnight = 0, next_midnight = 0, at_0230 = 0;
    in >> zone >> day >> midnight >> next_midnight >> at_0230 >> noon_text;
    std::vector<QuarterHour> qhs;
    ASSERT_TRUE(QuarterHours(day, zone, &qhs).ok());
    std::string shown, local_day;
    const TimePoint noon_utc =
        TimePoint(std::chrono::duration_cast<Micros>(std::chrono::days(*ParseDate(day)))) +
        std::chrono::hours(12);
    ASSERT_TRUE(FormatInZone(noon_utc, zone, &shown).ok());
    ASSERT_TRUE(LocalDate(noon_utc, zone, &local_day).ok());
    const bool same = at(day, "00:00", zone) == midnight &&
                      static_cast<int64_t>(qhs.size()) == (next_midnight - midnight) / 900 &&
                      at(day, "02:30", zone) == at_0230 && shown == noon_text &&
                      local_day == noon_text.substr(0, 10);
    if (!same && ++mismatches <= 10) {
      ADD_FAILURE() << zone << " " << day << ": zoneinfo says midnight=" << midnight
                    << " quarter-hours=" << (next_midnight - midnight) / 900 << " 02:30=" << at_0230
                    << " noon UTC shown as " << noon_text
                    << "; we say midnight=" << at(day, "00:00", zone)
                    << " quarter-hours=" << qhs.size() << " 02:30=" << at(day, "02:30", zone) << " "
                    << shown << " " << local_day;
    }
    ++checked;
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(checked, static_cast<int>(zones.size()) * 28124);  // days from 2024 to 2100
}

}  // namespace
}  // namespace gridflow::dsl
