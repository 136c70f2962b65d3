// WriteSet: what one transaction writes to tasks, runs, events and timers, gathered while the
// engine advances runs in memory and written by ONE statement at the end (Flush): set-based
// inserts and updates (jsonb_to_recordset), plus the NOTIFYs, in a single round trip however many
// runs the transaction advanced. Inserted tasks carry ids drawn beforehand (AllocateTaskIds), so
// their history events can name them.
//
// Several updates of one task in a set collapse into the last one (a cancellation request never
// replaces a final update); an update of a task inserted in the same set changes the insert.
// Not thread-safe; one per transaction attempt.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <pqxx/except>
#include <pqxx/transaction_base>

#include "persistence/pipelined_work.h"
#include "persistence/rows.h"

namespace gridflow::persistence {

// Parts of the write statement that a set includes only when it has rows for them: each
// combination is its own prepared statement, FlushStatementName(parts), so a transaction without
// timers, search attributes or attempts does not pay for their CTEs.
enum FlushPart : unsigned {
  kFlushNewTimers = 1,
  kFlushAttributes = 2,
  kFlushCancelledTimers = 4,
  kFlushBreakers = 8,
  kFlushNewRuns = 16,
};
inline constexpr unsigned kAllFlushParts = 31;
std::string FlushStatementName(unsigned parts);

class WriteSet {
 public:
  // A task to insert. With `lease_owner` it is inserted LEASED to that worker (eager dispatch: the
  // engine hands it out in the same transaction), its epoch drawn like a claim's — unless the
  // statement finds its queue or type under a dispatch control (paused, rate-limited, circuit not
  // closed) or a more urgent task of its queue waiting: then it is inserted PENDING and announced.
  void InsertTask(int64_t id, const NewTask& task, std::optional<std::string> lease_owner);

  void CompleteTask(int64_t id, std::string output_json);
  void FailTask(int64_t id, std::string failure_json);
  // Back to PENDING for attempt + 1, due `delay_ms` after the transaction's gf_now().
  void RetryTask(int64_t id, int64_t delay_ms, std::string failure_json);
  // Back to PENDING at once for the same attempt.
  void ReleaseTask(int64_t id);
  void CancelTask(int64_t id);
  // A LEASED task the run no longer needs: its worker learns it by heartbeat.
  void RequestTaskCancel(int64_t id);

  // An attempt of a task type ended (success or failure): counted by the type's circuit breaker,
  // when it has one, in the same statement.
  void CountAttempt(const std::string& namespace_name, const std::string& task_type,
                    int64_t task_id, bool succeeded);

  // Writes the run row, its search_attributes included. `data_patch`: a run stored before may
  // give, instead of its whole data (run.data_json is then not read), the top-level members that
  // changed, as a JSON object: the statement writes `data || patch` ("{}": the stored data as it
  // is, not even rewritten). A large document's unchanged members are then neither serialised,
  // sent nor parsed again at each step. A second update of the same run in this set merges with
  // the first.
  void UpdateRun(const RunRow& run, bool closed,
                 std::optional<std::string> data_patch = std::nullopt);
  // The run (whose row UpdateRun gives) is new: the statement inserts it in its final state —
  // created, updated and keyed for its history at run.created_at — instead of updating it. The
  // statement refuses it (SQLSTATE GF001 or a unique violation, and nothing is written) when its
  // workflow id is taken, when run.created_at is not the transaction's clock within 100 ms, or,
  // with `routed`, when its version is no longer what the latest routes its workflow id to
  // (the new_runs part, migration 24).
  void InsertRun(const std::string& run_id, bool routed);
  // A search attribute of a run changed (docs/search.md): `type` is keyword, number, date,
  // datetime or bool; `value` its canonical text, nullopt to unset it.
  struct AttributeWrite {
    std::string run_id;
    std::string namespace_name;
    std::string name;
    std::string type;
    std::optional<std::string> value;
  };
  void SetAttribute(AttributeWrite write);
  void AppendEvents(const std::string& run_id, std::vector<EventRow> events);

  // Returns a handle for CancelInsertedTimer.
  size_t InsertTimer(const TimerRow& timer);
  void CancelInsertedTimer(size_t handle);
  void CancelTimer(int64_t id);
  // Every timer of the run still PENDING in the database (a closing run's, without reading them).
  void CancelTimersOfRun(const std::string& run_id);

