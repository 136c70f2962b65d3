// The tamper-evident history: real runs verify, edits made behind the engine's back (by the
// owner role, directly in SQL) are found and named, exports verify offline, and the engine's
// runtime role cannot edit history or switch its guards off.
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <pqxx/nontransaction>
#include <pqxx/pqxx>

#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

class AuditTest : public ::testing::Test {
 protected:
  AuditTest() : engine_(db_.url()) {}

  int Ctl(std::vector<std::string> args, std::string* out) {
    std::vector<std::string> argv = {CtlBinary(), "--address", engine_.address(), "--timeout",
                                     "5s"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string err;
    const int code = RunCommand(argv, out, &err);
    *out += err;
    return code;
  }

  // A finished run of two steps with a signal in between: real events of several kinds.
  void FinishedRun(const std::string& id) {
    Start(engine_, id, "bid");
    CompleteLeased(engine_, LeaseOne(engine_, "q", "w-1"), R"({"mw": 12.5, "note": "ä €"})");
    CompleteLeased(engine_, LeaseOne(engine_, "q", "w-2"), R"({"accepted": true})");
    EXPECT_EQ(WaitClosed(engine_, id).status(), v1::RUN_STATUS_COMPLETED);
  }

  // SQL as the owner, with the append-only guard lifted for the statement (what a DBA with the
  // owner's password could do).
  void Tamper(const std::string& sql) {
    db_.Query(
        "ALTER TABLE events DISABLE TRIGGER events_no_update;"
        "ALTER TABLE events DISABLE TRIGGER events_delete_guard;"
        "ALTER TABLE events DISABLE TRIGGER events_chain;" +
        sql +
        ";ALTER TABLE events ENABLE TRIGGER events_no_update;"
        "ALTER TABLE events ENABLE TRIGGER events_delete_guard;"
        "ALTER TABLE events ENABLE TRIGGER events_chain");
  }

  std::string RunId(const std::string& workflow_id) {
    return db_.Query("SELECT id FROM runs WHERE workflow_id = '" + workflow_id + "'");
  }

  TestDatabase db_;
  TestEngine engine_;
};

TEST_F(AuditTest, RealRunsVerifyAndExportsVerifyOffline) {
  ASSERT_TRUE(Register(engine_, SequenceDefinition("bid", {{"a", "t"}, {"b", "t"}})).ok());
  FinishedRun("bid-1");
  FinishedRun("bid-2");
  Start(engine_, "bid-open", "bid");  // an open run verifies too

  std::string out;
  ASSERT_EQ(Ctl({"runs", "verify", "bid-1"}, &out), 0) << out;
  EXPECT_NE(out.find("intact  bid-1: 6 events"), std::string::npos) << out;
  ASSERT_EQ(Ctl({"runs", "verify", "--all"}, &out), 0) << out;
  EXPECT_NE(out.find("3 runs checked, 0 broken"), std::string::npos) << out;
  EXPECT_EQ(db_.Query("SELECT count(*) FROM events WHERE hash IS NULL"), "0");
  EXPECT_EQ(
      db_.Query("SELECT count(*) FROM runs r WHERE history_head IS DISTINCT FROM"
                " (SELECT hash FROM events e WHERE e.run_id = r.id ORDER BY seq DESC LIMIT 1)"),
      "0");

  const std::string file = (std::filesystem::temp_directory_path() /
                            ("gf-export-" + std::to_string(getpid()) + ".jsonl"))
                               .string();
  ASSERT_EQ(Ctl({"runs", "export", "bid-1", "--file", file}, &out), 0) << out;
  ASSERT_EQ(Ctl({"-o", "json", "runs", "verify", "--file", file}, &out), 0) << out;
  EXPECT_EQ(nlohmann::json::parse(out)["intact"], true) << out;

  // An edited export no longer verifies.
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t at = text.find("12.5");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 4, "99.5");
  std::ofstream(file) << text;
  EXPECT_EQ(Ctl({"runs", "verify", "--file", file}, &out), 8) << out;
  EXPECT_NE(out.find("BROKEN  bid-1: at event 3"), std::string::npos) << out;
  std::filesystem::remove(file);
}

