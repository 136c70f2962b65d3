#include "engine/api/page_budget.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace gridflow::engine {
namespace {

persistence::TaskRow OpenTask(int64_t id, size_t details_bytes, size_t message_bytes) {
  persistence::TaskRow row;
  row.id = id;
  row.step = "setpoint";
  row.task_type = "setpoint";
  row.queue = "assets";
  row.state = "LEASED";
  row.heartbeat_details_json = nlohmann::json(std::string(details_bytes, 'h')).dump();
  row.last_failure_json = nlohmann::json{{"error_type", "Timeout"},
                                         {"message", std::string(message_bytes, 'm')},
                                         {"details", std::string(details_bytes, 'd')}}
                              .dump();
  return row;
}

size_t Bytes(const google::protobuf::RepeatedPtrField<v1::TaskInfo>& page) {
  size_t bytes = 0;
  for (const v1::TaskInfo& t : page)
    bytes += t.ByteSizeLong();
  return bytes;
}

// Tasks whose details would pass the budget come without them; every task is still listed.
TEST(FillOpenTasks, TasksPastTheBudgetComeWithoutTheirDetails) {
  std::vector<persistence::TaskRow> tasks;
  for (int64_t id = 1; id <= 6; ++id)
    tasks.push_back(OpenTask(id, 600 * 1024, 100));  // 1.2 MB of details each
  google::protobuf::RepeatedPtrField<v1::TaskInfo> page;
  EXPECT_EQ(FillOpenTasks(tasks, &page), 0);
  ASSERT_EQ(page.size(), 6);
  EXPECT_FALSE(page[0].details_omitted());
  EXPECT_FALSE(page[1].details_omitted());
  EXPECT_EQ(page[1].heartbeat_details_json().size(), 600 * 1024 + 2);
  for (int i = 2; i < 6; ++i) {
    EXPECT_TRUE(page[i].details_omitted()) << i;
    EXPECT_EQ(page[i].heartbeat_details_json(), "");
    EXPECT_EQ(page[i].last_failure().details_json(), "");
    EXPECT_EQ(page[i].last_failure().error_type(), "Timeout");  // the rest of the task stays
    EXPECT_EQ(page[i].task_id(), std::to_string(i + 1));
  }
  EXPECT_LE(Bytes(page), kPageByteBudget);
}

// Past the budget even without details (thousands of open tasks with long failure messages),
// tasks are left out and counted.
TEST(FillOpenTasks, TasksThatDoNotFitEvenWithoutDetailsAreCounted) {
  std::vector<persistence::TaskRow> tasks;
  for (int64_t id = 1; id <= 1000; ++id)
    tasks.push_back(OpenTask(id, 10, 4000));
  google::protobuf::RepeatedPtrField<v1::TaskInfo> page;
  const int omitted = FillOpenTasks(tasks, &page);
  EXPECT_GT(omitted, 0);
  EXPECT_EQ(page.size() + omitted, 1000);
  EXPECT_LE(Bytes(page), kPageByteBudget);
  EXPECT_GT(Bytes(page), kPageByteBudget - 5000);  // filled up to the budget, not short of it
  EXPECT_EQ(page[page.size() - 1].task_id(), std::to_string(page.size()));  // in order
}

}  // namespace
}  // namespace gridflow::engine