  // NOTIFY gridflow_tasks "<namespace>/<queue>" at commit.
  void NotifyQueue(const std::string& key) { queue_notifications_.insert(key); }

  bool empty() const;

  struct Leased {
    int64_t id = 0;
    int64_t lease_epoch = 0;
    TimePoint lease_expires_at;
    TimePoint attempt_deadline;
  };
  // Writes everything in one statement; returns the lease of each task inserted LEASED.
  std::vector<Leased> Flush(pqxx::transaction_base& txn) const;
  // The same statement, to send in a PipelinedWork group (nullopt: nothing to write), and the
  // leases in its result.
  std::optional<Statement> FlushStatement() const;
  static std::vector<Leased> ReadLeased(const pqxx::result& result);
  // The transaction's clock (gf_now()), as the statement read it.
  static std::optional<TimePoint> ReadClock(const pqxx::result& result);
  // The circuit breakers the statement moved to another state.
  static std::vector<BreakerChange> ReadBreakerChanges(const pqxx::result& result);

 private:
  enum class Op { kComplete, kFail, kRetry, kRelease, kCancel, kCancelRequest };
  struct TaskUpdate {
    Op op = Op::kComplete;
    std::string json;  // output (complete) or failure (fail, retry)
    int64_t delay_ms = 0;
  };
  struct TaskInsert {
    int64_t id = 0;
    NewTask task;
    std::optional<std::string> lease_owner;
    bool cancelled = false;
  };
  struct TimerInsert {
    TimerRow timer;
    bool cancelled = false;
  };
  void Update(int64_t id, TaskUpdate update);

  std::vector<TaskInsert> task_inserts_;
  std::map<int64_t, size_t> inserted_index_;  // task id -> position in task_inserts_
  std::map<int64_t, TaskUpdate> task_updates_;
  struct RunUpdate {
    RunRow row;
    bool closed = false;
    std::optional<std::string> data_patch;  // set: row.data_json is not written
  };
  std::map<std::string, RunUpdate> run_updates_;  // by run id
  std::map<std::string, bool> new_runs_;          // run id -> routed (InsertRun)
  std::vector<EventRow> events_;
  std::vector<std::string> event_runs_;  // run id of each event
  struct Attempt {
    std::string namespace_name;
    std::string task_type;
    int64_t task_id = 0;
    bool succeeded = false;
  };
  std::vector<Attempt> attempts_;
  std::vector<AttributeWrite> attribute_writes_;
  std::vector<TimerInsert> timer_inserts_;
  std::set<int64_t> timer_cancellations_;
  std::set<std::string> runs_timers_cancelled_;
  std::set<std::string> queue_notifications_;
};

// Ids for new tasks, drawn from the tasks' identity sequence in blocks and handed out to any
// transaction of the process, so most transactions need no round trip for them. A sequence is not
// transactional: ids of a rolled-back transaction are simply never used (ids have gaps).
//
// A draw becomes durable only with a later commit (PostgreSQL does not flush a sequence's advance
// by itself). If the database crashes or fails over after a block was drawn by a transaction that
// never committed, the sequence goes back and hands the same ids out again — to another replica,
// or to this one — while the block is still in memory. The tasks' primary key refuses the second
// insert; Transact (transaction.h) recognises that refusal (TakenTaskId), discards what is left
// of every pool's block (DiscardAll) and retries the transaction with new ids. Thread-safe.
class TaskIdPool {
 public:
  explicit TaskIdPool(int block = 256) : block_(block) {}
  // An unused id; draws the next block through `txn` when the pool is empty or was discarded.
  int64_t Next(pqxx::transaction_base& txn);

  // Whether `e` is the refusal of a task id that is taken already (see above).
  static bool TakenTaskId(const pqxx::sql_error& e);
  // Every pool of the process draws a new block for its next id.
  static void DiscardAll();

 private:
  const int block_;
  std::mutex mu_;
  std::vector<int64_t> free_;
  uint64_t generation_ = 0;  // DiscardAll's count when free_ was drawn
};

}  // namespace gridflow::persistence
