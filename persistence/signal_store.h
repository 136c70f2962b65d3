// Signals delivered to runs. A signal is kept until a step consumes it; a dedup id is unique per
// run, so a repeated delivery is stored once.
#pragma once

#include <optional>
#include <string>

#include <pqxx/transaction_base>

#include "persistence/rows.h"

namespace gridflow::persistence {

// Stores the signal and returns its id, or nullopt when its dedup id was already used for the run.
std::optional<int64_t> InsertSignal(pqxx::transaction_base& txn, const SignalRow& signal);

// Consumes the oldest unconsumed signal of that name for `step`; nullopt when there is none.
std::optional<SignalRow> TakeSignal(pqxx::transaction_base& txn, const std::string& run_id,
                                    const std::string& name, const std::string& step);

}  // namespace gridflow::persistence
