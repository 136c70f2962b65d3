// Schema migrations against a real PostgreSQL: idempotent, safe when engines start together,
// immutable once applied; history is append-only at the database level.
#include <pqxx/pqxx>

#include <thread>

#include "persistence/migrations.h"
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

using persistence::EmbeddedMigrations;
using persistence::Migrate;
using persistence::MigrationReport;

// The embedded migrations before `version`: a database as an earlier release left it.
std::vector<persistence::Migration> Below(int version) {
  std::vector<persistence::Migration> before = EmbeddedMigrations();
  while (before.back().version >= version)
    before.pop_back();
  return before;
}

TEST(Migrations, ApplyOnceThenNothingMore) {
  TestDatabase db;
  pqxx::connection c(db.url());
  MigrationReport first, second;
  ASSERT_TRUE(Migrate(c, EmbeddedMigrations(), &first).ok());
  EXPECT_EQ(first.applied, static_cast<int>(EmbeddedMigrations().size()));
  EXPECT_EQ(first.schema_version, EmbeddedMigrations().back().version);
  ASSERT_TRUE(Migrate(c, EmbeddedMigrations(), &second).ok());
  EXPECT_EQ(second.applied, 0);
  EXPECT_EQ(second.schema_version, first.schema_version);
  EXPECT_EQ(db.Query("SELECT count(*) FROM gridflow_schema_migrations"),
            std::to_string(EmbeddedMigrations().size()));
}

TEST(Migrations, ConcurrentMigratorsApplyEachMigrationExactlyOnce) {
  TestDatabase db;
  constexpr int kMigrators = 6;
  std::vector<MigrationReport> reports(kMigrators);
  std::vector<Status> statuses(kMigrators);
  std::vector<std::thread> threads;
  for (int i = 0; i < kMigrators; ++i) {
    threads.emplace_back([&, i] {
      pqxx::connection c(db.url());
      statuses[i] = Migrate(c, EmbeddedMigrations(), &reports[i]);
    });
  }
  for (auto& t : threads)
    t.join();
  int applied = 0;
  for (int i = 0; i < kMigrators; ++i) {
    EXPECT_TRUE(statuses[i].ok()) << statuses[i].ToString();
    applied += reports[i].applied;
  }
  EXPECT_EQ(applied, static_cast<int>(EmbeddedMigrations().size()));
  EXPECT_EQ(db.Query("SELECT count(*) FROM gridflow_schema_migrations"),
            std::to_string(EmbeddedMigrations().size()));
}

TEST(Migrations, TwoEnginesStartingTogetherBothServe) {
  TestDatabase db;
  std::unique_ptr<TestEngine> a, b;
  std::thread ta([&] { a = std::make_unique<TestEngine>(db.url()); });
  std::thread tb([&] { b = std::make_unique<TestEngine>(db.url()); });
  ta.join();
  tb.join();
  ASSERT_TRUE(Register(*a, SequenceDefinition("both", {{"s", "t"}})).ok());
  v1::GetDefinitionRequest request;
  request.set_name("both");
  v1::Definition definition;
  ASSERT_TRUE(b->workflows().GetDefinition(Ctx().get(), request, &definition).ok());
  EXPECT_EQ(definition.version(), 1);
  EXPECT_EQ(db.Query("SELECT count(*) FROM members WHERE stopped_at IS NULL"), "2");
}

TEST(Migrations, AnEditedMigrationIsRefused) {
  TestDatabase db;
  pqxx::connection c(db.url());
  MigrationReport report;
  ASSERT_TRUE(Migrate(c, EmbeddedMigrations(), &report).ok());
  std::vector<persistence::Migration> edited = EmbeddedMigrations();
  const std::string changed = std::string(edited[0].sql) + "\n-- edited";
  edited[0].sql = changed.c_str();
  const Status s = Migrate(c, edited, &report);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("must never be edited"), std::string::npos) << s.message();
}

