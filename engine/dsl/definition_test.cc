#include "engine/dsl/definition.h"

#include <gtest/gtest.h>

#include <string>

namespace gridflow::dsl {
namespace {

using nlohmann::json;

json DayAheadBid() {
  return json::parse(R"({
    "name": "day-ahead-bid", "version": 1, "description": "bid before gate closure",
    "steps": [
      {"name": "forecast", "kind": "task", "task_type": "forecast", "task_queue": "trading"},
      {"name": "optimise", "kind": "task", "task_type": "optimise",
       "retry": {"max_attempts": 5, "initial_interval": "2s", "backoff_coefficient": 1.5,
                 "max_interval": "30s", "non_retryable_error_types": ["InfeasibleBid"]},
       "timeouts": {"start_to_close": "2m", "heartbeat": "10s"}},
      {"name": "submit", "kind": "task", "task_type": "submit_bid", "next": "done"},
      {"name": "done", "kind": "succeed"}
    ]})");
}

// Parses `doc` and returns the error message ("" when valid).
std::string ErrorOf(const json& doc) {
  Definition def;
  const Status s = Definition::FromJson(doc, &def);
  if (s.ok()) return "";
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  return s.message();
}

TEST(Definition, ParsesAValidDefinitionWithDefaults) {
  Definition def;
  ASSERT_TRUE(Definition::Parse(DayAheadBid().dump(), &def).ok());
  EXPECT_EQ(def.name(), "day-ahead-bid");
  EXPECT_EQ(def.version(), 1);
  ASSERT_EQ(def.steps().size(), 4u);

  const Step& forecast = def.first_step();
  EXPECT_EQ(forecast.task.task_queue, "trading");
  EXPECT_EQ(forecast.task.retry.max_attempts, 3);
  EXPECT_EQ(forecast.task.start_to_close, Millis(300'000));
  EXPECT_FALSE(forecast.task.heartbeat_timeout.has_value());
  EXPECT_EQ(def.Next(forecast)->name, "optimise");

  const Step* optimise = def.FindStep("optimise");
  ASSERT_NE(optimise, nullptr);
  EXPECT_EQ(optimise->task.task_queue, "default");
  EXPECT_EQ(optimise->task.retry.max_attempts, 5);
  EXPECT_EQ(optimise->task.retry.initial_interval, Millis(2000));
  EXPECT_EQ(optimise->task.retry.max_interval, Millis(30'000));
  EXPECT_EQ(optimise->task.retry.non_retryable_error_types,
            std::vector<std::string>{"InfeasibleBid"});
  EXPECT_EQ(optimise->task.heartbeat_timeout, Millis(10'000));

  EXPECT_EQ(def.Next(*def.FindStep("submit"))->name, "done");
  EXPECT_EQ(def.Next(*def.FindStep("done")), nullptr);
  EXPECT_EQ(def.FindStep("missing"), nullptr);
}

TEST(Definition, LastTaskStepEndsTheRun) {
  Definition def;
  ASSERT_TRUE(Definition::Parse(R"({"name":"x","version":2,"steps":[
      {"name":"a","kind":"task","task_type":"t"}]})",
                                &def)
                  .ok());
  EXPECT_EQ(def.Next(def.first_step()), nullptr);
}

// The start class of a definition whose steps are `steps` (JSON text of the steps array).
int StartClassOf(const std::string& steps) {
  Definition def;
  const Status s =
      Definition::Parse(R"({"name": "activation", "version": 1, "steps": )" + steps + "}", &def);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return def.StartClass();
}

TEST(Definition, StartClassIsThatOfTheTasksANewRunIsHandedAtOnce) {
  const std::string later_urgent =
      R"({"name": "report", "kind": "task", "task_type": "r", "priority": "urgent"})";
  EXPECT_EQ(StartClassOf(R"([{"name": "ack", "kind": "task", "task_type": "a",
                              "priority": "urgent"}])"),
            kUrgentPriority);
  EXPECT_EQ(StartClassOf(R"([{"name": "ack", "kind": "task", "task_type": "a", "priority": 3},)" +
                         later_urgent + "]"),
            3)
      << "a later step's class is not the start's";
  EXPECT_EQ(StartClassOf(R"([{"name": "ack", "kind": "task", "task_type": "a"}])"),
            kDefaultPriority);
  EXPECT_EQ(StartClassOf(R"([{"name": "ack", "kind": "task", "task_type": "a",
                              "priority": "=$/input/class"}])"),
            kDefaultPriority)
      << "a class given by an expression is not known before the run starts";
  EXPECT_EQ(StartClassOf(R"([{"name": "setpoints", "kind": "foreach", "items": "$/input/assets",
                              "steps": [{"name": "setpoint", "kind": "task", "task_type": "s",
                                         "priority": "urgent"}]}])"),
            kUrgentPriority);
  EXPECT_EQ(StartClassOf(R"([{"name": "both", "kind": "parallel", "branches": [
                               {"name": "a", "steps": [{"name": "x", "kind": "task",
                                                        "task_type": "x", "priority": "bulk"}]},
                               {"name": "b", "steps": [{"name": "y", "kind": "task",
                                                        "task_type": "y", "priority": "high"}]}
                             ]}])"),
            1);
  EXPECT_EQ(
      StartClassOf(R"([{"name": "wait", "kind": "timer", "duration": "1s"},)" + later_urgent + "]"),
      kDefaultPriority);
}

