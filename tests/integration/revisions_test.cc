// Settlement revisions (docs/revisions.md) against a real PostgreSQL: a newer revision cancels
// the open older one (whose compensation runs), tasks are keyed by revision, older and repeated
// revisions are refused, and the chain and the latest revision per period are listed.
#include <nlohmann/json.hpp>

#include "tests/integration/cli_fixture.h"

namespace gridflow::testing {
namespace {

using nlohmann::json;

// Posts a settlement (undone by a reversal), then waits for the TSO's invoice before closing.
// clang-format off
constexpr const char* kSettlement = R"js({"name": "settle", "version": 1, "steps": [
    {"name": "post", "kind": "task", "task_type": "post", "task_queue": "q",
     "input": {"revision": "=revision()", "day": "=$/input/day"},
     "compensate": {"task_type": "reverse", "task_queue": "q",
                    "input": {"posting": "=$/post/posting"}}},
    {"name": "invoice", "kind": "wait_signal", "signal": "invoice"},
    {"name": "close", "kind": "task", "task_type": "close", "task_queue": "q"}]})js";
// clang-format on

// One task step: a revision that completes on its own.
constexpr const char* kQuick = R"({"name": "quick", "version": 1, "steps": [
    {"name": "post", "kind": "task", "task_type": "post", "task_queue": "q"}]})";

grpc::Status StartRevision(TestEngine& e, const std::string& workflow_id,
                           const std::string& definition, const std::string& period, int revision,
                           v1::StartRunResponse* resp, const std::string& input = "{}") {
  v1::StartRunRequest req;
  req.set_workflow_id(workflow_id);
  req.set_definition_name(definition);
  req.set_input_json(input);
  req.set_period(period);
  req.set_revision(revision);
  req.set_identity("metering-service");
  return e.workflows().StartRun(Ctx().get(), req, resp);
}

v1::StartRunResponse MustStartRevision(TestEngine& e, const std::string& workflow_id,
                                       const std::string& definition, const std::string& period,
                                       int revision) {
  v1::StartRunResponse resp;
  const grpc::Status s = StartRevision(e, workflow_id, definition, period, revision, &resp);
  EXPECT_TRUE(s.ok()) << workflow_id << ": " << s.error_message();
  return resp;
}

