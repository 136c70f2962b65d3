// gridflowctl's operator commands as a subprocess against a real engine: run listing filters,
// show, history --follow, terminate and retry, queues, definitions diff, configuration sources,
// completion and --help.
#include <sstream>

#include "tests/integration/cli_fixture.h"

namespace gridflow::testing {
namespace {

using json = nlohmann::json;

// Characters on a terminal line (UTF-8 continuation bytes do not count).
size_t DisplayWidthOf(const std::string& line) {
  size_t width = 0;
  for (char c : line)
    width += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return width;
}

class CliOperationsTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    std::string out;
    ASSERT_EQ(Ctl({"definitions", "apply", definition_file_.string()}, &out), 0) << out;
  }
  std::vector<std::string> ListedIds(std::vector<std::string> args) {
    std::string out;
    args.insert(args.begin(), {"-o", "json", "runs", "list"});
    EXPECT_EQ(Ctl(args, &out), 0) << out;
    std::vector<std::string> ids;
    const json listed = json::parse(out);
    for (const auto& run : listed["runs"])
      ids.push_back(run["workflow_id"]);
    return ids;
  }
};

TEST_F(CliOperationsTest, RunsListFiltersSortsAndPages) {
  for (const char* id : {"bid-DE-1", "bid-DE-2", "bid-FR-1"})
    Start(engine_, id, "day-ahead-bid");
  using Ids = std::vector<std::string>;
  EXPECT_EQ(ListedIds({"--search", "de-"}), (Ids{"bid-DE-2", "bid-DE-1"}));
  EXPECT_EQ(ListedIds({"--search", "de-", "--asc"}), (Ids{"bid-DE-1", "bid-DE-2"}));
  EXPECT_EQ(ListedIds({"--definition", "day-ahead-bid", "--version", "1"}).size(), 3u);
  EXPECT_TRUE(ListedIds({"--definition", "day-ahead-bid", "--version", "2"}).empty());
  EXPECT_EQ(ListedIds({"--since", "1h"}).size(), 3u);
  EXPECT_TRUE(ListedIds({"--until", "2020-01-01"}).empty());
  EXPECT_EQ(ListedIds({"--queue", "q", "--status", "running"}).size(), 3u);
  CompleteLeased(engine_, LeaseOne(engine_, "q", "w"), "{}");  // bid-DE-1 completes
  EXPECT_EQ(ListedIds({"--sort", "updated"}).front(), "bid-DE-1");
  EXPECT_EQ(ListedIds({"--status", "completed"}), (Ids{"bid-DE-1"}));

  // Pages: the table says how to get the next one; following it covers every run once.
  std::string out;
  ASSERT_EQ(Ctl({"runs", "list", "--limit", "2"}, &out), 0);
  EXPECT_NE(out.find("WORKFLOW ID"), std::string::npos) << out;
  const size_t more = out.find("more: --page-token ");
  ASSERT_NE(more, std::string::npos) << out;
  std::string token = out.substr(more + 19);
  token.erase(token.find_last_not_of("\n") + 1);
  EXPECT_EQ(ListedIds({"--limit", "2", "--page-token", token}), (Ids{"bid-DE-1"}));
  EXPECT_LE(DisplayWidthOf(out.substr(0, out.find('\n'))), 120u) << out;

  EXPECT_EQ(Ctl({"runs", "list", "--version", "1"}, &out), 2);  // needs --definition
  EXPECT_EQ(Ctl({"runs", "list", "--since", "last tuesday"}, &out), 2);
  EXPECT_EQ(Ctl({"runs", "list", "--status", "stuck"}, &out), 2);
}

