#include "engine/scheduler/interpreter.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>

#include "common/json_text.h"
#include "engine/scheduler/run_status.h"

namespace gridflow::engine {
namespace {

using nlohmann::json;

struct ScheduledTask {
  std::string frame;
  int64_t activation;
  std::string step;
  std::string task_type;
  json input;
  std::string key;
  bool compensation;
};

// Records what the interpreter asks for; stands in for the database.
class FakeEffects final : public RunEffects {
 public:
  TimePoint now = TimePoint(Micros(1795616922000000));  // 2026-11-25T14:28:42Z
  std::vector<std::string> events;                      // event types in order
  std::vector<json> payloads;
  std::vector<ScheduledTask> tasks;
  std::vector<std::pair<std::string, int64_t>> cancelled_tasks;
  std::vector<TimerRequest> timers;
  std::vector<std::pair<std::string, int64_t>> cancelled_timers;
  std::deque<std::pair<std::string, json>> signals;  // stored, unconsumed
  std::vector<ChildRunRequest> children;
  std::vector<std::string> cancelled_children;
  int executing = 0;
  std::vector<std::string> data_members_set;  // DataMemberSet, in order
  std::string status = "RUNNING";
  json result, failure;

  TimePoint Now() override { return now; }
  void Record(const char* type, const std::string&, const json& payload,
              const EventScope&) override {
    events.push_back(type);
    payloads.push_back(payload);
  }
  void ScheduleTask(TaskRequest r) override {
    tasks.push_back({r.frame, r.activation, r.step, r.spec->task_type, json::parse(r.input_json),
                     r.idempotency_key, r.compensation});
  }
  void CancelTask(const std::string& frame, int64_t activation) override {
    cancelled_tasks.emplace_back(frame, activation);
  }
  void StartTimer(const TimerRequest& r) override { timers.push_back(r); }
  void CancelTimers(const std::string& frame, int64_t activation) override {
    cancelled_timers.emplace_back(frame, activation);
  }
  std::optional<ConsumedSignal> TakeSignal(const std::string& name, const std::string&) override {
    for (auto it = signals.begin(); it != signals.end(); ++it) {
      if (it->first == name) {
        ConsumedSignal s{1, it->second, "exchange"};
        signals.erase(it);
        return s;
      }
    }
    return std::nullopt;
  }
  Status StartChildRun(const ChildRunRequest& r, std::string* id) override {
    if (r.definition == "missing")
      return Status::NotFound("definition 'missing' is not registered");
    children.push_back(r);
    *id = "child-" + std::to_string(children.size());
    return Status::Ok();
  }
  void CancelChildRun(const std::string& id, const std::string&) override {
    cancelled_children.push_back(id);
  }
  int CountExecutingTasks() override { return executing; }
  void DataMemberSet(const std::string& name) override { data_members_set.push_back(name); }
  void SetStatus(std::string_view s) override { status = std::string(s); }
  void CloseRun(std::string_view s, const json& r, const json& f) override {
    status = std::string(s);
    result = r;
    failure = f;
  }

  const ScheduledTask& Task(const std::string& step) const {
    for (auto it = tasks.rbegin(); it != tasks.rend(); ++it) {
      if (it->step == step) return *it;
    }
    throw std::runtime_error("no task for step " + step);
  }
  const json& LastPayload(const std::string& event) const {
    for (size_t i = events.size(); i-- > 0;) {
      if (events[i] == event) return payloads[i];
    }
    throw std::runtime_error("no event " + event);
  }
  size_t CountTasks(const std::string& task_type) const {
    return static_cast<size_t>(
        std::count_if(tasks.begin(), tasks.end(),
                      [&](const ScheduledTask& t) { return t.task_type == task_type; }));
  }
  size_t Count(const std::string& event) const {
    return static_cast<size_t>(std::count(events.begin(), events.end(), event));
  }
};

// One run: a definition, its persisted state and data, and the fake world. Each call is one
// transition with a fresh interpreter, as in the engine, with the state round-tripped via JSON.
class TestRun {
 public:
  explicit TestRun(const std::string& definition_json, json input = json::object()) {
    const Status s = dsl::Definition::Parse(definition_json, &definition_);
    EXPECT_TRUE(s.ok()) << s.message();
    data_ = {{"input", std::move(input)}};
    Step([](Interpreter& i) { i.Start(); });
  }

