// PipelinedWork and TransactPipelined against a real PostgreSQL: a transaction whose BEGIN and
// COMMIT travel with its statements commits all of it or nothing.
#include <pqxx/pqxx>

#include "persistence/migrations.h"
#include "persistence/transaction.h"
#include "persistence/write_set.h"
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

using persistence::PipelinedWork;
using persistence::Statement;

class PipelinedWorkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pqxx::connection c(db_.url());
    persistence::MigrationReport report;
    ASSERT_TRUE(persistence::Migrate(c, persistence::EmbeddedMigrations(), &report).ok());
    persistence::ConnectionPool::Options options;
    options.dsn = db_.url();
    options.size = 2;
    pool_ = std::make_unique<persistence::ConnectionPool>(options);
  }
  // The write-set statement appending one history event `seq` to a made-up run.
  static Statement AppendEvent(int64_t seq) {
    persistence::WriteSet writes;
    persistence::EventRow event;
    event.seq = seq;
    event.type = "Probe";
    event.actor = "test";
    writes.AppendEvents(kRun, {event});
    return *writes.FlushStatement();
  }
  // How far gf_now() is ahead of PostgreSQL's own clock, in seconds.
  static void PrepareClockProbe(PipelinedWork& work) {
    work.txn().conn().prepare("clock_probe", "SELECT extract(epoch FROM gf_now() - now())");
  }
  std::string Events() { return db_.Query("SELECT count(*) FROM events"); }

  static constexpr const char* kRun = "00000000-0000-4000-8000-000000000001";
  TestDatabase db_;
  std::unique_ptr<persistence::ConnectionPool> pool_;
};

TEST_F(PipelinedWorkTest, ReadsThenWritesWithCommitInTheLastGroup) {
  const Status s = persistence::TransactPipelined(*pool_, "probe", [&](PipelinedWork& work) {
    const auto first = work.Send({AppendEvent(1)});
    EXPECT_EQ(first.size(), 1u);
    EXPECT_TRUE(work.begun());
    EXPECT_FALSE(work.committed());
    // Inside the transaction, its own writes are visible; outside, not yet.
    EXPECT_EQ(work.txn().exec1("SELECT count(*) FROM events")[0].as<int>(), 1);
    EXPECT_EQ(Events(), "0");
    work.Send({AppendEvent(2)}, /*commit=*/true);
    EXPECT_TRUE(work.committed());
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Events(), "2");
}

TEST_F(PipelinedWorkTest, AFailingStatementUndoesItsWholeGroupAndTheGroupsBefore) {
  const Status s = persistence::TransactPipelined(*pool_, "probe", [&](PipelinedWork& work) {
    work.Send({AppendEvent(1)});
    // The second statement repeats (run, seq): the group fails, COMMIT after it never runs.
    work.Send({AppendEvent(2), AppendEvent(2)}, /*commit=*/true);
    return Status::Ok();
  });
  EXPECT_EQ(s.code(), StatusCode::kInternal) << s.ToString();
  EXPECT_EQ(Events(), "0");
  // The connection went back to the pool usable: the next transaction commits.
  ASSERT_TRUE(persistence::TransactPipelined(*pool_, "probe", [&](PipelinedWork& work) {
                work.Send({AppendEvent(7)}, true);
                return Status::Ok();
              }).ok());
  EXPECT_EQ(Events(), "1");
}

TEST_F(PipelinedWorkTest, ABodyThatGivesUpRollsBackAndOneThatDoesNotCommitIsCommitted) {
  const Status refused = persistence::TransactPipelined(*pool_, "probe", [&](PipelinedWork& work) {
    work.Send({AppendEvent(1)});
    return Status::FailedPrecondition("changed my mind");
  });
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Events(), "0");

  // Sent without COMMIT and returned OK: TransactPipelined commits.
  ASSERT_TRUE(persistence::TransactPipelined(*pool_, "probe", [&](PipelinedWork& work) {
                work.Send({AppendEvent(1)});
                return Status::Ok();
              }).ok());
  EXPECT_EQ(Events(), "1");
}

TEST_F(PipelinedWorkTest, TheTestClockTravelsWithBeginAndHoldsForTheWholeTransaction) {
  pool_->SetClockOffset(std::chrono::hours(48));
  double ahead_first = 0, ahead_later = 0;
  const Status s = persistence::TransactPipelined(*pool_, "probe", [&](PipelinedWork& work) {
    PrepareClockProbe(work);
    // The setting is in the first group: its statements already see the moved clock.
    ahead_first = work.Send({{"clock_probe", {}}}).front()[0][0].as<double>();
    ahead_later = work.txn().exec1("SELECT extract(epoch FROM gf_now() - now())")[0].as<double>();
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_DOUBLE_EQ(ahead_first, 48 * 3600.0);
  EXPECT_DOUBLE_EQ(ahead_later, 48 * 3600.0);

  pool_->SetClockOffset(std::chrono::milliseconds(0));
  ASSERT_TRUE(persistence::TransactPipelined(*pool_, "probe", [&](PipelinedWork& work) {
                PrepareClockProbe(work);
                ahead_first = work.Send({{"clock_probe", {}}}).front()[0][0].as<double>();
                return Status::Ok();
              }).ok());
  EXPECT_DOUBLE_EQ(ahead_first, 0.0);
}

}  // namespace
}  // namespace gridflow::testing
