#include "engine/batch/batch_runner.h"

#include <spdlog/spdlog.h>

#include <map>

#include "persistence/transaction.h"

namespace gridflow::engine {
namespace {

// The engine, or the database it talks to, was in trouble: the item stays pending.
bool Transient(const Status& s) {
  switch (s.code()) {
    case StatusCode::kUnavailable:
    case StatusCode::kAborted:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

RunCommand CommandFor(const persistence::BatchOperationRow& op,
                      const persistence::BatchItemRow& item, RunCommand::Kind kind) {
  RunCommand command;
  command.kind = kind;
  command.namespace_name = op.namespace_name;
  command.workflow_id = item.workflow_id;
  command.reason = op.reason + " (batch operation " + op.id + ")";
  command.actor = Actor{op.created_by, op.identity};
  command.from_step = op.from_step;
  command.signal_name = op.signal_name;
  command.payload_json = op.signal_payload;
  command.dedup_id = "batch:" + op.id;
  return command;
}

std::string Describe(RunCommand::Kind kind, const CommandOutcome& outcome) {
  switch (kind) {
    case RunCommand::Kind::kCancel:
      return "cancellation requested";
    case RunCommand::Kind::kTerminate:
      return "terminated";
    case RunCommand::Kind::kRetry:
      return "retried from " + outcome.from_step;
    case RunCommand::Kind::kSignal:
      return outcome.accepted ? "signalled" : "signalled before (same dedup id)";
  }
  return "";
}

}  // namespace

BatchRunner::BatchRunner(persistence::ConnectionPool& pool, Scheduler& scheduler)
    : pool_(pool), scheduler_(scheduler) {}

bool BatchRunner::KindOf(const std::string& kind, RunCommand::Kind* out) {
  static const std::map<std::string, RunCommand::Kind> kKinds = {
      {"cancel", RunCommand::Kind::kCancel},
      {"terminate", RunCommand::Kind::kTerminate},
      {"signal", RunCommand::Kind::kSignal},
      {"retry", RunCommand::Kind::kRetry}};
  const auto it = kKinds.find(kind);
  if (it == kKinds.end()) return false;
  *out = it->second;
  return true;
}

Status BatchRunner::RunDue(int batch, int* done) {
  *done = 0;
  for (int i = 0; i < batch; ++i) {
    bool handled = false;
    if (Status s = RunOne(&handled); !s.ok()) return s;
    if (!handled) break;
    ++*done;
  }
  return Status::Ok();
}

Status BatchRunner::RunOne(bool* handled) {
  std::optional<persistence::DueItem> due;
  Status refusal;
  Scheduler::AfterCommit after;
  const Status s = persistence::Transact(pool_, "batch item", [&](pqxx::work& txn) -> Status {
    refusal = Status::Ok();
    after = Scheduler::AfterCommit{};
    due = persistence::TakeDueItem(txn);
    if (!due) return Status::Ok();
    RunCommand::Kind kind;
    if (!KindOf(due->operation.kind, &kind)) {
      refusal = Status::Internal("unknown batch operation kind '" + due->operation.kind + "'");
      return refusal;
    }
    CommandOutcome outcome;
    refusal = scheduler_.ApplyCommandIn(txn, CommandFor(due->operation, due->item, kind), &outcome,
                                        &after);
    if (!refusal.ok()) return refusal;  // rolls back whatever the command began
    persistence::FinishItem(txn, due->operation, due->item.seq, persistence::item_state::kSucceeded,
                            "", Describe(kind, outcome));
    return Status::Ok();
  });
  *handled = due.has_value();
  if (s.ok()) {
    if (due) scheduler_.FollowUp(std::move(after));
    return Status::Ok();
  }
  // The transaction's own failure, or the command's refusal (the status is the command's).
  if (!due || refusal.ok() || Transient(refusal)) return s;
  return RecordRefusal(*due, refusal);
}

Status BatchRunner::RecordRefusal(const persistence::DueItem& due, const Status& refusal) {
  if (refusal.code() == StatusCode::kInternal) {
    spdlog::error("batch operation {}/{}: run {}: {}", due.operation.namespace_name,
                  due.operation.id, due.item.workflow_id, refusal.ToString());
  }
  return persistence::Transact(pool_, "batch item refused", [&](pqxx::work& txn) {
    // Another replica may have taken the operation meanwhile: it meets the same refusal and
    // records it itself.
    const std::optional<persistence::DueItem> again =
        persistence::RetakeItem(txn, due.operation.namespace_name, due.operation.id, due.item.seq);
    if (!again) return Status::Ok();
    persistence::FinishItem(txn, again->operation, due.item.seq, persistence::item_state::kFailed,
                            std::string(StatusCodeName(refusal.code())), refusal.message());
    return Status::Ok();
  });
}

}  // namespace gridflow::engine
