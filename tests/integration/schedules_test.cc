// Schedules against a real PostgreSQL with the engine's test clock (docs/schedules.md): fire times
// across daylight saving time equal PostgreSQL's own reading of the wall clock; a market schedule
// over 400 delivery days; catch-up after downtime; overlap policies; pause, resume, trigger and
// backfill; one run per nominal time, never two.
#include <set>

#include "engine/schedules/schedule_spec.h"
#include "gridflow/v1/schedule_service.grpc.pb.h"
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

using nlohmann::json;
using std::chrono::hours;
using std::chrono::minutes;

constexpr const char* kOpen = R"({"name": "settle", "version": 1, "steps": [
  {"name": "wait", "kind": "task", "task_type": "settle", "task_queue": "nobody-polls"}]})";

class SchedulesTest : public ::testing::Test {
 protected:
  SchedulesTest() : engine_(FastEngineConfig(db_.url())) {}
  void SetUp() override { ASSERT_TRUE(Register(engine_, kOpen).ok()); }

  v1::ScheduleService::Stub& schedules() {
    if (!stub_) stub_ = v1::ScheduleService::NewStub(engine_.channel());
    return *stub_;
  }
  grpc::Status Create(const std::string& id, const json& spec, v1::Schedule* out = nullptr) {
    v1::CreateScheduleRequest request;
    request.set_id(id);
    request.set_spec_json(spec.dump());
    v1::Schedule response;
    const grpc::Status s = schedules().CreateSchedule(Ctx().get(), request, &response);
    if (out != nullptr) *out = response;
    return s;
  }
  v1::Schedule Describe(const std::string& id) {
    v1::DescribeScheduleRequest request;
    request.set_id(id);
    request.set_firings(100);
    v1::Schedule response;
    EXPECT_TRUE(schedules().DescribeSchedule(Ctx().get(), request, &response).ok());
    return response;
  }
  // Backfills schedule `id` over [from, to] (RFC 3339).
  grpc::Status Backfill(const std::string& id, const char* from, const char* to,
                        v1::BackfillScheduleResponse* response) {
    v1::BackfillScheduleRequest request;
    request.set_id(id);
    *request.mutable_from() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(
        ToEpochMicros(*ParseTimestamp(from)) / 1000);
    *request.mutable_to() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(
        ToEpochMicros(*ParseTimestamp(to)) / 1000);
    return schedules().BackfillSchedule(Ctx(std::chrono::seconds(120)).get(), request, response);
  }
  static json Every(const std::string& every, const json& extra = json::object()) {
    json spec = {{"workflow", {{"definition", "settle"}}}, {"trigger", {{"every", every}}}};
    spec.update(extra);
    return spec;
  }
  std::string Count(const std::string& where) {
    return db_.Query("SELECT count(*) FROM runs WHERE " + where);
  }
  // The outcomes of a schedule's firings, oldest first.
  std::vector<std::string> Outcomes(const std::string& id) {
    std::vector<std::string> out;
    const v1::Schedule s = Describe(id);
    for (auto it = s.recent_firings().rbegin(); it != s.recent_firings().rend(); ++it)
      out.push_back(it->outcome());
    return out;
  }
  // Moves the engine's clock to `offset` past the real one and waits until `id` has `firings`.
  void AdvanceTo(Millis offset, const std::string& id, size_t firings) {
    engine_.SetClockOffset(offset);
    EXPECT_TRUE(Eventually([&] { return Outcomes(id).size() >= firings; }))
        << id << " has " << Outcomes(id).size() << " firings, expected " << firings;
  }
  // The engine clock offset that puts "now" just after the schedule's next fire time.
  Millis PastNextFire(const std::string& id, Millis current_offset) {
    const v1::Schedule s = Describe(id);
    const auto fire = std::chrono::milliseconds(
        google::protobuf::util::TimeUtil::TimestampToMilliseconds(s.next_fire_time()));
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    return std::max(current_offset, fire - now + Millis(200));
  }

