// An engine's market rules file (docs/market-rules.md) against a real PostgreSQL: definitions
// naming its markets are accepted (others refused, the market named), runs compute their times
// with it, and a changed file is in force without a restart.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include <google/protobuf/util/time_util.h>

#include <pqxx/connection>
#include <pqxx/transaction>

#include "gridflow/v1/schedule_service.grpc.pb.h"
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

namespace fs = std::filesystem;

void WriteRules(const fs::path& path, const std::string& lead) {
  std::ofstream(path.string() + ".tmp")
      << R"({"format": "gridflow-market-rules", "version": "lead-)" << lead << R"(",
            "rules": [{"market": "DESK-ID", "product": "intraday_continuous",
                       "variant": "cross_border", "zone": "Europe/Berlin", "lead": ")"
      << lead << R"(", "valid_from": "2020-01-01"}]})";
  fs::rename(path.string() + ".tmp", path);  // as a ConfigMap update swaps the file
}

std::string Definition(const std::string& name, const std::string& market) {
  return R"js({"name": ")js" + name + R"js(", "version": 1, "steps": [
      {"name": "until_closure", "kind": "timer",
       "until": "intraday_gate_closure(')js" +
         market + R"js(', $/input/start)"}]})js";
}

// An engine's configuration with the rules file `rules`, re-read every 100 ms.
engine::EngineConfig RereadingRules(const TestDatabase& db, const fs::path& rules) {
  engine::EngineConfig config = FastEngineConfig(db.url());
  config.market_rules_file = rules.string();
  config.security.reload_interval = Millis(100);
  return config;
}

TEST(MarketRulesFileTest, AnEngineComputesWithItsRulesFileAndItsChanges) {
  TestDatabase db;
  const fs::path rules = fs::path(::testing::TempDir()) / ("gf-rules-" + db.name() + ".json");
  WriteRules(rules, "45m");
  TestEngine engine(RereadingRules(db, rules));

  const grpc::Status registered = Register(engine, Definition("intraday-bid", "DESK-ID"));
  ASSERT_TRUE(registered.ok()) << registered.error_message();
  const grpc::Status refused = Register(engine, Definition("elsewhere", "NOWHERE-ID"));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(refused.error_message().find("unknown market 'NOWHERE-ID' for intraday_continuous"),
            std::string::npos)
      << refused.error_message();
  const auto closure = [&](const std::string& workflow_id) {
    return db.Query(
        "SELECT to_char(t.fire_at AT TIME ZONE 'UTC', 'HH24:MI') FROM timers t JOIN runs r ON "
        "r.id = t.run_id WHERE r.workflow_id = '" +
        workflow_id + "'");
  };
  Start(engine, "qh-1", "intraday-bid", R"({"start": "2030-01-07T10:00:00Z"})");
  EXPECT_EQ(closure("qh-1"), "09:15");

  // The desk shortens the lead time: runs started after the file changed get the new closure.
  WriteRules(rules, "30m");
  int n = 0;
  EXPECT_TRUE(Eventually([&] {
    const std::string id = "qh-" + std::to_string(++n + 1);
    Start(engine, id, "intraday-bid", R"({"start": "2030-01-07T10:00:00Z"})");
    return closure(id) == "09:30";
  }));
  // An unusable file leaves the rules in force.
  std::ofstream(rules) << "{ not json";
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  Start(engine, "qh-after-typo", "intraday-bid", R"({"start": "2030-01-07T10:00:00Z"})");
  EXPECT_EQ(closure("qh-after-typo"), "09:30");
  fs::remove(rules);
}

// A day-ahead rule closing at `at` (Berlin), plus overrides: delivery day → the instant it closes.
void WriteDayAheadRules(const fs::path& path, const std::string& at,
                        const std::map<std::string, std::string>& overrides = {}) {
  std::string version = "da-" + at;
  std::string listed;
  for (const auto& [day, closes_at] : overrides) {
    version += "+" + day + "@" + closes_at;
    listed += std::string(listed.empty() ? "" : ", ") +
              R"({"market": "DESK-DA", "product": "day_ahead", "day": ")" + day +
              R"(", "closes_at": ")" + closes_at + R"("})";
  }
  std::ofstream(path.string() + ".tmp")
      << R"({"format": "gridflow-market-rules", "version": ")" << version
      << R"(", "rules": [{"market": "DESK-DA", "product": "day_ahead", "zone": "Europe/Berlin",
                         "days_before": 1, "at": ")"
      << at << R"(", "valid_from": "2020-01-01"}], "overrides": [)" << listed << "]}";
  fs::rename(path.string() + ".tmp", path);
}

