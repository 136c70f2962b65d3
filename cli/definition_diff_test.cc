#include "cli/definition_diff.h"

#include <gtest/gtest.h>

namespace gridflow::cli {
namespace {

using json = nlohmann::json;

std::vector<std::string> Lines(const std::vector<JsonChange>& changes) {
  std::vector<std::string> lines;
  for (const auto& c : changes)
    lines.push_back(std::string(ChangeKindName(c.kind)) + " " + c.path);
  return lines;
}

TEST(DefinitionDiff, StepsAreMatchedByNameNotPosition) {
  const json v1 = json::parse(R"({"name": "bid", "version": 1, "steps": [
      {"name": "forecast", "kind": "task", "task_type": "forecast"},
      {"name": "submit", "kind": "task", "task_type": "submit", "retry": {"max_attempts": 3}}]})");
  const json v2 = json::parse(R"({"name": "bid", "version": 2, "time_zone": "Europe/Berlin",
      "steps": [
      {"name": "forecast", "kind": "task", "task_type": "forecast"},
      {"name": "price", "kind": "task", "task_type": "price"},
      {"name": "submit", "kind": "task", "task_type": "submit", "retry": {"max_attempts": 5}}]})");
  const auto changes = DiffDefinitions(v1, v2);
  EXPECT_EQ(Lines(changes), (std::vector<std::string>{"changed steps[submit].retry.max_attempts",
                                                      "added steps[price]", "added time_zone"}));
  EXPECT_EQ(changes[0].from, 3);
  EXPECT_EQ(changes[0].to, 5);
  EXPECT_EQ(changes[1].to["task_type"], "price");
}

TEST(DefinitionDiff, RemovalsAndReorderingsAreReported) {
  const json v1 = json::parse(R"({"steps": [{"name": "a"}, {"name": "b"}, {"name": "c"}]})");
  const json v2 = json::parse(R"({"steps": [{"name": "c"}, {"name": "a"}]})");
  EXPECT_EQ(Lines(DiffDefinitions(v1, v2)),
            (std::vector<std::string>{"removed steps[b]", "changed steps (order)"}));
}

TEST(DefinitionDiff, IdenticalVersionsHaveNoChanges) {
  const json v = json::parse(R"({"name": "x", "version": 1, "steps": [{"name": "a"}]})");
  json v2 = v;
  v2["version"] = 2;
  EXPECT_TRUE(DiffDefinitions(v, v2).empty());
}

TEST(DefinitionDiff, UnnamedListsAreComparedAsValues) {
  const json v1 = json::parse(R"({"retry": {"non_retryable": ["A", "B"]}})");
  const json v2 = json::parse(R"({"retry": {"non_retryable": ["A"]}})");
  const auto changes = DiffDefinitions(v1, v2);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].path, "retry.non_retryable");
  EXPECT_EQ(changes[0].to, json::array({"A"}));
}

}  // namespace
}  // namespace gridflow::cli
