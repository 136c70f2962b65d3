// A task step's retry policy and the decision it makes after a failed attempt.
// Attempt n+1 waits min(initial_interval * backoff_coefficient^(n-1), max_interval) after attempt n
// failed; with the defaults (1s, 2.0, 100s): 1s, 2s, 4s, 8s, ... capped at 100s.
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

  // The wait before attempt `failed_attempt + 1`.
  Millis DelayAfter(int failed_attempt) const;
};

struct RetryDecision {
  bool retry = false;
  Millis delay{0};
  // Why not, when retry is false: "non-retryable error", "attempts exhausted (3 of 3)", ...
  std::string reason;
};

// What to do after attempt `attempt` failed with `error_type`. `non_retryable` is the worker's
// own verdict on this failure.
RetryDecision DecideRetry(const RetryPolicy& policy, int attempt, const std::string& error_type,
                          bool non_retryable);

}  // namespace gridflow::dsl
