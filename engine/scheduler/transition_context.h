// TransitionContext: what the transitions of one transaction share. The transaction itself; the
// rows they will write (one WriteSet, flushed in one statement); ids for new tasks; where new
// tasks go; and what is left to do once the transaction committed (facts for metrics, queues to
// wake, messages to deliver, history watchers to wake, leased tasks to hand out).
//
// Where a new task goes, in this order:
//   1. the worker whose call scheduled it, when that call asked for its next tasks (eager
//      dispatch: the answer to CompleteTask carries them, no long-poll needed);
//   2. a long-poll waiting on this replica for that queue and type (the poll is answered right
//      after the commit, without a claim);
//   3. its queue: PENDING, announced with NOTIFY for any replica's workers to claim.
// In 1 and 2 the task is inserted LEASED to that worker in the same transaction.
//
// One context per transaction attempt: when a transaction is retried, a fresh one is made and
// the old one's reservations of long-polls are given back (destructor).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/transaction_base>

#include "common/duration.h"
#include "engine/scheduler/parsed_run_cache.h"
#include "engine/scheduler/run_effects.h"
#include "engine/scheduler/transition_facts.h"
#include "persistence/message_store.h"
#include "persistence/rows.h"
#include "persistence/write_set.h"

namespace gridflow::engine {

class DefinitionRegistry;

// Thrown by TransitionContext::txn() while a start planned without the database is interpreted
// (SetPlannedStart): that start must be applied the ordinary way.
struct StartNeedsDatabase : std::runtime_error {
  StartNeedsDatabase() : std::runtime_error("a planned start needs the database") {}
};

// A run's parsed data and state as a transition wrote them: what the cache gets after the commit.
struct KeptRun {
  HeldRun held;  // at the row's version after the commit
  std::vector<int64_t> open_task_ids;
};

// A worker (or one of its long-polls) that takes tasks leased to it in the transaction.
struct TaskRecipient {
  std::string identity;  // the lease owner
  std::string namespace_name;
  std::vector<std::string> queues;
  std::vector<std::string> task_types;  // empty: any
  // Slots it may still fill (eager recipients; a long-poll's slots are kept by the PollMatcher,
  // shared by every transaction holding the poll).
  int room = 0;           // tasks of any class
  int reserved_room = 0;  // and of base class <= reserved_class
  int reserved_class = 0;
  std::vector<persistence::TaskRow> tasks;  // after the commit: what it got

  // Whether `task` is for it: its namespace, one of its queues, one of its types.
  bool Matches(const persistence::NewTask& task) const;
  // Takes a slot for `task` (an ordinary one first, else a reserved one its class may use);
  // false when none is left.
  bool TakeRoom(const persistence::NewTask& task);
};

// Long-polls waiting on this replica, held by transactions (implemented by the dispatcher).
class PollMatcher {
 public:
  virtual ~PollMatcher() = default;
  // A waiting poll that takes this task, with the task's slot taken: held by this transaction
  // until Deliver (no claim answers it meanwhile). Ordinarily a poll is held by one transaction
  // at a time; an urgent task may also join a poll other transactions hold, which is then
  // answered once the last of them ended. nullptr when no poll waits with room.
  virtual std::shared_ptr<TaskRecipient> Reserve(const persistence::NewTask& task) = 0;
  // Takes a slot for `task` on `poll`, which this transaction holds (the slots are shared with
  // any other transaction holding it); false when none is left.
  virtual bool Take(TaskRecipient& poll, const persistence::NewTask& task) = 0;
  // Ends this transaction's hold: its tasks (none when it did not commit) join the poll's answer,
  // which is sent when no transaction holds the poll any more; with no task at all from any of
  // them, the poll waits again.
  virtual void Deliver(const std::shared_ptr<TaskRecipient>& poll) = 0;
};

class TransitionContext {
 public:
  // `matcher` may be null (no long-polls are handed tasks directly). `max_run_data_bytes`: what
  // one run's data and state may hold (RunDataBudget; 0: no limit).
  TransitionContext(pqxx::transaction_base& txn, DefinitionRegistry& registry,
                    persistence::TaskIdPool& task_ids, PollMatcher* matcher,
                    size_t max_run_data_bytes);
  ~TransitionContext();  // gives back reservations not delivered
  TransitionContext(const TransitionContext&) = delete;
  TransitionContext& operator=(const TransitionContext&) = delete;