std::vector<v1::Run> List(TestEngine& e, const std::string& definition, const std::string& period,
                          bool latest_only) {
  v1::ListRunsRequest req;
  req.set_definition_name(definition);
  req.set_period(period);
  req.set_latest_revisions_only(latest_only);
  v1::ListRunsResponse resp;
  const grpc::Status s = e.workflows().ListRuns(Ctx().get(), req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return {resp.runs().begin(), resp.runs().end()};
}

std::vector<std::string> Ids(const std::vector<v1::Run>& runs) {
  std::vector<std::string> ids;
  for (const v1::Run& r : runs)
    ids.push_back(r.workflow_id());
  return ids;
}

TEST(RevisionsTest, ANewerRevisionCancelsTheOpenOlderOneAndItsCompensationRuns) {
  TestDatabase db;
  TestEngine engine(db.url());
  ASSERT_TRUE(Register(engine, kSettlement).ok());

  const v1::StartRunResponse r1 =
      MustStartRevision(engine, "settle-nov-r1", "settle", "2026-11", 1);
  EXPECT_TRUE(r1.created());
  EXPECT_EQ(r1.run().revision(), 1);
  EXPECT_EQ(r1.run().period(), "2026-11");
  EXPECT_EQ(r1.run().supersedes_workflow_id(), "");
  const v1::LeasedTask post1 = LeaseOne(engine, "q", "settler");
  ASSERT_EQ(post1.workflow_id(), "settle-nov-r1");
  // Keyed by the revision: a ledger books revision 1's posting once, whichever run sends it.
  EXPECT_EQ(post1.idempotency_key(), "default/settle/2026-11/r1:post");
  const json in1 = json::parse(post1.input_json());
  EXPECT_EQ(in1["revision"],
            json::parse(R"({"period": "2026-11", "number": 1, "supersedes": null})"));
  CompleteLeased(engine, post1, R"({"posting": "P-1"})");
  WaitForEvent(engine, "settle-nov-r1", "SignalWaitStarted", std::chrono::seconds(2));

  // The corrected metering arrives: revision 2 starts and revision 1 is cancelled with it.
  const v1::StartRunResponse r2 =
      MustStartRevision(engine, "settle-nov-r2", "settle", "2026-11", 2);
  EXPECT_TRUE(r2.created());
  EXPECT_EQ(r2.run().supersedes_workflow_id(), "settle-nov-r1");
  const v1::Run old = GetRun(engine, "settle-nov-r1");
  EXPECT_EQ(old.superseded_by_workflow_id(), "settle-nov-r2");
  EXPECT_EQ(old.status(), v1::RUN_STATUS_COMPENSATING);
  const v1::Event asked = WaitForEvent(engine, "settle-nov-r1", "RunCancelRequested");
  EXPECT_NE(asked.payload_json().find("superseded by revision 2 (workflow id 'settle-nov-r2')"),
            std::string::npos)
      << asked.payload_json();
  EXPECT_EQ(asked.actor(), "anonymous");  // the principal; the caller's identity in the payload
  EXPECT_EQ(json::parse(asked.payload_json())["client_identity"], "metering-service")
      << asked.payload_json();

  // Two tasks now: revision 1's reversal and revision 2's posting, each keyed by its revision.
  std::map<std::string, v1::LeasedTask> tasks;
  for (int i = 0; i < 2; ++i) {
    const v1::LeasedTask t = LeaseOne(engine, "q", "settler");
    ASSERT_FALSE(t.task_id().empty());
    tasks[t.task_type()] = t;
  }
  ASSERT_EQ(tasks.count("reverse"), 1u);
  ASSERT_EQ(tasks.count("post"), 1u);
  EXPECT_EQ(tasks["reverse"].idempotency_key(), "default/settle/2026-11/r1:post:compensate");
  EXPECT_EQ(json::parse(tasks["reverse"].input_json())["posting"], "P-1");
  EXPECT_EQ(tasks["post"].idempotency_key(), "default/settle/2026-11/r2:post");
  EXPECT_EQ(json::parse(tasks["post"].input_json())["revision"]["supersedes"], "settle-nov-r1");
  CompleteLeased(engine, tasks["reverse"], R"({"reversed": "P-1"})");
  CompleteLeased(engine, tasks["post"], R"({"posting": "P-2"})");
  EXPECT_EQ(WaitClosed(engine, "settle-nov-r1").status(), v1::RUN_STATUS_CANCELLED);

  // Revision 2 goes on to the end.
  v1::SignalRunRequest signal;
  signal.set_workflow_id("settle-nov-r2");
  signal.set_signal_name("invoice");
  v1::SignalRunResponse signalled;
  ASSERT_TRUE(engine.workflows().SignalRun(Ctx().get(), signal, &signalled).ok());
  const v1::LeasedTask close = LeaseOne(engine, "q", "settler");
  EXPECT_EQ(close.idempotency_key(), "default/settle/2026-11/r2:close");
  CompleteLeased(engine, close, "{}");
  EXPECT_EQ(WaitClosed(engine, "settle-nov-r2").status(), v1::RUN_STATUS_COMPLETED);
  const std::vector<v1::Event> started = History(engine, "settle-nov-r2");
  ASSERT_FALSE(started.empty());
  EXPECT_EQ(json::parse(started[0].payload_json())["revision"],
            json::parse(R"({"period": "2026-11", "number": 2, "supersedes": "settle-nov-r1"})"));
}

TEST(RevisionsTest, AnOlderOrTheSameRevisionIsRefusedAndChangesNothing) {
  TestDatabase db;
  TestEngine engine(db.url());
  ASSERT_TRUE(Register(engine, kSettlement).ok());
  MustStartRevision(engine, "nov-r1", "settle", "2026-11", 1);
  MustStartRevision(engine, "nov-r2", "settle", "2026-11", 2);
  const std::string runs_before = db.Query("SELECT count(*) FROM runs");

  v1::StartRunResponse resp;
  grpc::Status s = StartRevision(engine, "nov-r1-again", "settle", "2026-11", 1, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(),
            "revision: revision 1 of period '2026-11' of 'settle' is older than revision 2 "
            "(workflow id 'nov-r2'), already started; a superseded revision cannot be started");
  s = StartRevision(engine, "nov-r2-twice", "settle", "2026-11", 2, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(s.error_message(),
            "revision: revision 2 of period '2026-11' of 'settle' was already started as workflow "
            "id 'nov-r2'");
  // The same start again is the same run; the same workflow id for something else is refused.
  s = StartRevision(engine, "nov-r2", "settle", "2026-11", 2, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(resp.created());
  EXPECT_EQ(resp.run().revision(), 2);
  s = StartRevision(engine, "nov-r2", "settle", "2026-11", 3, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_NE(s.error_message().find("by a run for revision 2 of period '2026-11'"),
            std::string::npos)
      << s.error_message();
  v1::StartRunRequest plain;
  plain.set_workflow_id("nov-r2");
  plain.set_definition_name("settle");
  plain.set_input_json("{}");
  s = engine.workflows().StartRun(Ctx().get(), plain, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  // Half a revision, or a period that is no identifier, is bad input naming the field.
  s = StartRevision(engine, "x1", "settle", "", 2, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "period: is required with a revision");
  s = StartRevision(engine, "x2", "settle", "2026-11", 0, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "revision: must be at least 1 when a period is given");
  s = StartRevision(engine, "x3", "settle", "2026 11!", 1, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message().rfind("period: ", 0), 0u) << s.error_message();
  s = StartRevision(engine, "x4", "no-such-definition", "2026-11", 1, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(db.Query("SELECT count(*) FROM runs"), runs_before);
  EXPECT_EQ(GetRun(engine, "nov-r2").status(), v1::RUN_STATUS_RUNNING);

  // Another period, or another definition's series, is independent.
  s = StartRevision(engine, "dec-r1", "settle", "2026-12", 1, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(Register(engine, kQuick).ok());
  s = StartRevision(engine, "quick-nov-r1", "quick", "2026-11", 1, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

using RevisionsCliTest = CliTest;

TEST_F(RevisionsCliTest, TheChainAndTheLatestRevisionPerPeriodAreListed) {
  ASSERT_TRUE(Register(engine_, kQuick).ok());
  MustStartRevision(engine_, "quick-nov-r1", "quick", "2026-11", 1);
  // Revision 1 completed before its correction came: it stays COMPLETED, marked superseded.
  CompleteLeased(engine_, LeaseOne(engine_, "q", "settler"), "{}");
  ASSERT_EQ(WaitClosed(engine_, "quick-nov-r1").status(), v1::RUN_STATUS_COMPLETED);
  MustStartRevision(engine_, "quick-nov-r2", "quick", "2026-11", 2);
  MustStartRevision(engine_, "quick-nov-r4", "quick", "2026-11", 4);  // numbers may skip
  MustStartRevision(engine_, "quick-dec-r1", "quick", "2026-12", 1);
  Start(engine_, "quick-plain", "quick");

  const std::vector<v1::Run> chain = List(engine_, "quick", "2026-11", false);
  EXPECT_EQ(Ids(chain), (std::vector<std::string>{"quick-nov-r4", "quick-nov-r2", "quick-nov-r1"}));
  ASSERT_EQ(chain.size(), 3u);
  EXPECT_EQ(chain[0].superseded_by_workflow_id(), "");
  EXPECT_EQ(chain[0].supersedes_workflow_id(), "quick-nov-r2");
  EXPECT_EQ(chain[1].superseded_by_workflow_id(), "quick-nov-r4");
  EXPECT_EQ(chain[1].status(), v1::RUN_STATUS_CANCELLED);
  EXPECT_EQ(chain[2].superseded_by_workflow_id(), "quick-nov-r2");
  EXPECT_EQ(chain[2].status(), v1::RUN_STATUS_COMPLETED);
  EXPECT_EQ(Ids(List(engine_, "quick", "", true)),
            (std::vector<std::string>{"quick-dec-r1", "quick-nov-r4"}));

  std::string out;
  ASSERT_EQ(Ctl({"runs", "list", "--definition", "quick", "--period", "2026-11"}, &out), 0);
  EXPECT_NE(out.find("2026-11 r4 (latest)"), std::string::npos) << out;
  EXPECT_NE(out.find("2026-11 r1, superseded by quick-nov-r2"), std::string::npos) << out;
  ASSERT_EQ(Ctl({"runs", "list", "--latest-revisions"}, &out), 0);
  EXPECT_NE(out.find("quick-dec-r1"), std::string::npos) << out;
  EXPECT_EQ(out.find("quick-nov-r2"), std::string::npos) << out;
  EXPECT_EQ(out.find("quick-plain"), std::string::npos) << out;
  std::string err;
  ASSERT_EQ(Ctl({"runs", "start", "quick", "--id", "quick-nov-r5", "--period", "2026-11",
                 "--revision", "5"},
                &out),
            0);
  EXPECT_NE(out.find("revision 5 of period 2026-11, supersedes quick-nov-r4"), std::string::npos)
      << out;
  EXPECT_NE(Ctl({"runs", "start", "quick", "--id", "quick-nov-r3", "--period", "2026-11",
                 "--revision", "3"},
                &out, &err),
            0);
  EXPECT_NE(err.find("is older than revision 5"), std::string::npos) << err;
  ASSERT_EQ(Ctl({"runs", "show", "quick-nov-r5"}, &out), 0);
  EXPECT_NE(out.find("2026-11 r5 (latest); supersedes quick-nov-r4"), std::string::npos) << out;
}

}  // namespace
}  // namespace gridflow::testing
