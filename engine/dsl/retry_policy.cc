#include "engine/dsl/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace gridflow::dsl {

Millis RetryPolicy::DelayAfter(int failed_attempt) const {
  const double exponent = std::max(0, failed_attempt - 1);
  const double delay =
      static_cast<double>(initial_interval.count()) * std::pow(backoff_coefficient, exponent);
  const double capped = std::min(delay, static_cast<double>(max_interval.count()));
  return Millis(static_cast<int64_t>(std::llround(capped)));
}

Millis RetryPolicy::JitteredDelayAfter(int failed_attempt, double random) const {
  const Millis full = DelayAfter(failed_attempt);
  if (!jitter) return full;
  const double share = 0.5 + 0.5 * std::clamp(random, 0.0, 1.0);
  return Millis(static_cast<int64_t>(static_cast<double>(full.count()) * share));
}

RetryDecision DecideRetry(const RetryPolicy& policy, int attempt, const std::string& error_type,
                          bool non_retryable, double random) {
  if (non_retryable) return {false, Millis(0), "the worker marked the failure non-retryable"};
  const auto& listed = policy.non_retryable_error_types;
  if (std::find(listed.begin(), listed.end(), error_type) != listed.end()) {
    return {false, Millis(0), "error type '" + error_type + "' is non-retryable for this step"};
  }
  if (attempt >= policy.max_attempts) {
    return {false, Millis(0),
            "attempts exhausted (" + std::to_string(attempt) + " of " +
                std::to_string(policy.max_attempts) + ")"};
  }
  return {true, policy.JitteredDelayAfter(attempt, random), ""};
}

}  // namespace gridflow::dsl
