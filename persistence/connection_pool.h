// ConnectionPool: a fixed-size set of PostgreSQL connections shared by an engine's threads.
// Connections are opened lazily, prepared with every statement of the stores, and set to UTC.
// A connection that broke is discarded (never reused) and a new one is opened on demand, so after
// a failover a libpq multi-host string ("host=a,b target_session_attrs=read-write") reaches the
// new primary. A connection borrowed for longer than stall_timeout is cut (its socket shut down):
// libpq has no deadline of its own, and a network that stalls without closing the connection would
// otherwise hold the caller forever; the caller's transaction then fails as a broken connection
// (UNAVAILABLE). Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <pqxx/connection>

#include "common/status.h"

namespace gridflow::persistence {

class ConnectionPool {
 public:
  struct Options {
    std::string dsn;  // libpq connection string or URI; may hold a password: never log it as is
    int size = 16;
    std::chrono::milliseconds acquire_timeout{5000};
    std::string application_name = "gridflow";
    // Extra session set-up run on every new connection (e.g. a test clock offset).
    std::vector<std::string> session_settings;
    // A borrowed connection making no progress for this long is cut; 0: never. Longer than any
    // transaction the pool's users run.
    std::chrono::milliseconds stall_timeout{0};
  };

  // A borrowed connection; returned to the pool when destroyed. MarkBroken() discards it instead.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    pqxx::connection& connection() { return *connection_; }
    void MarkBroken() { broken_ = true; }
    // Whether the pool cut this connection for making no progress (stall_timeout).
    bool cut() const;

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::unique_ptr<pqxx::connection> c)
        : pool_(pool), connection_(std::move(c)) {}
    void Return();

    ConnectionPool* pool_ = nullptr;
    std::unique_ptr<pqxx::connection> connection_;
    bool broken_ = false;
  };

  explicit ConnectionPool(Options options);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Borrows a connection, opening one if none is idle and the pool is not full; waits up to
  // acquire_timeout otherwise. UNAVAILABLE when the database cannot be reached or the pool stays
  // exhausted.
  Status Acquire(Lease* lease);

  // Opens a dedicated connection outside the pool (e.g. for LISTEN), set up like pooled ones.
  Status OpenDedicated(std::unique_ptr<pqxx::connection>* out) const;

  int size() const { return options_.size; }
  std::chrono::milliseconds stall_timeout() const { return options_.stall_timeout; }
  int in_use() const;

  // Told of every Transact on this pool when it returns: its name, how long it took (all attempts
  // and waits for a connection), and its outcome. For metrics; set before the pool is used.
  using TransactionObserver =
      std::function<void(std::string_view name, double seconds, const Status& outcome)>;
  void SetTransactionObserver(TransactionObserver observer) { observer_ = std::move(observer); }
  const TransactionObserver& transaction_observer() const { return observer_; }

  // Test-only clock: every transaction from now on sees gf_now() moved by `offset` (a session
  // setting applied by Transact). Production engines never set it.
  void SetClockOffset(std::chrono::milliseconds offset) { clock_offset_ms_ = offset.count(); }
  std::chrono::milliseconds clock_offset() const {
    return std::chrono::milliseconds(clock_offset_ms_.load());
  }

 private:
  void Release(std::unique_ptr<pqxx::connection> c, bool broken);
  // Marks `c` borrowed from now (mu_ held).
  void Borrowed(pqxx::connection* c);
  // Cuts the connections borrowed for longer than the stall timeout, until the pool is destroyed.
  void WatchForStalls();

  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  // Borrowed connections and since when (time_point::max() once cut).
  std::map<pqxx::connection*, std::chrono::steady_clock::time_point> borrowed_since_;
  bool stopping_ = false;
  std::condition_variable stop_;
  std::thread watchdog_;
  int open_ = 0;  // idle + borrowed + being opened
  int borrowed_ = 0;
  std::atomic<int64_t> clock_offset_ms_{0};
  TransactionObserver observer_;
};

}  // namespace gridflow::persistence
