// Schema migrations against a real PostgreSQL: idempotent, safe when engines start together,
// immutable once applied; history is append-only at the database level.
#include <pqxx/pqxx>

#include <thread>

#include "persistence/migrations.h"
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

using persistence::EmbeddedMigrations;
using persistence::Migrate;
using persistence::MigrationReport;

TEST(Migrations, ApplyOnceThenNothingMore) {
  TestDatabase db;
  pqxx::connection c(db.url());
  MigrationReport first, second;
  ASSERT_TRUE(Migrate(c, EmbeddedMigrations(), &first).ok());
  EXPECT_EQ(first.applied, static_cast<int>(EmbeddedMigrations().size()));
  EXPECT_EQ(first.schema_version, EmbeddedMigrations().back().version);
  ASSERT_TRUE(Migrate(c, EmbeddedMigrations(), &second).ok());
  EXPECT_EQ(second.applied, 0);
  EXPECT_EQ(second.schema_version, first.schema_version);
  EXPECT_EQ(db.Query("SELECT count(*) FROM gridflow_schema_migrations"),
            std::to_string(EmbeddedMigrations().size()));
}

TEST(Migrations, ConcurrentMigratorsApplyEachMigrationExactlyOnce) {
  TestDatabase db;
  constexpr int kMigrators = 6;
  std::vector<MigrationReport> reports(kMigrators);
  std::vector<Status> statuses(kMigrators);
  std::vector<std::thread> threads;
  for (int i = 0; i < kMigrators; ++i) {
    threads.emplace_back([&, i] {
      pqxx::connection c(db.url());
      statuses[i] = Migrate(c, EmbeddedMigrations(), &reports[i]);
    });
  }
  for (auto& t : threads)
    t.join();
  int applied = 0;
  for (int i = 0; i < kMigrators; ++i) {
    EXPECT_TRUE(statuses[i].ok()) << statuses[i].ToString();
    applied += reports[i].applied;
  }
  EXPECT_EQ(applied, static_cast<int>(EmbeddedMigrations().size()));
  EXPECT_EQ(db.Query("SELECT count(*) FROM gridflow_schema_migrations"),
            std::to_string(EmbeddedMigrations().size()));
}

TEST(Migrations, TwoEnginesStartingTogetherBothServe) {
  TestDatabase db;
  std::unique_ptr<TestEngine> a, b;
  std::thread ta([&] { a = std::make_unique<TestEngine>(db.url()); });
  std::thread tb([&] { b = std::make_unique<TestEngine>(db.url()); });
  ta.join();
  tb.join();
  ASSERT_TRUE(Register(*a, SequenceDefinition("both", {{"s", "t"}})).ok());
  v1::GetDefinitionRequest request;
  request.set_name("both");
  v1::Definition definition;
  ASSERT_TRUE(b->workflows().GetDefinition(Ctx().get(), request, &definition).ok());
  EXPECT_EQ(definition.version(), 1);
  EXPECT_EQ(db.Query("SELECT count(*) FROM members WHERE stopped_at IS NULL"), "2");
}

TEST(Migrations, AnEditedMigrationIsRefused) {
  TestDatabase db;
  pqxx::connection c(db.url());
  MigrationReport report;
  ASSERT_TRUE(Migrate(c, EmbeddedMigrations(), &report).ok());
  std::vector<persistence::Migration> edited = EmbeddedMigrations();
  const std::string changed = std::string(edited[0].sql) + "\n-- edited";
  edited[0].sql = changed.c_str();
  const Status s = Migrate(c, edited, &report);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("must never be edited"), std::string::npos) << s.message();
}

TEST(Migrations, HistoryIsAppendOnly) {
  TestDatabase db;
  TestEngine engine(db.url());
  ASSERT_TRUE(Register(engine, SequenceDefinition("audit", {{"s", "t"}})).ok());
  Start(engine, "audited", "audit");
  pqxx::connection c(db.url());
  EXPECT_THROW(pqxx::nontransaction(c).exec("UPDATE events SET actor = 'mallory'"),
               pqxx::sql_error);
  EXPECT_THROW(pqxx::nontransaction(c).exec("DELETE FROM events"), pqxx::sql_error);
  EXPECT_THROW(pqxx::nontransaction(c).exec("TRUNCATE events CASCADE"), pqxx::sql_error);
  EXPECT_EQ(db.Query("SELECT count(*) FROM events"), "2");  // RunStarted, TaskScheduled
}

}  // namespace
}  // namespace gridflow::testing