TEST(Migrations, HistoryIsAppendOnly) {
  TestDatabase db;
  TestEngine engine(db.url());
  ASSERT_TRUE(Register(engine, SequenceDefinition("audit", {{"s", "t"}})).ok());
  Start(engine, "audited", "audit");
  pqxx::connection c(db.url());
  EXPECT_THROW(pqxx::nontransaction(c).exec("UPDATE events SET actor = 'mallory'"),
               pqxx::sql_error);
  EXPECT_THROW(pqxx::nontransaction(c).exec("DELETE FROM events"), pqxx::sql_error);
  EXPECT_THROW(pqxx::nontransaction(c).exec("TRUNCATE events CASCADE"), pqxx::sql_error);
  EXPECT_EQ(db.Query("SELECT count(*) FROM events"), "2");  // RunStarted, TaskScheduled
  // The same for the month's partition itself, which the runtime role cannot even read.
  const std::string partition = db.Query("SELECT tableoid::regclass::text FROM events LIMIT 1");
  ASSERT_EQ(partition.rfind("events_y", 0), 0u) << partition;
  EXPECT_EQ(partition, db.Query("SELECT gf_history_partition_name(history_key) FROM runs"));
  EXPECT_THROW(pqxx::nontransaction(c).exec("DELETE FROM " + partition), pqxx::sql_error);
  EXPECT_THROW(pqxx::nontransaction(c).exec("UPDATE " + partition + " SET actor = 'mallory'"),
               pqxx::sql_error);
  EXPECT_THROW(pqxx::nontransaction(c).exec("TRUNCATE " + partition), pqxx::sql_error);
  EXPECT_EQ(db.Query("SELECT has_table_privilege('gridflow_runtime', '" + partition +
                     "', 'DELETE') OR has_table_privilege('gridflow_runtime', '" + partition +
                     "', 'SELECT')"),
            "f");
  EXPECT_EQ(db.Query("SELECT count(*) FROM events"), "2");
}

// A run's history lies in the partition of its start's UTC month, whatever the session's zone.
TEST(Migrations, AHistoryPartitionIsNamedByItsUtcMonth) {
  TestDatabase db;
  TestEngine engine(db.url());
  pqxx::connection c(db.url());
  pqxx::nontransaction txn(c);
  txn.exec("SET TimeZone = 'Pacific/Auckland'");
  const auto name = [&](const std::string& time) {
    return txn.exec("SELECT gf_history_partition_name(" + txn.quote(time) + ")")[0][0]
        .as<std::string>();
  };
  EXPECT_EQ(name("2027-03-31 23:30-05"), "events_y2027m04");
  EXPECT_EQ(name("2027-04-01 01:30+02"), "events_y2027m03");
  EXPECT_EQ(db.Query("SELECT gf_history_partitions_ensure('2031-12-05', '2032-01-20')"), "2");
  EXPECT_EQ(db.Query("SELECT count(*) FROM pg_class WHERE relname IN "
                     "('events_y2031m12', 'events_y2032m01')"),
            "2");
}

// Migration 27: ANALYZE leaves the payloads out (no query filters on them), on every history
// partition too, one created later included; the columns queries do filter on keep statistics.
TEST(Migrations, PayloadsAreLeftOutOfPlannerStatistics) {
  TestDatabase db;
  TestEngine engine(db.url());
  ASSERT_TRUE(Register(engine, SequenceDefinition("order", {{"s", "t"}})).ok());
  Start(engine, "order-1", "order");
  EXPECT_EQ(db.Query("SELECT gf_history_partitions_ensure('2033-05-01', '2033-05-01')"), "1");
  db.Query("ANALYZE runs, tasks, events");
  const auto statistics = [&](const std::string& table, const std::string& column) {
    return db.Query("SELECT count(*) FROM pg_stats WHERE tablename = '" + table +
                    "' AND attname = '" + column + "'");
  };
  EXPECT_EQ(statistics("runs", "data"), "0");
  EXPECT_EQ(statistics("runs", "state"), "0");
  EXPECT_EQ(statistics("tasks", "input"), "0");
  EXPECT_EQ(statistics("events", "payload"), "0");
  EXPECT_EQ(statistics("runs", "status"), "1");
  EXPECT_EQ(statistics("tasks", "queue"), "1");
  EXPECT_EQ(statistics("events", "type"), "1");
  EXPECT_EQ(db.Query("SELECT string_agg(attname || '=' || attstattarget, ',' ORDER BY attname)"
                     " FROM pg_attribute WHERE attrelid = 'events_y2033m05'::regclass"
                     " AND attname IN ('payload', 'hash', 'type')"),
            "hash=0,payload=0,type=-1");
}