  void Step(const std::function<void(Interpreter&)>& event) {
    RunState state;
    ASSERT_TRUE(FromJson(state_json_, &state).ok());
    // As the engine reckons it: the run's data and state as stored before the transition.
    RunDataBudget budget{data_limit, DumpJson(data_).size() + DumpJson(state_json_).size()};
    Interpreter interpreter(definition_, {"run-1", "wf-1", "", nullptr}, effects.status, state,
                            data_, effects, &budget);
    event(interpreter);
    state_json_ = ToJson(state);
  }

  void Complete(const std::string& step, json result) {
    const ScheduledTask task = effects.Task(step);
    Step([&](Interpreter& i) {
      if (task.compensation) {
        i.CompensationCompleted(task.activation);
      } else {
        i.TaskCompleted(task.frame, task.activation, result);
      }
    });
  }
  void Fail(const std::string& step, const std::string& type) {
    const ScheduledTask task = effects.Task(step);
    Step([&](Interpreter& i) {
      i.TaskFailed(task.frame, task.activation, {step, type, "it broke", nullptr, 3});
    });
  }
  void FireTimer(size_t index) {
    const TimerRequest t = effects.timers.at(index);
    Step([&](Interpreter& i) { i.TimerFired(t.frame, t.activation, t.kind); });
  }

  const json& data() const { return data_; }
  const std::string& status() const { return effects.status; }
  json state() const { return state_json_; }

  FakeEffects effects;
  size_t data_limit = 0;  // what the run's data and state may hold (RunDataBudget); 0: no limit

 private:
  dsl::Definition definition_;
  json data_;
  json state_json_;
};

std::string Steps(const std::string& steps) {
  return R"({"name": "t", "version": 1, "steps": )" + steps + "}";
}

TEST(Interpreter, RunsTasksInSequenceAndCompletes) {
  TestRun run(
      Steps(
          R"js([{"name": "a", "kind": "task", "task_type": "ta", "input": {"mw": "=$/input/mw * 2"}},
                    {"name": "b", "kind": "task", "task_type": "tb"}])js"),
      {{"mw", 5}});
  ASSERT_EQ(run.effects.tasks.size(), 1u);
  EXPECT_EQ(run.effects.tasks[0].input, json({{"mw", 10}}));
  EXPECT_EQ(run.effects.tasks[0].key, "run-1:a");
  run.Complete("a", {{"x", 1}});
  ASSERT_EQ(run.effects.tasks.size(), 2u);
  EXPECT_EQ(run.effects.tasks[1].input["a"]["x"], 1);  // default input: the whole run data
  // Each output set is reported: the engine writes the run's data as a patch of those members.
  EXPECT_EQ(run.effects.data_members_set, std::vector<std::string>{"a"});
  run.Complete("b", "done");
  EXPECT_EQ(run.effects.data_members_set, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(run.status(), "COMPLETED");
  EXPECT_EQ(run.effects.result["b"], "done");
  EXPECT_EQ(run.effects.events.back(), "RunCompleted");
}

TEST(Interpreter, StaleOutcomesAreIgnored) {
  TestRun run(Steps(R"js([{"name": "a", "kind": "task", "task_type": "ta"}])js"));
  const ScheduledTask task = run.effects.tasks[0];
  run.Step([&](Interpreter& i) {
    i.TaskCompleted(task.frame, task.activation + 7, "wrong activation");
  });
  run.Step(
      [&](Interpreter& i) { i.TaskCompleted("no-such-frame", task.activation, "wrong frame"); });
  EXPECT_EQ(run.status(), "RUNNING");
  run.Complete("a", 1);
  EXPECT_EQ(run.status(), "COMPLETED");
}

TEST(Interpreter, ChoiceTakesTheFirstMatchThenTheDefault) {
  const std::string def = Steps(R"js([
      {"name": "route", "kind": "choice", "choices": [
        {"when": "$/input/mw > 100", "next": "big"}, {"when": "$/input/mw > 10", "next": "medium"}],
       "default": "small"},
      {"name": "big", "kind": "succeed", "result": "big"},
      {"name": "medium", "kind": "succeed", "result": "medium"},
      {"name": "small", "kind": "succeed", "result": "small"}])js");
  EXPECT_EQ(TestRun(def, {{"mw", 500}}).effects.result, "big");
  EXPECT_EQ(TestRun(def, {{"mw", 50}}).effects.result, "medium");
  EXPECT_EQ(TestRun(def, {{"mw", 5}}).effects.result, "small");
  TestRun wrong_type(def, {{"mw", "lots"}});
  EXPECT_EQ(wrong_type.status(), "FAILED");
  EXPECT_EQ(wrong_type.effects.failure["error_type"], "gridflow.ExpressionError");
  EXPECT_EQ(wrong_type.effects.failure["step"], "route");
}

TEST(Interpreter, ChoiceWithoutMatchOrDefaultFailsTheRun) {
  TestRun run(
      Steps(R"js([{"name": "route", "kind": "choice", "choices": [{"when": "false", "next": "x"}]},
                    {"name": "x", "kind": "succeed"}])js"));
  EXPECT_EQ(run.status(), "FAILED");
  EXPECT_EQ(run.effects.failure["error_type"], "gridflow.NoChoiceMatched");
}

TEST(Interpreter, ParallelJoinAllCollectsEveryBranch) {
  TestRun run(Steps(R"js([{"name": "dispatch", "kind": "parallel", "branches": [
      {"name": "bess", "steps": [{"name": "set_bess", "kind": "task", "task_type": "setpoint"}]},
      {"name": "chp", "steps": [{"name": "set_chp", "kind": "task", "task_type": "setpoint"},
                                {"name": "confirm_chp", "kind": "task", "task_type": "confirm"}]}]},
      {"name": "report", "kind": "task", "task_type": "report"}])js"));
  EXPECT_EQ(run.effects.tasks.size(), 2u);  // both branches started
  run.Complete("set_chp", 3);
  run.Complete("set_bess", 7);
  EXPECT_EQ(run.effects.Count("ParallelCompleted"), 0u);
  run.Complete("confirm_chp", "ok");
  EXPECT_EQ(run.effects.Count("ParallelCompleted"), 1u);
  EXPECT_EQ(run.data()["dispatch"], json({{"bess", 7}, {"chp", "ok"}}));
  EXPECT_EQ(run.data()["set_bess"], 7);  // branch steps' outputs land in run data too
  EXPECT_EQ(run.effects.tasks.back().step, "report");
}