TEST_F(CliOperationsTest, RunsShowListsLeasesAttemptsAndTheLastError) {
  Start(engine_, "bid-1", "day-ahead-bid");
  const v1::LeasedTask first = LeaseOne(engine_, "q", "worker-7");
  v1::FailTaskRequest fail;
  fail.set_task_id(first.task_id());
  fail.set_lease_epoch(first.lease_epoch());
  fail.set_error_type("ExchangeUnavailable");
  fail.set_message("EPEX API timed out");
  v1::FailTaskResponse failed;
  ASSERT_TRUE(engine_.workers().FailTask(Ctx().get(), fail, &failed).ok());
  v1::LeasedTask second;
  ASSERT_TRUE(Eventually([&] {
    second = LeaseOne(engine_, "q", "worker-8");
    return !second.task_id().empty();
  }));
  v1::HeartbeatRequest beat;  // the worker reports its progress
  beat.set_task_id(second.task_id());
  beat.set_lease_epoch(second.lease_epoch());
  beat.set_details_json(R"({"stage": "pricing"})");
  v1::HeartbeatResponse beaten;
  ASSERT_TRUE(engine_.workers().Heartbeat(Ctx().get(), beat, &beaten).ok());

  std::string out;
  ASSERT_EQ(Ctl({"runs", "show", "bid-1"}, &out), 0);
  const std::string progress = "task " + second.task_id() + R"( progress: {"stage":"pricing"})";
  for (const char* expected : {"RUNNING", "OPEN TASKS", "LEASED", "worker-8", "2/", "last error",
                               "ExchangeUnavailable at step forecast (attempt 1)",
                               "EPEX API timed out", progress.c_str()}) {
    EXPECT_NE(out.find(expected), std::string::npos) << expected << " in\n" << out;
  }
  ASSERT_EQ(Ctl({"-o", "json", "runs", "show", "bid-1"}, &out), 0);
  const json shown = json::parse(out);
  EXPECT_EQ(shown["run"]["workflow_id"], "bid-1");
  EXPECT_EQ(shown["open_tasks"][0]["lease_owner"], "worker-8");
  EXPECT_EQ(shown["open_tasks"][0]["attempt"], 2);
  EXPECT_EQ(shown["open_tasks"][0]["heartbeat_details_json"], R"({"stage": "pricing"})");
  EXPECT_EQ(shown["last_task_failure"]["error_type"], "ExchangeUnavailable");
  EXPECT_FALSE(shown["run"]["input_json"].get<std::string>().empty());

  ASSERT_EQ(Ctl({"runs", "show", "--summary", "bid-1"}, &out), 0);  // without input and data
  EXPECT_NE(out.find("LEASED"), std::string::npos) << out;
  EXPECT_NE(out.find("(left out: --summary)"), std::string::npos) << out;
  ASSERT_EQ(Ctl({"-o", "json", "runs", "show", "--summary", "bid-1"}, &out), 0);
  const json summary = json::parse(out);
  EXPECT_EQ(summary["run"]["fields_omitted"], true);
  EXPECT_EQ(summary["run"].value("input_json", ""), "");
  EXPECT_EQ(summary["open_tasks"][0]["lease_owner"], "worker-8");
}

// Open tasks whose progress would pass DescribeRun's budget are listed without it, and said so.
TEST_F(CliOperationsTest, RunsShowSaysWhichTasksCameWithoutTheirDetails) {
  ASSERT_TRUE(Register(engine_, ForeachDefinition("meters", "read", 3)).ok());
  Start(engine_, "meters-1", "meters", R"({"items": [1, 2, 3]})");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    const v1::LeasedTask task = LeaseOne(engine_, "q", "worker-9");
    ASSERT_FALSE(task.task_id().empty());
    v1::HeartbeatRequest beat;
    beat.set_task_id(task.task_id());
    beat.set_lease_epoch(task.lease_epoch());
    beat.set_details_json(R"({"readings": ")" + std::string(1500 * 1024, '7') + R"("})");
    v1::HeartbeatResponse beaten;
    ASSERT_TRUE(engine_.workers().Heartbeat(Ctx().get(), beat, &beaten).ok());
    ids.push_back(task.task_id());
  }
  std::string out;
  ASSERT_EQ(Ctl({"runs", "show", "meters-1"}, &out), 0);
  EXPECT_NE(out.find("task " + ids[2] + ": progress and failure details left out"),
            std::string::npos)
      << out.substr(0, 2000);
  EXPECT_EQ(out.find("task " + ids[0] + ": progress and failure details left out"),
            std::string::npos);
  EXPECT_NE(out.find("task " + ids[0] + " progress: "), std::string::npos);
}

