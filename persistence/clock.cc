#include "persistence/clock.h"

#include <pqxx/connection>
#include <pqxx/result>

#include "persistence/pg_types.h"
#include "persistence/statements.h"

namespace gridflow::persistence {

void PrepareClockStatements(pqxx::connection& c) {
  c.prepare("clock_now", "SELECT gf_now()");
}

TimePoint DatabaseNow(pqxx::transaction_base& txn) {
  return Timestamp(txn.exec_prepared1("clock_now")[0]);
}

}  // namespace gridflow::persistence
