#include "worker/task_context.h"

namespace gridflow::worker {

TaskContext::TaskContext(v1::LeasedTask task) : task_(std::move(task)) {}

bool TaskContext::SleepFor(Millis d) {
  std::unique_lock lock(mu_);
  stop_.wait_for(lock, d, [this] { return should_stop(); });
  return !should_stop();
}

void TaskContext::SetProgress(std::string details_json) {
  std::lock_guard lock(mu_);
  progress_ = std::move(details_json);
}

std::optional<std::string> TaskContext::TakeProgress() {
  std::lock_guard lock(mu_);
  std::optional<std::string> out;
  out.swap(progress_);
  return out;
}

void TaskContext::ReturnProgress(std::string details_json) {
  std::lock_guard lock(mu_);
  if (!progress_) progress_ = std::move(details_json);
}

void TaskContext::Wake() {
  std::lock_guard lock(mu_);  // pairs with SleepFor's predicate check
  stop_.notify_all();
}

void TaskContext::MarkCancelRequested() {
  cancel_requested_ = true;
  Wake();
}

void TaskContext::MarkLeaseLost() {
  lease_lost_ = true;
  Wake();
}

void TaskContext::MarkReleased() {
  released_ = true;
  Wake();
}

TaskOutcome TaskOutcome::Success(std::string result_json) {
  TaskOutcome o;
  o.kind = Kind::kSuccess;
  o.result_json = std::move(result_json);
  return o;
}

TaskOutcome TaskOutcome::Failure(std::string error_type, std::string message, bool retryable,
                                 std::string details_json) {
  TaskOutcome o;
  o.kind = Kind::kFailure;
  o.error_type = std::move(error_type);
  o.message = std::move(message);
  o.retryable = retryable;
  o.details_json = std::move(details_json);
  return o;
}

TaskOutcome TaskOutcome::Cancelled(std::string message) {
  return Failure("gridflow.Cancelled", std::move(message), /*retryable=*/false);
}

}  // namespace gridflow::worker