TEST_F(AuditTest, EditsBehindTheEnginesBackAreFoundAtTheFirstBrokenEvent) {
  ASSERT_TRUE(Register(engine_, SequenceDefinition("bid", {{"a", "t"}, {"b", "t"}})).ok());
  for (const std::string id : {"altered", "deleted", "appended", "untouched"})
    FinishedRun(id);

  // Altered: the volume of the first step's result.
  Tamper("UPDATE events SET payload = jsonb_set(payload, '{result,mw}', '99') WHERE run_id = '" +
         RunId("altered") + "' AND seq = 3");
  // Deleted: the second event.
  Tamper("DELETE FROM events WHERE run_id = '" + RunId("deleted") + "' AND seq = 2");
  // Appended: an event after the last, with a valid-looking link (the chain trigger on).
  db_.Query("INSERT INTO events (run_id, seq, type, actor, payload) VALUES ('" + RunId("appended") +
            "', 7, 'SignalReceived', 'token:admin', '{\"signal_name\": \"forged\"}')");

  std::string out;
  EXPECT_EQ(Ctl({"runs", "verify", "altered"}, &out), 8) << out;
  EXPECT_NE(out.find("BROKEN  altered: at event 3: hash does not match"), std::string::npos) << out;
  EXPECT_EQ(Ctl({"runs", "verify", "deleted"}, &out), 8) << out;
  EXPECT_NE(out.find("BROKEN  deleted: at event 2: expected event 2, found event 3"),
            std::string::npos)
      << out;
  EXPECT_EQ(Ctl({"runs", "verify", "appended"}, &out), 8) << out;
  EXPECT_NE(out.find("BROKEN  appended: at event 7: the run records 6 events, the history has 7"),
            std::string::npos)
      << out;
  EXPECT_EQ(Ctl({"runs", "verify", "untouched"}, &out), 0) << out;
  EXPECT_EQ(Ctl({"runs", "verify", "--all"}, &out), 8) << out;
  EXPECT_NE(out.find("4 runs checked, 3 broken"), std::string::npos) << out;
}

// The chain trigger takes a predecessor's hash from the link it remembers within a transaction
// (migration 25). What it remembers follows the transaction: a savepoint rolled back takes the
// link back with it, and retention's delete makes it forget.
class ChainLinkTest : public AuditTest {
 protected:
  // Event `seq` of the run, as the owner writes it (fixed content, so its hash is reproducible).
  std::string Append(const std::string& run_id, int seq, const std::string& note) {
    return "INSERT INTO events (run_id, seq, type, actor, payload, created_at, history_key) "
           "SELECT id, " +
           std::to_string(seq) + ", 'SignalReceived', 'token:admin', '{\"note\": \"" + note +
           "\"}', '2026-12-06 00:00:00+00', history_key FROM runs WHERE id = '" + run_id + "';";
  }
  std::string Hash(const std::string& run_id, int seq) {
    return db_.Query("SELECT encode(hash, 'hex') FROM events WHERE run_id = '" + run_id +
                     "' AND seq = " + std::to_string(seq));
  }
};

TEST_F(ChainLinkTest, ALinkRolledBackToASavepointIsNotRemembered) {
  ASSERT_TRUE(Register(engine_, SequenceDefinition("bid", {{"a", "t"}, {"b", "t"}})).ok());
  FinishedRun("bid-1");  // six events
  const std::string run_id = RunId("bid-1");
  db_.Query("BEGIN;" + Append(run_id, 7, "first") + "SAVEPOINT s;" + Append(run_id, 8, "undone") +
            "ROLLBACK TO SAVEPOINT s;" + Append(run_id, 8, "kept") + Append(run_id, 9, "last") +
            "UPDATE runs SET last_event_seq = 9, history_head = (SELECT hash FROM events WHERE "
            "run_id = '" +
            run_id + "' AND seq = 9) WHERE id = '" + run_id + "'; COMMIT");
  EXPECT_EQ(
      db_.Query("SELECT payload->>'note' FROM events WHERE run_id = '" + run_id + "' AND seq = 8"),
      "kept");
  std::string out;  // the verifier recomputes every link from the events themselves
  EXPECT_EQ(Ctl({"runs", "verify", "bid-1"}, &out), 0) << out;
}