  // aFRR energy bids in Germany close 25 minutes before each delivery quarter-hour: a schedule
  // firing 5 minutes before that, every run of its own (overlap allow_all).
  static json AfrrBids() {
    return {{"workflow", {{"definition", "settle"}}},
            {"trigger",
             {{"event", "gate_closure"},
              {"market", "DE"},
              {"product", "balancing_energy"},
              {"variant", "aFRR"},
              {"offset", "-5m"}}},
            {"overlap", "allow_all"}};
  }
  // The aFRR schedule `id`, backfilled over [from, to], starts one run per quarter-hour of the
  // Berlin delivery day `day` — `quarter_hours` of them, by PostgreSQL's reckoning.
  void ExpectOneRunPerQuarterHour(const std::string& id, const std::string& day, const char* from,
                                  const char* to, int quarter_hours) {
    ASSERT_TRUE(Create(id, AfrrBids()).ok());
    v1::BackfillScheduleResponse response;
    ASSERT_TRUE(Backfill(id, from, to, &response).ok());
    EXPECT_EQ(response.started(), quarter_hours);
    const std::string ours = "workflow_id LIKE '" + id + "@%'";
    EXPECT_EQ(Count(ours), std::to_string(quarter_hours));
    EXPECT_EQ(db_.Query("SELECT string_agg(DISTINCT input->'schedule'->>'delivery_day', ',') "
                        "FROM runs WHERE " +
                        ours),
              day);
    // The periods are the day's quarter-hours in Berlin, each run's one period, closing 25 minutes
    // before it starts and fired 30 minutes before.
    EXPECT_EQ(Count(ours +
                    " AND (input->'schedule'->>'period_start')::timestamptz IN ("
                    "SELECT generate_series(timestamp '" +
                    day +
                    " 00:00' AT TIME ZONE "
                    "'Europe/Berlin', timestamp '" +
                    day +
                    " 23:45' AT TIME ZONE "
                    "'Europe/Berlin', interval '15 minutes')) "
                    "AND (input->'schedule'->>'gate_closure')::timestamptz = "
                    "(input->'schedule'->>'period_start')::timestamptz - interval '25 minutes' "
                    "AND (input->'schedule'->>'nominal_time')::timestamptz = "
                    "(input->'schedule'->>'period_start')::timestamptz - interval '30 minutes' "
                    "AND jsonb_array_length(input->'schedule'->'periods') = 1 "
                    "AND input->'schedule'->'periods'->0->>'start' = "
                    "input->'schedule'->>'period_start'"),
              std::to_string(quarter_hours));
  }

  TestDatabase db_;
  TestEngine engine_;
  std::unique_ptr<v1::ScheduleService::Stub> stub_;
};

std::vector<std::string> Iterate(const engine::ScheduleSpec& spec, const char* from,
                                 const char* to) {
  std::vector<std::string> out;
  TimePoint t = *ParseTimestamp(from);
  const TimePoint end = *ParseTimestamp(to);
  while (true) {
    const auto n = spec.NextNominal(t);
    if (!n || n->at >= end) return out;
    out.push_back(FormatRfc3339Seconds(n->at));
    t = n->at;
  }
}

engine::ScheduleSpec Parsed(const json& trigger) {
  engine::ScheduleSpec spec;
  const Status s = engine::ScheduleSpec::Parse(
      {{"workflow", {{"definition", "settle"}}}, {"trigger", trigger}}, &spec);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return spec;
}

