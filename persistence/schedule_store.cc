#include "persistence/schedule_store.h"

#include <pqxx/pqxx>

#include "persistence/pg_types.h"

namespace gridflow::persistence {
namespace {

// Instants as parameters: microseconds since the epoch, or NULL.
std::optional<int64_t> Micros(const std::optional<TimePoint>& t) {
  if (!t) return std::nullopt;
  return ToEpochMicros(*t);
}

std::string At(int n) {
  return "timestamptz 'epoch' + $" + std::to_string(n) + "::bigint * interval '1 microsecond'";
}

// A schedule's handled deliveries are read as one comma-separated text (array_to_string): days
// and RFC 3339 instants hold no comma.
std::vector<std::string> SplitDeliveries(const std::string& text) {
  std::vector<std::string> deliveries;
  size_t from = 0;
  while (from < text.size()) {
    const size_t comma = std::min(text.find(',', from), text.size());
    deliveries.push_back(text.substr(from, comma - from));
    from = comma + 1;
  }
  return deliveries;
}

constexpr const char* kScheduleColumns =
    "s.namespace, s.id, s.spec::text, s.description, s.paused, s.note, s.next_nominal, "
    "s.next_fire_at, s.last_nominal, s.buffered_nominal, s.last_run_id::text, s.runs_started, "
    "s.created_by, s.created_at, s.updated_by, s.updated_at, "
    "array_to_string(s.handled_deliveries, ',')";

ScheduleRow ReadSchedule(const pqxx::row& r) {
  ScheduleRow row;
  row.namespace_name = r[0].as<std::string>();
  row.id = r[1].as<std::string>();
  row.spec_json = r[2].as<std::string>();
  row.description = r[3].as<std::string>();
  row.paused = r[4].as<bool>();
  row.note = r[5].as<std::string>();
  row.next_nominal = OptionalTimestamp(r[6]);
  row.next_fire_at = OptionalTimestamp(r[7]);
  row.last_nominal = OptionalTimestamp(r[8]);
  row.buffered_nominal = OptionalTimestamp(r[9]);
  row.last_run_id = OptionalText(r[10]);
  row.runs_started = r[11].as<int64_t>();
  row.created_by = r[12].as<std::string>();
  row.created_at = Timestamp(r[13]);
  row.updated_by = r[14].as<std::string>();
  row.updated_at = Timestamp(r[15]);
  row.handled_deliveries = SplitDeliveries(r[16].as<std::string>());
  return row;
}

CalendarRow ReadCalendar(const pqxx::row& r) {
  return {r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
          r[3].as<std::string>(), r[4].as<std::string>(), Timestamp(r[5])};
}

}  // namespace

bool InsertSchedule(pqxx::transaction_base& txn, const ScheduleRow& row) {
  return txn.exec_params(
                "INSERT INTO schedules (namespace, id, spec, description, paused, note,"
                " next_nominal, next_fire_at, created_by, updated_by)"
                " VALUES ($1, $2, $3::jsonb, $4, $5, $6, " +
                    At(7) + ", " + At(8) + ", $9, $9) ON CONFLICT (namespace, id) DO NOTHING",
                row.namespace_name, row.id, row.spec_json, row.description, row.paused, row.note,
                Micros(row.next_nominal), Micros(row.next_fire_at), row.created_by)
             .affected_rows() == 1;
}

namespace {

// The schedule's row read with `lock` ("", " FOR UPDATE", " FOR UPDATE SKIP LOCKED").
std::optional<ScheduleRow> SelectSchedule(pqxx::transaction_base& txn,
                                          const std::string& namespace_name, const std::string& id,
                                          const char* lock) {
  const pqxx::result r = txn.exec_params(std::string("SELECT ") + kScheduleColumns +
                                             " FROM schedules s WHERE s.namespace = $1 AND "
                                             "s.id = $2" +
                                             lock,
                                         namespace_name, id);
  if (r.empty()) return std::nullopt;
  return ReadSchedule(r[0]);
}

}  // namespace

std::optional<ScheduleRow> FindSchedule(pqxx::transaction_base& txn,
                                        const std::string& namespace_name, const std::string& id,
                                        bool for_update) {
  return SelectSchedule(txn, namespace_name, id, for_update ? " FOR UPDATE" : "");
}

std::optional<ScheduleRow> LockScheduleUnlessHeld(pqxx::transaction_base& txn,
                                                  const std::string& namespace_name,
                                                  const std::string& id, bool* held) {
  std::optional<ScheduleRow> row =
      SelectSchedule(txn, namespace_name, id, " FOR UPDATE SKIP LOCKED");
  if (row) {
    *held = false;
    return row;
  }
  *held =
      txn.exec_params("SELECT EXISTS (SELECT 1 FROM schedules WHERE namespace = $1 AND id = $2)",
                      namespace_name, id)[0][0]
          .as<bool>();
  return std::nullopt;
}

std::vector<ScheduleRow> ListSchedules(pqxx::transaction_base& txn,
                                       const std::string& namespace_name) {
  std::vector<ScheduleRow> rows;
  for (const pqxx::row& r :
       txn.exec_params(std::string("SELECT ") + kScheduleColumns +
                           " FROM schedules s WHERE s.namespace = $1 ORDER BY s.id",
                       namespace_name)) {
    rows.push_back(ReadSchedule(r));
  }
  return rows;
}

std::vector<std::pair<std::string, std::string>> ListGateClosureSchedules(
    pqxx::transaction_base& txn) {
  std::vector<std::pair<std::string, std::string>> ids;
  for (const pqxx::row& r : txn.exec(
           "SELECT namespace, id FROM schedules WHERE spec->'trigger'->>'event' = 'gate_closure'"
           " ORDER BY namespace, id")) {
    ids.emplace_back(r[0].as<std::string>(), r[1].as<std::string>());
  }
  return ids;
}

void ReplaceScheduleSpec(pqxx::transaction_base& txn, const ScheduleRow& row) {
  txn.exec_params("UPDATE schedules SET spec = $3::jsonb, description = $4, next_nominal = " +
                      At(5) + ", next_fire_at = " + At(6) +
                      ", buffered_nominal = NULL, updated_by = $7, updated_at = gf_now()"
                      " WHERE namespace = $1 AND id = $2",
                  row.namespace_name, row.id, row.spec_json, row.description,
                  Micros(row.next_nominal), Micros(row.next_fire_at), row.updated_by);
}

void SetSchedulePaused(pqxx::transaction_base& txn, const std::string& namespace_name,
                       const std::string& id, bool paused, const std::string& note,
                       const std::string& by) {
  txn.exec_params(
      "UPDATE schedules SET paused = $3, note = $4, updated_by = $5, updated_at = gf_now()"
      " WHERE namespace = $1 AND id = $2",
      namespace_name, id, paused, note, by);
}

bool DeleteSchedule(pqxx::transaction_base& txn, const std::string& namespace_name,
                    const std::string& id) {
  return txn.exec_params("DELETE FROM schedules WHERE namespace = $1 AND id = $2", namespace_name,
                         id)
             .affected_rows() == 1;
}

std::vector<ScheduleRow> ClaimDueSchedules(pqxx::transaction_base& txn, int limit) {
  // Each branch through its partial index: the cost follows the schedules with work, never
  // the number of schedules or firings.
  std::vector<ScheduleRow> rows;
  for (const pqxx::row& r : txn.exec_params(
           std::string("SELECT ") + kScheduleColumns +
               ", EXISTS (SELECT 1 FROM runs r WHERE r.id = s.last_run_id"
               " AND r.closed_at IS NULL) FROM schedules s WHERE (s.namespace, s.id) IN ("
               "(SELECT namespace, id FROM schedules WHERE NOT paused"
               " AND next_fire_at <= gf_now() ORDER BY next_fire_at LIMIT $1)"
               " UNION (SELECT d.namespace, d.id FROM schedules d WHERE d.buffered_nominal"
               " IS NOT NULL AND NOT d.paused AND NOT EXISTS (SELECT 1 FROM runs r"
               " WHERE r.id = d.last_run_id AND r.closed_at IS NULL) LIMIT $1))"
               " ORDER BY s.next_fire_at NULLS LAST FOR UPDATE OF s SKIP LOCKED",
           limit)) {
    ScheduleRow row = ReadSchedule(r);
    row.last_run_open = r[17].as<bool>();
    rows.push_back(std::move(row));
  }
  return rows;
}

void AdvanceSchedule(pqxx::transaction_base& txn, const std::string& namespace_name,
                     const std::string& id, const ScheduleProgress& p) {
  txn.exec_params("UPDATE schedules SET next_nominal = " + At(3) + ", next_fire_at = " + At(4) +
                      ", last_nominal = " + At(5) + ", buffered_nominal = " + At(6) +
                      ", last_run_id = $7::uuid, runs_started = $8,"
                      " handled_deliveries = $9::text[]"
                      " WHERE namespace = $1 AND id = $2",
                  namespace_name, id, Micros(p.next_nominal), Micros(p.next_fire_at),
                  Micros(p.last_nominal), Micros(p.buffered_nominal), p.last_run_id, p.runs_started,
                  ToTextArray(p.handled_deliveries));
}

void RecordFiring(pqxx::transaction_base& txn, const FiringRow& f) {
  txn.exec_params(
      "INSERT INTO schedule_firings (namespace, schedule_id, nominal_at, fire_at,"
      " outcome, workflow_id, run_id, detail) VALUES ($1, $2, " +
          At(3) + ", " + At(4) +
          ", $5, $6, $7::uuid, $8) ON CONFLICT (namespace, schedule_id, nominal_at)"
          // Only a buffered nominal time is recorded again (when it fires); a
          // replayed or backfilled one keeps its first record.
          " DO UPDATE SET outcome = EXCLUDED.outcome, workflow_id ="
          " EXCLUDED.workflow_id, run_id = EXCLUDED.run_id, detail = EXCLUDED.detail,"
          " fired_at = gf_now() WHERE schedule_firings.outcome = 'buffered'",
      f.namespace_name, f.schedule_id, ToEpochMicros(f.nominal_at), ToEpochMicros(f.fire_at),
      f.outcome, f.workflow_id, f.run_id, f.detail);
}

std::vector<FiringRow> RecentFirings(pqxx::transaction_base& txn, const std::string& namespace_name,
                                     const std::string& id, int limit) {
  std::vector<FiringRow> rows;
  for (const pqxx::row& r : txn.exec_params(
           "SELECT nominal_at, fire_at, fired_at, outcome, workflow_id, run_id::text, detail"
           " FROM schedule_firings WHERE namespace = $1 AND schedule_id = $2"
           " ORDER BY nominal_at DESC LIMIT $3",
           namespace_name, id, limit)) {
    FiringRow f;
    f.namespace_name = namespace_name;
    f.schedule_id = id;
    f.nominal_at = Timestamp(r[0]);
    f.fire_at = Timestamp(r[1]);
    f.fired_at = Timestamp(r[2]);
    f.outcome = r[3].as<std::string>();
    f.workflow_id = OptionalText(r[4]);
    f.run_id = OptionalText(r[5]);
    f.detail = r[6].as<std::string>();
    rows.push_back(std::move(f));
  }
  return rows;
}

ScheduleStats ReadScheduleStats(pqxx::transaction_base& txn) {
  const pqxx::row r = txn.exec1(
      "SELECT (SELECT count(*) FROM schedules WHERE paused),"
      " (SELECT count(*) FROM schedules WHERE NOT paused),"
      " COALESCE((SELECT extract(epoch FROM gf_now() - min(next_fire_at)) FROM schedules"
      " WHERE NOT paused AND next_fire_at <= gf_now()), 0)::float8");
  return {r[0].as<int64_t>(), r[1].as<int64_t>(), r[2].as<double>()};
}

void PutCalendar(pqxx::transaction_base& txn, const CalendarRow& row) {
  txn.exec_params(
      "INSERT INTO calendars (namespace, name, body, description, updated_by)"
      " VALUES ($1, $2, $3::jsonb, $4, $5) ON CONFLICT (namespace, name) DO UPDATE SET"
      " body = EXCLUDED.body, description = EXCLUDED.description,"
      " updated_by = EXCLUDED.updated_by, updated_at = gf_now()",
      row.namespace_name, row.name, row.body_json, row.description, row.updated_by);
}

std::optional<CalendarRow> FindCalendar(pqxx::transaction_base& txn,
                                        const std::string& namespace_name,
                                        const std::string& name) {
  const pqxx::result r = txn.exec_params(
      "SELECT namespace, name, body::text, description, updated_by, updated_at FROM calendars"
      " WHERE namespace = $1 AND name = $2",
      namespace_name, name);
  if (r.empty()) return std::nullopt;
  return ReadCalendar(r[0]);
}

std::vector<CalendarRow> ListCalendars(pqxx::transaction_base& txn,
                                       const std::string& namespace_name) {
  std::vector<CalendarRow> rows;
  for (const pqxx::row& r : txn.exec_params(
           "SELECT namespace, name, body::text, description, updated_by, updated_at FROM calendars"
           " WHERE namespace = $1 ORDER BY name",
           namespace_name)) {
    rows.push_back(ReadCalendar(r));
  }
  return rows;
}

bool DeleteCalendar(pqxx::transaction_base& txn, const std::string& namespace_name,
                    const std::string& name) {
  return txn.exec_params("DELETE FROM calendars WHERE namespace = $1 AND name = $2", namespace_name,
                         name)
             .affected_rows() == 1;
}

}  // namespace gridflow::persistence
