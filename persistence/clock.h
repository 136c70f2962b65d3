// The database's clock, which every replica shares: gf_now() (PostgreSQL's now(), plus the
// test-only offset).
#pragma once

#include <pqxx/transaction_base>

#include "common/time.h"

namespace gridflow::persistence {

TimePoint DatabaseNow(pqxx::transaction_base& txn);

}  // namespace gridflow::persistence