TEST_F(CliOperationsTest, HistoryFollowStreamsUntilTheRunEnds) {
  Start(engine_, "bid-2", "day-ahead-bid");
  const std::string log =
      (fs::temp_directory_path() / ("gf-follow-" + std::to_string(getpid()) + ".ndjson")).string();
  ChildProcess follow({CtlBinary(), "--address", engine_.address(), "-o", "json", "runs", "history",
                       "bid-2", "--follow"},
                      log);
  const auto lines = [&] {
    std::ifstream in(log);
    std::vector<json> events;
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) events.push_back(json::parse(line));
    return events;
  };
  ASSERT_TRUE(Eventually([&] { return lines().size() == 2; }));  // RunStarted, TaskScheduled
  CompleteLeased(engine_, LeaseOne(engine_, "q", "w"), R"({"mw": 5})");
  EXPECT_EQ(follow.Wait(std::chrono::seconds(20)), 0);  // ends by itself once the run closed
  const auto events = lines();
  fs::remove(log);
  ASSERT_EQ(events.size(), 4u);
  for (size_t i = 0; i < events.size(); ++i)
    EXPECT_EQ(events[i]["sequence"], std::to_string(i + 1));  // int64 is a string in proto JSON
  EXPECT_EQ(events.back()["type"], "RunCompleted");

  // The table form of the same history: one row per event, relative times, fits 120 columns.
  std::string out;
  ASSERT_EQ(Ctl({"runs", "history", "bid-2"}, &out), 0);
  EXPECT_NE(out.find("+ELAPSED"), std::string::npos) << out;
  EXPECT_NE(out.find("TaskCompleted"), std::string::npos) << out;
  std::istringstream rows(out);
  for (std::string row; std::getline(rows, row);)
    EXPECT_LE(DisplayWidthOf(row), 120u) << row;
}

// A foreach's events show which item they belong to: setpoint[0], setpoint[1], ...
TEST_F(CliOperationsTest, HistoryTableNamesTheForeachItem) {
  ASSERT_TRUE(Register(engine_, R"js({"name": "fan", "version": 1, "steps": [
      {"name": "each", "kind": "foreach", "items": "range(2)",
       "steps": [{"name": "setpoint", "kind": "task", "task_type": "t", "task_queue": "q"}]}]})js")
                  .ok());
  Start(engine_, "fan-1", "fan");
  for (int i = 0; i < 2; ++i)
    CompleteLeased(engine_, LeaseOne(engine_, "q", "w"), "{}");
  WaitClosed(engine_, "fan-1");
  std::string out;
  ASSERT_EQ(Ctl({"runs", "history", "fan-1"}, &out), 0);
  EXPECT_NE(out.find("setpoint[0]#1"), std::string::npos) << out;
  EXPECT_NE(out.find("setpoint[1]#1"), std::string::npos) << out;
}

TEST_F(CliOperationsTest, TerminateAndRetryNeedAReasonAndAreRecorded) {
  Start(engine_, "bid-3", "day-ahead-bid");
  std::string out, err;
  EXPECT_EQ(Ctl({"runs", "terminate", "bid-3"}, &out, &err), 2);  // --reason is required
  ASSERT_EQ(Ctl({"runs", "terminate", "bid-3", "--reason", "exchange halted"}, &out), 0);
  EXPECT_NE(out.find("TERMINATED"), std::string::npos) << out;
  EXPECT_EQ(Ctl({"runs", "retry", "bid-3"}, &out, &err), 2);
  EXPECT_EQ(Ctl({"runs", "retry", "bid-3", "--reason", "x", "--from-step", "nope"}, &out, &err), 1);
  EXPECT_NE(err.find("has no step 'nope'"), std::string::npos) << err;
  ASSERT_EQ(
      Ctl({"runs", "retry", "bid-3", "--from-step", "forecast", "--reason", "halt lifted"}, &out),
      0);
  EXPECT_NE(out.find("RUNNING again, from step forecast"), std::string::npos) << out;
  ASSERT_EQ(Ctl({"-o", "json", "runs", "history", "bid-3"}, &out), 0);
  bool terminated = false, retried = false;
  const json history = json::parse(out);
  for (const auto& e : history["events"]) {
    const json payload = json::parse(e["payload_json"].get<std::string>());
    terminated |= e["type"] == "RunTerminated" && e["actor"] == "anonymous" &&
                  payload["client_identity"] == "operator-anna";
    retried |= e["type"] == "RunRetried" && e["actor"] == "anonymous" &&
               payload["client_identity"] == "operator-anna" && payload["reason"] == "halt lifted";
  }
  EXPECT_TRUE(terminated);
  EXPECT_TRUE(retried);
}

