#include "engine/scheduler/transition_context.h"

#include <algorithm>

namespace gridflow::engine {

bool TaskRecipient::Matches(const persistence::NewTask& task) const {
  if (task.namespace_name != namespace_name) return false;
  if (std::find(queues.begin(), queues.end(), task.queue) == queues.end()) return false;
  return task_types.empty() ||
         std::find(task_types.begin(), task_types.end(), task.task_type) != task_types.end();
}

bool TaskRecipient::TakeRoom(const persistence::NewTask& task) {
  if (room > 0) {
    --room;
    return true;
  }
  if (reserved_room > 0 && task.priority <= reserved_class) {
    --reserved_room;
    return true;
  }
  return false;
}

TransitionContext::TransitionContext(pqxx::transaction_base& txn, DefinitionRegistry& registry,
                                     persistence::TaskIdPool& task_ids, PollMatcher* matcher,
                                     size_t max_run_data_bytes)
    : txn_(txn),
      registry_(registry),
      matcher_(matcher),
      task_ids_(task_ids),
      max_run_data_bytes_(max_run_data_bytes) {}

TransitionContext::~TransitionContext() {
  if (taken_ || matcher_ == nullptr) return;
  for (const auto& poll : after_.polls) {  // the transaction did not commit: give them back
    poll->tasks.clear();
    matcher_->Deliver(poll);
  }
}

std::optional<std::string> TransitionContext::Place(int64_t id, const persistence::NewTask& task) {
  TaskRecipient* recipient = nullptr;
  if (eager_ != nullptr && eager_->Matches(task) && eager_->TakeRoom(task)) {
    recipient = eager_;
  } else if (matcher_ != nullptr) {
    for (const auto& poll : after_.polls) {
      if (poll->Matches(task) && matcher_->Take(*poll, task)) {
        recipient = poll.get();
        break;
      }
    }
    if (recipient == nullptr) {
      if (auto poll = matcher_->Reserve(task)) {
        after_.polls.push_back(poll);
        recipient = poll.get();
      }
    }
  }
  if (recipient == nullptr) return std::nullopt;
  placed_[id] = {task, recipient};
  return recipient->identity;
}

void TransitionContext::NoteNewWork(const std::string& namespace_name, const std::string& queue) {
  after_.new_work.emplace(namespace_name, queue);
  writes_.NotifyQueue(namespace_name + "/" + queue);
}

void TransitionContext::NoteDelayedWork(const std::string& namespace_name, const std::string& queue,
                                        Millis delay) {
  after_.delayed_work.push_back({namespace_name, queue, delay});
}

void TransitionContext::Flush() {
  const std::optional<persistence::Statement> statement = writes_.FlushStatement();
  if (statement) Flushed(persistence::Execute(txn_, *statement));
}

std::optional<persistence::Statement> TransitionContext::FlushStatement() const {
  return writes_.FlushStatement();
}

void TransitionContext::Flushed(const pqxx::result& result) {
  for (persistence::BreakerChange& change : persistence::WriteSet::ReadBreakerChanges(result))
    after_.facts.breaker_changes.push_back(std::move(change));
  for (const persistence::WriteSet::Leased& lease : persistence::WriteSet::ReadLeased(result)) {
    const auto placed = placed_.find(lease.id);
    if (placed == placed_.end()) continue;
    const persistence::NewTask& t = placed->second.first;
    persistence::TaskRow row;
    row.id = lease.id;
    row.run_id = t.run_id;
    row.namespace_name = t.namespace_name;
    row.workflow_id = t.workflow_id;
    row.definition_name = t.definition_name;
    row.definition_version = t.definition_version;
    row.queue = t.queue;
    row.task_type = t.task_type;
    row.step = t.step;
    row.idempotency_key = t.idempotency_key;
    row.input_json = t.input_json;
    row.state = "LEASED";
    row.attempt = 1;
    row.max_attempts = t.max_attempts;
    row.start_to_close_ms = t.start_to_close_ms;
    row.heartbeat_timeout_ms = t.heartbeat_timeout_ms;
    row.lease_epoch = lease.lease_epoch;
    row.lease_owner = placed->second.second->identity;
    row.lease_expires_at = lease.lease_expires_at;
    row.attempt_deadline = lease.attempt_deadline;
    row.frame = t.frame;
    row.activation = t.activation;
    row.kind = t.kind;
    row.iteration = t.iteration;
    row.priority = row.base_priority = t.priority;
    row.dispatch_deadline = t.dispatch_deadline;
    placed->second.second->tasks.push_back(row);
    after_.leased.push_back(std::move(row));
  }
}

void TransitionContext::KeepParsed(const std::string& run_id, KeptRun run) {
  if (parsed_runs_ == nullptr) return;
  const auto [it, added] = after_.parsed_runs.try_emplace(run_id);
  if (added) {
    it->second = std::move(run);
  } else {
    it->second.reset();
  }
}

void TransitionContext::OfferParsed(const std::string& run_id, ParsedRun run) {
  offered_.insert_or_assign(run_id, std::move(run));
}

std::optional<ParsedRun> TransitionContext::TakeParsed(const std::string& run_id) {
  const auto it = offered_.find(run_id);
  if (it == offered_.end()) return std::nullopt;
  std::optional<ParsedRun> run = std::move(it->second);
  offered_.erase(it);
  return run;
}

TransitionContext::AfterCommit TransitionContext::TakeAfterCommit() {
  taken_ = true;
  return std::move(after_);
}

}  // namespace gridflow::engine