TEST(Interpreter, ParallelJoinFirstCancelsTheOtherBranches) {
  TestRun run(Steps(R"js([{"name": "race", "kind": "parallel", "join": "first", "branches": [
      {"name": "fast", "steps": [{"name": "f", "kind": "task", "task_type": "x"}]},
      {"name": "slow", "steps": [{"name": "s", "kind": "task", "task_type": "x"},
                                 {"name": "s2", "kind": "task", "task_type": "x"}]}]}])js"));
  run.Complete("f", "winner");
  EXPECT_EQ(run.status(), "COMPLETED");
  ASSERT_EQ(run.effects.cancelled_tasks.size(), 1u);
  EXPECT_EQ(run.effects.cancelled_tasks[0].second, run.effects.Task("s").activation);
  EXPECT_EQ(run.data()["race"], json({{"fast", "winner"}}));
  run.Complete("s", "too late");  // stale: recorded by the engine, ignored here
  EXPECT_EQ(run.effects.tasks.size(), 2u);
}

TEST(Interpreter, ForeachRespectsConcurrencyAndKeepsOutputsInOrder) {
  TestRun run(
      Steps(R"js([{"name": "per_qh", "kind": "foreach", "items": "range(5)", "max_concurrency": 2,
      "steps": [{"name": "price", "kind": "task", "task_type": "price", "input": {"qh": "=$/item"}}],
      "output": "=$/price * 10"}])js"));
  ASSERT_EQ(run.effects.tasks.size(), 2u);
  EXPECT_EQ(run.effects.tasks[0].input, json({{"qh", 0}}));
  EXPECT_EQ(run.effects.tasks[1].key, "run-1:price[1]");
  // Complete out of order; each completion starts the next item.
  const auto complete = [&](size_t i, int value) {
    const ScheduledTask t = run.effects.tasks[i];
    run.Step([&](Interpreter& in) { in.TaskCompleted(t.frame, t.activation, value); });
  };
  complete(1, 1);
  ASSERT_EQ(run.effects.tasks.size(), 3u);
  complete(0, 0);
  complete(2, 2);
  ASSERT_EQ(run.effects.tasks.size(), 5u);
  complete(4, 4);
  complete(3, 3);
  EXPECT_EQ(run.status(), "COMPLETED");
  EXPECT_EQ(run.data()["per_qh"], json({0, 10, 20, 30, 40}));
  EXPECT_FALSE(run.data().contains("price"));  // iteration outputs stay in the iteration
  // ... and are not reported as members of the run data: only the foreach's output is.
  EXPECT_EQ(run.effects.data_members_set, std::vector<std::string>{"per_qh"});
}

