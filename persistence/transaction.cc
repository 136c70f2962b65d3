#include "persistence/transaction.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <pqxx/except>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "persistence/write_set.h"

namespace gridflow::persistence {
namespace {

enum class Failure {
  kRetryOnSameConnection,
  kRetryWithNewTaskIds,
  kRetryOnNewConnection,
  kOutOfResources,
  kBadData,
  kFatal
};

// SQLSTATE classes: 40001 serialization_failure, 40P01 deadlock_detected, 57014 query_canceled (a
// statement timeout), 55P03 lock_not_available (a lock timeout), 08 connection exception (but
// 08P01, a protocol violation, is a bug of ours and not retried), 57P01..03 server shutting down /
// crashed / not yet accepting, 25006 read-only (a standby), 53 insufficient resources (disk full,
// out of memory, too many connections). And a task id drawn before a crash or failover and handed
// out again since (TaskIdPool): the pools draw new ids, the transaction goes again.
Failure Classify(const pqxx::sql_error& e) {
  const std::string& state = e.sqlstate();
  if (state == "40001" || state == "40P01" || state == "57014" || state == "55P03") {
    return Failure::kRetryOnSameConnection;
  }
  if (TaskIdPool::TakenTaskId(e)) return Failure::kRetryWithNewTaskIds;
  if (state.rfind("53", 0) == 0) return Failure::kOutOfResources;
  if ((state.rfind("08", 0) == 0 && state != "08P01") || state == "57P01" || state == "57P02" ||
      state == "57P03" || state == "25006") {
    return Failure::kRetryOnNewConnection;
  }
  // Class 22 (data exception): a value the caller sent that PostgreSQL cannot store.
  if (state.rfind("22", 0) == 0) return Failure::kBadData;
  return Failure::kFatal;
}

std::string FirstLine(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

// Why a transaction failed when the pool cut its connection
// (ConnectionPool::Options::stall_timeout).
std::string CutMessage(const ConnectionPool& pool) {
  return "no answer from the database for " + std::to_string(pool.stall_timeout().count()) +
         " ms (a stalled network, or statements stuck behind locks); the connection was cut";
}

// Runs `attempt` (one whole transaction on a borrowed connection) until one commits or the budget
// is spent, classifying what it throws.
using Attempt = std::function<Status(pqxx::connection&)>;

Status RunWithRetries(ConnectionPool& pool, std::string_view name, const Attempt& attempt_once,
                      const TransactOptions& options) {
  std::chrono::milliseconds backoff = options.first_backoff;
  std::string last_error;
  bool out_of_resources = false;  // the last attempt failed for want of disk, memory, connections
  // Connections cut for making no progress: a database that did not answer for a whole stall
  // timeout, twice, will not answer a third time soon; the caller hears so instead of waiting.
  int cuts = 0;
  for (int attempt = 1; attempt <= options.max_attempts; ++attempt) {
    if (attempt > 1) {
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, options.max_backoff);
    }
    ConnectionPool::Lease lease;
    Status acquired = pool.Acquire(&lease);
    out_of_resources = false;
    if (!acquired.ok()) {
      last_error = acquired.message();
      continue;
    }
    try {
      return attempt_once(lease.connection());
    } catch (const pqxx::in_doubt_error& e) {
      lease.MarkBroken();
      spdlog::error("transaction {}: connection lost during COMMIT; outcome unknown: {}", name,
                    e.what());
      return Status::Unavailable(
          "the database connection was lost while committing; the outcome is unknown. Retrying "
          "is safe for idempotent calls (StartRun with the same workflow id, CompleteTask)");
    } catch (const pqxx::broken_connection& e) {
      last_error = lease.cut() ? CutMessage(pool) : e.what();
      lease.MarkBroken();
    } catch (const pqxx::sql_error& e) {
      if (lease.cut()) {  // whatever libpq made of the socket shut under it
        lease.MarkBroken();
        last_error = CutMessage(pool);
        if (++cuts >= 2) break;
        continue;
      }
      switch (Classify(e)) {
        case Failure::kRetryOnSameConnection:
          last_error = e.what();
          break;
        case Failure::kRetryWithNewTaskIds:
          TaskIdPool::DiscardAll();
          last_error = e.what();
          break;
        case Failure::kRetryOnNewConnection:
          lease.MarkBroken();
          last_error = e.what();
          break;
        case Failure::kOutOfResources:
          lease.MarkBroken();
          last_error = FirstLine(e.what()) + " (SQLSTATE " + e.sqlstate() + ")";
          out_of_resources = true;
          break;
        case Failure::kBadData:
          return Status::InvalidArgument(std::string("the database refused a value: ") +
                                         FirstLine(e.what()));
        case Failure::kFatal:
          spdlog::error("transaction {} failed: SQLSTATE {}: {}", name, e.sqlstate(), e.what());
          return Status::Internal("database error in " + std::string(name) + " (SQLSTATE " +
                                  e.sqlstate() + ")");
      }
    } catch (const std::exception& e) {
      if (!lease.cut()) {
        spdlog::error("transaction {} failed: {}", name, e.what());
        return Status::Internal("internal error in " + std::string(name) + ": " + e.what());
      }
      lease.MarkBroken();
      last_error = CutMessage(pool);
    }
    if (lease.cut() && ++cuts >= 2) break;
    spdlog::warn("transaction {} attempt {}/{} failed, retrying: {}", name, attempt,
                 options.max_attempts, last_error);
  }
  if (out_of_resources) {
    return Status::ResourceExhausted("the database is out of resources (" + std::string(name) +
                                     "): " + last_error);
  }
  return Status::Unavailable("database unavailable (" + std::string(name) + "): " + last_error);
}

// The SET LOCAL statements every transaction of this pool begins with (none in production).
std::vector<std::string> LocalSettings(const ConnectionPool& pool) {
  const auto offset = pool.clock_offset();
  if (offset.count() == 0) return {};
  return {"SET LOCAL gridflow.clock_offset = '" + std::to_string(offset.count()) +
          " milliseconds'"};
}

Status Observed(ConnectionPool& pool, std::string_view name,
                std::chrono::steady_clock::time_point started, Status status) {
  if (const auto& observer = pool.transaction_observer()) {
    observer(name,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
             status);
  }
  return status;
}

}  // namespace

Status Transact(ConnectionPool& pool, std::string_view name, const TransactionBody& body,
                const TransactOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  const std::vector<std::string> settings = LocalSettings(pool);
  Status status = RunWithRetries(
      pool, name,
      [&](pqxx::connection& c) {
        pqxx::work txn(c, std::string(name));
        for (const std::string& setting : settings)
          txn.exec(setting);
        Status s = body(txn);
        if (!s.ok()) {
          txn.abort();
          return s;
        }
        txn.commit();
        return Status::Ok();
      },
      options);
  return Observed(pool, name, started, std::move(status));
}

Status TransactPipelined(ConnectionPool& pool, std::string_view name, const PipelinedBody& body,
                         const TransactOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  const std::vector<std::string> settings = LocalSettings(pool);
  Status status = RunWithRetries(
      pool, name,
      [&](pqxx::connection& c) {
        PipelinedWork work(c, std::string(name), settings);
        Status s = body(work);
        if (!s.ok()) return s;  // ~PipelinedWork rolls back
        if (!work.committed()) work.Commit();
        return Status::Ok();
      },
      options);
  return Observed(pool, name, started, std::move(status));
}

}  // namespace gridflow::persistence
