// PipelinedWork: a transaction that costs two round trips when it reads, decides, then writes.
//
// Statements go to the server in groups, each group one multi-statement query of EXECUTEs of
// prepared statements: one round trip for the group. BEGIN travels with the first group and COMMIT
// with the last, so "lock and read; compute; write and commit" is two round trips, not six. Any
// statement registered on the connection (pqxx::connection::prepare) can be sent this way; it is
// prepared on the server the first time the connection sends it. Anything else goes through txn()
// one statement at a time, once the transaction has begun.
//
// Failures throw what libpqxx throws; a broken connection during the group that carries COMMIT
// throws pqxx::in_doubt_error (the commit may or may not have happened). Run it through
// TransactPipelined (transaction.h), which classifies and retries like Transact.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/result>

namespace gridflow::persistence {

// A prepared statement and its parameters as text (SQL NULL is never needed by these).
struct Statement {
  std::string name;
  std::vector<std::string> params;
};

// Runs one statement on its own (the path for callers outside a pipeline).
pqxx::result Execute(pqxx::transaction_base& txn, const Statement& statement);

class PipelinedWork {
 public:
  // `settings` (SET LOCAL statements) travel right after BEGIN, in the first group.
  PipelinedWork(pqxx::connection& c, const std::string& name,
                std::vector<std::string> settings = {});
  ~PipelinedWork();  // rolls back a transaction that began and did not commit
  PipelinedWork(const PipelinedWork&) = delete;
  PipelinedWork& operator=(const PipelinedWork&) = delete;

  // Sends `statements` in one round trip — after BEGIN if the transaction has not begun, and
  // followed by COMMIT when `commit` — and returns their results in order.
  std::vector<pqxx::result> Send(const std::vector<Statement>& statements, bool commit = false);
  // Sends COMMIT alone (when the last group was sent without it).
  void Commit();

  // For statements one at a time; only between the first Send and the commit.
  pqxx::transaction_base& txn();
  bool begun() const { return begun_; }
  // When this process sent BEGIN (its system clock): the transaction's now() is this instant on
  // the database's clock, plus the way there.
  std::chrono::system_clock::time_point began_at() const { return began_at_; }
  bool committed() const { return committed_; }

 private:
  pqxx::nontransaction txn_;
  const std::vector<std::string> settings_;
  bool begun_ = false;
  std::chrono::system_clock::time_point began_at_;
  bool committed_ = false;
};

}  // namespace gridflow::persistence