  pqxx::transaction_base& txn() {
    if (planned_start_) throw StartNeedsDatabase();
    return txn_;
  }
  // While set, a start planned by OneWriteStarts is interpreted: its transaction may not have
  // begun, and its run is not in the database yet, so nothing may read or write through txn().
  // (New task ids are drawn outside the transaction and stay allowed.)
  void SetPlannedStart(bool planned) { planned_start_ = planned; }
  DefinitionRegistry& registry() { return registry_; }
  size_t max_run_data_bytes() const { return max_run_data_bytes_; }
  // Where the runs this transaction writes go once it committed, parsed, for their next
  // transitions (nullptr: nowhere).
  void SetParsedRuns(ParsedRunCache* cache) { parsed_runs_ = cache; }
  // A run as a transition wrote it, to be put in the cache once the transaction committed.
  void KeepParsed(const std::string& run_id, KeptRun run);
  // A run this transaction locked without reading its data and state, held parsed instead
  // (persistence::LockRunsOfTasks); RunTransition::Open takes it.
  void OfferParsed(const std::string& run_id, ParsedRun run);
  std::optional<ParsedRun> TakeParsed(const std::string& run_id);
  persistence::WriteSet& writes() { return writes_; }
  TransitionFacts& facts() { return after_.facts; }

  int64_t NewTaskId() { return task_ids_.Next(txn_); }

  // Eager dispatch: while the call of `recipient` is applied, new tasks go to it first.
  void SetEagerRecipient(TaskRecipient* recipient) { eager_ = recipient; }
  // Where a new task goes: its lease owner, or nullopt for its queue (then announced).
  std::optional<std::string> Place(int64_t id, const persistence::NewTask& task);

  void NoteNewWork(const std::string& namespace_name, const std::string& queue);
  void NoteDelayedWork(const std::string& namespace_name, const std::string& queue, Millis delay);
  void NoteMessage(persistence::PendingMessage message) {
    after_.messages.push_back(std::move(message));
  }
  void NoteHistory(const std::string& run_id) { after_.runs_with_new_events.insert(run_id); }

  // Writes everything (one statement) and routes the leased tasks to their recipients.
  void Flush();
  // The same in two halves, for a PipelinedWork that sends the statement with its COMMIT:
  // the statement (nullopt: nothing to write), then its result.
  std::optional<persistence::Statement> FlushStatement() const;
  void Flushed(const pqxx::result& result);

  // What the commit leaves to do; taken once, after the commit.
  struct AfterCommit {
    TransitionFacts facts;
    std::set<std::pair<std::string, std::string>> new_work;  // (namespace, queue)
    std::vector<DelayedWork> delayed_work;
    std::vector<persistence::PendingMessage> messages;
    std::set<std::string> runs_with_new_events;
    std::vector<std::shared_ptr<TaskRecipient>> polls;  // reserved long-polls to deliver
    std::vector<persistence::TaskRow> leased;           // every task handed out, for metrics
    // Runs' parsed data and state as committed, by run id (nullopt: a run two transitions
    // wrote, whose last one cannot be told apart; not kept).
    std::map<std::string, std::optional<KeptRun>> parsed_runs;
  };
  AfterCommit TakeAfterCommit();

 private:
  pqxx::transaction_base& txn_;
  DefinitionRegistry& registry_;
  PollMatcher* matcher_;
  persistence::TaskIdPool& task_ids_;
  const size_t max_run_data_bytes_;
  ParsedRunCache* parsed_runs_ = nullptr;
  std::map<std::string, ParsedRun> offered_;
  persistence::WriteSet writes_;
  TaskRecipient* eager_ = nullptr;
  // Tasks inserted LEASED: their row and recipient, routed after Flush.
  std::map<int64_t, std::pair<persistence::NewTask, TaskRecipient*>> placed_;
  AfterCommit after_;
  bool taken_ = false;
  bool planned_start_ = false;
};

}  // namespace gridflow::engine
