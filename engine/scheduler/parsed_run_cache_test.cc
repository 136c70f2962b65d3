#include "engine/scheduler/parsed_run_cache.h"

#include <gtest/gtest.h>

namespace gridflow::engine {
namespace {

ParsedRun Parsed(int marker, size_t text_bytes) {
  ParsedRun run;
  run.data = {{"marker", marker}};
  run.text_bytes = text_bytes;
  return run;
}

TEST(ParsedRunCache, AnEntryIsFoundByItsOpenTasksAndTakenOnce) {
  ParsedRunCache cache(1000, 100);
  cache.Put("r", {5, Parsed(1, 10)}, {11, 12});
  cache.Put("s", {2, Parsed(2, 10)}, {13});
  auto taken = cache.TakeForTasks({12, 11, 99});
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken.at("r").row_version, 5);
  EXPECT_EQ(taken.at("r").run.data["marker"], 1);
  EXPECT_TRUE(cache.TakeForTasks({11, 12}).empty());  // the batch owns it now
  cache.Put("r", {6, Parsed(3, 10)}, {14});           // its next transition committed
  EXPECT_TRUE(cache.TakeForTasks({11}).empty());      // a task it no longer has
  taken = cache.TakeForTasks({14, 13});
  EXPECT_EQ(taken.size(), 2u);
  EXPECT_EQ(taken.at("r").row_version, 6);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.text_bytes(), 0u);
}

TEST(ParsedRunCache, TheOldestGoFirstAndLargeRunsAreNotKept) {
  ParsedRunCache cache(200, 100);
  cache.Put("a", {1, Parsed(1, 40)}, {1});
  cache.Put("b", {1, Parsed(2, 40)}, {2});
  cache.Put("c", {1, Parsed(3, 40)}, {3});
  cache.Put("a", {2, Parsed(4, 40)}, {4});  // put again: the newest now
  cache.Put("d", {1, Parsed(5, 45)}, {5});
  cache.Put("e", {1, Parsed(6, 45)}, {6});  // 210 > 200: b, the oldest, goes
  EXPECT_EQ(cache.text_bytes(), 170u);
  EXPECT_TRUE(cache.TakeForTasks({2}).empty());
  EXPECT_EQ(cache.TakeForTasks({3, 4}).size(), 2u);
  cache.Put("f", {1, Parsed(7, 51)}, {7});  // above a quarter of the cache
  EXPECT_TRUE(cache.TakeForTasks({7}).empty());
}

TEST(ParsedRunCache, AtMostItsCountOfRuns) {
  ParsedRunCache cache(1000, 2);
  cache.Put("a", {1, Parsed(1, 1)}, {1});
  cache.Put("b", {1, Parsed(2, 1)}, {2});
  cache.Put("c", {1, Parsed(3, 1)}, {3});
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(cache.TakeForTasks({1}).empty());
  EXPECT_EQ(cache.TakeForTasks({2, 3}).size(), 2u);
}

}  // namespace
}  // namespace gridflow::engine