TEST(Interpreter, ForeachOverNothingCompletesAtOnce) {
  TestRun run(Steps(R"js([{"name": "each", "kind": "foreach", "items": "[]",
      "steps": [{"name": "x", "kind": "task", "task_type": "x"}]}])js"));
  EXPECT_EQ(run.status(), "COMPLETED");
  EXPECT_EQ(run.data()["each"], json::array());
}

TEST(Interpreter, TimersWaitUntilFired) {
  TestRun run(Steps(R"js([{"name": "pause", "kind": "timer", "duration": "15m"},
                    {"name": "gate", "kind": "timer", "until": "gate_closure('EPEX-DE-LU', '2026-11-26')"},
                    {"name": "done", "kind": "succeed"}])js"));
  ASSERT_EQ(run.effects.timers.size(), 1u);
  EXPECT_EQ(run.effects.timers[0].fire_at, run.effects.now + std::chrono::minutes(15));
  run.FireTimer(0);
  ASSERT_EQ(run.effects.timers.size(), 2u);
  EXPECT_EQ(FormatRfc3339(run.effects.timers[1].fire_at), "2026-11-25T11:00:00.000000Z");
  run.FireTimer(0);  // the first timer again: stale
  EXPECT_EQ(run.status(), "RUNNING");
  run.FireTimer(1);
  EXPECT_EQ(run.status(), "COMPLETED");
}

TEST(Interpreter, SignalsSentEarlyAreConsumedOnArrivalAtTheStep) {
  TestRun run(Steps(R"js([{"name": "a", "kind": "task", "task_type": "x"},
                    {"name": "ack", "kind": "wait_signal", "signal": "exchange_ack"}])js"));
  run.effects.signals.push_back({"exchange_ack", {{"accepted", true}}});
  run.Step([](Interpreter& i) { i.SignalArrived("exchange_ack"); });  // nobody waits yet
  EXPECT_EQ(run.effects.signals.size(), 1u);
  run.Complete("a", 1);
  EXPECT_EQ(run.status(), "COMPLETED");
  EXPECT_EQ(run.data()["ack"]["accepted"], true);
}

TEST(Interpreter, SignalsArrivingLaterAndTimeouts) {
  const std::string def = Steps(R"js([
      {"name": "ack", "kind": "wait_signal", "signal": "exchange_ack", "timeout": "10m", "on_timeout": "retry"},
      {"name": "done", "kind": "succeed"},
      {"name": "retry", "kind": "task", "task_type": "resubmit"}])js");
  TestRun later(def);
  later.effects.signals.push_back({"other", 1});
  later.effects.signals.push_back({"exchange_ack", "late but fine"});
  later.Step([](Interpreter& i) { i.SignalArrived("exchange_ack"); });
  EXPECT_EQ(later.status(), "COMPLETED");
  EXPECT_EQ(later.data()["ack"], "late but fine");
  EXPECT_EQ(later.effects.cancelled_timers.size(), 1u);  // the timeout timer

  TestRun timed_out(def);
  timed_out.FireTimer(0);
  EXPECT_EQ(timed_out.effects.tasks.back().step, "retry");
  EXPECT_EQ(timed_out.effects.Count("SignalTimedOut"), 1u);

  TestRun no_branch(
      Steps(R"js([{"name": "ack", "kind": "wait_signal", "signal": "s", "timeout": "1m"}])js"));
  no_branch.FireTimer(0);
  EXPECT_EQ(no_branch.status(), "FAILED");
  EXPECT_EQ(no_branch.effects.failure["error_type"], "gridflow.SignalTimeout");
}

