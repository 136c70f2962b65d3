// ScheduleFirer: turns schedules' nominal times into runs (docs/schedules.md). Every replica runs
// FireDue; each firing is ONE transaction that locks its schedule row (FOR UPDATE SKIP LOCKED: no
// two replicas fire one schedule at once), starts the run with the deterministic workflow id
// "<schedule id>@<nominal time>" (Scheduler::StartRunIn), records the firing and stores the next
// fire time. A crash before the commit leaves nothing behind; a replayed firing finds its run
// already there and records it as such — so every nominal time has at most one run, whatever
// replicas die or restart.
//
// A firing later than the schedule's catch-up window is recorded as skipped, not fired. The
// overlap policy decides what happens while the schedule's previous run is still open. Manual
// triggers and backfills use the same ids: a backfill never starts a second run for a nominal
// time that already has one.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "engine/dsl/market_rules.h"
#include "engine/scheduler/scheduler.h"
#include "engine/schedules/schedule_observer.h"
#include "engine/schedules/schedule_spec.h"
#include "persistence/connection_pool.h"
#include "persistence/schedule_store.h"

namespace gridflow::engine {

struct BackfillResult {
  int started = 0;
  int already_started = 0;
  int failed = 0;
  std::vector<persistence::FiringRow> firings;  // at most the first 100
};

class ScheduleFirer {
 public:
  ScheduleFirer(persistence::ConnectionPool& pool, Scheduler& scheduler,
                ScheduleObserver* observer);

  // Handles the firings due now of up to `batch` schedules; *done: schedules handled. First, when
  // the market rules in force changed since the gate-closure schedules were last planned (and on
  // the first call), replans them for up to kReplanSlice (ReplanGateClosures), the rest in the
  // calls after: a replica with thousands of them does not hold up its firings for seconds.
  Status FireDue(int batch, int* done);
  // Plans `row`'s next firing again under the market rules and its calendar as they are now:
  // the first nominal time after its last one handled, or after its last change (created,
  // updated, paused, resumed) if later. Stores and logs it (with `why`) if it moved; true then.
  static bool Replan(pqxx::transaction_base& txn, const ScheduleSpec& spec, const std::string& why,
                     persistence::ScheduleRow* row);
  // Every gate-closure schedule's next firing computed again under `rules` (those in force):
  // the first closure after its last nominal time handled (or its last change, if later). A
  // closure the new rules moved earlier fires then, not at the time planned under the old ones.
  // Works through the schedules for up to `budget` per call, continuing where the last call under
  // the same rules stopped; *finished once every one was planned. One transaction per schedule;
  // one that fails, or whose row another transaction holds (it is not waited for), does not stop
  // the others: the pass's first failure, naming its schedule, is returned when it finishes (and
  // FireDue starts a new pass kReplanRetry later). Until a schedule's turn comes, a firing of a
  // time that is no closure any more plans again instead of firing (FireSchedule).
  Status ReplanGateClosures(const std::shared_ptr<const dsl::MarketRules>& rules,
                            std::chrono::milliseconds budget, bool* finished);
  // Starts the run of the schedule's next nominal time now, ahead of its fire time and whatever
  // the overlap policy; when that nominal time comes, its firing finds the run and starts none.
  // `by`: who asked (recorded in the firing's detail).
  Status Trigger(const std::string& namespace_name, const std::string& id, const std::string& by,
                 persistence::FiringRow* firing);
  // One run for every nominal time in [from, to] (at most 10,000) that has none.
  Status Backfill(const std::string& namespace_name, const std::string& id, TimePoint from,
                  TimePoint to, const std::string& by, BackfillResult* result);

  // The first nominal time after `after` that will fire (nullopt: none left): gate closures of
  // deliveries handled already are passed over (ScheduleRow::handled_deliveries: each delivery
  // fires once, even when its closure moves later).
  static std::optional<Nominal> NextUnhandled(const ScheduleSpec& spec, TimePoint after,
                                              const std::vector<std::string>& handled_deliveries);
  // The next fire time after `after` and the nominal time it belongs to (NextUnhandled).
  static void NextFiring(const ScheduleSpec& spec, const std::string& schedule_id,
                         const Calendar* calendar, TimePoint after,
                         const std::vector<std::string>& handled_deliveries,
                         std::optional<Nominal>* nominal, std::optional<TimePoint>* fire_at);
  // Records in `handled` (ScheduleRow::handled_deliveries: sorted, the last kDeliveriesRemembered)
  // that `nominal`'s delivery was handled — fired, triggered, skipped or buffered. A delivery is a
  // gate closure's delivery day, or for a product closing per delivery period the start of the
  // last period closing then (RFC 3339, UTC); other schedules have none.
  static void NoteHandled(const ScheduleSpec& spec, const Nominal& nominal,
                          std::vector<std::string>* handled);
  static constexpr size_t kDeliveriesRemembered = 32;
  // The spec stored in `row` (INTERNAL if it no longer parses).
  static Status ParseStoredSpec(const persistence::ScheduleRow& row, ScheduleSpec* spec);
  // The schedule's calendar `name` ("" : none; a missing one is logged and taken as none).
  static std::optional<Calendar> LoadCalendar(pqxx::transaction_base& txn,
                                              const std::string& namespace_name,
                                              const std::string& name);

  static constexpr int kMaxBackfill = 10'000;

 private:
  // Starts the run of one nominal time; the outcome and run go into *firing.
  void StartFor(pqxx::transaction_base& txn, const persistence::ScheduleRow& row,
                const ScheduleSpec& spec, const Nominal& nominal, const std::string& outcome,
                persistence::FiringRow* firing, std::vector<Scheduler::AfterCommit>* after);
  // Everything due of one locked schedule.
  void FireSchedule(pqxx::transaction_base& txn, persistence::ScheduleRow row, TimePoint now,
                    std::vector<persistence::FiringRow>* recorded,
                    std::vector<Scheduler::AfterCommit>* after);

  persistence::ConnectionPool& pool_;
  Scheduler& scheduler_;
  ScheduleObserver* observer_;
  // The market rules the gate-closure schedules were last replanned under, and when a failed
  // replanning is tried again; the pass under way: its rules, the schedules left (last first)
  // and what it found so far (all FireDue's thread).
  static constexpr std::chrono::seconds kReplanRetry{10};
  static constexpr std::chrono::milliseconds kReplanSlice{100};
  std::shared_ptr<const dsl::MarketRules> planned_with_;
  std::chrono::steady_clock::time_point replan_due_;
  std::shared_ptr<const dsl::MarketRules> replanning_for_;
  std::vector<std::pair<std::string, std::string>> replan_left_;
  int replan_moved_ = 0;
  Status replan_failure_;
};

}  // namespace gridflow::engine
