// The append-only history of runs. Appends happen inside a run's transition transaction, with the
// run row locked, so sequence numbers are gap-free and ordered. The schema refuses UPDATE and
// DELETE on events.
#pragma once

#include <string>
#include <vector>

#include <pqxx/transaction_base>

#include "persistence/rows.h"

namespace gridflow::persistence {

// Inserts `events` (their seq already assigned; payload_json must be valid JSON) in one statement.
void AppendEvents(pqxx::transaction_base& txn, const std::string& run_id,
                  const std::vector<EventRow>& events);

// Events with seq > after_seq, ascending, at most `limit`.
std::vector<EventRow> ListEvents(pqxx::transaction_base& txn, const std::string& run_id,
                                 int64_t after_seq, int limit);

}  // namespace gridflow::persistence