TEST(Interpreter, DeadlinesCancelTheTaskAndTakeTheBranch) {
  const std::string def = Steps(R"js([
      {"name": "submit", "kind": "task", "task_type": "submit",
       "deadline": "time_add(gate_closure('EPEX-DE-LU', $/input/day), '-30m')", "on_deadline": "fallback"},
      {"name": "done", "kind": "succeed", "result": "submitted"},
      {"name": "fallback", "kind": "task", "task_type": "submit_default", "next": "alert"},
      {"name": "alert", "kind": "task", "task_type": "alert"}])js");
  TestRun late(def, {{"day", "2026-11-26"}});  // deadline 2026-11-25T10:30Z; now is 14:28Z
  EXPECT_EQ(late.effects.tasks[0].step, "fallback");
  EXPECT_EQ(late.effects.Count("DeadlinePassed"), 1u);

  TestRun early(def, {{"day", "2026-11-27"}});  // deadline 2026-11-26T10:30Z: in the future
  ASSERT_EQ(early.effects.tasks[0].step, "submit");
  ASSERT_EQ(early.effects.timers.size(), 1u);
  EXPECT_EQ(early.effects.timers[0].kind, TimerKind::kDeadline);
  EXPECT_EQ(FormatRfc3339(early.effects.timers[0].fire_at), "2026-11-26T10:30:00.000000Z");
  early.FireTimer(0);
  EXPECT_EQ(early.effects.cancelled_tasks.size(), 1u);
  EXPECT_EQ(early.effects.tasks.back().step, "fallback");
  early.Complete("submit", "too late");  // stale now
  early.Complete("fallback", 1);
  early.Complete("alert", 1);
  EXPECT_EQ(early.status(), "COMPLETED");
  EXPECT_FALSE(early.data().contains("submit"));

  TestRun met(def, {{"day", "2026-11-27"}});
  met.Complete("submit", "ok");
  EXPECT_EQ(met.status(), "COMPLETED");
  EXPECT_EQ(met.effects.cancelled_timers.size(), 1u);  // the deadline timer
}

TEST(Interpreter, FailureRunsCompensationsInReverseOrder) {
  TestRun run(Steps(R"js([
      {"name": "reserve", "kind": "task", "task_type": "reserve",
       "compensate": {"task_type": "release", "input": {"id": "=$/reserve/id"}}},
      {"name": "submit", "kind": "task", "task_type": "submit",
       "compensate": {"task_type": "withdraw"}},
      {"name": "confirm", "kind": "task", "task_type": "confirm"}])js"));
  run.Complete("reserve", {{"id", "R-1"}});
  run.Complete("submit", {{"order", "EX-1"}});
  run.Fail("confirm", "ExchangeDown");
  EXPECT_EQ(run.status(), "COMPENSATING");
  ASSERT_EQ(run.effects.tasks.back().task_type, "withdraw");  // last completed first
  EXPECT_TRUE(run.effects.tasks.back().compensation);
  EXPECT_EQ(run.effects.tasks.back().key, "run-1:submit:compensate");
  run.Complete("submit", nullptr);  // the compensation of submit
  EXPECT_EQ(run.effects.tasks.back().task_type, "release");
  EXPECT_EQ(run.effects.tasks.back().input, json({{"id", "R-1"}}));
  run.Complete("reserve", nullptr);
  EXPECT_EQ(run.status(), "FAILED");
  EXPECT_EQ(run.effects.failure["error_type"], "ExchangeDown");
  EXPECT_EQ(run.effects.failure["step"], "confirm");
}

TEST(Interpreter, CancellationWaitsForExecutingTasksThenCompensates) {
  TestRun run(Steps(R"js([
      {"name": "book", "kind": "task", "task_type": "book", "compensate": {"task_type": "unbook"}},
      {"name": "work", "kind": "task", "task_type": "work"}])js"));
  run.Complete("book", 1);
  run.effects.executing = 1;  // "work" is leased by a worker
  run.Step([](Interpreter& i) { i.Cancel(Actor{"token:ops", "operator-anna"}, "TSO withdrew"); });
  EXPECT_EQ(run.status(), "CANCELLING");
  EXPECT_EQ(run.effects.cancelled_tasks.size(), 1u);
  run.effects.executing = 0;  // the worker reported
  run.Step([](Interpreter& i) { i.ExecutingTaskFinished(); });
  EXPECT_EQ(run.status(), "COMPENSATING");
  EXPECT_EQ(run.effects.tasks.back().task_type, "unbook");
  run.Complete("book", nullptr);
  EXPECT_EQ(run.status(), "CANCELLED");
  EXPECT_EQ(run.effects.payloads.back()["requested_by"], "token:ops");  // the principal
}