TEST_F(CliOperationsTest, QueuesListShowsTheBacklog) {
  Start(engine_, "bid-4", "day-ahead-bid");
  Start(engine_, "bid-5", "day-ahead-bid");
  LeaseOne(engine_, "q", "w");
  std::string out;
  ASSERT_EQ(Ctl({"queues", "list"}, &out), 0);
  EXPECT_NE(out.find("QUEUE"), std::string::npos) << out;
  ASSERT_EQ(Ctl({"-o", "json", "queues", "list"}, &out), 0);
  const json queues = json::parse(out)["queues"];
  ASSERT_EQ(queues.size(), 1u);
  EXPECT_EQ(queues[0]["name"], "q");
  EXPECT_EQ(queues[0]["pending"], "1");
  EXPECT_EQ(queues[0]["leased"], "1");
}

TEST_F(CliOperationsTest, QueuesPauseLimitAndBreakerAreShownAndRecorded) {
  std::string out, err;
  EXPECT_NE(Ctl({"queues", "pause", "q"}, &out, &err), 0);  // --reason is required
  ASSERT_EQ(Ctl({"queues", "pause", "q", "--reason", "EPEX outage"}, &out), 0) << out;
  EXPECT_NE(out.find("PAUSED by anonymous (operator-anna): EPEX outage"), std::string::npos) << out;
  ASSERT_EQ(Ctl({"queues", "limit", "set", "--task-type", "forecast", "--rate", "5"}, &out), 0);
  ASSERT_EQ(
      Ctl({"queues", "breaker", "set", "--task-type", "forecast", "--min-attempts", "4"}, &out), 0);
  Start(engine_, "bid-6", "day-ahead-bid");
  EXPECT_TRUE(LeaseOne(engine_, "q", "w", std::chrono::milliseconds(300)).task_id().empty());
  ASSERT_EQ(Ctl({"queues", "list"}, &out), 0);
  EXPECT_NE(out.find("PAUSED by anonymous (operator-anna): EPEX outage"), std::string::npos) << out;
  EXPECT_NE(out.find("limit 5/s burst 5"), std::string::npos) << out;
  EXPECT_NE(out.find("circuit closed (0/0 failed; opens at 50% of 4)"), std::string::npos) << out;
  ASSERT_EQ(Ctl({"-o", "json", "queues", "list"}, &out), 0);
  const json controls = json::parse(out)["controls"];
  ASSERT_EQ(controls.size(), 2u) << out;
  EXPECT_EQ(controls[0]["paused_by"], "anonymous (operator-anna)");
  ASSERT_EQ(Ctl({"queues", "resume", "q"}, &out), 0);
  EXPECT_EQ(LeaseOne(engine_, "q", "w").workflow_id(), "bid-6");
  ASSERT_EQ(Ctl({"queues", "limit", "clear", "--task-type", "forecast"}, &out), 0);
  ASSERT_EQ(Ctl({"queues", "breaker", "clear", "--task-type", "forecast"}, &out), 0);
  EXPECT_NE(out.find("no dispatch control"), std::string::npos) << out;
  EXPECT_EQ(db_.Query("SELECT count(*) FROM dispatch_controls"), "0");
}