TEST(Definition, CanonicalJsonIgnoresKeyOrderAndSpacing) {
  Definition a, b;
  ASSERT_TRUE(
      Definition::Parse(R"({"version":1,"name":"x","steps":[{"kind":"succeed","name":"s"}]})", &a)
          .ok());
  ASSERT_TRUE(
      Definition::Parse(
          R"({ "name" : "x", "steps" : [ {"name":"s", "kind":"succeed"} ], "version" : 1 })", &b)
          .ok());
  EXPECT_EQ(a.canonical_json(), b.canonical_json());
}

TEST(Definition, RejectsMalformedJson) {
  Definition def;
  const Status s = Definition::Parse("{\"name\": ", &def);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("not valid JSON"), std::string::npos) << s.message();
}

TEST(Definition, DeepNestingAndNulAreRefusedBeforeParsing) {
  Definition d;
  const std::string deep =
      R"({"name": "x", "version": 1, "steps": [{"name": "a", "kind": "succeed", "result": )" +
      std::string(60'000, '[') + std::string(60'000, ']') + "}]}";
  Status s = Definition::Parse(deep, &d);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message().rfind("definition_json: is nested more than 64 levels deep", 0), 0u)
      << s.message().substr(0, 200);
  s = Definition::Parse(R"({"name": "x\u0000", "version": 1, "steps": []})", &d);
  EXPECT_EQ(s.message(), "definition_json: must not contain the character U+0000 (\\u0000)");
}

struct InvalidCase {
  const char* label;
  std::function<void(json&)> mutate;
  const char* expected;  // a substring of the message, starting with the path
};