// Migration 28: the index of open runs holds the closing runs only — a running run never enters
// it — and the stuck-runs gauge finds a closing run through it.
TEST(Migrations, OnlyClosingRunsAreIndexedForTheStuckRunsGauge) {
  TestDatabase db;
  TestEngine engine(db.url());
  ASSERT_TRUE(Register(engine, SequenceDefinition("order", {{"s", "t"}})).ok());
  for (const char* id : {"order-1", "order-2", "order-3"})
    Start(engine, id, "order");
  // A b-tree with no entry is its metapage alone.
  EXPECT_EQ(db.Query("SELECT pg_relation_size('runs_closing')"), "8192");
  EXPECT_EQ(db.Query("SELECT count(*) FROM pg_class WHERE relname = 'runs_open'"), "0");

  // Cancelled while its task is leased (all three are), order-1 is CANCELLING until its worker
  // lets go.
  for (int i = 0; i < 3; ++i)
    ASSERT_FALSE(LeaseOne(engine, "q", "w").task_id().empty());
  v1::CancelRunRequest cancel;
  cancel.set_workflow_id("order-1");
  cancel.set_identity("operator");
  v1::CancelRunResponse cancelled;
  ASSERT_TRUE(engine.workflows().CancelRun(Ctx().get(), cancel, &cancelled).ok());
  ASSERT_EQ(cancelled.run().status(), v1::RUN_STATUS_CANCELLING);
  EXPECT_EQ(db.Query("SELECT pg_relation_size('runs_closing') > 8192"), "t");

  // The gauge's statement, on the engine's session settings, reads it.
  const std::string plan = ExplainEngineStatement(db.url(), "run_stuck_counts", "(0)", "",
                                                  "SET LOCAL enable_seqscan = off");
  EXPECT_NE(plan.find("runs_closing"), std::string::npos) << plan;
}

// Migration 29: large payloads are stored compressed with lz4 (this suite's PostgreSQL, Debian's,
// has it), a run's data rewritten at a step included, and in a history partition created later.
TEST(Migrations, LargePayloadsAreCompressedWithLz4) {
  TestDatabase db;
  TestEngine engine(db.url());
  ASSERT_TRUE(Register(engine, SequenceDefinition("curve", {{"s", "t"}})).ok());
  nlohmann::json curve = nlohmann::json::array();
  for (int qh = 0; qh < 96; ++qh)
    curve.push_back({{"qh", qh}, {"price_eur_mwh", 40.0 + qh % 7}, {"mw", 10 + qh % 5}});
  const std::string payload = nlohmann::json({{"curve", curve}}).dump();
  Start(engine, "curve-1", "curve", payload);
  const v1::LeasedTask task = LeaseOne(engine, "q", "w");
  ASSERT_FALSE(task.task_id().empty());
  CompleteLeased(engine, task, payload);
  EXPECT_EQ(db.Query("SELECT pg_column_compression(input) || ',' || pg_column_compression(data)"
                     " FROM runs WHERE workflow_id = 'curve-1'"),
            "lz4,lz4");
  EXPECT_EQ(db.Query("SELECT pg_column_compression(input) || ',' || pg_column_compression(output)"
                     " FROM tasks WHERE workflow_id = 'curve-1'"),
            "lz4,lz4");
  EXPECT_EQ(
      db.Query("SELECT count(*) FROM events e JOIN runs r ON r.id = e.run_id"
               " WHERE r.workflow_id = 'curve-1' AND pg_column_compression(e.payload) = 'lz4'"),
      "3");  // RunStarted (its input), TaskCompleted (the result), RunCompleted (its data)
  EXPECT_EQ(db.Query("SELECT gf_history_partitions_ensure('2033-06-01', '2033-06-01')"), "1");
  EXPECT_EQ(db.Query("SELECT attcompression FROM pg_attribute"
                     " WHERE attrelid = 'events_y2033m06'::regclass AND attname = 'payload'"),
            "l");
}