// A desk's day-ahead market closing at 12:00 (Berlin) in a rules file its engine re-reads, and a
// definition "bid" whose task nobody takes, for the schedules to start.
class DayAheadDeskTest : public ::testing::Test {
 protected:
  DayAheadDeskTest() : rules_(Written(db_)), engine_(RereadingRules(db_, rules_)) {
    EXPECT_TRUE(Register(engine_, R"({"name": "bid", "version": 1, "steps": [
        {"name": "wait", "kind": "task", "task_type": "bid", "task_queue": "nobody-polls"}]})")
                    .ok());
  }
  ~DayAheadDeskTest() override { fs::remove(rules_); }

  static fs::path Written(const TestDatabase& db) {
    const fs::path rules = fs::path(::testing::TempDir()) / ("gf-da-rules-" + db.name() + ".json");
    WriteDayAheadRules(rules, "12:00");
    return rules;
  }
  // `more`: further members of the spec (", \"overlap\": ...").
  bool CreateSchedule(const std::string& id, const std::string& trigger,
                      const std::string& more = "") {
    v1::CreateScheduleRequest request;
    request.set_id(id);
    request.set_spec_json(R"({"workflow": {"definition": "bid"}, "trigger": )" + trigger + more +
                          "}");
    v1::Schedule schedule;
    return v1::ScheduleService::NewStub(engine_.channel())
        ->CreateSchedule(Ctx().get(), request, &schedule)
        .ok();
  }

  // Schedule `id`'s next nominal time (RFC 3339, UTC), from the database's copy of it.
  std::string NextNominal(const std::string& id) {
    return db_.Query(
        "SELECT to_char(next_nominal AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
        "FROM schedules WHERE id = '" +
        id + "'");
  }

  // The real time in `minutes`, to the minute (RFC 3339, UTC): an instant to close a day at.
  std::string InMinutes(int minutes) {
    return db_.Query("SELECT to_char(date_trunc('minute', now() + interval '" +
                     std::to_string(minutes) +
                     " minutes') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
  }

  static constexpr const char* kDayAhead = R"({"event": "gate_closure", "market": "DESK-DA"})";
  TestDatabase db_;
  const fs::path rules_;
  TestEngine engine_;
};

TEST_F(DayAheadDeskTest, GateClosureSchedulesFollowAChangedRulesFile) {
  ASSERT_TRUE(CreateSchedule("da", kDayAhead));
  const auto next = [&] { return NextNominal("da"); };
  const auto berlin = [&](const std::string& at) {
    return db_.Query("SELECT to_char(timestamptz '" + at +
                     "' AT TIME ZONE 'Europe/Berlin', 'HH24:MI')");
  };
  const std::string planned = next();
  ASSERT_EQ(berlin(planned), "12:00");

  // The desk moves the auction to 10:30: the planned firing moves with it, before it is due —
  // to 10:30 of the same day, or of the next if that is already past (an hour more or less when
  // the clocks change in between).
  WriteDayAheadRules(rules_, "10:30");
  EXPECT_TRUE(Eventually([&] { return berlin(next()) == "10:30"; })) << next();
  const std::string moved = next();
  EXPECT_EQ(db_.Query("SELECT (timestamptz '" + moved + "' - timestamptz '" + planned +
                      "')::text IN ('-01:30:00', '22:30:00', '21:30:00', '23:30:00')"),
            "t")
      << planned << " -> " << moved;

  // An override closes that delivery day in ten minutes: the schedule fires then (the engine's
  // clock moved past it), its run told the delivery day, and plans the next day at 10:30.
  const std::string day = db_.Query("SELECT ((timestamptz '" + moved +
                                    "' AT TIME ZONE 'Europe/Berlin')::date + 1)::text");
  const std::string soon = InMinutes(10);
  WriteDayAheadRules(rules_, "10:30", {{day, soon}});
  EXPECT_TRUE(Eventually([&] { return next() == soon; })) << next() << " " << soon;
  EXPECT_EQ(db_.Query("SELECT count(*) FROM runs"), "0");
  engine_.SetClockOffset(std::chrono::minutes(11));
  EXPECT_TRUE(Eventually([&] {
    return db_.Query("SELECT count(*) FROM runs WHERE workflow_id = 'da@" + soon +
                     "' AND input->'schedule'->>'delivery_day' = '" + day + "'") == "1";
  }));
  EXPECT_TRUE(Eventually([&] { return next() > moved && berlin(next()) == "10:30"; })) << next();
  EXPECT_EQ(db_.Query("SELECT count(*) FROM runs"), "1");
}

