// Scheduler::Call: one group-committed call (StartRun, CompleteTask, FailTask) on its way through
// a batch: what was asked, what the current transaction attempt answers, and the callback that
// delivers the answer once the transaction committed. Private to the scheduler.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/scheduler/one_write_starts.h"
#include "engine/scheduler/scheduler.h"
#include "engine/scheduler/transition_context.h"

namespace gridflow::engine {

struct Scheduler::Call {
  enum class Kind { kStart, kComplete, kFail };
  Kind kind = Kind::kStart;
  // Applied ahead of the queue, in a batch of urgent calls (GroupCommitter): a start whose run
  // is handed urgent tasks at once.
  bool urgent = false;

  // StartRun
  StartRunParams start;
  StartRunDone start_done;
  // CompleteTask, FailTask
  LeaseRef lease;
  std::string result_json;  // canonical JSON text of `result`
  nlohmann::json result;
  NextTaskRequest next;
  CompleteTaskDone complete_done;
  TaskFailureReport failure;
  FailTaskDone fail_done;

  // The current attempt's answer; reset when a transaction attempt starts.
  struct Reply {
    bool set = false;
    Status status;
    persistence::RunRow run;
    bool created = false;
    bool duplicate = false;
    RetryOutcome retry;
  };
  Reply reply;
  // Where this completion's eager next tasks go (when it asked for some).
  std::optional<TaskRecipient> recipient;
  // Set during an attempt: the run this call applies to (task calls); the run this start
  // planned, to be written by the write statement alone (OneWriteStarts).
  std::string run_id;
  std::optional<OneWriteStarts::Plan> plan;

  ~Call() {
    if (!finished) Deliver(Status::Internal("the call was dropped before it was answered"));
  }

  void ResetAttempt() {
    reply = Reply{};
    run_id.clear();
    plan.reset();
    if (kind == Kind::kComplete && next.max_tasks > 0) {
      recipient = TaskRecipient{lease.identity,
                                lease.namespace_name,
                                next.queues,
                                next.task_types,
                                next.max_tasks,
                                0,
                                0,
                                {}};
    } else {
      recipient.reset();
    }
  }
  void Answer(Status status) {
    reply.set = true;
    reply.status = std::move(status);
  }
  // Calls the callback with the attempt's answer (or `overriding`, when given). Once.
  void Deliver(std::optional<Status> overriding = std::nullopt) {
    if (finished) return;
    finished = true;
    const Status status = overriding ? *overriding : reply.status;
    static const std::vector<persistence::TaskRow> kNone;
    switch (kind) {
      case Kind::kStart:
        start_done(status, reply.run, reply.created);
        break;
      case Kind::kComplete:
        complete_done(status, reply.duplicate, status.ok() && recipient ? recipient->tasks : kNone);
        break;
      case Kind::kFail:
        fail_done(status, reply.retry);
        break;
    }
  }

 private:
  bool finished = false;
};

}  // namespace gridflow::engine