TEST_F(CliOperationsTest, DefinitionsDiffMatchesStepsByName) {
  json v2 = json::parse(SequenceDefinition("day-ahead-bid",
                                           {{"forecast", "forecast"}, {"submit", "submit"}},
                                           R"({"retry": {"max_attempts": 5}})"));
  v2["version"] = 2;
  std::ofstream(definition_file_) << v2.dump();
  std::string out;
  ASSERT_EQ(Ctl({"definitions", "apply", definition_file_.string()}, &out), 0);
  ASSERT_EQ(Ctl({"definitions", "diff", "day-ahead-bid", "1", "2"}, &out), 0);
  EXPECT_NE(out.find("+ steps[submit]"), std::string::npos) << out;
  EXPECT_NE(out.find("+ steps[forecast].retry"), std::string::npos) << out;
  ASSERT_EQ(Ctl({"-o", "json", "definitions", "diff", "day-ahead-bid", "1", "2"}, &out), 0);
  const json diff = json::parse(out);
  EXPECT_EQ(diff["changes"].size(), 2u);
  EXPECT_EQ(diff["changes"][0]["change"], "added");
  EXPECT_EQ(Ctl({"definitions", "diff", "day-ahead-bid", "1", "9"}, &out), 3);
}

TEST_F(CliOperationsTest, ConnectionSettingsComeFromFlagsEnvironmentAndConfigFile) {
  Start(engine_, "bid-6", "day-ahead-bid");
  const std::string config =
      (fs::temp_directory_path() / ("gf-ctl-" + std::to_string(getpid()) + ".conf")).string();
  std::ofstream(config) << "address = " << engine_.address() << "\noutput = json\n";
  std::string out, err;
  // The file alone is enough.
  ASSERT_EQ(RunCommand({"/usr/bin/env", "-u", "GRIDFLOW_ADDRESS", CtlBinary(), "--config", config,
                        "runs", "list"},
                       &out, &err),
            0)
      << err;
  EXPECT_EQ(json::parse(out)["runs"][0]["workflow_id"], "bid-6");
  // The environment overrides the file, a flag overrides both.
  EXPECT_EQ(RunCommand({"/usr/bin/env", "GRIDFLOW_ADDRESS=127.0.0.1:1", CtlBinary(), "--config",
                        config, "--timeout", "2s", "runs", "list"},
                       &out, &err),
            4);
  EXPECT_NE(err.find("127.0.0.1:1 is unavailable"), std::string::npos) << err;
  EXPECT_EQ(RunCommand({"/usr/bin/env", "GRIDFLOW_ADDRESS=127.0.0.1:1", CtlBinary(), "--config",
                        config, "--address", engine_.address(), "runs", "list"},
                       &out, &err),
            0)
      << err;
  // GRIDFLOW_CONFIG names the file too; a broken file is a usage error naming the line.
  std::ofstream(config) << "adress = x\n";
  EXPECT_EQ(RunCommand({"/usr/bin/env", "GRIDFLOW_CONFIG=" + config, CtlBinary(), "runs", "list"},
                       &out, &err),
            2);
  EXPECT_NE(err.find(":1: unknown key 'adress'"), std::string::npos) << err;
  fs::remove(config);
  // An explicitly named file that does not exist is an error, not silently ignored.
  EXPECT_EQ(RunCommand({CtlBinary(), "--config", config, "runs", "list"}, &out, &err), 2);
}

