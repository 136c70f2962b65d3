#include "persistence/pipelined_work.h"

#include <optional>
#include <utility>

#include <pqxx/except>
#include <pqxx/pipeline>
#include <pqxx/prepared_statement>

namespace gridflow::persistence {
namespace {

std::string Render(pqxx::transaction_base& txn, const Statement& s) {
  std::string sql = "EXECUTE " + s.name;
  if (!s.params.empty()) {
    sql += "(";
    for (size_t i = 0; i < s.params.size(); ++i) {
      if (i > 0) sql += ", ";
      sql += txn.quote(s.params[i]);
    }
    sql += ")";
  }
  return sql;
}

}  // namespace

pqxx::result Execute(pqxx::transaction_base& txn, const Statement& statement) {
  return txn.exec_prepared(statement.name, pqxx::prepare::make_dynamic_params(statement.params));
}

PipelinedWork::PipelinedWork(pqxx::connection& c, const std::string& name,
                             std::vector<std::string> settings)
    : txn_(c, name), settings_(std::move(settings)) {}

PipelinedWork::~PipelinedWork() {
  if (!begun_ || committed_) return;
  try {
    txn_.exec("ROLLBACK");
  } catch (const std::exception&) {
    // The connection is gone: the server rolls the transaction back itself.
  }
}

std::vector<pqxx::result> PipelinedWork::Send(const std::vector<Statement>& statements,
                                              bool commit) {
  std::vector<pqxx::result> results;
  std::vector<pqxx::pipeline::query_id> ids;
  // Each statement is prepared on the server the first time this connection sends it (one round
  // trip, once); afterwards this is a lookup.
  for (const Statement& s : statements)
    txn_.conn().prepare_now(s.name);
  try {
    pqxx::pipeline group(txn_);
    // All in one round trip.
    group.retain(static_cast<int>(statements.size() + settings_.size()) + 2);
    if (!begun_) {
      group.insert("BEGIN");
      for (const std::string& setting : settings_)
        group.insert(setting);
      begun_ = true;
      began_at_ = std::chrono::system_clock::now();
    }
    for (const Statement& s : statements)
      ids.push_back(group.insert(Render(txn_, s)));
    std::optional<pqxx::pipeline::query_id> commit_id;
    if (commit) commit_id = group.insert("COMMIT");
    group.complete();
    for (const auto id : ids)
      results.push_back(group.retrieve(id));
    if (commit_id) {
      group.retrieve(*commit_id);
      committed_ = true;
    }
  } catch (const pqxx::broken_connection& e) {
    // COMMIT was on its way: it may have been carried out before the connection broke.
    if (commit) throw pqxx::in_doubt_error(e.what());
    throw;
  }
  return results;
}

void PipelinedWork::Commit() {
  Send({}, true);
}

pqxx::transaction_base& PipelinedWork::txn() {
  return txn_;
}

}  // namespace gridflow::persistence