// Each delivery fires once: the exchange postponing a gate closure after the desk's bid for that
// delivery went (an override moving it later) does not start a second bid run for it.
TEST_F(DayAheadDeskTest, AClosureMovedLaterForADeliveryAlreadyFiredDoesNotFireItAgain) {
  ASSERT_TRUE(CreateSchedule("da", kDayAhead));
  const auto next = [&] { return NextNominal("da"); };
  const std::string planned = next();
  // The delivery day of the planned closure closes in ten minutes instead; the schedule fires.
  const std::string day = db_.Query("SELECT ((timestamptz '" + planned +
                                    "' AT TIME ZONE 'Europe/Berlin')::date + 1)::text");
  const std::string soon = InMinutes(10);
  WriteDayAheadRules(rules_, "12:00", {{day, soon}});
  ASSERT_TRUE(Eventually([&] { return next() == soon; })) << next() << " " << soon;
  engine_.SetClockOffset(std::chrono::minutes(11));
  ASSERT_TRUE(Eventually([&] {
    return db_.Query("SELECT count(*) FROM runs WHERE input->'schedule'->>'delivery_day' = '" +
                     day + "'") == "1";
  }));
  ASSERT_TRUE(Eventually([&] { return next() > soon; })) << next();
  const std::string following = next();  // the next delivery day's closure
  EXPECT_EQ(db_.Query("SELECT array_to_string(handled_deliveries, ',') FROM schedules"), day);

  // Then the exchange postpones that day's closure by twenty minutes: not a firing of its own.
  const std::string postponed = InMinutes(30);
  WriteDayAheadRules(rules_, "12:00", {{day, postponed}});
  EXPECT_FALSE(Eventually([&] { return next() == postponed; }, std::chrono::seconds(2)))
      << "the delivery already fired was planned again";
  EXPECT_EQ(next(), following);
  engine_.SetClockOffset(std::chrono::minutes(31));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(db_.Query("SELECT count(*) FROM runs"), "1");
  EXPECT_EQ(db_.Query("SELECT count(*) FROM schedule_firings WHERE schedule_id = 'da'"), "1");
}

