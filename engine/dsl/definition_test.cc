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
      {"unknown kind", [](json& d) { d["steps"][1]["kind"] = "timer"; },
       "steps[1].kind: unknown step kind 'timer' (supported: task, succeed, fail)"},
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
       "steps[0]: the steps form a cycle (forecast -> optimise -> submit -> forecast)"},
      {"self loop", [](json& d) { d["steps"][0]["next"] = "forecast"; },
       "steps[0]: the steps form a cycle (forecast -> forecast)"},
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
      {"unknown retry field", [](json& d) { d["steps"][1]["retry"]["jitter"] = true; },
       "steps[1].retry.jitter: unknown field"},
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
