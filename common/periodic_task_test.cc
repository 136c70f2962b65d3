#include "common/periodic_task.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <thread>
#include <vector>

namespace gridflow {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// The median time from one tick's start to the next's, for ticks of 100 ms every 150 ms.
milliseconds MedianStartToStart(PeriodicTask::Pace pace) {
  std::mutex mu;
  std::vector<Clock::time_point> starts;
  PeriodicTask task(
      "probe", milliseconds(150),
      [&] {
        {
          std::lock_guard lock(mu);
          starts.push_back(Clock::now());
        }
        std::this_thread::sleep_for(milliseconds(100));
      },
      pace);
  task.Start();
  std::this_thread::sleep_for(milliseconds(1600));
  task.Stop();
  std::vector<milliseconds> gaps;
  for (size_t i = 1; i < starts.size(); ++i)
    gaps.push_back(std::chrono::duration_cast<milliseconds>(starts[i] - starts[i - 1]));
  if (gaps.empty()) return milliseconds(0);
  std::nth_element(gaps.begin(), gaps.begin() + gaps.size() / 2, gaps.end());
  return gaps[gaps.size() / 2];
}

TEST(PeriodicTask, PacedFromTheTickStartTheIntervalIncludesTheTick) {
  const milliseconds gap = MedianStartToStart(PeriodicTask::Pace::kFromTickStart);
  EXPECT_GE(gap.count(), 145);
  EXPECT_LT(gap.count(), 200);  // 150, not 250
}

TEST(PeriodicTask, PacedAfterTheTickTheIntervalFollowsIt) {
  EXPECT_GE(MedianStartToStart(PeriodicTask::Pace::kAfterTick).count(), 245);
}

TEST(PeriodicTask, WakeRunsTheNextTickAtOnce) {
  std::mutex mu;
  int ticks = 0;
  PeriodicTask task("probe", milliseconds(60'000), [&] {
    std::lock_guard lock(mu);
    ++ticks;
  });
  task.Start();
  std::this_thread::sleep_for(milliseconds(100));
  task.Wake();
  std::this_thread::sleep_for(milliseconds(200));
  task.Stop();
  EXPECT_EQ(ticks, 2);
}

}  // namespace
}  // namespace gridflow
