// Task ids come from the tasks' sequence in blocks each replica holds in memory
// (persistence::TaskIdPool). A database that crashes or fails over before a block's draw was made
// durable hands those ids out again — to another replica, which may write them first. The replica
// still holding the block must neither fail a call for it nor keep trying ids that are taken.
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

class TaskIdsTest : public ::testing::Test {
 protected:
  TestDatabase db_;
  TestEngine engine_{db_.url()};
};

TEST_F(TaskIdsTest, IdsHandedOutAgainAfterAFailoverAreReplacedWithoutAFailedCall) {
  ASSERT_TRUE(
      Register(engine_, SequenceDefinition("bid", {{"a", "t"}, {"b", "t"}, {"c", "t"}})).ok());
  Start(engine_, "first", "bid");
  const v1::LeasedTask a = LeaseOne(engine_, "q", "w");
  ASSERT_FALSE(a.task_id().empty());
  const int64_t drawn = std::stoll(a.task_id());  // this replica's block goes on from here
  // Another replica wrote the next 40 ids of that block before this one came to use them.
  TakeTaskIdsAfter(db_, drawn, 40);

  // The run goes on — each call answered OK — with ids nobody holds.
  CompleteLeased(engine_, a, "{}");
  const v1::LeasedTask b = LeaseOne(engine_, "q", "w");
  ASSERT_FALSE(b.task_id().empty());
  EXPECT_GT(std::stoll(b.task_id()), drawn + 40);
  CompleteLeased(engine_, b, "{}");
  CompleteLeased(engine_, LeaseOne(engine_, "q", "w"), "{}");
  EXPECT_EQ(WaitClosed(engine_, "first").status(), v1::RUN_STATUS_COMPLETED);
  // So does a new run.
  Start(engine_, "second", "bid");
  for (int i = 0; i < 3; ++i)
    CompleteLeased(engine_, LeaseOne(engine_, "q", "w"), "{}");
  EXPECT_EQ(WaitClosed(engine_, "second").status(), v1::RUN_STATUS_COMPLETED);
  EXPECT_EQ(db_.Query("SELECT count(*) FROM tasks WHERE state = 'COMPLETED'"), "6");
}

}  // namespace
}  // namespace gridflow::testing
