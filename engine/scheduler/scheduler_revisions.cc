// Scheduler: starting a settlement revision (docs/revisions.md). Revision N of a (definition,
// period) series supersedes the older ones in the transaction that starts it: their open runs are
// cancelled as an operator's CancelRun would (so their compensations run), every older run is
// marked superseded_by the new one, and the new run records which revision it replaces.
#include "engine/scheduler/run_transition.h"
#include "engine/scheduler/scheduler.h"
#include "persistence/revision_store.h"
#include "persistence/run_store.h"
#include "persistence/transaction.h"

namespace gridflow::engine {

namespace {

std::string Describe(const StartRunParams& p, int revision) {
  return "revision " + std::to_string(revision) + " of period '" + p.revision_period + "' of '" +
         p.definition_name + "'";
}

}  // namespace

Status Scheduler::StartRevision(const StartRunParams& params, persistence::RunRow* run,
                                bool* created) {
  const persistence::RevisionSeriesKey series{params.namespace_name, params.definition_name,
                                              params.revision_period};
  // One context per transition (a context's writes are flushed once); their follow-ups after the
  // commit.
  std::vector<AfterCommit> after;
  Status s = persistence::Transact(pool_, "start revision", [&](pqxx::work& txn) -> Status {
    after.clear();
    *created = false;
    const std::optional<persistence::LatestRevision> latest =
        persistence::LockRevisionSeries(txn, series);
    // Under the series' lock: a repeated start finds its run, whoever made it.
    if (auto existing = persistence::FindRun(txn, params.namespace_name, params.workflow_id)) {
      if (Status same = SameStart(txn, params, *existing); !same.ok()) return same;
      *run = std::move(*existing);
      return Status::Ok();
    }
    if (latest && latest->revision == params.revision) {
      return Status::AlreadyExists("revision: " + Describe(params, params.revision) +
                                   " was already started as workflow id '" + latest->workflow_id +
                                   "'");
    }
    if (latest && latest->revision > params.revision) {
      return Status::FailedPrecondition(
          "revision: " + Describe(params, params.revision) + " is older than revision " +
          std::to_string(latest->revision) + " (workflow id '" + latest->workflow_id +
          "'), already started; a superseded revision cannot be started");
    }
    const persistence::LatestRevision started{params.revision, params.workflow_id};
    // The older revisions first: their cancellation is recorded before the new run starts.
    const std::string reason = "superseded by revision " + std::to_string(params.revision) +
                               " (workflow id '" + params.workflow_id + "')";
    for (const std::string& older : persistence::MarkSuperseded(txn, series, started)) {
      RunCommand cancel;
      cancel.kind = RunCommand::Kind::kCancel;
      cancel.namespace_name = params.namespace_name;
      cancel.workflow_id = older;
      cancel.reason = reason;
      cancel.actor = params.actor;
      TransitionContext ctx(txn, definitions_, task_ids_, matcher_, options_.max_run_data_bytes);
      if (Status cancelled = CancelIn(ctx, cancel); !cancelled.ok()) return cancelled;
      after.push_back(ctx.TakeAfterCommit());
    }
    TransitionContext ctx(txn, definitions_, task_ids_, matcher_, options_.max_run_data_bytes);
    std::optional<persistence::RunRow> inserted;
    if (Status st = StartIn(ctx, params, latest ? latest->workflow_id : "", &inserted); !st.ok())
      return st;
    after.push_back(ctx.TakeAfterCommit());
    if (!inserted) return Status::Unavailable("run insert conflicted; retry");
    persistence::RecordLatestRevision(txn, series, started);
    *run = std::move(*inserted);
    *created = true;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  for (AfterCommit& a : after)
    FollowUp(std::move(a));
  return Status::Ok();
}

}  // namespace gridflow::engine
