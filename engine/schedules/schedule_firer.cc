#include "engine/schedules/schedule_firer.h"

#include <spdlog/spdlog.h>

#include <pqxx/pqxx>

#include "common/duration.h"
#include "engine/dsl/market_rules.h"
#include "persistence/clock.h"
#include "persistence/namespace_store.h"
#include "persistence/transaction.h"

namespace gridflow::engine {
namespace {

using nlohmann::json;
using persistence::FiringRow;
using persistence::ScheduleRow;

// Nominal times handled per schedule and pass: a backlog is worked through over several passes.
constexpr int kPerPass = 100;
// Missed nominal times counted one by one before the rest is skipped in one jump.
constexpr int kMaxMissedCounted = 10'000;
// Runs per transaction of a backfill.
constexpr int kBackfillChunk = 500;
// Nominal times of deliveries already handled passed over when planning (a bound, never reached:
// a changed closure moves a few deliveries at most).
constexpr int kMaxDeliveriesPassed = 10'000;

std::string Describe(TimePoint t) {
  return FormatRfc3339Seconds(t);
}

double Seconds(std::chrono::microseconds d) {
  return std::chrono::duration<double>(d).count();
}

// The nominal time `at` of `spec` with what its run is told (delivery day, period).
Nominal NominalAt(const ScheduleSpec& spec, TimePoint at) {
  std::optional<Nominal> n = spec.NextNominal(at - Micros(1));
  if (n && n->at == at) return *n;
  return Nominal{at, {}, std::nullopt, std::nullopt, std::nullopt, {}};
}

// Whether a stored nominal time is still one of the spec's: false for a gate closure that the
// market rules in force no longer have (they changed after it was planned).
bool StillNominal(const ScheduleSpec& spec, TimePoint at) {
  return !spec.follows_market_rules() || !NominalAt(spec, at).delivery_day.empty();
}

// Where a schedule stands, as stored.
persistence::ScheduleProgress ProgressOf(const ScheduleRow& row) {
  return {row.next_nominal, row.next_fire_at, row.last_nominal,      row.buffered_nominal,
          row.last_run_id,  row.runs_started, row.handled_deliveries};
}

// The delivery a gate closure's nominal time is for: its delivery day, or for a product closing
// per delivery period the start of the last period closing then (RFC 3339, UTC). nullopt for
// other schedules. Two deliveries of one kind compare as their texts do.
std::optional<std::string> DeliveryOf(const ScheduleSpec& spec, const Nominal& n) {
  if (!spec.follows_market_rules()) return std::nullopt;
  if (!n.periods.empty()) return FormatRfc3339Seconds(n.periods.back().start);
  if (n.delivery_day.empty()) return std::nullopt;
  return n.delivery_day;
}

// Whether `delivery` was handled already: one of `handled` (sorted). Only those: an override may
// close a later delivery day before an earlier one, which must still fire; and a closure moved
// later than the next kDeliveriesRemembered nominal times does not happen.
bool Handled(const std::optional<std::string>& delivery, const std::vector<std::string>& handled) {
  return delivery && std::binary_search(handled.begin(), handled.end(), *delivery);
}

// Where a schedule's next nominal time is planned from when its market rules or calendar change:
// after the last nominal time handled, or after the schedule last changed (created, updated,
// paused, resumed), whichever is later — as the stored plan was made.
TimePoint PlanFrom(const ScheduleRow& row, std::optional<TimePoint> last_nominal) {
  return last_nominal ? std::max(*last_nominal, row.updated_at) : row.updated_at;
}

}  // namespace

ScheduleFirer::ScheduleFirer(persistence::ConnectionPool& pool, Scheduler& scheduler,
                             ScheduleObserver* observer)
    : pool_(pool), scheduler_(scheduler), observer_(observer) {}

std::optional<Calendar> ScheduleFirer::LoadCalendar(pqxx::transaction_base& txn,
                                                    const std::string& namespace_name,
                                                    const std::string& name) {
  if (name.empty()) return std::nullopt;
  const auto row = persistence::FindCalendar(txn, namespace_name, name);
  if (!row) {
    spdlog::warn(
        "schedules: calendar {}/{} does not exist; firing as if every day were a "
        "business day",
        namespace_name, name);
    return std::nullopt;
  }
  Calendar calendar;
  if (!Calendar::FromJson(name, json::parse(row->body_json), &calendar).ok()) return std::nullopt;
  return calendar;
}

Status ScheduleFirer::ParseStoredSpec(const ScheduleRow& row, ScheduleSpec* spec) {
  json body;
  try {
    body = json::parse(row.spec_json);
  } catch (const json::exception& e) {
    return Status::Internal(std::string("stored spec is not JSON: ") + e.what());
  }
  return ScheduleSpec::Parse(body, spec);
}

void ScheduleFirer::NoteHandled(const ScheduleSpec& spec, const Nominal& nominal,
                                std::vector<std::string>* handled) {
  const std::optional<std::string> delivery = DeliveryOf(spec, nominal);
  if (!delivery) return;
  // Another kind of delivery (the spec was updated to another product): they start over.
  if (!handled->empty() && handled->front().size() != delivery->size()) handled->clear();
  const auto at = std::lower_bound(handled->begin(), handled->end(), *delivery);
  if (at != handled->end() && *at == *delivery) return;
  handled->insert(at, *delivery);
  if (handled->size() > kDeliveriesRemembered) handled->erase(handled->begin());
}

std::optional<Nominal> ScheduleFirer::NextUnhandled(
    const ScheduleSpec& spec, TimePoint after, const std::vector<std::string>& handled_deliveries) {
  std::optional<Nominal> nominal = spec.NextNominal(after);
  // A gate closure moved later (the market rules or the schedule's offset changed) for a delivery
  // already handled is not fired again: one firing per delivery.
  for (int passed = 0; nominal && passed < kMaxDeliveriesPassed &&
                       Handled(DeliveryOf(spec, *nominal), handled_deliveries);
       ++passed) {
    nominal = spec.NextNominal(nominal->at);
  }
  return nominal;
}

void ScheduleFirer::NextFiring(const ScheduleSpec& spec, const std::string& schedule_id,
                               const Calendar* calendar, TimePoint after,
                               const std::vector<std::string>& handled_deliveries,
                               std::optional<Nominal>* nominal, std::optional<TimePoint>* fire_at) {
  *nominal = NextUnhandled(spec, after, handled_deliveries);
  fire_at->reset();
  if (!*nominal) return;
  bool skip = false;
  const TimePoint at = spec.FireAt(schedule_id, **nominal, calendar, &skip);
  // A nominal time the calendar skips is recorded as skipped at its own time.
  *fire_at = skip ? (*nominal)->at : at;
}

void ScheduleFirer::StartFor(pqxx::transaction_base& txn, const ScheduleRow& row,
                             const ScheduleSpec& spec, const Nominal& nominal,
                             const std::string& outcome, FiringRow* firing,
                             std::vector<Scheduler::AfterCommit>* after) {
  StartRunParams params;
  params.namespace_name = row.namespace_name;
  params.workflow_id = ScheduleSpec::WorkflowId(row.id, nominal.at);
  params.definition_name = spec.definition();
  params.definition_version = spec.version();
  params.actor = Actor{"schedule:" + row.id, ""};
  firing->workflow_id = params.workflow_id;
  if (const Status s = spec.RunInput(row.id, nominal, &params.input); !s.ok()) {
    firing->outcome = "failed";
    firing->detail = s.message();
    return;
  }
  // A deprecated namespace takes no new runs (docs/security.md), from schedules neither.
  if (const auto ns = persistence::FindNamespace(txn, row.namespace_name);
      ns && ns->deprecated_at) {
    firing->outcome = "failed";
    firing->detail = "namespace '" + row.namespace_name + "' is deprecated: it takes no new runs";
    return;
  }
  persistence::RunRow run;
  bool created = false;
  Scheduler::AfterCommit started;
  // A savepoint: a start that fails half-way leaves nothing of itself in the transaction.
  Status s;
  {
    pqxx::subtransaction start(dynamic_cast<pqxx::dbtransaction&>(txn), "schedule_start");
    s = scheduler_.StartRunIn(start, params, &run, &created, &started);
    if (s.ok()) {
      start.commit();
    } else {
      start.abort();
    }
  }
  if (!s.ok()) {
    firing->outcome = "failed";
    firing->detail = s.message();
    return;
  }
  after->push_back(std::move(started));
  firing->run_id = run.id;
  firing->outcome = created ? outcome : "already_started";
  if (!created) firing->detail = "a run with this workflow id existed (" + run.status + ")";
}

void ScheduleFirer::FireSchedule(pqxx::transaction_base& txn, ScheduleRow row, TimePoint now,
                                 std::vector<FiringRow>* recorded,
                                 std::vector<Scheduler::AfterCommit>* after) {
  ScheduleSpec spec;
  if (const Status s = ParseStoredSpec(row, &spec); !s.ok()) {
    spdlog::error("schedule {}/{}: {}; pausing it", row.namespace_name, row.id, s.ToString());
    persistence::SetSchedulePaused(txn, row.namespace_name, row.id, true,
                                   "paused by the engine: " + s.message(), "engine");
    return;
  }
  persistence::ScheduleProgress p = ProgressOf(row);
  bool last_open = row.last_run_open;
  const std::optional<Calendar> calendar = LoadCalendar(txn, row.namespace_name, spec.calendar());
  const Calendar* calendar_of = calendar ? &*calendar : nullptr;
  const auto record = [&](FiringRow firing) {
    if (firing.outcome == "started" && firing.run_id) {
      p.last_run_id = firing.run_id;
      ++p.runs_started;
      last_open = true;
    }
    persistence::RecordFiring(txn, firing);
    recorded->push_back(std::move(firing));
  };
  const auto base = [&](const Nominal& n, TimePoint fire_at) {
    FiringRow f;
    f.namespace_name = row.namespace_name;
    f.schedule_id = row.id;
    f.nominal_at = n.at;
    f.fire_at = fire_at;
    f.fired_at = now;
    return f;
  };

  // 1. A buffered nominal time goes as soon as the run before it closed.
  if (p.buffered_nominal && !last_open) {
    const Nominal n = NominalAt(spec, *p.buffered_nominal);
    FiringRow f = base(n, *p.buffered_nominal);
    StartFor(txn, row, spec, n, "started", &f, after);
    f.detail = "buffered until the previous run closed" + (f.detail.empty() ? "" : "; " + f.detail);
    record(std::move(f));
    NoteHandled(spec, n, &p.handled_deliveries);
    p.buffered_nominal.reset();
  }

  // 2. Due nominal times, in order.
  for (int handled = 0;
       handled < kPerPass && p.next_nominal && p.next_fire_at && *p.next_fire_at <= now;
       ++handled) {
    if (spec.max_runs() && p.runs_started >= *spec.max_runs()) {
      p.next_nominal.reset();
      p.next_fire_at.reset();
      break;
    }
    const Nominal n = NominalAt(spec, *p.next_nominal);
    if (spec.follows_market_rules() && n.delivery_day.empty()) {
      // No gate closure under the rules this replica has: planned under rules since changed.
      std::optional<Nominal> next;
      NextFiring(spec, row.id, calendar_of, PlanFrom(row, p.last_nominal), p.handled_deliveries,
                 &next, &p.next_fire_at);
      spdlog::warn("schedule {}/{}: {} is no longer a gate closure under market rules {}; next: {}",
                   row.namespace_name, row.id, Describe(n.at), dsl::CurrentMarketRules()->version(),
                   next ? Describe(next->at) : "none");
      p.next_nominal = next ? std::optional<TimePoint>(next->at) : std::nullopt;
      continue;
    }
    FiringRow f = base(n, *p.next_fire_at);
    bool calendar_skip = false;
    spec.FireAt(row.id, n, calendar_of, &calendar_skip);
    std::optional<Nominal> next;
    std::optional<TimePoint> next_fire;
    if (calendar_skip) {
      f.outcome = "skipped_calendar";
      f.detail = "not a business day in calendar " + spec.calendar();
    } else if (now - *p.next_fire_at > spec.catch_up_window()) {
      // Everything older than the catch-up window is skipped, recorded once.
      int missed = 1;
      TimePoint last = n.at;
      NextFiring(spec, row.id, calendar_of, n.at, {}, &next, &next_fire);
      while (next && next_fire && now - *next_fire > spec.catch_up_window() &&
             missed < kMaxMissedCounted) {
        ++missed;
        last = next->at;
        NextFiring(spec, row.id, calendar_of, next->at, {}, &next, &next_fire);
      }
      if (missed == kMaxMissedCounted && next) {
        NextFiring(spec, row.id, calendar_of, now - spec.catch_up_window(), {}, &next, &next_fire);
      }
      f.outcome = "skipped_missed";
      f.detail = std::to_string(missed) + (missed == kMaxMissedCounted ? " or more" : "") +
                 " nominal time(s) from " + Describe(n.at) + " to " + Describe(last) +
                 " missed: older than the catch-up window (" +
                 FormatDuration(spec.catch_up_window()) + ")";
    } else if (last_open && spec.overlap() == OverlapPolicy::kSkip) {
      f.outcome = "skipped_overlap";
      f.detail = "run " + p.last_run_id.value_or("") + " is still open";
    } else if (last_open && spec.overlap() == OverlapPolicy::kBufferOne) {
      if (p.buffered_nominal) {
        f.outcome = "skipped_overlap";
        f.detail = "a firing is already buffered (" + Describe(*p.buffered_nominal) + ")";
      } else {
        f.outcome = "buffered";
        f.detail = "waits for run " + p.last_run_id.value_or("") + " to close";
        p.buffered_nominal = n.at;
      }
    } else {
      if (last_open && spec.overlap() == OverlapPolicy::kCancelRunning && p.last_run_id) {
        Scheduler::AfterCommit cancel;
        scheduler_.RequestCancelIn(txn, *p.last_run_id,
                                   "superseded by the firing of " + Describe(n.at),
                                   "schedule:" + row.id, &cancel);
        after->push_back(std::move(cancel));
      }
      StartFor(txn, row, spec, n, "started", &f, after);
    }
    const bool started = f.outcome == "started";
    record(std::move(f));
    if (observer_ != nullptr) {
      observer_->ScheduleFired(recorded->back().outcome, Seconds(now - recorded->back().fire_at));
    }
    p.last_nominal = recorded->back().nominal_at;
    NoteHandled(spec, n, &p.handled_deliveries);
    if (recorded->back().outcome != "skipped_missed") {
      NextFiring(spec, row.id, calendar_of, n.at, p.handled_deliveries, &next, &next_fire);
    }
    if (started && spec.max_runs() && p.runs_started >= *spec.max_runs()) next.reset();
    p.next_nominal = next ? std::optional<TimePoint>(next->at) : std::nullopt;
    p.next_fire_at = next ? next_fire : std::nullopt;
  }
  persistence::AdvanceSchedule(txn, row.namespace_name, row.id, p);
}

Status ScheduleFirer::FireDue(int batch, int* done) {
  const auto rules = dsl::CurrentMarketRules();
  if (rules != planned_with_ && std::chrono::steady_clock::now() >= replan_due_) {
    // A failure does not hold up the firings; it is tried again a little later.
    bool finished = false;
    if (const Status s = ReplanGateClosures(rules, kReplanSlice, &finished); s.ok()) {
      if (finished) planned_with_ = rules;
    } else {
      spdlog::warn("schedules: replanning under market rules {}: {}; trying again in {} s",
                   rules->version(), s.ToString(), kReplanRetry.count());
      replan_due_ = std::chrono::steady_clock::now() + kReplanRetry;
    }
  }
  std::vector<FiringRow> recorded;
  std::vector<Scheduler::AfterCommit> after;
  const Status s = persistence::Transact(pool_, "fire schedules", [&](pqxx::work& txn) {
    recorded.clear();
    after.clear();
    const std::vector<ScheduleRow> due = persistence::ClaimDueSchedules(txn, batch);
    const TimePoint now = persistence::DatabaseNow(txn);
    for (const ScheduleRow& row : due)
      FireSchedule(txn, row, now, &recorded, &after);
    *done = static_cast<int>(due.size());
    return Status::Ok();
  });
  if (!s.ok()) return s;
  for (Scheduler::AfterCommit& a : after)
    scheduler_.FollowUp(std::move(a));
  for (const FiringRow& f : recorded) {
    const auto log = f.outcome == "failed" ? spdlog::level::warn : spdlog::level::info;
    spdlog::log(log, "schedule {}/{} nominal {}: {}{}{}", f.namespace_name, f.schedule_id,
                Describe(f.nominal_at), f.outcome, f.workflow_id ? " " + *f.workflow_id : "",
                f.detail.empty() ? "" : " (" + f.detail + ")");
  }
  return Status::Ok();
}

Status ScheduleFirer::Trigger(const std::string& namespace_name, const std::string& id,
                              const std::string& by, FiringRow* firing) {
  std::vector<Scheduler::AfterCommit> after;
  const Status s = persistence::Transact(pool_, "trigger schedule", [&](pqxx::work& txn) {
    after.clear();
    std::optional<ScheduleRow> row = persistence::FindSchedule(txn, namespace_name, id, true);
    if (!row) return Status::NotFound("schedule '" + id + "' does not exist");
    ScheduleSpec spec;
    if (Status parsed = ParseStoredSpec(*row, &spec); !parsed.ok()) return parsed;
    if (row->next_nominal && !StillNominal(spec, *row->next_nominal)) {
      Replan(txn, spec, "under market rules " + dsl::CurrentMarketRules()->version(), &*row);
    }
    if (!row->next_nominal) {
      return Status::FailedPrecondition("schedule '" + id +
                                        "' has no nominal time left (end_at or max_runs reached)");
    }
    // The next nominal time, ahead of its fire time: its regular firing then finds the run.
    const Nominal n = NominalAt(spec, *row->next_nominal);
    FiringRow f;
    f.namespace_name = namespace_name;
    f.schedule_id = id;
    f.nominal_at = n.at;
    f.fire_at = persistence::DatabaseNow(txn);
    f.fired_at = f.fire_at;
    StartFor(txn, *row, spec, n, "triggered", &f, &after);
    if (f.outcome == "failed") return Status::FailedPrecondition(f.detail);
    f.detail = "triggered by " + by + (f.detail.empty() ? "" : "; " + f.detail);
    persistence::RecordFiring(txn, f);
    if (f.outcome == "triggered") {
      persistence::ScheduleProgress p = ProgressOf(*row);
      p.last_run_id = f.run_id;
      ++p.runs_started;
      // Its delivery is handled: a closure moved later for it does not start a second run.
      NoteHandled(spec, n, &p.handled_deliveries);
      persistence::AdvanceSchedule(txn, namespace_name, id, p);
    }
    *firing = f;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  for (Scheduler::AfterCommit& a : after)
    scheduler_.FollowUp(std::move(a));
  spdlog::info("schedule {}/{} triggered: {} {}", namespace_name, id, firing->outcome,
               firing->workflow_id.value_or(""));
  return Status::Ok();
}

bool ScheduleFirer::Replan(pqxx::transaction_base& txn, const ScheduleSpec& spec,
                           const std::string& why, ScheduleRow* row) {
  if (!row->next_nominal && !row->last_nominal) return false;  // ended before its first firing
  if (spec.max_runs() && row->runs_started >= *spec.max_runs()) return false;
  const auto calendar = LoadCalendar(txn, row->namespace_name, spec.calendar());
  std::optional<Nominal> next;
  std::optional<TimePoint> fire_at;
  const TimePoint from = PlanFrom(*row, row->last_nominal);
  NextFiring(spec, row->id, calendar ? &*calendar : nullptr, from, row->handled_deliveries, &next,
             &fire_at);
  if (const std::optional<Nominal> passed = spec.NextNominal(from);
      passed && (!next || passed->at < next->at)) {
    spdlog::warn(
        "schedule {}/{}: the gate closure of delivery {} moved to {} {}, after that delivery was "
        "fired; not fired again (backfill nominal time {} to start a run for it anyway)",
        row->namespace_name, row->id, DeliveryOf(spec, *passed).value_or("?"), Describe(passed->at),
        why, Describe(passed->at));
  }
  const std::optional<TimePoint> nominal = next ? std::optional<TimePoint>(next->at) : std::nullopt;
  if (nominal == row->next_nominal && fire_at == row->next_fire_at) return false;
  spdlog::info("schedule {}/{}: next firing {} (nominal {}) {}; was {}", row->namespace_name,
               row->id, fire_at ? Describe(*fire_at) : "none",
               nominal ? Describe(*nominal) : "none", why,
               row->next_fire_at ? Describe(*row->next_fire_at) : "none");
  row->next_nominal = nominal;
  row->next_fire_at = fire_at;
  persistence::AdvanceSchedule(txn, row->namespace_name, row->id, ProgressOf(*row));
  return true;
}

Status ScheduleFirer::ReplanGateClosures(const std::shared_ptr<const dsl::MarketRules>& rules,
                                         std::chrono::milliseconds budget, bool* finished) {
  *finished = false;
  if (replanning_for_ != rules) {  // a new pass: every gate-closure schedule
    std::vector<std::pair<std::string, std::string>> ids;
    const Status listed =
        persistence::Transact(pool_, "list gate-closure schedules", [&](pqxx::work& txn) {
          ids = persistence::ListGateClosureSchedules(txn);
          return Status::Ok();
        });
    if (!listed.ok()) return listed;
    replan_left_.assign(ids.rbegin(), ids.rend());
    replanning_for_ = rules;
    replan_moved_ = 0;
    replan_failure_ = Status::Ok();
  }
  const std::string version = rules->version();
  const auto until = std::chrono::steady_clock::now() + budget;
  while (!replan_left_.empty() && std::chrono::steady_clock::now() < until) {
    const std::string ns = std::move(replan_left_.back().first);
    const std::string id = std::move(replan_left_.back().second);
    replan_left_.pop_back();
    bool moved = false;  // counted once committed: Transact may run the body more than once
    const Status s = persistence::Transact(pool_, "replan schedule", [&](pqxx::work& txn) {
      moved = false;
      // Never waits for the row: a transaction holding it (a firing, a trigger, a backfill, an
      // operator's session) would hold up this replica's firings, which run after this.
      bool held = false;
      std::optional<ScheduleRow> row = persistence::LockScheduleUnlessHeld(txn, ns, id, &held);
      // Not a database failure (gridflow_db_transaction_errors_total): a refusal on purpose.
      if (held) return Status::FailedPrecondition("held by another transaction");
      ScheduleSpec spec;
      if (!row || !ParseStoredSpec(*row, &spec).ok())
        return Status::Ok();  // gone; paused on firing
      moved = Replan(txn, spec, "under market rules " + version, &*row);
      return Status::Ok();
    });
    if (s.ok() && moved) ++replan_moved_;
    if (!s.ok() && replan_failure_.ok())
      replan_failure_ = Status(s.code(), ns + "/" + id + ": " + s.message());
  }
  if (!replan_left_.empty()) return Status::Ok();
  *finished = true;
  replanning_for_.reset();  // the next pass, if any, lists the schedules again
  if (replan_moved_ > 0) {
    spdlog::info("market rules {}: {} gate-closure schedule(s) replanned", version, replan_moved_);
  }
  return replan_failure_;
}

Status ScheduleFirer::Backfill(const std::string& namespace_name, const std::string& id,
                               TimePoint from, TimePoint to, const std::string& by,
                               BackfillResult* result) {
  *result = BackfillResult{};
  TimePoint cursor = from - Micros(1);
  int total = 0;
  while (true) {
    std::vector<Scheduler::AfterCommit> after;
    BackfillResult chunk;
    bool finished = false;
    TimePoint chunk_cursor = cursor;
    const Status s = persistence::Transact(pool_, "backfill schedule", [&](pqxx::work& txn) {
      after.clear();
      chunk = BackfillResult{};
      chunk_cursor = cursor;
      finished = false;
      std::optional<ScheduleRow> row = persistence::FindSchedule(txn, namespace_name, id, true);
      if (!row) return Status::NotFound("schedule '" + id + "' does not exist");
      ScheduleSpec spec;
      if (Status parsed = ParseStoredSpec(*row, &spec); !parsed.ok()) return parsed;
      const TimePoint now = persistence::DatabaseNow(txn);
      for (int i = 0; i < kBackfillChunk; ++i) {
        const std::optional<Nominal> n = spec.NextNominal(chunk_cursor);
        if (!n || n->at > to || total + i >= kMaxBackfill) {
          finished = true;
          break;
        }
        chunk_cursor = n->at;
        FiringRow f;
        f.namespace_name = namespace_name;
        f.schedule_id = id;
        f.nominal_at = n->at;
        f.fire_at = n->at;
        f.fired_at = now;
        StartFor(txn, *row, spec, *n, "backfilled", &f, &after);
        f.detail = "backfill by " + by + (f.detail.empty() ? "" : "; " + f.detail);
        if (f.outcome == "backfilled") ++chunk.started;
        if (f.outcome == "already_started") ++chunk.already_started;
        if (f.outcome == "failed") ++chunk.failed;
        if (f.outcome != "failed") persistence::RecordFiring(txn, f);
        chunk.firings.push_back(std::move(f));
      }
      return Status::Ok();
    });
    if (!s.ok()) return s;
    for (Scheduler::AfterCommit& a : after)
      scheduler_.FollowUp(std::move(a));
    result->started += chunk.started;
    result->already_started += chunk.already_started;
    result->failed += chunk.failed;
    for (FiringRow& f : chunk.firings) {
      if (result->firings.size() < 100) result->firings.push_back(std::move(f));
    }
    total += static_cast<int>(chunk.firings.size());
    cursor = chunk_cursor;
    if (finished) break;
  }
  spdlog::info("schedule {}/{} backfilled from {} to {}: {} started, {} already there, {} failed",
               namespace_name, id, Describe(from), Describe(to), result->started,
               result->already_started, result->failed);
  return Status::Ok();
}

}  // namespace gridflow::engine