TEST(Interpreter, RetryAfterFailureRestartsFromTheStepWithSpentCompensationsCleared) {
  TestRun run(Steps(R"js([
      {"name": "book", "kind": "task", "task_type": "book", "compensate": {"task_type": "unbook"}},
      {"name": "work", "kind": "task", "task_type": "work"}])js"));
  run.Complete("book", 1);
  run.Fail("work", "AssetOffline");
  run.Complete("book", nullptr);  // unbook ran
  ASSERT_EQ(run.status(), "FAILED");
  run.Step([](Interpreter& i) {
    i.Retry("work", Actor{"token:ops", "operator-anna"}, "asset back online");
  });
  EXPECT_EQ(run.status(), "RUNNING");
  EXPECT_EQ(run.effects.LastPayload("RunRetried"), json({{"from_step", "work"},
                                                         {"reason", "asset back online"},
                                                         {"previous_status", "FAILED"},
                                                         {"client_identity", "operator-anna"}}));
  EXPECT_EQ(run.effects.tasks.back().task_type, "work");
  run.Fail("work", "AssetOffline");  // book's compensation is spent: nothing left to undo
  EXPECT_EQ(run.status(), "FAILED");
  EXPECT_EQ(run.effects.CountTasks("unbook"), 1u);
}

TEST(Interpreter, TerminateDuringCompensationKeepsTheUnrunOnesOwedAfterRetry) {
  TestRun run(Steps(R"js([
      {"name": "reserve", "kind": "task", "task_type": "reserve",
       "compensate": {"task_type": "release"}},
      {"name": "submit", "kind": "task", "task_type": "submit",
       "compensate": {"task_type": "withdraw"}},
      {"name": "confirm", "kind": "task", "task_type": "confirm"}])js"));
  run.Complete("reserve", 1);
  run.Complete("submit", 2);
  run.Fail("confirm", "ExchangeDown");
  run.Complete("submit", nullptr);  // withdraw ran; release is in flight
  ASSERT_EQ(run.effects.tasks.back().task_type, "release");
  run.Step([](Interpreter& i) { i.Terminate(Actor{"token:ops", "operator-anna"}, "gate closed"); });
  EXPECT_EQ(run.status(), "TERMINATED");
  EXPECT_EQ(run.effects.events.back(), "RunTerminated");
  EXPECT_EQ(run.effects.payloads.back()["terminated_by"], "token:ops");
  EXPECT_EQ(run.effects.payloads.back()["client_identity"], "operator-anna");

  run.Step([](Interpreter& i) {
    i.Retry("confirm", Actor{"token:ops", "operator-anna"}, "exchange is back");
  });
  EXPECT_EQ(run.effects.LastPayload("RunRetried")["previous_status"], "TERMINATED");
  run.Fail("confirm", "ExchangeDown");
  EXPECT_EQ(run.status(), "COMPENSATING");
  EXPECT_EQ(run.effects.tasks.back().task_type, "release");  // owed; withdraw is not run again
  run.Complete("reserve", nullptr);
  EXPECT_EQ(run.status(), "FAILED");
  EXPECT_EQ(run.effects.CountTasks("withdraw"), 1u);
}

TEST(Interpreter, ChildRunsStartAndTheirEndContinuesTheParent) {
  const std::string def = Steps(R"js([
      {"name": "settle", "kind": "child", "definition": "settlement", "input": {"day": "=$/input/day"}},
      {"name": "done", "kind": "succeed", "result": "=$/settle/total"}])js");
  TestRun ok(def, {{"day", "2026-11-26"}});
  ASSERT_EQ(ok.effects.children.size(), 1u);
  EXPECT_EQ(ok.effects.children[0].workflow_id, "wf-1/settle");
  EXPECT_EQ(ok.effects.children[0].input, json({{"day", "2026-11-26"}}));
  const ChildRunRequest child = ok.effects.children[0];
  ok.Step([&](Interpreter& i) {
    i.ChildRunClosed(child.frame, child.activation, "COMPLETED", {{"total", 42}}, nullptr);
  });
  EXPECT_EQ(ok.effects.result, 42);

  TestRun failed(def, {{"day", "2026-11-26"}});
  const ChildRunRequest c2 = failed.effects.children[0];
  failed.Step([&](Interpreter& i) {
    i.ChildRunClosed(c2.frame, c2.activation, "FAILED", nullptr,
                     {{"message", "meter data missing"}});
  });
  EXPECT_EQ(failed.status(), "FAILED");
  EXPECT_EQ(failed.effects.failure["error_type"], "gridflow.ChildRunFailed");
  EXPECT_NE(failed.effects.failure["message"].get<std::string>().find("meter data missing"),
            std::string::npos);

  TestRun missing(Steps(R"js([{"name": "c", "kind": "child", "definition": "missing"}])js"));
  EXPECT_EQ(missing.status(), "FAILED");
  EXPECT_EQ(missing.effects.failure["error_type"], "gridflow.ChildStartFailed");
}