// Migration 16 partitions history: what was written before it becomes the legacy partition, its
// chain intact and continued there.
TEST(Migrations, HistoryFromBeforePartitioningBecomesTheLegacyPartition) {
  TestDatabase db;
  pqxx::connection c(db.url());
  MigrationReport report;
  const std::vector<persistence::Migration> before = Below(16);
  ASSERT_TRUE(Migrate(c, before, &report).ok());
  db.Query(
      "INSERT INTO definitions (namespace, name, version, body, created_by) VALUES "
      "('default', 'd', 1, '{}', 'test');"
      "INSERT INTO runs (id, namespace, workflow_id, definition_name, definition_version, status,"
      " input, data, started_by) VALUES ('00000000-0000-4000-8000-000000000001', 'default', "
      "'old', 'd', 1, 'RUNNING', '{}', '{}', 'test');"
      "INSERT INTO events (run_id, seq, type, actor) VALUES "
      "('00000000-0000-4000-8000-000000000001', 1, 'RunStarted', 'test'),"
      "('00000000-0000-4000-8000-000000000001', 2, 'TaskScheduled', 'test')");
  const std::string hashes = "SELECT string_agg(encode(hash, 'hex'), ',' ORDER BY seq) FROM events";
  const std::string before_hashes = db.Query(hashes);
  ASSERT_TRUE(Migrate(c, EmbeddedMigrations(), &report).ok());
  EXPECT_EQ(report.applied, static_cast<int>(EmbeddedMigrations().size() - before.size()));
  EXPECT_EQ(db.Query("SELECT string_agg(DISTINCT tableoid::regclass::text || ' ' || "
                     "history_key::text, ',') FROM events"),
            "events_legacy -infinity");
  EXPECT_EQ(db.Query("SELECT history_key::text FROM runs"), "-infinity");
  EXPECT_EQ(db.Query(hashes), before_hashes);
  // The run's next event lands beside its first ones and chains onto them.
  db.Query(
      "INSERT INTO events (run_id, seq, type, actor, history_key) VALUES "
      "('00000000-0000-4000-8000-000000000001', 3, 'TaskStarted', 'test', '-infinity')");
  EXPECT_EQ(db.Query("SELECT count(*) FROM events_legacy"), "3");
  EXPECT_EQ(db.Query("SELECT e3.hash = sha256(e2.hash || convert_to(concat('36:', e3.run_id, "
                     "'1:3', '11:TaskStarted', '0:', '0:', '0:', '4:test', '0:', "
                     "length(m.micros), ':', m.micros, '2:{}'), 'UTF8')) FROM events e3 "
                     "JOIN events e2 ON e2.run_id = e3.run_id AND e2.seq = 2 "
                     "CROSS JOIN LATERAL (SELECT ((extract(epoch FROM e3.created_at) * "
                     "1000000)::bigint)::text AS micros) m WHERE e3.seq = 3"),
            "t");
  // Runs created from now on get a key of their own: the time they were created.
  EXPECT_EQ(db.Query("SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN "
                     "pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
                     "WHERE d.adrelid = 'runs'::regclass AND a.attname = 'history_key'"),
            "gf_now()");
}