TEST(Definition, RejectsInvalidDefinitionsNamingThePath) {
  const std::vector<InvalidCase> cases = {
      {"not an object", [](json& d) { d = json::array(); }, "definition: must be a JSON object"},
      {"unknown top-level field", [](json& d) { d["stpes"] = 1; }, "stpes: unknown field"},
      {"missing name", [](json& d) { d.erase("name"); }, "name: is required"},
      {"bad name", [](json& d) { d["name"] = "9lives"; }, "name: '9lives' is not a valid name"},
      {"missing version", [](json& d) { d.erase("version"); }, "version: is required"},
      {"zero version", [](json& d) { d["version"] = 0; }, "version: must be a positive integer"},
      {"string version", [](json& d) { d["version"] = "1"; },
       "version: must be a positive integer"},
      {"no steps", [](json& d) { d["steps"] = json::array(); }, "steps: must be a non-empty array"},
      {"step not object", [](json& d) { d["steps"][1] = "optimise"; },
       "steps[1]: must be an object"},
      {"step without name", [](json& d) { d["steps"][0].erase("name"); },
       "steps[0].name: is required"},
      {"reserved step name", [](json& d) { d["steps"][0]["name"] = "input"; },
       "steps[0].name: 'input' is reserved"},
      {"duplicate step name", [](json& d) { d["steps"][2]["name"] = "forecast"; },
       "steps[2].name: duplicate step name 'forecast' (first used by steps[0])"},
      {"unknown kind", [](json& d) { d["steps"][1]["kind"] = "sleep"; },
       "steps[1].kind: unknown step kind 'sleep' (supported: task, timer, wait_signal, choice, "
       "parallel, foreach, child, succeed, fail)"},
      {"missing kind", [](json& d) { d["steps"][1].erase("kind"); }, "steps[1].kind: is required"},
      {"missing task_type", [](json& d) { d["steps"][0].erase("task_type"); },
       "steps[0].task_type: is required"},
      {"unknown step field", [](json& d) { d["steps"][0]["retries"] = 3; },
       "steps[0].retries: unknown field"},
      {"field of another kind", [](json& d) { d["steps"][3]["task_type"] = "x"; },
       "steps[3].task_type: unknown field"},
      {"dangling next", [](json& d) { d["steps"][2]["next"] = "nowhere"; },
       "steps[2].next: names no step: 'nowhere'"},
      {"empty next", [](json& d) { d["steps"][2]["next"] = ""; },
       "steps[2].next: must name a step"},
      {"cycle", [](json& d) { d["steps"][2]["next"] = "forecast"; },
       "steps[0]: the steps form a cycle without a wait (forecast -> optimise -> submit -> "
       "forecast)"},
      {"self loop", [](json& d) { d["steps"][0]["next"] = "forecast"; },
       "steps[0]: the steps form a cycle without a wait (forecast -> forecast)"},
      {"unreachable", [](json& d) { d["steps"][0]["next"] = "submit"; },
       "steps[1]: step 'optimise' is unreachable"},
      {"max_attempts zero", [](json& d) { d["steps"][1]["retry"]["max_attempts"] = 0; },
       "steps[1].retry.max_attempts: must be an integer between 1 and 100"},
      {"max_attempts fraction", [](json& d) { d["steps"][1]["retry"]["max_attempts"] = 2.5; },
       "steps[1].retry.max_attempts: must be an integer"},
      {"bad interval", [](json& d) { d["steps"][1]["retry"]["initial_interval"] = "soon"; },
       "steps[1].retry.initial_interval: 'soon' is not a duration"},
      {"numeric interval", [](json& d) { d["steps"][1]["retry"]["initial_interval"] = 5; },
       "steps[1].retry.initial_interval: must be a duration string"},
      {"coefficient below one",
       [](json& d) { d["steps"][1]["retry"]["backoff_coefficient"] = 0.5; },
       "steps[1].retry.backoff_coefficient: must be a number between 1.0 and 100.0"},
      {"max below initial", [](json& d) { d["steps"][1]["retry"]["max_interval"] = "1s"; },
       "steps[1].retry.max_interval: must not be shorter than initial_interval"},
      {"non-retryable not array",
       [](json& d) { d["steps"][1]["retry"]["non_retryable_error_types"] = "X"; },
       "steps[1].retry.non_retryable_error_types: must be an array"},
      {"non-retryable empty entry",
       [](json& d) {
         d["steps"][1]["retry"]["non_retryable_error_types"] = {"A", ""};
       },
       "steps[1].retry.non_retryable_error_types[1]: must be a non-empty string"},
      {"unknown retry field", [](json& d) { d["steps"][1]["retry"]["spread"] = true; },
       "steps[1].retry.spread: unknown field"},
      {"jitter not a boolean", [](json& d) { d["steps"][1]["retry"]["jitter"] = "yes"; },
       "steps[1].retry.jitter: must be true or false"},
      {"priority not a class", [](json& d) { d["steps"][1]["priority"] = 9; },
       "steps[1].priority: must be 0 to 4"},
      {"compensation queue expression",
       [](json& d) {
         d["steps"][1]["compensate"] = {{"task_type", "undo"}, {"task_queue", "=$/input/q"}};
       },
       "steps[1].compensate.task_queue: must be a queue name"},
      {"breaker rate out of range",
       [](json& d) {
         d["steps"][1]["circuit_breaker"] = {{"failure_rate", 1.5}};
       },
       "steps[1].circuit_breaker.failure_rate:"},
      {"zero timeout", [](json& d) { d["steps"][1]["timeouts"]["start_to_close"] = "0s"; },
       "steps[1].timeouts.start_to_close: must be greater than zero"},
      {"heartbeat longer than attempt",
       [](json& d) { d["steps"][1]["timeouts"]["heartbeat"] = "5m"; },
       "steps[1].timeouts.heartbeat: must not be longer than start_to_close"},
      {"timeout too long", [](json& d) { d["steps"][1]["timeouts"]["start_to_close"] = "31d"; },
       "steps[1].timeouts.start_to_close: must be at most 30d"},
      {"bad queue name", [](json& d) { d["steps"][0]["task_queue"] = "a queue"; },
       "steps[0].task_queue: 'a queue' is not a valid name"},
      {"fail with bad message",
       [](json& d) {
         d["steps"][3] = {{"name", "f"}, {"kind", "fail"}, {"message", 3}};
       },
       "steps[3].message: must be a string"},
  };
  for (const InvalidCase& c : cases) {
    json doc = DayAheadBid();
    c.mutate(doc);
    const std::string message = ErrorOf(doc);
    EXPECT_EQ(message.rfind(c.expected, 0), 0u)
        << c.label << ": expected a message starting with \"" << c.expected << "\", got \""
        << message << "\"";
  }
}