TEST(Interpreter, ExpressionErrorsFailTheRunNamingTheStep) {
  TestRun run(
      Steps(
          R"js([{"name": "a", "kind": "task", "task_type": "x", "input": {"n": "=1 / $/input/zero"}}])js"),
      {{"zero", 0}});
  EXPECT_EQ(run.status(), "FAILED");
  EXPECT_EQ(run.effects.failure["step"], "a");
  EXPECT_EQ(run.effects.failure["error_type"], "gridflow.ExpressionError");
  EXPECT_EQ(run.effects.failure["message"], "input: /n: column 3: division by zero");
}

TEST(Interpreter, FailStepsAndSucceedInsideBranches) {
  TestRun run(Steps(R"js([{"name": "both", "kind": "parallel", "branches": [
      {"name": "a", "steps": [{"name": "quick", "kind": "succeed", "result": "A"}]},
      {"name": "b", "steps": [{"name": "oops", "kind": "fail", "error_type": "Boom",
                               "message": "=concat('no capacity for ', $/input/asset)"}]}]}])js"),
              {{"asset", "bess-7"}});
  EXPECT_EQ(run.status(), "FAILED");
  EXPECT_EQ(run.effects.failure["error_type"], "Boom");
  EXPECT_EQ(run.effects.failure["message"], "no capacity for bess-7");
}

TEST(Interpreter, NestedForeachAndParallelKeepIterationScopes) {
  TestRun run(Steps(R"js([{"name": "assets", "kind": "foreach", "items": "['bess', 'chp']",
      "steps": [{"name": "legs", "kind": "parallel", "branches": [
        {"name": "up", "steps": [{"name": "up_task", "kind": "task", "task_type": "x",
                                  "input": {"asset": "=$/item", "dir": "up"}}]},
        {"name": "down", "steps": [{"name": "down_task", "kind": "task", "task_type": "x",
                                    "input": {"asset": "=$/item", "dir": "down"}}]}]}]}])js"));
  ASSERT_EQ(run.effects.tasks.size(), 4u);
  EXPECT_EQ(run.effects.tasks[0].input, json({{"asset", "bess"}, {"dir", "up"}}));
  EXPECT_EQ(run.effects.tasks[3].input, json({{"asset", "chp"}, {"dir", "down"}}));
  EXPECT_EQ(run.effects.tasks[3].key, "run-1:down_task[1]");
  const std::vector<ScheduledTask> leaves = run.effects.tasks;
  for (const ScheduledTask& t : leaves) {
    run.Step([&](Interpreter& i) {
      i.TaskCompleted(
          t.frame, t.activation,
          t.input["asset"].get<std::string>() + "-" + t.input["dir"].get<std::string>());
    });
  }
  EXPECT_EQ(run.status(), "COMPLETED");
  EXPECT_EQ(run.data()["assets"][1], json({{"up", "chp-up"}, {"down", "chp-down"}}));
}

TEST(Interpreter, LoopsCountVisitsInKeys) {
  TestRun run(Steps(R"js([
      {"name": "check", "kind": "task", "task_type": "check"},
      {"name": "ready", "kind": "choice", "choices": [{"when": "$/check == true", "next": "done"}], "default": "later"},
      {"name": "later", "kind": "timer", "duration": "5m", "next": "check"},
      {"name": "done", "kind": "succeed"}])js"));
  run.Complete("check", false);
  run.FireTimer(0);
  EXPECT_EQ(run.effects.tasks.back().key, "run-1:check#2");
  run.Complete("check", true);
  EXPECT_EQ(run.status(), "COMPLETED");
}

