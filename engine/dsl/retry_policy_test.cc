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
  const RetryDecision first = DecideRetry(p, 1, "Timeout", false, 0.999999);
  EXPECT_TRUE(first.retry);
  EXPECT_EQ(first.delay, Millis(99));  // the jitter at its top: just under the full interval
  EXPECT_TRUE(DecideRetry(p, 2, "Timeout", false, 0.5).retry);
  const RetryDecision last = DecideRetry(p, 3, "Timeout", false, 0.5);
  EXPECT_FALSE(last.retry);
  EXPECT_EQ(last.reason, "attempts exhausted (3 of 3)");
}

TEST(DecideRetry, NonRetryableTypesAndVerdictsStopAtOnce) {
  RetryPolicy p;
  p.max_attempts = 10;
  p.non_retryable_error_types = {"BidRejected"};
  EXPECT_FALSE(DecideRetry(p, 1, "BidRejected", false, 0.5).retry);
  EXPECT_FALSE(DecideRetry(p, 1, "Timeout", true, 0.5).retry);
  EXPECT_TRUE(DecideRetry(p, 1, "Timeout", false, 0.5).retry);
}

TEST(Jitter, DrawsTheWaitFromHalfToAllOfTheInterval) {
  RetryPolicy p;
  p.initial_interval = Millis(1000);
  EXPECT_EQ(p.JitteredDelayAfter(1, 0.0), Millis(500));
  EXPECT_EQ(p.JitteredDelayAfter(1, 0.5), Millis(750));
  EXPECT_EQ(p.JitteredDelayAfter(1, 0.999), Millis(999));
  // Out-of-range draws are clamped, never outside the bounds.
  EXPECT_EQ(p.JitteredDelayAfter(1, -3.0), Millis(500));
  EXPECT_EQ(p.JitteredDelayAfter(1, 7.0), Millis(1000));
  for (int attempt = 1; attempt < 12; ++attempt) {
    for (double r = 0; r < 1; r += 0.05) {
      const Millis d = p.JitteredDelayAfter(attempt, r);
      EXPECT_GE(d * 2, p.DelayAfter(attempt));
      EXPECT_LE(d, p.DelayAfter(attempt));
    }
  }
  p.jitter = false;
  EXPECT_EQ(p.JitteredDelayAfter(1, 0.0), Millis(1000));
}

}  // namespace
}  // namespace gridflow::dsl
