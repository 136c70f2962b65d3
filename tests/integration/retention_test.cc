// Retention and archive (docs/operations.md, "Retention and archive") against a real PostgreSQL:
// closed runs past the namespace's retention are archived (the archive verifies, a tampered one
// does not) and deleted with their history, as the owner role; open runs and runs within
// retention are untouched and their histories intact; an archived run says where it went. History
// lies in monthly partitions (migration 16): a month whose runs are all gone is dropped whole,
// and history from before partitioning is deleted row by row.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "gridflow/v1/namespace_service.grpc.pb.h"
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

namespace fs = std::filesystem;

class RetentionTest : public ::testing::Test {
 protected:
  RetentionTest()
      : archive_(fs::path(::testing::TempDir()) / ("gf-archive-" + db_.name())),
        engine_(Config(db_, archive_)) {}
  ~RetentionTest() override { fs::remove_all(archive_); }

  static engine::EngineConfig Config(const TestDatabase& db, const fs::path& archive) {
    engine::EngineConfig config = FastEngineConfig(db.url());  // runtime role + owner for DDL
    config.archive_dir = archive.string();
    config.retention_interval = Millis(100);
    config.history_partition_interval = Millis(100);
    return config;
  }

  int Ctl(std::vector<std::string> args, std::string* out) {
    std::vector<std::string> argv = {CtlBinary(), "--address", engine_.address()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string err;
    const int code = RunCommand(argv, out, &err);
    *out += err;
    return code;
  }

  TestDatabase db_;
  fs::path archive_;
  TestEngine engine_;
};

TEST_F(RetentionTest, ClosedRunsPastRetentionAreArchivedThenDeleted) {
  ASSERT_TRUE(Register(engine_, SequenceDefinition("settle", {{"post", "post"}})).ok());
  for (const std::string id : {"old-0", "old-1", "old-2", "recent", "open"})
    Start(engine_, id, "settle");
  for (int i = 0; i < 4; ++i)
    CompleteLeased(engine_, LeaseOne(engine_, "q", "w"), R"({"posted": true})");
  EXPECT_EQ(GetRun(engine_, "open").status(), v1::RUN_STATUS_RUNNING);
  // Nothing is due yet: no retention, then runs closed just now.
  auto namespaces = v1::NamespaceService::NewStub(engine_.channel());
  v1::UpdateNamespaceRequest update;
  update.set_namespace_("default");
  update.mutable_closed_run_retention()->set_seconds(3600);
  v1::Namespace updated;
  ASSERT_TRUE(namespaces->UpdateNamespace(Ctx().get(), update, &updated).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(db_.Query("SELECT count(*) FROM archived_runs"), "0");
  // Three of them closed two hours ago; the open one started then too (open runs never go).
  const std::string open_events = db_.Query(
      "SELECT count(*) FROM events e JOIN runs r ON r.id = e.run_id WHERE r.workflow_id = 'open'");
  db_.Query(
      "UPDATE runs SET closed_at = closed_at - interval '2 hours', created_at = created_at - "
      "interval '2 hours' WHERE workflow_id LIKE 'old-%' OR workflow_id = 'open'");

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (db_.Query("SELECT count(*) FROM archived_runs") != "3" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(db_.Query("SELECT count(*) FROM archived_runs"), "3");
  EXPECT_EQ(db_.Query("SELECT string_agg(workflow_id, ',' ORDER BY workflow_id) FROM runs"),
            "open,recent");
  // Their history stays in this month's partition until the month's last run goes (below).
  EXPECT_EQ(db_.Query("SELECT count(DISTINCT e.run_id) FROM events e LEFT JOIN runs r ON "
                      "r.id = e.run_id WHERE r.id IS NULL AND e.history_key > '-infinity'"),
            "3");
  EXPECT_EQ(db_.Query("SELECT count(*) FROM tasks t LEFT JOIN runs r ON r.id = t.run_id WHERE "
                      "r.id IS NULL"),
            "0");
  EXPECT_EQ(db_.Query("SELECT count(*) FROM events e JOIN runs r ON r.id = e.run_id WHERE "
                      "r.workflow_id = 'open'"),
            open_events);

  // Each archive is a history export that verifies.
  const std::string location =
      db_.Query("SELECT location FROM archived_runs WHERE workflow_id = 'old-1'");
  const fs::path file = archive_ / location;
  ASSERT_TRUE(fs::exists(file)) << file;
  EXPECT_EQ(location.rfind("default/", 0), 0u) << location;
  std::string out;
  EXPECT_EQ(Ctl({"runs", "verify", "--file", file.string()}, &out), 0) << out;
  std::ifstream lines(file);
  const auto line_count =
      std::count(std::istreambuf_iterator<char>(lines), std::istreambuf_iterator<char>(), '\n');
  EXPECT_EQ(db_.Query("SELECT history_length FROM archived_runs WHERE workflow_id = 'old-1'"),
            std::to_string(line_count - 1));  // a header, then every event
  EXPECT_GE(line_count, 4);
  // An edited archive does not: the task's result, changed after the header line.
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t posted = text.find("posted", text.find('\n'));
  ASSERT_NE(posted, std::string::npos) << text;
  const fs::path edited = archive_ / "edited.jsonl";
  std::ofstream(edited) << text.replace(posted, 6, "p0sted");
  EXPECT_EQ(Ctl({"runs", "verify", "--file", edited.string()}, &out), 8) << out;

  // An archived run says where it went; the histories left verify.
  v1::GetRunRequest get;
  get.set_workflow_id("old-1");
  v1::Run run;
  const grpc::Status s = engine_.workflows().GetRun(Ctx().get(), get, &run);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("archived by retention"), std::string::npos)
      << s.error_message();
  EXPECT_NE(s.error_message().find(location), std::string::npos) << s.error_message();
  EXPECT_EQ(Ctl({"runs", "show", "old-1"}, &out), 3) << out;
  EXPECT_NE(out.find(location), std::string::npos) << out;
  EXPECT_EQ(Ctl({"runs", "verify", "--all"}, &out), 0) << out;
  // The engine's runtime role still cannot delete history.
  const std::string denied =
      db_.Query("SELECT has_table_privilege('gridflow_runtime', 'events', 'DELETE')::text");
  EXPECT_EQ(denied, "false");
}

// The month a run started in names its history partition.
std::string PartitionOf(TestDatabase& db, const std::string& workflow_id) {
  return db.Query(
      "SELECT DISTINCT e.tableoid::regclass::text FROM events e JOIN runs r ON r.id = e.run_id "
      "WHERE r.workflow_id = '" +
      workflow_id + "'");
}

void SetRetention(TestEngine& engine, int64_t seconds) {
  auto namespaces = v1::NamespaceService::NewStub(engine.channel());
  v1::UpdateNamespaceRequest update;
  update.set_namespace_("default");
  update.mutable_closed_run_retention()->set_seconds(seconds);
  v1::Namespace updated;
  ASSERT_TRUE(namespaces->UpdateNamespace(Ctx().get(), update, &updated).ok());
}

TEST_F(RetentionTest, AMonthWhoseRunsAreAllArchivedIsDroppedWhole) {
  ASSERT_TRUE(Register(engine_, SequenceDefinition("settle", {{"post", "post"}})).ok());
  for (const std::string id : {"m-0", "m-1"})
    Start(engine_, id, "settle");
  Start(engine_, "open", "settle");
  for (int i = 0; i < 2; ++i)
    CompleteLeased(engine_, LeaseOne(engine_, "q", "w"), R"({"posted": true})");
  const std::string month = PartitionOf(db_, "m-0");
  ASSERT_EQ(month.rfind("events_y", 0), 0u) << month;
  EXPECT_EQ(PartitionOf(db_, "open"), month);
  SetRetention(engine_, 3600);
  // Months later: the closed runs are past retention; the open one still holds the month.
  engine_.SetClockOffset(Millis(int64_t{70} * 24 * 3600 * 1000));
  ASSERT_TRUE(Eventually([&] { return db_.Query("SELECT count(*) FROM archived_runs") == "2"; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a few maintenance rounds
  EXPECT_EQ(db_.Query("SELECT to_regclass('" + month + "') IS NOT NULL"), "t");
  EXPECT_EQ(db_.Query("SELECT count(DISTINCT run_id) FROM " + month), "3");
  // The coming months exist before any run starts in them.
  EXPECT_EQ(db_.Query("SELECT to_regclass('events_' || to_char((now() + interval '72 days') AT "
                      "TIME ZONE 'UTC', '\"y\"YYYY\"m\"MM')) IS NOT NULL"),
            "t");
  // Its last run closed and archived: the month goes, with every event in it, at once.
  CompleteLeased(engine_, LeaseOne(engine_, "q", "w"), R"({"posted": true})");
  engine_.SetClockOffset(Millis(int64_t{72} * 24 * 3600 * 1000));
  ASSERT_TRUE(Eventually([&] { return db_.Query("SELECT count(*) FROM runs") == "0"; }));
  ASSERT_TRUE(
      Eventually([&] { return db_.Query("SELECT to_regclass('" + month + "') IS NULL") == "t"; }));
  EXPECT_EQ(db_.Query("SELECT count(*) FROM events"), "0");
  EXPECT_EQ(db_.Query("SELECT count(*) FROM archived_runs"), "3");
  // Runs started now go to their own month, and their history verifies.
  Start(engine_, "later", "settle");
  CompleteLeased(engine_, LeaseOne(engine_, "q", "w"), R"({"posted": true})");
  EXPECT_EQ(WaitClosed(engine_, "later").status(), v1::RUN_STATUS_COMPLETED);
  EXPECT_GT(PartitionOf(db_, "later"), month);
  std::string out;
  EXPECT_EQ(Ctl({"runs", "verify", "--all"}, &out), 0) << out;
}

TEST_F(RetentionTest, HistoryFromBeforePartitioningIsDeletedRowByRow) {
  ASSERT_TRUE(Register(engine_, SequenceDefinition("settle", {{"a", "post"}, {"b", "post"}})).ok());
  Start(engine_, "legacy", "settle");
  CompleteLeased(engine_, LeaseOne(engine_, "q", "w"), R"({"posted": true})");
  // Make it a run from before migration 16: key -infinity, history in the legacy partition
  // (the chain's content does not include the key, so the hashes stay what they were).
  const std::string month = PartitionOf(db_, "legacy");
  db_.Query(
      "BEGIN; SET LOCAL gridflow.archiving = 'on';"
      "CREATE TEMP TABLE moved ON COMMIT DROP AS SELECT e.* FROM events e JOIN runs r ON "
      "r.id = e.run_id WHERE r.workflow_id = 'legacy';"
      "DELETE FROM events WHERE run_id IN (SELECT run_id FROM moved);"
      "UPDATE runs SET history_key = '-infinity' WHERE workflow_id = 'legacy';"
      "INSERT INTO events SELECT run_id, seq, type, step, task_id, attempt, actor, payload, "
      "created_at, iteration, hash, '-infinity' FROM moved ORDER BY seq; COMMIT");
  ASSERT_EQ(PartitionOf(db_, "legacy"), "events_legacy");
  // It goes on where it was: the next events join its chain in the legacy partition.
  CompleteLeased(engine_, LeaseOne(engine_, "q", "w"), R"({"posted": true})");
  EXPECT_EQ(WaitClosed(engine_, "legacy").status(), v1::RUN_STATUS_COMPLETED);
  EXPECT_EQ(PartitionOf(db_, "legacy"), "events_legacy");
  std::string out;
  EXPECT_EQ(Ctl({"runs", "verify", "legacy"}, &out), 0) << out;
  // Archived, its rows are deleted one by one; the legacy partition stays, for writers that
  // name no history key.
  SetRetention(engine_, 3600);
  engine_.SetClockOffset(Millis(int64_t{2} * 3600 * 1000));
  ASSERT_TRUE(Eventually([&] { return db_.Query("SELECT count(*) FROM archived_runs") == "1"; }));
  EXPECT_EQ(db_.Query("SELECT count(*) FROM events"), "0");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // maintenance rounds
  EXPECT_EQ(db_.Query("SELECT to_regclass('events_legacy') IS NOT NULL"), "t");
  EXPECT_EQ(db_.Query("SELECT to_regclass('" + month + "') IS NOT NULL"), "t");
}

}  // namespace
}  // namespace gridflow::testing
