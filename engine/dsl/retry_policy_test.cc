#include "engine/dsl/retry_policy.h"

#include <gtest/gtest.h>

namespace gridflow::dsl {
namespace {

TEST(RetryPolicy, BackoffGrowsGeometricallyUpToTheCap) {
  RetryPolicy p;
  p.initial_interval = Millis(1000);
  p.backoff_coefficient = 2.0;
  p.max_interval = Millis(10'000);
  EXPECT_EQ(p.DelayAfter(1), Millis(1000));
  EXPECT_EQ(p.DelayAfter(2), Millis(2000));
  EXPECT_EQ(p.DelayAfter(3), Millis(4000));
  EXPECT_EQ(p.DelayAfter(4), Millis(8000));
  EXPECT_EQ(p.DelayAfter(5), Millis(10'000));
  EXPECT_EQ(p.DelayAfter(60), Millis(10'000));  // no overflow far out
}

TEST(RetryPolicy, CoefficientOneGivesAFixedInterval) {
  RetryPolicy p;
  p.initial_interval = Millis(250);
  p.backoff_coefficient = 1.0;
  for (int attempt = 1; attempt < 10; ++attempt)
    EXPECT_EQ(p.DelayAfter(attempt), Millis(250));
}

TEST(RetryPolicy, FractionalCoefficientRoundsToMilliseconds) {
  RetryPolicy p;
  p.initial_interval = Millis(1000);
  p.backoff_coefficient = 1.5;
  EXPECT_EQ(p.DelayAfter(2), Millis(1500));
  EXPECT_EQ(p.DelayAfter(3), Millis(2250));
}

TEST(DecideRetry, RetriesUntilAttemptsAreExhausted) {
  RetryPolicy p;
  p.max_attempts = 3;
  p.initial_interval = Millis(100);
  const RetryDecision first = DecideRetry(p, 1, "Timeout", false);
  EXPECT_TRUE(first.retry);
  EXPECT_EQ(first.delay, Millis(100));
  EXPECT_TRUE(DecideRetry(p, 2, "Timeout", false).retry);
  const RetryDecision last = DecideRetry(p, 3, "Timeout", false);
  EXPECT_FALSE(last.retry);
  EXPECT_EQ(last.reason, "attempts exhausted (3 of 3)");
}

TEST(DecideRetry, NonRetryableTypesAndVerdictsStopAtOnce) {
  RetryPolicy p;
  p.max_attempts = 10;
  p.non_retryable_error_types = {"BidRejected"};
  EXPECT_FALSE(DecideRetry(p, 1, "BidRejected", false).retry);
  EXPECT_FALSE(DecideRetry(p, 1, "Timeout", true).retry);
  EXPECT_TRUE(DecideRetry(p, 1, "Timeout", false).retry);
}

}  // namespace
}  // namespace gridflow::dsl
