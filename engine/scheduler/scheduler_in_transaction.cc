// Scheduler: transitions inside a caller's transaction (see scheduler.h), for work that must
// commit together with the caller's own writes — a schedule's firing starts its run this way.
#include "common/json_text.h"
#include "engine/scheduler/kinds.h"
#include "engine/scheduler/run_transition.h"
#include "engine/scheduler/scheduler.h"
#include "persistence/message_store.h"
#include "persistence/run_store.h"

namespace gridflow::engine {

using nlohmann::json;

Status Scheduler::StartIn(TransitionContext& ctx, const StartRunParams& params,
                          const std::string& supersedes, std::optional<persistence::RunRow>* run) {
  pqxx::transaction_base& txn = ctx.txn();
  std::shared_ptr<const dsl::Definition> definition;
  std::string version_reason;
  Status s = definitions_.ResolveForStart(txn, params.namespace_name, params.definition_name,
                                          params.definition_version, params.workflow_id,
                                          &definition, &version_reason);
  if (!s.ok()) return s;
  persistence::NewRun new_run = RunTransition::NewRunRow(
      *definition, params.namespace_name, params.workflow_id, params.input, params.actor.principal);
  new_run.version_reason = version_reason;
  new_run.revision_period = params.revision_period;
  new_run.revision = params.revision;
  new_run.supersedes = supersedes;
  std::optional<persistence::RunRow> inserted = persistence::InsertRun(txn, new_run);
  if (!inserted) {
    run->reset();
    return Status::Ok();
  }
  RunTransition::NewRunSpec spec;
  spec.input = params.input;
  spec.started_by = params.actor.principal;
  spec.client_identity = params.actor.client_identity;
  std::unique_ptr<RunTransition> transition;
  s = RunTransition::Start(ctx, std::move(*inserted), definition, spec, &transition);
  if (!s.ok()) return s;
  transition->Flush();
  ctx.Flush();
  *run = transition->run();
  return Status::Ok();
}

Status Scheduler::StartRunIn(pqxx::transaction_base& txn, const StartRunParams& params,
                             persistence::RunRow* run, bool* created, AfterCommit* after) {
  // No long-poll is handed the first task directly: it is queued and announced after the commit
  // (the caller's transaction may still roll back after this returns).
  TransitionContext ctx(txn, definitions_, task_ids_, /*matcher=*/nullptr,
                        options_.max_run_data_bytes);
  std::optional<persistence::RunRow> started;
  if (Status s = StartIn(ctx, params, "", &started); !s.ok()) return s;
  if (!started) {
    std::optional<persistence::RunRow> existing =
        persistence::FindRun(txn, params.namespace_name, params.workflow_id);
    if (!existing) return Status::Unavailable("run insert conflicted; retry");
    *run = std::move(*existing);
    *created = false;
    return Status::Ok();
  }
  *run = std::move(*started);
  *created = true;
  *after = ctx.TakeAfterCommit();
  return Status::Ok();
}

void Scheduler::RequestCancelIn(pqxx::transaction_base& txn, const std::string& run_id,
                                const std::string& reason, const std::string& requested_by,
                                AfterCommit* after) {
  const json payload = {{"reason", reason}, {"requested_by", requested_by}};
  after->messages.push_back(
      {persistence::InsertMessage(txn, run_id, std::string(ToStored(MessageKind::kCancel)),
                                  DumpJson(payload)),
       run_id});
}

}  // namespace gridflow::engine
