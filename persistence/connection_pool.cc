#include "persistence/connection_pool.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>

#include <pqxx/except>
#include <pqxx/nontransaction>

#include "common/thread_name.h"
#include "persistence/statements.h"

namespace gridflow::persistence {

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), connection_(std::move(other.connection_)), broken_(other.broken_) {
  other.pool_ = nullptr;
}

ConnectionPool::Lease& ConnectionPool::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Return();
    pool_ = other.pool_;
    connection_ = std::move(other.connection_);
    broken_ = other.broken_;
    other.pool_ = nullptr;
  }
  return *this;
}

ConnectionPool::Lease::~Lease() {
  Return();
}

void ConnectionPool::Lease::Return() {
  if (pool_ != nullptr && connection_) pool_->Release(std::move(connection_), broken_);
  pool_ = nullptr;
}

ConnectionPool::ConnectionPool(Options options) : options_(std::move(options)) {
  if (options_.stall_timeout.count() > 0) watchdog_ = std::thread([this] { WatchForStalls(); });
}

ConnectionPool::~ConnectionPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
}

void ConnectionPool::Borrowed(pqxx::connection* c) {
  ++borrowed_;
  borrowed_since_[c] = std::chrono::steady_clock::now();
}

void ConnectionPool::WatchForStalls() {
  NameThisThread("pool watchdog");
  const auto period = std::clamp(options_.stall_timeout / 4, std::chrono::milliseconds(50),
                                 std::chrono::milliseconds(1000));
  std::unique_lock lock(mu_);
  while (!stop_.wait_for(lock, period, [this] { return stopping_; })) {
    const auto now = std::chrono::steady_clock::now();
    for (auto& [connection, since] : borrowed_since_) {
      if (since == std::chrono::steady_clock::time_point::max() ||
          now - since < options_.stall_timeout) {
        continue;
      }
      // The borrower is blocked in libpq (or holds the connection far too long): shutting the
      // socket down wakes it with an error, and the connection is discarded when returned.
      const int fd = connection->sock();
      if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
      since = std::chrono::steady_clock::time_point::max();
      spdlog::warn(
          "a database connection made no progress for {} ms (a stalled network?): cut; "
          "its transaction fails and is retried on a new connection",
          options_.stall_timeout.count());
    }
  }
}

bool ConnectionPool::Lease::cut() const {
  if (pool_ == nullptr || !connection_) return false;
  std::lock_guard lock(pool_->mu_);
  const auto since = pool_->borrowed_since_.find(connection_.get());
  return since != pool_->borrowed_since_.end() &&
         since->second == std::chrono::steady_clock::time_point::max();
}

int ConnectionPool::in_use() const {
  std::lock_guard lock(mu_);
  return borrowed_;
}

Status ConnectionPool::OpenDedicated(std::unique_ptr<pqxx::connection>* out) const {
  try {
    auto c = std::make_unique<pqxx::connection>(options_.dsn);
    pqxx::nontransaction setup(*c, "session setup");
    // Every statement is prepared with parameters whose values do not change the best plan (ids,
    // arrays, JSON records): plan once per connection, not for each of the first executions. A
    // plan made while a table is still small must not scan it whole once it is large: every
    // query of the engine is written for an index, so sequential scans are priced out. Short
    // statements only: compiling one (which a priced-out scan of a small table such as members
    // would otherwise trigger) costs ~100 ms and never pays back, so no JIT; nor parallel
    // workers: starting them took 50–80 ms where the whole statement needs 10–25 (counting a
    // queue of 100,000 tasks), and they would take cores from the hot path.
    setup.exec(
        "SET TimeZone = 'UTC'; SET plan_cache_mode = force_generic_plan; "
        "SET enable_seqscan = off; SET jit = off; SET max_parallel_workers_per_gather = 0");
    setup.exec("SET application_name = " + setup.quote(options_.application_name));
    // A connection the stall watchdog cut is closed on this side only: without this check the
    // server would run its statement to the end (minutes, for one stuck behind locks or a long
    // scan), holding its locks and the xmin horizon while the retry runs beside it. With it, the
    // server notices the closed socket within a second and aborts. (PostgreSQL 14 and later.)
    setup.exec(
        "SELECT set_config('client_connection_check_interval', '1000', false) "
        "WHERE current_setting('server_version_num')::int >= 140000");
    for (const std::string& setting : options_.session_settings)
      setup.exec(setting);
    setup.commit();
    PrepareStatements(*c);
    *out = std::move(c);
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Unavailable(std::string("cannot connect to PostgreSQL: ") + e.what());
  }
}

Status ConnectionPool::Acquire(Lease* lease) {
  std::unique_lock lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + options_.acquire_timeout;
  while (idle_.empty() && open_ >= options_.size) {
    if (returned_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= options_.size) {
      return Status::Unavailable("all " + std::to_string(options_.size) +
                                 " database connections are busy; try again");
    }
  }
  if (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    Borrowed(c.get());
    *lease = Lease(this, std::move(c));
    return Status::Ok();
  }
  ++open_;  // reserve a slot, then connect without holding the lock
  lock.unlock();
  std::unique_ptr<pqxx::connection> c;
  Status status = OpenDedicated(&c);
  lock.lock();
  if (!status.ok()) {
    --open_;
    returned_.notify_one();
    return status;
  }
  Borrowed(c.get());
  *lease = Lease(this, std::move(c));
  return Status::Ok();
}

void ConnectionPool::Release(std::unique_ptr<pqxx::connection> c, bool broken) {
  std::lock_guard lock(mu_);
  --borrowed_;
  const auto since = borrowed_since_.find(c.get());
  if (since != borrowed_since_.end()) {
    // A connection that was cut is discarded even when its borrower did not notice.
    if (since->second == std::chrono::steady_clock::time_point::max()) broken = true;
    borrowed_since_.erase(since);
  }
  if (broken || !c->is_open()) {
    --open_;
    c.reset();
  } else {
    idle_.push_back(std::move(c));
  }
  returned_.notify_one();
}

}  // namespace gridflow::persistence
