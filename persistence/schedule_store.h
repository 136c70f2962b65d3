// Schedules, their firings and business-day calendars (tables schedules, schedule_firings,
// calendars; migration 10). The engine's ScheduleFirer and ScheduleService use these; they are
// rare calls, so plain parameterised statements rather than prepared ones.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/transaction_base>

#include "common/time.h"

namespace gridflow::persistence {

struct ScheduleRow {
  std::string namespace_name;
  std::string id;
  std::string spec_json;
  std::string description;
  bool paused = false;
  std::string note;
  std::optional<TimePoint> next_nominal;  // nullopt: no more firings
  std::optional<TimePoint> next_fire_at;
  std::optional<TimePoint> last_nominal;
  std::optional<TimePoint> buffered_nominal;
  std::optional<std::string> last_run_id;
  int64_t runs_started = 0;
  // Gate closures: the deliveries of the last nominal times handled, in order (ScheduleFirer).
  std::vector<std::string> handled_deliveries;
  std::string created_by;
  TimePoint created_at;
  std::string updated_by;
  TimePoint updated_at;
  // Read by ClaimDueSchedules only: whether last_run_id's run is still open.
  bool last_run_open = false;
};

// Where a firing leaves its schedule.
struct ScheduleProgress {
  std::optional<TimePoint> next_nominal;
  std::optional<TimePoint> next_fire_at;
  std::optional<TimePoint> last_nominal;
  std::optional<TimePoint> buffered_nominal;
  std::optional<std::string> last_run_id;
  int64_t runs_started = 0;
  std::vector<std::string> handled_deliveries;
};

struct FiringRow {
  std::string namespace_name;
  std::string schedule_id;
  TimePoint nominal_at;
  TimePoint fire_at;
  TimePoint fired_at;  // read only (the database's clock when recorded)
  std::string outcome;
  std::optional<std::string> workflow_id;
  std::optional<std::string> run_id;
  std::string detail;
};

struct CalendarRow {
  std::string namespace_name;
  std::string name;
  std::string body_json;
  std::string description;
  std::string updated_by;
  TimePoint updated_at;
};

// False when the id is taken.
bool InsertSchedule(pqxx::transaction_base& txn, const ScheduleRow& row);
std::optional<ScheduleRow> FindSchedule(pqxx::transaction_base& txn,
                                        const std::string& namespace_name, const std::string& id,
                                        bool for_update);
// The schedule, locked FOR UPDATE, unless another transaction holds its row: then *held is set
// and nothing is returned at once, without waiting (nothing either when it does not exist).
std::optional<ScheduleRow> LockScheduleUnlessHeld(pqxx::transaction_base& txn,
                                                  const std::string& namespace_name,
                                                  const std::string& id, bool* held);
std::vector<ScheduleRow> ListSchedules(pqxx::transaction_base& txn,
                                       const std::string& namespace_name);
// (namespace, id) of every schedule with a gate_closure trigger, in order.
std::vector<std::pair<std::string, std::string>> ListGateClosureSchedules(
    pqxx::transaction_base& txn);
// Replaces spec, description and the next firing; the firing record stays.
void ReplaceScheduleSpec(pqxx::transaction_base& txn, const ScheduleRow& row);
void SetSchedulePaused(pqxx::transaction_base& txn, const std::string& namespace_name,
                       const std::string& id, bool paused, const std::string& note,
                       const std::string& by);
bool DeleteSchedule(pqxx::transaction_base& txn, const std::string& namespace_name,
                    const std::string& id);

// Schedules that have something to do now — a firing due, or a buffered firing whose previous
// run closed — locked, skipping those another replica holds.
std::vector<ScheduleRow> ClaimDueSchedules(pqxx::transaction_base& txn, int limit);
void AdvanceSchedule(pqxx::transaction_base& txn, const std::string& namespace_name,
                     const std::string& id, const ScheduleProgress& progress);
// Records a firing; a nominal time already recorded keeps its record, unless it was buffered
// (then the firing that started it replaces it).
void RecordFiring(pqxx::transaction_base& txn, const FiringRow& firing);
std::vector<FiringRow> RecentFirings(pqxx::transaction_base& txn, const std::string& namespace_name,
                                     const std::string& id, int limit);
// For the gauges: schedules per state, and how late the most overdue due firing is (0 if none);
// through the due index, whatever the number of schedules or firings.
struct ScheduleStats {
  int64_t paused = 0;
  int64_t active = 0;
  double max_lag_seconds = 0;
};
ScheduleStats ReadScheduleStats(pqxx::transaction_base& txn);

void PutCalendar(pqxx::transaction_base& txn, const CalendarRow& row);
std::optional<CalendarRow> FindCalendar(pqxx::transaction_base& txn,
                                        const std::string& namespace_name, const std::string& name);
std::vector<CalendarRow> ListCalendars(pqxx::transaction_base& txn,
                                       const std::string& namespace_name);
// False when there is no such calendar.
bool DeleteCalendar(pqxx::transaction_base& txn, const std::string& namespace_name,
                    const std::string& name);

}  // namespace gridflow::persistence
