// TaskContext: what a handler sees of the task it runs, and how it learns to stop.
// Handlers must be idempotent: a task may run more than once (at-least-once execution). Use
// idempotency_key() at external venues (it is the same on every attempt of this step of this run)
// and lease_epoch() as a fencing token where the venue accepts one.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>

#include "common/duration.h"
#include "gridflow/v1/types.pb.h"

namespace gridflow::worker {

class TaskContext {
 public:
  explicit TaskContext(v1::LeasedTask task);

  const v1::LeasedTask& task() const { return task_; }
  const std::string& task_id() const { return task_.task_id(); }
  const std::string& task_type() const { return task_.task_type(); }
  const std::string& workflow_id() const { return task_.workflow_id(); }
  const std::string& step() const { return task_.step(); }
  const std::string& input_json() const { return task_.input_json(); }
  const std::string& idempotency_key() const { return task_.idempotency_key(); }
  int64_t lease_epoch() const { return task_.lease_epoch(); }
  int attempt() const { return task_.attempt(); }

  // The run was cancelled (learned from a heartbeat): stop, clean up, return
  // TaskOutcome::Cancelled.
  bool cancel_requested() const { return cancel_requested_.load(); }
  // The lease was lost (expired, or the task was handed to another worker): any outcome will be
  // rejected; stop as soon as possible.
  bool lease_lost() const { return lease_lost_.load(); }
  // The worker is shutting down and the grace period ran out: the lease was released.
  bool released() const { return released_.load(); }
  // Any of the above: the handler should stop.
  bool should_stop() const { return cancel_requested() || lease_lost() || released(); }

  // Sleeps up to `d`, waking early when the handler should stop. Returns !should_stop().
  bool SleepFor(Millis d);

  // Progress details (JSON) sent with the next heartbeat and kept with the task.
  void SetProgress(std::string details_json);

  // SDK internals: heartbeat results and shutdown reach the handler through these.
  void MarkCancelRequested();
  void MarkLeaseLost();
  void MarkReleased();
  std::optional<std::string> TakeProgress();
  // Puts back progress taken for a heartbeat that was not sent or failed, unless newer progress
  // was set since.
  void ReturnProgress(std::string details_json);
  // The handler returned: its outcome is being reported, and heartbeat answers no longer matter
  // (one saying the task is already completed is the report's own doing).
  void MarkFinished() { finished_ = true; }
  bool finished() const { return finished_.load(); }

 private:
  void Wake();

  const v1::LeasedTask task_;
  std::atomic<bool> cancel_requested_{false};
  std::atomic<bool> lease_lost_{false};
  std::atomic<bool> released_{false};
  std::atomic<bool> finished_{false};
  std::mutex mu_;
  std::condition_variable stop_;
  std::optional<std::string> progress_;
};

// A handler's verdict on the task.
struct TaskOutcome {
  enum class Kind { kSuccess, kFailure };
  Kind kind = Kind::kSuccess;
  std::string result_json;  // kSuccess; empty means null
  std::string error_type;   // kFailure
  std::string message;
  std::string details_json;
  bool retryable = true;

  static TaskOutcome Success(std::string result_json);
  // Retryable failures are retried per the step's retry policy; non-retryable ones fail the run.
  static TaskOutcome Failure(std::string error_type, std::string message, bool retryable = true,
                             std::string details_json = "");
  // The handler stopped because the run was cancelled.
  static TaskOutcome Cancelled(std::string message = "cancelled by request");
};

}  // namespace gridflow::worker