TEST_F(CliOperationsTest, EveryCommandHasHelpAndBashCompletionKnowsThem) {
  std::string script;
  ASSERT_EQ(Ctl({"completion", "bash"}, &script), 0);
  EXPECT_NE(script.find("complete -F _gridflowctl gridflowctl"), std::string::npos);
  // Every command path the script knows has --help.
  std::istringstream lines(script);
  int commands = 0;
  for (std::string line; std::getline(lines, line);) {
    const size_t open = line.find("[\"gridflowctl");
    if (open == std::string::npos) continue;
    const std::string path = line.substr(open + 2, line.find("\"]") - open - 2);
    std::vector<std::string> args;
    std::istringstream words(path.substr(std::string("gridflowctl").size()));
    for (std::string w; words >> w;)
      args.push_back(w);
    args.push_back("--help");
    std::string out;
    EXPECT_EQ(Ctl(args, &out), 0) << path;
    EXPECT_NE(out.find("Usage"), std::string::npos) << path << ": " << out;
    ++commands;
  }
  EXPECT_GE(commands, 20);
  // The script works in bash: "gridflowctl runs te<TAB>" offers terminate.
  const std::string script_path =
      (fs::temp_directory_path() / ("gf-completion-" + std::to_string(getpid()))).string();
  std::ofstream(script_path) << script;
  std::string out;
  ASSERT_EQ(RunCommand({"/bin/bash", "-c",
                        "source " + script_path +
                            "; COMP_WORDS=(gridflowctl runs te); COMP_CWORD=2; _gridflowctl; "
                            "echo \"${COMPREPLY[*]}\""},
                       &out),
            0);
  fs::remove(script_path);
  EXPECT_EQ(out, "terminate\n");
}

}  // namespace
TEST_F(CliOperationsTest, NamespacesAreCreatedShownDeprecatedAndReinstated) {
  std::string out, err;
  ASSERT_EQ(Ctl({"namespaces", "create", "trading", "--description", "day-ahead desk",
                 "--time-zone", "Europe/Berlin", "--retention", "400d"},
                &out, &err),
            0)
      << err;
  EXPECT_NE(out.find("keep closed runs 400d"), std::string::npos) << out;
  EXPECT_NE(out.find("by anonymous (operator-anna)"), std::string::npos) << out;
  EXPECT_NE(Ctl({"namespaces", "create", "trading"}, &out, &err), 0);  // taken
  ASSERT_EQ(Ctl({"namespaces", "list"}, &out), 0);
  EXPECT_NE(out.find("Europe/Berlin"), std::string::npos) << out;
  ASSERT_EQ(Ctl({"namespaces", "deprecate", "trading", "--reason", "desk merged"}, &out), 0);
  EXPECT_NE(out.find("DEPRECATED: desk merged"), std::string::npos) << out;
  ASSERT_EQ(Ctl({"-o", "json", "namespaces", "list"}, &out), 0);
  EXPECT_EQ(json::parse(out)["namespaces"].size(), 1u) << out;  // default only
  ASSERT_EQ(Ctl({"-o", "json", "namespaces", "list", "--all"}, &out), 0);
  EXPECT_EQ(json::parse(out)["namespaces"].size(), 2u) << out;
  EXPECT_NE(Ctl({"--namespace", "trading", "definitions", "apply", definition_file_.string()}, &out,
                &err),
            0);
  EXPECT_NE(err.find("deprecated"), std::string::npos) << err;
  ASSERT_EQ(Ctl({"namespaces", "reinstate", "trading"}, &out), 0);
  ASSERT_EQ(Ctl({"namespaces", "update", "trading", "--retention", "0s"}, &out), 0);
  EXPECT_NE(out.find("keep closed runs forever"), std::string::npos) << out;
  EXPECT_EQ(Ctl({"--namespace", "trading", "definitions", "apply", definition_file_.string()}, &out,
                &err),
            0)
      << err;
}

