// A task step's retry policy and the decision it makes after a failed attempt.
// Attempt n+1 waits min(initial_interval * backoff_coefficient^(n-1), max_interval) after attempt n
// failed; with the defaults (1s, 2.0, 100s): 1s, 2s, 4s, 8s, ... capped at 100s. With jitter (the
// default) the wait is drawn uniformly from [half of that, all of it], so runs that failed
// together against one venue do not retry together.
#pragma once

#include <string>
#include <vector>

#include "common/duration.h"

namespace gridflow::dsl {

struct RetryPolicy {
  int max_attempts = 3;
  Millis initial_interval{1000};
  double backoff_coefficient = 2.0;
  Millis max_interval{100'000};
  // Error types that are never retried (e.g. "BidRejected": retrying cannot make it valid).
  std::vector<std::string> non_retryable_error_types;
  bool jitter = true;

  // The longest wait before attempt `failed_attempt + 1` (without jitter: the wait).
  Millis DelayAfter(int failed_attempt) const;
  // The wait before attempt `failed_attempt + 1`; `random` in [0, 1) picks the jitter.
  Millis JitteredDelayAfter(int failed_attempt, double random) const;
};

struct RetryDecision {
  bool retry = false;
  Millis delay{0};
  // Why not, when retry is false: "non-retryable error", "attempts exhausted (3 of 3)", ...
  std::string reason;
};

// What to do after attempt `attempt` failed with `error_type`. `non_retryable` is the worker's
// own verdict on this failure. `random` in [0, 1) picks the jitter (a uniform draw).
RetryDecision DecideRetry(const RetryPolicy& policy, int attempt, const std::string& error_type,
                          bool non_retryable, double random);

}  // namespace gridflow::dsl