TEST(Definition, AcceptsNamesAtTheirLimits) {
  EXPECT_TRUE(IsValidName("a"));
  EXPECT_TRUE(IsValidName("day-ahead_bid.v2"));
  EXPECT_TRUE(IsValidName(std::string(128, 'x')));
  EXPECT_FALSE(IsValidName(std::string(129, 'x')));
  EXPECT_FALSE(IsValidName(""));
  EXPECT_FALSE(IsValidName("_x"));
  EXPECT_FALSE(IsValidName("a/b"));
}

}  // namespace
}  // namespace gridflow::dsl

namespace gridflow::dsl {
namespace {

// Every step kind, nested: the shape of a day-ahead bid with fan-out and a fallback.
json FullDefinition() {
  return json::parse(R"json({
    "name": "full", "version": 1,
    "steps": [
      {"name": "wait_for_forecast", "kind": "wait_signal", "signal": "forecast_ready",
       "timeout": "2h", "on_timeout": "fallback"},
      {"name": "per_quarter_hour", "kind": "foreach",
       "items": "quarter_hours($/input/delivery_day, 'Europe/Berlin')", "max_concurrency": 8,
       "steps": [
         {"name": "price_qh", "kind": "task", "task_type": "price", "input": {"qh": "=$/item"}}
       ],
       "output": "=$/price_qh"},
      {"name": "submit", "kind": "task", "task_type": "submit_bid",
       "deadline": "time_add(gate_closure('EPEX-DE-LU', $/input/delivery_day), '-15m')",
       "on_deadline": "fallback",
       "compensate": {"task_type": "withdraw_bid", "input": {"order": "=$/submit/order_id"}}},
      {"name": "route", "kind": "choice",
       "choices": [{"when": "$/submit/accepted == true", "next": "both"}],
       "default": "rejected"},
      {"name": "both", "kind": "parallel", "join": "all", "next": "settle",
       "branches": [
         {"name": "nominate", "steps": [{"name": "nominate_task", "kind": "task", "task_type": "nominate"}]},
         {"name": "report", "steps": [{"name": "report_task", "kind": "task", "task_type": "report"}]}
       ]},
      {"name": "settle", "kind": "child", "definition": "settlement", "version": 2,
       "input": {"day": "=$/input/delivery_day"}, "next": "pause"},
      {"name": "pause", "kind": "timer",
       "until": "local_time(date_add($/input/delivery_day, 1), '06:00', 'Europe/Berlin')", "next": "done"},
      {"name": "done", "kind": "succeed", "result": {"order": "=$/submit/order_id"}},
      {"name": "fallback", "kind": "task", "task_type": "submit_default_bid", "next": "alert"},
      {"name": "alert", "kind": "task", "task_type": "raise_alert", "next": "rejected"},
      {"name": "rejected", "kind": "fail", "error_type": "BidRejected", "message": "=concat('bid for ', $/input/delivery_day, ' rejected')"}
    ]})json");
}

TEST(DefinitionV1, ParsesEveryStepKind) {
  Definition def;
  const Status s = Definition::FromJson(FullDefinition(), &def);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(def.FindStep("wait_for_forecast")->kind, StepKind::kWaitSignal);
  EXPECT_EQ(def.FindStep("wait_for_forecast")->timeout, Millis(7'200'000));
  const Step* foreach_step = def.FindStep("per_quarter_hour");
  EXPECT_EQ(foreach_step->max_concurrency, 8);
  EXPECT_EQ(def.FirstStepOf(foreach_step->body_block).name, "price_qh");
  EXPECT_EQ(def.Next(*def.FindStep("price_qh")), nullptr);  // end of the iteration's block
  EXPECT_TRUE(def.FindStep("submit")->compensate.has_value());
  EXPECT_EQ(def.FindStep("submit")->compensate->task_type, "withdraw_bid");
  EXPECT_EQ(def.FindStep("route")->choices.size(), 1u);
  EXPECT_EQ(def.FindStep("both")->branches.size(), 2u);
  EXPECT_FALSE(def.FindStep("both")->join_first);
  EXPECT_EQ(def.FindStep("settle")->child_version, 2);
  EXPECT_EQ(def.Next(*def.FindStep("fallback"))->name, "alert");
  EXPECT_EQ(def.FindStep("nominate_task")->path, "steps[4].branches[0].steps[0]");
}

TEST(DefinitionV1, RejectsProblemsInNewStepKinds) {
  const std::vector<std::pair<std::function<void(json&)>, std::string>> cases = {
      {[](json& d) { d["steps"][6]["duration"] = "1h"; },
       "steps[6]: a timer needs exactly one of duration and until"},
      {[](json& d) { d["steps"][6].erase("until"); },
       "steps[6]: a timer needs exactly one of duration and until"},
      {[](json& d) { d["steps"][0].erase("timeout"); },
       "steps[0].on_timeout: needs a timeout or timeout_at"},
      {[](json& d) { d["steps"][0]["signal"] = "bad signal"; },
       "steps[0].signal: 'bad signal' is not a valid name"},
      {[](json& d) { d["steps"][3]["choices"][0]["when"] = "$/submit/accepted =="; },
       "steps[3].choices[0].when: column 21: unexpected end of expression"},
      {[](json& d) { d["steps"][3]["choices"][0]["next"] = "nominate_task"; },
       "steps[3].choices[0].next: 'nominate_task' is in another block"},
      {[](json& d) { d["steps"][3]["default"] = "nowhere"; },
       "steps[3].default: names no step: 'nowhere'"},
      {[](json& d) { d["steps"][4]["join"] = "any"; },
       "steps[4].join: must be \"all\" or \"first\""},
      {[](json& d) { d["steps"][4]["branches"][1]["name"] = "nominate"; },
       "steps[4].branches[1].name: duplicate branch name 'nominate'"},
      {[](json& d) { d["steps"][4]["branches"][1]["steps"][0]["name"] = "submit"; },
       "steps[4].branches[1].steps[0].name: duplicate step name 'submit' (first used by steps[2])"},
      {[](json& d) { d["steps"][1]["max_concurrency"] = 0; },
       "steps[1].max_concurrency: must be an integer between 1 and 1000"},
      {[](json& d) {
         d["steps"][1]["items"] = "quarter_hours($/input/delivery_day, 'Europe/Berlln')";
       },
       "steps[1].items: column 37: quarter_hours(): unknown time zone 'Europe/Berlln'"},
      {[](json& d) { d["steps"][2]["deadline"] = "time_add(now(), 'soon')"; },
       "steps[2].deadline: column 17: time_add(): 'soon' is not a duration"},
      {[](json& d) {
         d["steps"][2]["input"] = {{"x", "=frob($/a)"}};
       },
       "steps[2].input/x: column 1: unknown function 'frob'"},
      {[](json& d) { d["steps"][2]["compensate"]["retries"] = 1; },
       "steps[2].compensate.retries: unknown field"},
      {[](json& d) { d["steps"][5]["definition"] = "full"; },
       "steps[5].definition: a definition cannot start itself as a child"},
      {[](json& d) { d["steps"][1]["steps"][0]["name"] = "item"; },
       "steps[1].steps[0].name: 'item' is reserved"},
      {[](json& d) { d["steps"][1]["steps"] = json::array(); },
       "steps[1].steps: must be a non-empty array"},
      // A loop is fine with a wait in it, and refused without one.
      {[](json& d) { d["steps"][9]["next"] = "fallback"; },
       "steps[8]: the steps form a cycle without a wait (fallback -> alert -> fallback)"},
  };
  for (const auto& [mutate, expected] : cases) {
    json doc = FullDefinition();
    mutate(doc);
    Definition def;
    const Status s = Definition::FromJson(doc, &def);
    EXPECT_EQ(s.message().rfind(expected, 0), 0u)
        << "expected \"" << expected << "\", got \"" << s.message() << "\"";
  }
}

TEST(DefinitionV1, LoopsWithAWaitAreAllowed) {
  Definition def;
  const Status s = Definition::Parse(R"json({"name": "poll", "version": 1, "steps": [
      {"name": "check", "kind": "task", "task_type": "check_metering"},
      {"name": "ready", "kind": "choice", "choices": [{"when": "$/check/complete", "next": "done"}],
       "default": "later"},
      {"name": "later", "kind": "timer", "duration": "15m", "next": "check"},
      {"name": "done", "kind": "succeed"}]})json",
                                     &def);
  EXPECT_TRUE(s.ok()) << s.message();
}

}  // namespace
}  // namespace gridflow::dsl
