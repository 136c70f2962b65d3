#include "persistence/connection_pool.h"

#include <spdlog/spdlog.h>

#include <pqxx/except>
#include <pqxx/nontransaction>

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

ConnectionPool::ConnectionPool(Options options) : options_(std::move(options)) {}

ConnectionPool::~ConnectionPool() = default;

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
    // would otherwise trigger) costs ~100 ms and never pays back, so no JIT.
    setup.exec(
        "SET TimeZone = 'UTC'; SET plan_cache_mode = force_generic_plan; "
        "SET enable_seqscan = off; SET jit = off");
    setup.exec("SET application_name = " + setup.quote(options_.application_name));
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
    ++borrowed_;
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
  ++borrowed_;
  *lease = Lease(this, std::move(c));
  return Status::Ok();
}

void ConnectionPool::Release(std::unique_ptr<pqxx::connection> c, bool broken) {
  std::lock_guard lock(mu_);
  --borrowed_;
  if (broken || !c->is_open()) {
    --open_;
    c.reset();
  } else {
    idle_.push_back(std::move(c));
  }
  returned_.notify_one();
}

}  // namespace gridflow::persistence