TEST_F(ChainLinkTest, RetentionsDeleteForgetsTheRememberedLink) {
  ASSERT_TRUE(Register(engine_, SequenceDefinition("bid", {{"a", "t"}, {"b", "t"}})).ok());
  FinishedRun("bid-1");
  const std::string run_id = RunId("bid-1");
  const std::string archiving = "BEGIN; SET LOCAL gridflow.archiving = 'on';";
  // Event 8 written after event 7 was written and deleted in the same transaction...
  db_.Query(archiving + Append(run_id, 7, "gone") + "DELETE FROM events WHERE run_id = '" + run_id +
            "' AND seq = 7;" + Append(run_id, 8, "after") + "COMMIT");
  const std::string linked = Hash(run_id, 8);
  ASSERT_EQ(linked.size(), 64u);
  // ...is linked as event 8 written by a transaction that never saw event 7: onto no event.
  db_.Query(archiving + "DELETE FROM events WHERE run_id = '" + run_id + "' AND seq = 8;" +
            Append(run_id, 8, "after") + "COMMIT");
  EXPECT_EQ(Hash(run_id, 8), linked);
}

TEST_F(ChainLinkTest, AnEventIsLinkedOnlyOntoTheEventBeforeIt) {
  ASSERT_TRUE(Register(engine_, SequenceDefinition("bid", {{"a", "t"}, {"b", "t"}})).ok());
  FinishedRun("bid-1");
  const std::string run_id = RunId("bid-1");
  // Event 9 right after event 7 (no event 8) in one transaction...
  db_.Query("BEGIN;" + Append(run_id, 7, "seven") + Append(run_id, 9, "nine") + "COMMIT");
  const std::string linked = Hash(run_id, 9);
  ASSERT_EQ(linked.size(), 64u);
  // ...is linked as event 9 written alone: onto no event (the verifier names the gap).
  db_.Query("BEGIN; SET LOCAL gridflow.archiving = 'on'; DELETE FROM events WHERE run_id = '" +
            run_id + "' AND seq = 9;" + Append(run_id, 9, "nine") + "COMMIT");
  EXPECT_EQ(Hash(run_id, 9), linked);
}

TEST_F(AuditTest, TheRuntimeRoleCanOnlyAppendToHistory) {
  ASSERT_TRUE(Register(engine_, SequenceDefinition("bid", {{"a", "t"}, {"b", "t"}})).ok());
  FinishedRun("bid-1");  // the engine did all this as the runtime role
  const std::string run_id = RunId("bid-1");
  pqxx::connection runtime(db_.runtime_url());
  EXPECT_EQ(pqxx::nontransaction(runtime).exec("SELECT current_user")[0][0].as<std::string>(),
            kRuntimeLogin);
  auto refused = [&](const std::string& sql) {
    try {
      pqxx::nontransaction(runtime).exec(sql);
      return false;
    } catch (const pqxx::sql_error& e) {
      // insufficient_privilege: "permission denied ..." or "must be owner of ..."
      const std::string message = e.what();
      EXPECT_TRUE(message.find("permission denied") != std::string::npos ||
                  message.find("must be owner") != std::string::npos)
          << sql << ": " << message;
      return true;
    }
  };
  EXPECT_TRUE(refused("UPDATE events SET actor = 'nobody' WHERE run_id = '" + run_id + "'"));
  EXPECT_TRUE(refused("DELETE FROM events WHERE run_id = '" + run_id + "'"));
  EXPECT_TRUE(refused("TRUNCATE events"));
  EXPECT_TRUE(refused("DROP TRIGGER events_chain ON events"));
  EXPECT_TRUE(refused("DROP TRIGGER events_no_update ON events"));
  EXPECT_TRUE(refused("DROP TRIGGER events_delete_guard ON events"));
  {  // not even by declaring itself retention (docs/operations.md, "Retention and archive")
    pqxx::work txn(runtime);
    txn.exec("SET LOCAL gridflow.archiving = 'on'");
    EXPECT_THROW(txn.exec("DELETE FROM events WHERE run_id = '" + run_id + "'"), pqxx::sql_error);
  }
  EXPECT_TRUE(refused("ALTER TABLE events DISABLE TRIGGER events_chain"));
  EXPECT_TRUE(refused("DROP FUNCTION gf_events_chain() CASCADE"));
  EXPECT_TRUE(refused("CREATE TABLE sneaky (id int)"));
  EXPECT_EQ(db_.Query("SELECT count(*) FROM events WHERE run_id = '" + run_id + "'"), "6");
  // It reads and writes the rest as the engine needs.
  EXPECT_FALSE(refused("SELECT count(*) FROM runs"));
  std::string out;
  EXPECT_EQ(Ctl({"runs", "verify", "bid-1"}, &out), 0) << out;
}

}  // namespace
}  // namespace gridflow::testing
