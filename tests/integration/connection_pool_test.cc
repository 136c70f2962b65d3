// ConnectionPool against a real PostgreSQL: what happens to a connection the stall watchdog cuts.
#include <pqxx/pqxx>

#include "persistence/connection_pool.h"
#include "persistence/transaction.h"
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

TEST(ConnectionPoolCut, TheServerStopsTheStatementOfACutConnection) {
  TestDatabase db;
  persistence::ConnectionPool::Options options;
  options.dsn = db.url();
  options.size = 2;
  options.application_name = "gridflow-cut-probe";
  options.stall_timeout = std::chrono::milliseconds(300);
  persistence::ConnectionPool pool(options);
  persistence::TransactOptions once;
  once.max_attempts = 1;
  const Status s = persistence::Transact(
      pool, "long statement",
      [](pqxx::work& txn) {
        txn.exec("SELECT pg_sleep(60)");
        return Status::Ok();
      },
      once);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  // The statement of the cut connection ends with it, not a minute later.
  const auto running = [&] {
    return db.Query(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'gridflow-cut-probe' "
        "AND state = 'active'");
  };
  EXPECT_TRUE(Eventually([&] { return running() == "0"; }, std::chrono::seconds(5))) << running();
}

}  // namespace
}  // namespace gridflow::testing