// Nor is it listed among the schedule's upcoming nominal times (DescribeSchedule, `schedules
// show`) when the exchange postpones its closure past the next deliveries' closures.
TEST_F(DayAheadDeskTest, ADeliveryAlreadyFiredIsNotListedAsUpcoming) {
  ASSERT_TRUE(CreateSchedule("da", kDayAhead));
  const auto next = [&] { return NextNominal("da"); };
  const std::string day = db_.Query("SELECT ((timestamptz '" + next() +
                                    "' AT TIME ZONE 'Europe/Berlin')::date + 1)::text");
  const std::string soon = InMinutes(10);
  WriteDayAheadRules(rules_, "12:00", {{day, soon}});
  ASSERT_TRUE(Eventually([&] { return next() == soon; })) << next() << " " << soon;
  engine_.SetClockOffset(std::chrono::minutes(11));
  ASSERT_TRUE(Eventually([&] { return next() > soon; })) << next();
  const std::string following = next();  // the next delivery day's closure
  const auto shifted = [&](const std::string& interval) {
    return db_.Query("SELECT to_char((timestamptz '" + following + "' + interval '" + interval +
                     "') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
  };
  // The fired day now closes an hour after the day after `following`'s delivery; a later day
  // closes half an hour early (a marker: the engine has read the new rules once it is listed).
  const std::string postponed = shifted("1 day 1 hour");
  const std::string marker = shifted("2 days -30 minutes");
  const std::string marked_day = db_.Query("SELECT (date '" + day + "' + 3)::text");
  WriteDayAheadRules(rules_, "12:00", {{day, postponed}, {marked_day, marker}});

  auto stub = v1::ScheduleService::NewStub(engine_.channel());
  const auto upcoming = [&] {
    v1::DescribeScheduleRequest request;
    request.set_id("da");
    v1::Schedule schedule;
    std::vector<std::string> times;
    if (!stub->DescribeSchedule(Ctx().get(), request, &schedule).ok()) return times;
    for (const auto& t : schedule.upcoming_nominal_times())
      times.push_back(google::protobuf::util::TimeUtil::ToString(t));
    return times;
  };
  const auto listed = [](const std::vector<std::string>& times, const std::string& at) {
    return std::find(times.begin(), times.end(), at) != times.end();
  };
  ASSERT_TRUE(Eventually([&] { return listed(upcoming(), marker); })) << marker;
  const std::vector<std::string> times = upcoming();
  ASSERT_FALSE(times.empty());
  EXPECT_FALSE(listed(times, postponed)) << "the delivery fired already is listed at " << postponed;
  EXPECT_GT(times.front(), following);
  EXPECT_EQ(next(), following);
}

// An override may close a later delivery day before an earlier one (a holiday's auctions held
// early): both fire, in the order they close — the later day having fired does not make the
// earlier one count as handled.
TEST_F(DayAheadDeskTest, DeliveriesClosingOutOfOrderEachFire) {
  ASSERT_TRUE(CreateSchedule("da", kDayAhead, R"(, "overlap": "allow_all")"));
  const auto next = [&] { return NextNominal("da"); };
  const std::string day = db_.Query("SELECT ((timestamptz '" + next() +
                                    "' AT TIME ZONE 'Europe/Berlin')::date + 1)::text");
  const std::string day_after = db_.Query("SELECT (date '" + day + "' + 1)::text");
  const std::string first = InMinutes(10);
  const std::string second = InMinutes(20);
  WriteDayAheadRules(rules_, "12:00", {{day_after, first}, {day, second}});
  ASSERT_TRUE(Eventually([&] { return next() == first; })) << next() << " " << first;
  const auto runs_for = [&](const std::string& delivery) {
    return db_.Query("SELECT count(*) FROM runs WHERE input->'schedule'->>'delivery_day' = '" +
                     delivery + "'");
  };
  engine_.SetClockOffset(std::chrono::minutes(11));
  EXPECT_TRUE(Eventually([&] { return runs_for(day_after) == "1"; }));
  EXPECT_TRUE(Eventually([&] { return next() == second; })) << next() << " " << second;
  engine_.SetClockOffset(std::chrono::minutes(21));
  EXPECT_TRUE(Eventually([&] { return runs_for(day) == "1"; }));
  EXPECT_EQ(db_.Query("SELECT count(*) FROM runs"), "2");
}

// A gate-closure schedule whose row another transaction holds (a firing, a trigger, a backfill,
// an operator's psql session) is replanned once it is free, and meanwhile holds up no firing:
// replanning does not wait for its lock but tries it again kReplanRetry later.
TEST_F(DayAheadDeskTest, AScheduleLockedElsewhereIsReplannedLaterWithoutHoldingUpFirings) {
  ASSERT_TRUE(CreateSchedule("da-free", kDayAhead));
  ASSERT_TRUE(CreateSchedule("da-held", kDayAhead));
  ASSERT_TRUE(CreateSchedule("tick", R"({"every": "1s"})"));
  const auto closes = [&](const std::string& id) {  // its next firing, Berlin wall time
    return db_.Query(
        "SELECT to_char(next_nominal AT TIME ZONE 'Europe/Berlin', 'HH24:MI') FROM schedules "
        "WHERE id = '" +
        id + "'");
  };
  const auto ticks = [&] {  // nominal times handled (skipped_overlap after the first run)
    return std::stoi(db_.Query("SELECT count(*) FROM schedule_firings WHERE schedule_id = 'tick'"));
  };
  ASSERT_TRUE(Eventually([&] { return ticks() >= 1; }));

  pqxx::connection holder(db_.url());
  pqxx::work held(holder);
  held.exec("SELECT 1 FROM schedules WHERE id = 'da-held' FOR UPDATE");
  WriteDayAheadRules(rules_, "10:30");
  EXPECT_TRUE(Eventually([&] { return closes("da-free") == "10:30"; })) << closes("da-free");
  const int before = ticks();
  EXPECT_TRUE(Eventually([&] { return ticks() >= before + 2; }, std::chrono::seconds(4)))
      << "firings held up by the schedule being replanned";
  EXPECT_EQ(closes("da-held"), "12:00");
  held.abort();
  EXPECT_TRUE(Eventually([&] { return closes("da-held") == "10:30"; })) << closes("da-held");
}

// Thousands of gate-closure schedules are replanned in slices between the firings: a rules change
// does not hold up a replica's firings for as long as the whole pass takes (seconds).
TEST_F(DayAheadDeskTest, ThousandsOfGateClosureSchedulesAreReplannedWithoutHoldingUpFirings) {
  constexpr int kSchedules = 3000;
  ASSERT_TRUE(CreateSchedule("da", kDayAhead));
  db_.Query(
      "INSERT INTO schedules (namespace, id, spec, description, paused, note, next_nominal,"
      " next_fire_at, created_by, updated_by) SELECT namespace, 'da-' || g, spec, description,"
      " paused, note, next_nominal, next_fire_at, created_by, updated_by FROM schedules,"
      " generate_series(2, " +
      std::to_string(kSchedules) + ") g WHERE id = 'da'");
  ASSERT_TRUE(CreateSchedule("tick", R"({"every": "1s"})"));
  const auto ticks = [&] {  // nominal times handled (skipped_overlap after the first run)
    return std::stoi(db_.Query("SELECT count(*) FROM schedule_firings WHERE schedule_id = 'tick'"));
  };
  ASSERT_TRUE(Eventually([&] { return ticks() >= 2; }));
  const auto replanned = [&] {
    return std::stoi(db_.Query(
        "SELECT count(*) FROM schedules WHERE id LIKE 'da%' AND to_char(next_nominal AT TIME ZONE "
        "'Europe/Berlin', 'HH24:MI') = '10:30'"));
  };

  const auto started = std::chrono::steady_clock::now();
  WriteDayAheadRules(rules_, "10:30");
  ASSERT_TRUE(Eventually([&] { return replanned() == kSchedules; }, std::chrono::seconds(120)))
      << replanned();
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  // The 1 s schedule went on firing through the pass: no gap between two of its firings much
  // longer than a second (holding them up for the pass made a gap as long as the pass).
  const std::string gap = db_.Query(
      "SELECT extract(epoch FROM max(gap)) FROM (SELECT fired_at - lag(fired_at) OVER (ORDER BY"
      " fired_at) AS gap FROM schedule_firings WHERE schedule_id = 'tick') g");
  EXPECT_LT(std::stod(gap), 2.0) << "pass took " << took << " s";
  std::printf("replanning %d schedules took %.1f s; longest gap between firings %s s\n", kSchedules,
              took, gap.c_str());
}

TEST(MarketRulesFileTest, AnEngineRefusesToStartWithAMalformedFile) {
  TestDatabase db;
  const fs::path rules = fs::path(::testing::TempDir()) / ("gf-bad-rules-" + db.name() + ".json");
  std::ofstream(rules) << R"({"format": "gridflow-market-rules", "version": "v", "rules": [
      {"market": "M", "product": "day_ahead", "zone": "Europe/Berlin", "days_before": 1,
       "at": "12:00"}]})";
  engine::EngineConfig config = FastEngineConfig(db.url());
  config.market_rules_file = rules.string();
  engine::Engine engine(config);
  const Status s = engine.Start();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("rules[0].valid_from: is required"), std::string::npos) << s.message();
  fs::remove(rules);
}

}  // namespace
}  // namespace gridflow::testing
