// Batch operations and their items (tables batch_operations, batch_operation_items; migration 13).
// An operation's runs are snapshotted when it is created; an engine's BatchRunner then takes its
// items one per transaction (TakeDueItem), applies the command to the run and records the outcome
// (FinishItem) in that same transaction — so each run is acted on exactly once, whatever replica
// dies. Rare calls: plain parameterised statements rather than prepared ones.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <pqxx/transaction_base>

#include "common/time.h"
#include "persistence/run_condition.h"

namespace gridflow::persistence {

namespace batch_state {
inline constexpr const char* kRunning = "RUNNING";
inline constexpr const char* kCompleted = "COMPLETED";
inline constexpr const char* kCancelled = "CANCELLED";
}  // namespace batch_state

namespace item_state {
inline constexpr const char* kPending = "PENDING";
inline constexpr const char* kSucceeded = "SUCCEEDED";
inline constexpr const char* kFailed = "FAILED";
inline constexpr const char* kSkipped = "SKIPPED";
}  // namespace item_state

struct BatchOperationRow {
  std::string namespace_name;
  std::string id;
  std::string kind;  // cancel, terminate, signal, retry
  std::string query;
  std::string reason;
  std::string from_step;
  std::string signal_name;
  std::string signal_payload;  // JSON text or empty
  double rate_per_second = 0;
  std::string state;  // batch_state
  int64_t total = 0;
  int64_t succeeded = 0;
  int64_t failed = 0;
  int64_t skipped = 0;     // items left when it was cancelled
  std::string created_by;  // the principal
  std::string identity;    // the identity the client claimed
  TimePoint created_at;
  std::optional<TimePoint> finished_at;
  std::optional<std::string> cancelled_by;
};

struct BatchItemRow {
  int64_t seq = 0;  // 1.. in the runs' creation order
  std::string run_id;
  std::string workflow_id;
  std::string state;  // item_state
  std::string code;   // FAILED: the status code's name (FAILED_PRECONDITION)
  std::string message;
  std::optional<TimePoint> done_at;
};

// Inserts the operation and one PENDING item per run of its namespace matching `condition`, in
// one statement; false (nothing written) when the id is taken. *total: the runs matched.
bool InsertBatchOperation(pqxx::transaction_base& txn, const BatchOperationRow& row,
                          const RunCondition& condition, int64_t* total);
std::optional<BatchOperationRow> FindBatchOperation(pqxx::transaction_base& txn,
                                                    const std::string& namespace_name,
                                                    const std::string& id, bool for_update);
// Newest first; after (created_at, id) of the previous page's last; `state` empty: any.
std::vector<BatchOperationRow> ListBatchOperations(pqxx::transaction_base& txn,
                                                   const std::string& namespace_name,
                                                   const std::string& state,
                                                   std::optional<TimePoint> after_time,
                                                   const std::string& after_id, int limit);
// In seq order after `after_seq`; `state` empty: any.
std::vector<BatchItemRow> ListBatchItems(pqxx::transaction_base& txn,
                                         const std::string& namespace_name,
                                         const std::string& operation_id, const std::string& state,
                                         int64_t after_seq, int limit);

// A running operation whose next item is due, locked (FOR UPDATE SKIP LOCKED: one replica at a
// time), with its next pending item; nullopt when none is due. The item is left pending.
struct DueItem {
  BatchOperationRow operation;
  BatchItemRow item;
};
std::optional<DueItem> TakeDueItem(pqxx::transaction_base& txn);
// The same for one operation (to record a refusal after the command's transaction rolled back):
// nullopt when it is locked elsewhere, no longer running, or its next item is another one.
std::optional<DueItem> RetakeItem(pqxx::transaction_base& txn, const std::string& namespace_name,
                                  const std::string& operation_id, int64_t seq);
// Records the item's outcome, counts it, moves the operation's next item 1/rate on, and completes
// the operation when it was the last.
void FinishItem(pqxx::transaction_base& txn, const BatchOperationRow& operation, int64_t seq,
                const std::string& state, const std::string& code, const std::string& message);
// A running operation stops: its pending items become SKIPPED. False when it was not running.
bool CancelBatchOperation(pqxx::transaction_base& txn, const std::string& namespace_name,
                          const std::string& id, const std::string& by);

}  // namespace gridflow::persistence