// Gate-closure schedules that fired before migration 23 learn the deliveries of their latest
// firings (as their runs were told them), so a closure postponed after one does not fire it again.
TEST(Migrations, GateClosureSchedulesLearnTheDeliveriesTheyFired) {
  TestDatabase db;
  pqxx::connection c(db.url());
  MigrationReport report;
  const std::vector<persistence::Migration> before = Below(23);
  ASSERT_TRUE(Migrate(c, before, &report).ok());
  const auto schedule = [](const std::string& id, const std::string& trigger) {
    return "INSERT INTO schedules (namespace, id, spec, created_by, updated_by) VALUES "
           "('default', '" +
           id + "', '{\"workflow\": {\"definition\": \"d\"}, \"trigger\": " + trigger +
           "}', 't', 't');";
  };
  const auto fired = [](const std::string& id, const std::string& nominal, const std::string& run,
                        const std::string& about) {
    return "INSERT INTO runs (id, namespace, workflow_id, definition_name, definition_version,"
           " status, input, data, started_by) VALUES ('" +
           run + "', 'default', '" + id + "@" + nominal +
           "', 'd', 1, 'RUNNING', '{\"schedule\": " + about +
           "}', '{}', 't'); INSERT INTO schedule_firings (namespace, schedule_id, nominal_at,"
           " fire_at, outcome, run_id) VALUES ('default', '" +
           id + "', '" + nominal + "', '" + nominal + "', 'started', '" + run + "');";
  };
  db.Query(
      "INSERT INTO definitions (namespace, name, version, body, created_by) VALUES "
      "('default', 'd', 1, '{}', 'test');" +
      schedule("da", R"({"event": "gate_closure", "market": "EPEX-DE-LU"})") +
      fired("da", "2026-12-01T10:15:00Z", "00000000-0000-4000-8000-000000000001",
            R"({"delivery_day": "2026-12-02"})") +
      fired("da", "2026-12-02T10:15:00Z", "00000000-0000-4000-8000-000000000002",
            R"({"delivery_day": "2026-12-03"})") +
      schedule("afrr", R"({"event": "gate_closure", "market": "DE", "product": )"
                       R"("balancing_energy", "variant": "aFRR"})") +
      fired("afrr", "2026-12-02T09:30:00Z", "00000000-0000-4000-8000-000000000003",
            R"({"delivery_day": "2026-12-02", "periods": [{"start": )"
            R"("2026-12-02T10:00:00Z"}, {"start": "2026-12-02T10:15:00Z"}]})") +
      schedule("hourly", R"({"cron": "0 * * * *"})") +
      fired("hourly", "2026-12-02T10:00:00Z", "00000000-0000-4000-8000-000000000004", "{}") +
      schedule("da-never", R"({"event": "gate_closure", "market": "EPEX-DE-LU"})"));
  ASSERT_TRUE(Migrate(c, EmbeddedMigrations(), &report).ok());
  EXPECT_EQ(db.Query("SELECT string_agg(id || '=' || array_to_string(handled_deliveries, ' '), ','"
                     " ORDER BY id) FROM schedules"),
            "afrr=2026-12-02T10:15:00Z,da=2026-12-02 2026-12-03,da-never=,hourly=");
}

// During a rolling upgrade across migration 16, replicas of the earlier release write events
// without a history key: they land in the legacy partition, and the run's history stays whole,
// in order and one chain.
TEST(Migrations, EventsOfAWriterNamingNoHistoryKeyStayInTheRunsHistory) {
  TestDatabase db;
  TestEngine engine(db.url());
  ASSERT_TRUE(Register(engine, SequenceDefinition("mixed", {{"a", "t"}, {"b", "t"}})).ok());
  Start(engine, "mixed", "mixed");
  // What the earlier release's write statement does for a signal: an event, the run's counter.
  db.Query(
      "WITH r AS (UPDATE runs SET last_event_seq = last_event_seq + 1 WHERE workflow_id = "
      "'mixed' RETURNING id, last_event_seq) INSERT INTO events (run_id, seq, type, actor, "
      "payload) SELECT id, last_event_seq, 'SignalReceived', 'old-replica', "
      "'{\"name\": \"note\"}' FROM r");
  EXPECT_EQ(db.Query("SELECT count(*) FROM events_legacy"), "1");
  CompleteLeased(engine, LeaseOne(engine, "q", "w"), "{}");
  CompleteLeased(engine, LeaseOne(engine, "q", "w"), "{}");
  EXPECT_EQ(WaitClosed(engine, "mixed").status(), v1::RUN_STATUS_COMPLETED);
  const std::vector<v1::Event> history = History(engine, "mixed");
  ASSERT_GE(history.size(), 6u);
  for (size_t i = 0; i < history.size(); ++i)
    EXPECT_EQ(history[i].sequence(), static_cast<int64_t>(i + 1));
  EXPECT_EQ(db.Query("SELECT count(*) FROM events"), std::to_string(history.size()));
  std::string out, err;
  EXPECT_EQ(RunCommand({CtlBinary(), "--address", engine.address(), "runs", "verify", "mixed"},
                       &out, &err),
            0)
      << out << err;
}

}  // namespace
}  // namespace gridflow::testing