TEST_F(SchedulesTest, CronInBerlinEqualsPostgresReadingOfTheWallClockAcrossDst) {
  // PostgreSQL moves a skipped wall time forward by the gap, as the schedule does.
  // A repeated wall time is read by PostgreSQL as its later instant; the schedule fires at the
  // first: the earliest instant whose Berlin wall clock shows it, an hour before PostgreSQL's.
  const auto expected = [&](const std::string& series) {
    std::vector<std::string> out;
    const std::string rows = db_.Query(
        "SELECT string_agg(to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ',' "
        "ORDER BY t) FROM (SELECT DISTINCT CASE WHEN (p - interval '1 hour') AT TIME ZONE "
        "'Europe/Berlin' = l THEN p - interval '1 hour' ELSE p END AS t FROM (SELECT l, "
        "l AT TIME ZONE 'Europe/Berlin' AS p FROM " +
        series + " AS l) r) x");
    size_t start = 0;
    while (start < rows.size()) {
      const size_t comma = rows.find(',', start);
      out.push_back(rows.substr(start, comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return out;
  };
  // Daily at 02:30, two whole years: both spring-forward and both fall-back nights.
  const auto daily = Parsed({{"cron", "30 2 * * *"}, {"time_zone", "Europe/Berlin"}});
  const auto days = Iterate(daily, "2025-12-31T12:00:00Z", "2027-12-31T12:00:00Z");
  EXPECT_EQ(days.size(), 730u);
  EXPECT_EQ(days, expected("generate_series(timestamp '2026-01-01 02:30', "
                           "timestamp '2027-12-31 02:30', interval '1 day')"));
  // Every quarter-hour through each transition night.
  const auto quarters = Parsed({{"cron", "*/15 * * * *"}, {"time_zone", "Europe/Berlin"}});
  for (const auto& [from, to, local_from, local_to] : std::vector<std::array<const char*, 4>>{
           {"2026-03-28T22:00:00Z", "2026-03-29T04:00:00Z", "2026-03-28 23:00", "2026-03-29 05:45"},
           {"2026-10-24T21:00:00Z", "2026-10-25T04:00:00Z", "2026-10-24 23:00", "2026-10-25 04:45"},
           {"2027-03-27T22:00:00Z", "2027-03-28T04:00:00Z", "2027-03-27 23:00", "2027-03-28 05:45"},
           {"2027-10-30T21:00:00Z", "2027-10-31T04:00:00Z", "2027-10-30 23:00",
            "2027-10-31 04:45"}}) {
    const auto fired = Iterate(quarters, from, to);
    std::vector<std::string> want;
    for (const std::string& t :
         expected(std::string("generate_series(timestamp '") + local_from + "', timestamp '" +
                  local_to + "', interval '15 minutes')")) {
      if (t > std::string(from) && t < std::string(to)) want.push_back(t);
    }
    EXPECT_EQ(fired, want) << "night of " << from;
    EXPECT_GT(fired.size(), 20u);
  }
}

TEST_F(SchedulesTest, GateClosureScheduleOver400DeliveryDaysStartsOneRunPerDay) {
  const json spec = {
      {"workflow", {{"definition", "settle"}, {"input", {{"portfolio", "P-1"}}}}},
      {"trigger", {{"event", "gate_closure"}, {"market", "EPEX-DE-LU"}, {"offset", "-45m"}}},
      {"overlap", "allow_all"}};
  ASSERT_TRUE(Create("da-bid", spec).ok());
  const char* from = "2027-01-01T00:00:00Z";
  const char* to = "2028-02-04T23:59:59Z";
  v1::BackfillScheduleResponse response;
  ASSERT_TRUE(Backfill("da-bid", from, to, &response).ok());
  // Gate closures on 2027-01-01 .. 2028-02-04 belong to delivery days 2027-01-02 .. 2028-02-05.
  EXPECT_EQ(response.started(), 400);
  const std::string ours = "workflow_id LIKE 'da-bid@%'";
  EXPECT_EQ(Count(ours), "400");
  EXPECT_EQ(db_.Query("SELECT count(DISTINCT input->'schedule'->>'delivery_day') FROM runs WHERE " +
                      ours),
            "400");
  EXPECT_EQ(db_.Query("SELECT min(input->'schedule'->>'delivery_day') || ' ' || "
                      "max(input->'schedule'->>'delivery_day') FROM runs WHERE " +
                      ours),
            "2027-01-02 2028-02-05");
  // Each fired 45 minutes before 12:00 Brussels time the day before its delivery day, by
  // PostgreSQL's reckoning, in winter and in summer.
  EXPECT_EQ(Count(ours + " AND (input->'schedule'->>'nominal_time')::timestamptz = "
                         "(((input->'schedule'->>'delivery_day')::date - 1 + time '12:00') "
                         "AT TIME ZONE 'Europe/Brussels') - interval '45 minutes' "
                         "AND input->>'portfolio' = 'P-1' AND workflow_id = 'da-bid@' || "
                         "(input->'schedule'->>'nominal_time')"),
            "400");
  // A second backfill of the same range starts nothing.
  v1::BackfillScheduleResponse again;
  ASSERT_TRUE(Backfill("da-bid", from, to, &again).ok());
  EXPECT_EQ(again.started(), 0);
  EXPECT_EQ(again.already_started(), 400);
  EXPECT_EQ(Count(ours), "400");
}

TEST_F(SchedulesTest, AStoredTimeThatIsNoLongerAGateClosureIsPlannedAgainNotFired) {
  // As a replica finds it when another replanned under changed market rules before it did: the
  // stored next time (due now) is no gate closure under the rules this replica has.
  ASSERT_TRUE(Create("da-bid", {{"workflow", {{"definition", "settle"}}},
                                {"trigger", {{"event", "gate_closure"}, {"market", "EPEX-DE-LU"}}}})
                  .ok());
  db_.Query(
      "UPDATE schedules SET next_nominal = date_trunc('second', now()) - interval '1 minute',"
      " next_fire_at = date_trunc('second', now()) - interval '1 minute' WHERE id = 'da-bid'");
  EXPECT_TRUE(Eventually([&] {
    return db_.Query(
               "SELECT next_nominal > now() AND to_char(next_nominal AT TIME ZONE "
               "'Europe/Brussels', 'HH24:MI') = '12:00' FROM schedules WHERE id = 'da-bid'") == "t";
  }));
  EXPECT_EQ(Count("workflow_id LIKE 'da-bid@%'"), "0");  // no run without its delivery day
}

TEST_F(SchedulesTest, BalancingGateClosuresOnTheSpringDayStartOneRunPerQuarterHour) {
  ExpectOneRunPerQuarterHour("afrr", "2027-03-28", "2027-03-27T22:20:00Z", "2027-03-28T21:20:00Z",
                             92);
}

TEST_F(SchedulesTest, BalancingGateClosuresOnTheAutumnDayStartOneRunPerQuarterHour) {
  // The clocks go back: 2027-10-31 (Berlin) has 100 quarter-hours, two of them at 02:00 local.
  ExpectOneRunPerQuarterHour("afrr-autumn", "2027-10-31", "2027-10-30T21:20:00Z",
                             "2027-10-31T22:20:00Z", 100);
}

// Each delivery period fires once: the offset changed after a period's firing (its closure's
// firing now later) does not fire that period a second time.
TEST_F(SchedulesTest, AnOffsetChangedAfterAPeriodFiredDoesNotFireThatPeriodAgain) {
  json spec = AfrrBids();
  ASSERT_TRUE(Create("afrr", spec).ok());
  const Millis offset = PastNextFire("afrr", Millis(0));
  AdvanceTo(offset, "afrr", 1);
  const std::string period = db_.Query(
      "SELECT input->'schedule'->>'period_start' FROM runs WHERE workflow_id LIKE 'afrr@%'");
  EXPECT_EQ(db_.Query("SELECT timestamptz '" + Describe("afrr").last_delivery() +
                      "' = timestamptz '" + period + "'"),
            "t");

  // Fired 30 minutes before its period; now a minute before the closure (26 minutes before).
  spec["trigger"]["offset"] = "-1m";
  v1::UpdateScheduleRequest update;
  update.set_id("afrr");
  update.set_spec_json(spec.dump());
  v1::Schedule updated;
  ASSERT_TRUE(schedules().UpdateSchedule(Ctx().get(), update, &updated).ok());
  // The next firing is the following quarter-hour's, not this one's again.
  EXPECT_EQ(db_.Query("SELECT next_nominal = timestamptz '" + period +
                      "' + interval '15 minutes' - interval '26 minutes' FROM schedules "
                      "WHERE id = 'afrr'"),
            "t")
      << db_.Query("SELECT next_nominal FROM schedules WHERE id = 'afrr'") << " period " << period;
  engine_.SetClockOffset(offset + std::chrono::minutes(5));  // past the period's new closure time
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(Count("workflow_id LIKE 'afrr@%'"), "1");
}

TEST_F(SchedulesTest, MissedFiringsWithinTheCatchUpWindowFireOnceOlderOnesAreSkipped) {
  ASSERT_TRUE(
      Create("keep-up", Every("1h", {{"catch_up_window", "5h"}, {"overlap", "allow_all"}})).ok());
  ASSERT_TRUE(
      Create("strict", Every("1h", {{"catch_up_window", "100m"}, {"overlap", "allow_all"}})).ok());
  // The engine "was down" for three and a half fire times.
  const Millis offset = PastNextFire("keep-up", Millis(0)) + hours(3) + minutes(30);
  engine_.SetClockOffset(offset);
  ASSERT_TRUE(Eventually([&] { return Count("workflow_id LIKE 'keep-up@%'") == "4"; }));
  ASSERT_TRUE(Eventually([&] { return Count("workflow_id LIKE 'strict@%'") == "2"; }));
  EXPECT_EQ(Outcomes("keep-up"),
            (std::vector<std::string>{"started", "started", "started", "started"}));
  EXPECT_EQ(Outcomes("strict"), (std::vector<std::string>{"skipped_missed", "started", "started"}));
  EXPECT_EQ(Describe("strict").recent_firings(2).detail().substr(0, 22), "2 nominal time(s) from");
  // Nothing fires twice, however often the engine looks again.
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_EQ(Count("workflow_id LIKE 'keep-up@%'"), "4");
  EXPECT_EQ(Describe("keep-up").runs_started(), 4);
}

TEST_F(SchedulesTest, MaxRunsEndsTheSchedule) {
  ASSERT_TRUE(
      Create("twice",
             Every("1h", {{"max_runs", 2}, {"overlap", "allow_all"}, {"catch_up_window", "5h"}}))
          .ok());
  engine_.SetClockOffset(PastNextFire("twice", Millis(0)) + hours(3));
  ASSERT_TRUE(Eventually([&] { return !Describe("twice").has_next_nominal_time(); }));
  EXPECT_EQ(Count("workflow_id LIKE 'twice@%'"), "2");
  EXPECT_EQ(Describe("twice").runs_started(), 2);
  EXPECT_EQ(Outcomes("twice"), (std::vector<std::string>{"started", "started"}));
}

TEST_F(SchedulesTest, OverlapPoliciesDecideWhileThePreviousRunIsOpen) {
  for (const char* policy : {"skip", "buffer_one", "cancel_running", "allow_all"})
    ASSERT_TRUE(Create(policy, Every("1h", {{"overlap", policy}})).ok());
  Millis offset = PastNextFire("skip", Millis(0));
  for (const char* policy : {"skip", "buffer_one", "cancel_running", "allow_all"})
    AdvanceTo(offset, policy, 1);
  offset += hours(1);
  for (const char* policy : {"skip", "buffer_one", "cancel_running", "allow_all"})
    AdvanceTo(offset, policy, 2);
  offset += hours(1);
  for (const char* policy : {"skip", "buffer_one", "cancel_running", "allow_all"})
    AdvanceTo(offset, policy, 3);
  EXPECT_EQ(Outcomes("skip"),
            (std::vector<std::string>{"started", "skipped_overlap", "skipped_overlap"}));
  EXPECT_EQ(Outcomes("buffer_one"),
            (std::vector<std::string>{"started", "buffered", "skipped_overlap"}));
  EXPECT_EQ(Outcomes("cancel_running"),
            (std::vector<std::string>{"started", "started", "started"}));
  EXPECT_EQ(Outcomes("allow_all"), (std::vector<std::string>{"started", "started", "started"}));
  // cancel_running: the first two runs were asked to cancel (and did: nothing to compensate).
  ASSERT_TRUE(Eventually([&] {
    return Count("workflow_id LIKE 'cancel_running@%' AND status = 'CANCELLED'") == "2";
  }));
  EXPECT_EQ(Count("workflow_id LIKE 'cancel_running@%' AND status = 'RUNNING'"), "1");
  EXPECT_EQ(Count("workflow_id LIKE 'allow_all@%' AND status = 'RUNNING'"), "3");
  // buffer_one: when the running one ends, the buffered nominal time fires.
  const v1::Schedule buffered = Describe("buffer_one");
  ASSERT_TRUE(buffered.has_buffered_nominal_time());
  v1::TerminateRunRequest terminate;
  terminate.set_workflow_id(buffered.recent_firings(2).workflow_id());
  terminate.set_reason("done by hand");
  v1::TerminateRunResponse terminated;
  ASSERT_TRUE(engine_.workflows().TerminateRun(Ctx().get(), terminate, &terminated).ok());
  ASSERT_TRUE(Eventually([&] { return Describe("buffer_one").runs_started() == 2; }));
  const v1::Schedule after = Describe("buffer_one");
  EXPECT_FALSE(after.has_buffered_nominal_time());
  EXPECT_EQ(after.recent_firings(1).outcome(), "started");
  EXPECT_EQ(after.recent_firings(1).nominal_time(), buffered.buffered_nominal_time());
}

TEST_F(SchedulesTest, PausedSchedulesWaitTriggerAndReplayedFiringsStartNoSecondRun) {
  ASSERT_TRUE(Create("daily", Every("1h", {{"overlap", "allow_all"}})).ok());
  v1::PauseScheduleRequest pause;
  pause.set_id("daily");
  pause.set_note("exchange outage");
  v1::Schedule paused;
  ASSERT_TRUE(schedules().PauseSchedule(Ctx().get(), pause, &paused).ok());
  EXPECT_TRUE(paused.paused());
  EXPECT_EQ(paused.note(), "exchange outage");
  const Millis offset = PastNextFire("daily", Millis(0));
  engine_.SetClockOffset(offset);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_EQ(Count("workflow_id LIKE 'daily@%'"), "0");
  v1::ResumeScheduleRequest resume;
  resume.set_id("daily");
  v1::Schedule resumed;
  ASSERT_TRUE(schedules().ResumeSchedule(Ctx().get(), resume, &resumed).ok());
  ASSERT_TRUE(Eventually([&] { return Count("workflow_id LIKE 'daily@%'") == "1"; }));
  // A manual trigger: the next nominal time's run, now, whatever the overlap policy.
  const v1::Schedule waiting = Describe("daily");
  v1::TriggerScheduleRequest trigger;
  trigger.set_id("daily");
  trigger.set_identity("operator-anna");
  v1::TriggerScheduleResponse triggered;
  ASSERT_TRUE(schedules().TriggerSchedule(Ctx().get(), trigger, &triggered).ok());
  EXPECT_EQ(triggered.firing().outcome(), "triggered");
  EXPECT_EQ(triggered.firing().detail(), "triggered by operator-anna");
  EXPECT_EQ(triggered.firing().nominal_time(), waiting.next_nominal_time());
  EXPECT_EQ(Count("workflow_id LIKE 'daily@%'"), "2");
  // When that nominal time comes, its firing finds the run.
  engine_.SetClockOffset(PastNextFire("daily", offset));
  ASSERT_TRUE(Eventually(
      [&] { return Describe("daily").next_nominal_time() != waiting.next_nominal_time(); }));
  EXPECT_EQ(Count("workflow_id LIKE 'daily@%'"), "2");
  // A firing replayed (its nominal time handed back, as a crash before the commit would) finds
  // its run and starts none.
  const v1::Schedule before = Describe("daily");
  const std::string first = before.recent_firings(1).workflow_id();
  db_.Query("UPDATE schedules SET next_nominal = last_nominal, next_fire_at = last_nominal");
  ASSERT_TRUE(Eventually(
      [&] { return Describe("daily").next_nominal_time() == before.next_nominal_time(); }));
  EXPECT_EQ(Outcomes("daily"), (std::vector<std::string>{"started", "triggered"}));
  EXPECT_EQ(Count("workflow_id = '" + first + "'"), "1");
  EXPECT_EQ(Count("workflow_id LIKE 'daily@%'"), "2");
  // The runs are the schedule's in their history.
  EXPECT_EQ(History(engine_, first).front().actor(), "schedule:daily");
}

TEST_F(SchedulesTest, BadSchedulesAreRefusedNamingTheFieldAndChangeNothing) {
  const auto code_and_message = [&](const std::string& id, const json& spec) {
    const grpc::Status s = Create(id, spec);
    return std::to_string(s.error_code()) + " " + s.error_message();
  };
  EXPECT_EQ(code_and_message("a", Every("1h", {{"overlap", "sometimes"}})),
            "3 spec_json: overlap: must be skip, buffer_one, cancel_running or allow_all");
  json unknown_definition = Every("1h");
  unknown_definition["workflow"]["definition"] = "nope";
  EXPECT_EQ(code_and_message("a", unknown_definition).substr(0, 40),
            "5 spec_json: workflow.definition: defini");
  EXPECT_EQ(code_and_message("a", Every("1h", {{"calendar", "exchange"}})),
            "5 spec_json: calendar: no calendar 'exchange' in namespace 'default'");
  EXPECT_EQ(code_and_message("bad id!", Every("1h")).substr(0, 8), "3 id: mu");
  v1::CreateScheduleRequest deep;
  deep.set_id("deep");
  deep.set_spec_json(std::string(5000, '[') + std::string(5000, ']'));
  v1::Schedule ignored;
  EXPECT_EQ(schedules().CreateSchedule(Ctx().get(), deep, &ignored).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(db_.Query("SELECT count(*) FROM schedules"), "0");
  ASSERT_TRUE(Create("a", Every("1h")).ok());
  EXPECT_EQ(Create("a", Every("1h")).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  v1::PauseScheduleRequest pause;
  pause.set_id("a");
  EXPECT_EQ(schedules().PauseSchedule(Ctx().get(), pause, &ignored).error_message(),
            "note: is required to pause a schedule (say why)");
  EXPECT_EQ(db_.Query("SELECT paused FROM schedules"), "f");
}

TEST_F(SchedulesTest, ADeprecatedNamespaceTakesNoScheduledRuns) {
  ASSERT_TRUE(Create("hourly", Every("1h")).ok());
  db_.Query("UPDATE namespaces SET deprecated_at = now(), deprecated_reason = 'desk closed'");
  AdvanceTo(PastNextFire("hourly", Millis(0)), "hourly", 1);
  EXPECT_EQ(Outcomes("hourly"), (std::vector<std::string>{"failed"}));
  EXPECT_EQ(Describe("hourly").recent_firings(0).detail(),
            "namespace 'default' is deprecated: it takes no new runs");
  EXPECT_EQ(Count("workflow_id LIKE 'hourly@%'"), "0");
}

TEST_F(SchedulesTest, CalendarsSkipHolidaysAsData) {
  v1::PutCalendarRequest put;
  put.set_name("exchange");
  // Every day a holiday: each firing is recorded as skipped, none starts a run.
  json holidays = json::array();
  for (int d = -2; d < 3; ++d) {
    holidays.push_back(FormatDate(
        static_cast<int>(std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now())
                             .time_since_epoch()
                             .count() +
                         d)));
  }
  put.set_body_json(json{{"weekend", json::array()}, {"holidays", holidays}}.dump());
  v1::Calendar calendar;
  ASSERT_TRUE(schedules().PutCalendar(Ctx().get(), put, &calendar).ok());
  ASSERT_TRUE(Create("holiday", Every("1h", {{"calendar", "exchange"}})).ok());
  AdvanceTo(PastNextFire("holiday", Millis(0)), "holiday", 1);
  EXPECT_EQ(Outcomes("holiday"), (std::vector<std::string>{"skipped_calendar"}));
  EXPECT_EQ(Count("workflow_id LIKE 'holiday@%'"), "0");
}

TEST_F(SchedulesTest, ACalendarChangedOrDeletedMovesTheNextFiringOfTheSchedulesItJudges) {
  v1::PutCalendarRequest put;
  put.set_name("exchange");
  put.set_body_json(R"({"weekend": []})");
  v1::Calendar calendar;
  ASSERT_TRUE(schedules().PutCalendar(Ctx().get(), put, &calendar).ok());
  ASSERT_TRUE(Create("nine", {{"workflow", {{"definition", "settle"}}},
                              {"trigger", {{"cron", "0 9 * * *"}}},
                              {"calendar", "exchange"},
                              {"on_non_business_day", "next_business_day"}})
                  .ok());
  ASSERT_TRUE(Create("other", {{"workflow", {{"definition", "settle"}}},
                               {"trigger", {{"cron", "0 9 * * *"}}}})
                  .ok());
  const auto fire = [&](const std::string& id) {
    return db_.Query(
        "SELECT to_char(next_fire_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') "
        "FROM schedules WHERE id = '" +
        id + "'");
  };
  const std::string planned = fire("nine");
  ASSERT_EQ(planned.substr(11), "09:00");
  // Its day becomes a holiday: the firing moves to the next business day at 09:00; a schedule
  // without the calendar keeps its time.
  put.set_body_json(json{{"weekend", json::array()}, {"holidays", {planned.substr(0, 10)}}}.dump());
  ASSERT_TRUE(schedules().PutCalendar(Ctx().get(), put, &calendar).ok());
  const std::string day_after =
      db_.Query("SELECT to_char(date '" + planned.substr(0, 10) + "' + 1, 'YYYY-MM-DD')");
  EXPECT_EQ(fire("nine"), day_after + " 09:00");
  EXPECT_EQ(fire("other"), planned);
  EXPECT_EQ(db_.Query("SELECT to_char(next_nominal AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') "
                      "FROM schedules WHERE id = 'nine'"),
            planned);  // the nominal time stays: the run is told its own day
  // The calendar deleted: every day is a business day again.
  v1::DeleteCalendarRequest remove;
  remove.set_name("exchange");
  v1::DeleteCalendarResponse removed;
  ASSERT_TRUE(schedules().DeleteCalendar(Ctx().get(), remove, &removed).ok());
  EXPECT_EQ(fire("nine"), planned);
}

}  // namespace
}  // namespace gridflow::testing