TEST_F(CliOperationsTest, SchedulesAndCalendarsFromTheCommandLine) {
  const fs::path spec = fs::temp_directory_path() / ("gf-cli-sched-" + std::to_string(getpid()));
  const fs::path calendar = spec.string() + "-cal";
  std::ofstream(spec) << R"({"workflow": {"definition": "day-ahead-bid"},
    "trigger": {"cron": "0 6 * * *", "time_zone": "Europe/Berlin"}, "max_runs": 2})";
  std::ofstream(calendar) << R"({"weekend": ["SAT", "SUN"], "holidays": ["2026-12-25"]})";
  std::string out, err;
  ASSERT_EQ(Ctl({"calendars", "put", "epex", "--file", calendar.string()}, &out, &err), 0) << err;
  ASSERT_EQ(Ctl({"-o", "json", "calendars", "list"}, &out), 0);
  EXPECT_EQ(json::parse(out)["calendars"][0]["name"], "epex") << out;
  ASSERT_EQ(Ctl({"schedules", "create", "settle-de", "--file", spec.string(), "--description",
                 "daily settlement"},
                &out, &err),
            0)
      << err;
  EXPECT_NE(out.find("cron 0 6 * * * (Europe/Berlin)"), std::string::npos) << out;
  EXPECT_NE(out.find("by anonymous (operator-anna)"), std::string::npos) << out;
  ASSERT_EQ(Ctl({"-o", "json", "schedules", "show", "settle-de"}, &out), 0);
  const json shown = json::parse(out);
  EXPECT_EQ(shown["upcoming_nominal_times"].size(), 1u) << out;  // max_runs 2: one after the next
  ASSERT_EQ(Ctl({"-o", "json", "schedules", "list"}, &out), 0);
  EXPECT_EQ(json::parse(out)["schedules"].size(), 1u) << out;
  // Pause needs a note; trigger starts the next nominal time's run.
  EXPECT_EQ(Ctl({"schedules", "pause", "settle-de"}, &out, &err), 2);
  ASSERT_EQ(Ctl({"schedules", "pause", "settle-de", "--note", "metering late"}, &out), 0);
  EXPECT_NE(out.find("PAUSED: metering late"), std::string::npos) << out;
  ASSERT_EQ(Ctl({"schedules", "resume", "settle-de"}, &out), 0);
  ASSERT_EQ(Ctl({"-o", "json", "schedules", "trigger", "settle-de"}, &out, &err), 0) << err;
  const json fired = json::parse(out)["firing"];
  EXPECT_EQ(fired["outcome"], "triggered");
  EXPECT_EQ(fired["nominal_time"], shown["next_nominal_time"]);
  // Backfill: one run per nominal time in the range, and never a second.
  ASSERT_EQ(Ctl({"-o", "json", "schedules", "backfill", "settle-de", "--from", "2026-11-01", "--to",
                 "2026-11-03T23:00:00Z"},
                &out, &err),
            0)
      << err;
  EXPECT_EQ(json::parse(out)["started"], 3) << out;
  ASSERT_EQ(Ctl({"schedules", "backfill", "settle-de", "--from", "2026-11-01", "--to",
                 "2026-11-03T23:00:00Z"},
                &out),
            0);
  EXPECT_NE(out.find("0 started, 3 already had a run"), std::string::npos) << out;
  EXPECT_EQ(db_.Query("SELECT count(*) FROM runs WHERE workflow_id LIKE 'settle-de@%'"), "4");
  // Update: a new spec with a calendar; a bad one is refused naming the field.
  std::ofstream(spec) << R"({"workflow": {"definition": "day-ahead-bid"},
    "trigger": {"cron": "0 7 * * *", "time_zone": "Europe/Berlin"}, "calendar": "epex"})";
  ASSERT_EQ(Ctl({"schedules", "update", "settle-de", "--file", spec.string()}, &out, &err), 0)
      << err;
  EXPECT_NE(out.find("cron 0 7 * * *"), std::string::npos) << out;
  std::ofstream(spec) << R"({"workflow": {"definition": "day-ahead-bid"},
    "trigger": {"cron": "0 25 * * *"}})";
  EXPECT_EQ(Ctl({"schedules", "update", "settle-de", "--file", spec.string()}, &out, &err), 1);
  EXPECT_NE(err.find("trigger.cron: hour: 25 is out of range 0-23"), std::string::npos) << err;
  ASSERT_EQ(Ctl({"schedules", "delete", "settle-de"}, &out), 0);
  EXPECT_EQ(Ctl({"schedules", "show", "settle-de"}, &out, &err), 3);
  EXPECT_EQ(db_.Query("SELECT count(*) FROM runs WHERE workflow_id LIKE 'settle-de@%'"), "4");
  ASSERT_EQ(Ctl({"calendars", "delete", "epex"}, &out), 0);
  fs::remove(spec);
  fs::remove(calendar);
}

}  // namespace gridflow::testing
