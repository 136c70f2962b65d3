// RunState's stored form: only what differs from the defaults is written, and every reader fills
// the rest in with the same defaults — states written in full by earlier engines read the same.
#include "engine/scheduler/run_state.h"

#include <gtest/gtest.h>

namespace gridflow::engine {
namespace {

using nlohmann::json;

RunState SampleState() {
  RunState state;
  state.next_activation = 7;
  state.next_frame = 3;
  state.depth = 1;
  Frame root;
  root.id = "root";
  root.step = "dispatch";
  root.wait.kind = WaitKind::kForeach;
  root.wait.activation = 4;
  root.wait.frames = {"f1", "f2"};
  root.wait.items = json::array({"a", "b"});
  root.wait.outputs = json::array({nullptr, nullptr});
  root.wait.next_item = 2;
  root.visits = {{"dispatch", 1}};
  state.frames["root"] = root;
  Frame first;
  first.id = "f1";
  first.parent = "root";
  first.index = 0;  // not the default (-1): must be written
  first.key = "[0]";
  first.step = "set_point";
  first.wait.kind = WaitKind::kTask;
  first.wait.activation = 5;
  first.locals = {{"item", "a"}, {"index", 0}};
  state.frames["f1"] = first;
  Frame second = first;
  second.id = "f2";
  second.index = 1;
  second.key = "[1]";
  second.step = "";  // its block ended
  second.wait = Wait{};
  state.frames["f2"] = second;
  state.compensations.push_back({"reserve", json{{"mw", 5}}, "key-1", ""});
  state.unwinding.active = true;
  state.unwinding.outcome = "FAILED";
  state.unwinding.failure = {{"message", "gate closed"}};
  state.unwinding.next = 0;
  return state;
}

TEST(RunStateJson, ADefaultStateIsStoredAsAnEmptyObject) {
  EXPECT_EQ(ToJson(RunState{}), json::object());
}

TEST(RunStateJson, OnlyValuesOtherThanTheDefaultsAreStored) {
  const json doc = ToJson(SampleState());
  EXPECT_EQ(doc.at("next_activation"), 7);
  EXPECT_FALSE(doc.contains("cancel_reason"));
  EXPECT_FALSE(doc.contains("deadline_us"));
  const json& first = doc.at("frames").at("f1");
  EXPECT_EQ(first.at("index"), 0);
  EXPECT_EQ(first.at("wait"), (json{{"kind", "task"}, {"activation", 5}}));
  EXPECT_FALSE(first.contains("branch"));
  EXPECT_FALSE(first.contains("visits"));
  EXPECT_FALSE(doc.at("frames").at("f2").contains("wait"));
  EXPECT_FALSE(doc.at("compensations").at(0).contains("iteration"));
  EXPECT_EQ(doc.at("unwinding"), (json{{"active", true},
                                       {"outcome", "FAILED"},
                                       {"failure", {{"message", "gate closed"}}},
                                       {"next", 0}}));
}

TEST(RunStateJson, TheStoredFormReadsBackAsTheSameState) {
  const RunState original = SampleState();
  RunState restored;
  ASSERT_TRUE(FromJson(json::parse(ToJson(original).dump()), &restored).ok());
  EXPECT_EQ(ToJsonWithDefaults(restored),
            ToJsonWithDefaults(original));  // every member, defaults included
}

TEST(RunStateJson, AStateStoredInFullByAnEarlierEngineReadsTheSame) {
  const RunState original = SampleState();
  RunState from_full;
  RunState from_compact;
  ASSERT_TRUE(FromJson(ToJsonWithDefaults(original), &from_full).ok());
  ASSERT_TRUE(FromJson(ToJson(original), &from_compact).ok());
  EXPECT_EQ(ToJsonWithDefaults(from_full), ToJsonWithDefaults(from_compact));
  EXPECT_EQ(ToJsonWithDefaults(from_full), ToJsonWithDefaults(original));
}

}  // namespace
}  // namespace gridflow::engine