TEST(Interpreter, AnOutputPastTheRunDataLimitFailsTheRunAndIsNotStored) {
  TestRun run(Steps(R"js([{"name": "a", "kind": "task", "task_type": "ta"},
                          {"name": "curve", "kind": "task", "task_type": "tb"}])js"));
  run.data_limit = 20000;
  run.Complete("a", std::string(5000, 'x'));  // fits: stored twice, about 10 kB
  ASSERT_EQ(run.status(), "RUNNING");
  run.Complete("curve", std::string(6000, 'y'));  // 12 kB more would pass 20 kB
  EXPECT_EQ(run.status(), "FAILED");
  EXPECT_EQ(run.effects.failure["error_type"], "gridflow.RunDataLimit");
  EXPECT_EQ(run.effects.failure["step"], "curve");
  EXPECT_NE(run.effects.failure["message"].get<std::string>().find("--max-run-data-bytes"),
            std::string::npos);
  EXPECT_FALSE(run.data().contains("curve"));
  EXPECT_EQ(run.data()["a"], std::string(5000, 'x'));
}

TEST(Interpreter, ForeachOutputsCountAgainstTheRunDataLimitAsTheyAreCollected) {
  TestRun run(Steps(R"js([{"name": "assets", "kind": "foreach", "items": "=$/input/assets",
                           "max_concurrency": 10,
                           "steps": [{"name": "set", "kind": "task", "task_type": "setpoint"}]}])js"),
              {{"assets", json::array({1, 2, 3, 4, 5, 6})}});
  run.data_limit = 30000;
  ASSERT_EQ(run.effects.CountTasks("setpoint"), 6u);
  // Each output is kept by its iteration while it runs, and by the foreach once it ended.
  const std::vector<ScheduledTask> tasks = run.effects.tasks;
  for (const ScheduledTask& task : tasks) {
    if (run.status() != "RUNNING") break;
    run.Step([&](Interpreter& i) {
      i.TaskCompleted(task.frame, task.activation, std::string(3000, 'c'));
    });
  }
  EXPECT_EQ(run.status(), "FAILED");
  EXPECT_EQ(run.effects.failure["error_type"], "gridflow.RunDataLimit");
  EXPECT_EQ(run.effects.failure["step"], "assets");
  EXPECT_FALSE(run.data().contains("assets"));  // 18 kB, stored twice: past the limit
  EXPECT_LE(DumpJson(run.state()).size() + DumpJson(run.data()).size(), run.data_limit);
}

// Each iteration keeps its own copy of its item: starting the next one may pass the limit too.
TEST(Interpreter, AnIterationWhoseScopeWouldPassTheRunDataLimitFailsTheRunAsItStarts) {
  const std::string asset(6000, 'a');
  TestRun run(Steps(R"js([{"name": "assets", "kind": "foreach", "items": "=$/input/assets",
                           "max_concurrency": 1,
                           "steps": [{"name": "set", "kind": "task", "task_type": "setpoint"}]}])js"),
              {{"assets", json::array({asset, asset, asset})}});
  ASSERT_EQ(run.effects.CountTasks("setpoint"), 1u);
  run.data_limit = DumpJson(run.data()).size() + DumpJson(run.state()).size() + 3000;
  run.Complete("set", 1);  // the next iteration's scope (6 kB) does not fit
  EXPECT_EQ(run.status(), "FAILED");
  EXPECT_EQ(run.effects.failure["error_type"], "gridflow.RunDataLimit");
  EXPECT_EQ(run.effects.failure["step"], "assets");
  EXPECT_EQ(run.effects.CountTasks("setpoint"), 1u);
}

TEST(Interpreter, ASignalThatFailsTheRunAtItsFirstWaiterIsNotOfferedToTheNext) {
  TestRun run(Steps(R"js([{"name": "both", "kind": "parallel", "branches": [
      {"name": "x", "steps": [{"name": "ack_x", "kind": "wait_signal", "signal": "ack"}]},
      {"name": "y", "steps": [{"name": "ack_y", "kind": "wait_signal", "signal": "ack"}]}]}])js"));
  run.data_limit = 20000;
  run.effects.signals.emplace_back("ack", std::string(15000, 's'));
  run.effects.signals.emplace_back("ack", std::string(15000, 's'));
  run.Step([](Interpreter& i) { i.SignalArrived("ack"); });
  EXPECT_EQ(run.status(), "FAILED");
  EXPECT_EQ(run.effects.failure["error_type"], "gridflow.RunDataLimit");
  EXPECT_EQ(run.effects.Count("SignalConsumed"), 1u);
  EXPECT_EQ(run.effects.signals.size(), 1u);  // the second stays stored, untouched
}

}  // namespace
}  // namespace gridflow::engine
