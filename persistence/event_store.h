// The append-only history of runs. Appends happen inside a run's transition transaction, with the
// run row locked, so sequence numbers are gap-free and ordered. The schema refuses UPDATE and
// DELETE on events.
#pragma once

#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/transaction_base>

#include "persistence/rows.h"

namespace gridflow::persistence {

// The run's most recent event of one of `types` (e.g. its last failed attempt), if any.
std::optional<EventRow> LastEventOfTypes(pqxx::transaction_base& txn, const std::string& run_id,
                                         const std::vector<std::string>& types);

// Events with seq > after_seq, ascending, at most `limit`, ending with the first whose payload
// brings the payloads read to `max_bytes` (as JSON text; the first event always comes): a caller
// holds no more than it can send.
std::vector<EventRow> ListEvents(pqxx::transaction_base& txn, const std::string& run_id,
                                 int64_t after_seq, int limit,
                                 int64_t max_bytes = std::numeric_limits<int64_t>::max());

}  // namespace gridflow::persistence
