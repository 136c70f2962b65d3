#include "engine/api/schedule_service.h"

#include <spdlog/spdlog.h>

#include <regex>

#include "engine/api/proto_convert.h"
#include "engine/scheduler/actor.h"
#include "persistence/clock.h"
#include "persistence/schedule_store.h"
#include "persistence/transaction.h"

namespace gridflow::engine {
namespace {

using nlohmann::json;

constexpr int kDefaultFirings = 20;
constexpr int kMaxFirings = 1000;
constexpr int kUpcoming = 5;

Status ValidCalendarName(const std::string& name) {
  static const std::regex kName("[A-Za-z0-9][A-Za-z0-9_.-]{0,62}");
  if (!std::regex_match(name, kName)) {
    return Status::InvalidArgument(
        "name: must be 1 to 63 characters: letters, digits, '_', '.', '-', starting with a "
        "letter or digit");
  }
  return Status::Ok();
}

void FiringToProto(const persistence::FiringRow& f, v1::ScheduleFiring* out) {
  ToProto(f.nominal_at, out->mutable_nominal_time());
  ToProto(f.fire_at, out->mutable_fire_time());
  ToProto(f.fired_at, out->mutable_handled_time());
  out->set_outcome(f.outcome);
  out->set_workflow_id(f.workflow_id.value_or(""));
  out->set_run_id(f.run_id.value_or(""));
  out->set_detail(f.detail);
}

void ScheduleToProto(const persistence::ScheduleRow& row, v1::Schedule* out) {
  out->set_namespace_(row.namespace_name);
  out->set_id(row.id);
  out->set_spec_json(row.spec_json);
  out->set_description(row.description);
  out->set_paused(row.paused);
  out->set_note(row.note);
  if (row.next_nominal) ToProto(*row.next_nominal, out->mutable_next_nominal_time());
  if (row.next_fire_at) ToProto(*row.next_fire_at, out->mutable_next_fire_time());
  if (row.buffered_nominal) ToProto(*row.buffered_nominal, out->mutable_buffered_nominal_time());
  if (!row.handled_deliveries.empty()) out->set_last_delivery(row.handled_deliveries.back());
  out->set_runs_started(row.runs_started);
  out->set_last_run_id(row.last_run_id.value_or(""));
  out->set_created_by(row.created_by);
  ToProto(row.created_at, out->mutable_create_time());
  out->set_updated_by(row.updated_by);
  ToProto(row.updated_at, out->mutable_update_time());
}

void CalendarToProto(const persistence::CalendarRow& row, v1::Calendar* out) {
  out->set_namespace_(row.namespace_name);
  out->set_name(row.name);
  out->set_body_json(row.body_json);
  out->set_description(row.description);
  out->set_updated_by(row.updated_by);
  ToProto(row.updated_at, out->mutable_update_time());
}

}  // namespace

ScheduleServiceImpl::ScheduleServiceImpl(WorkPool& pool, Authorizer& authorizer,
                                         persistence::ConnectionPool& database,
                                         RequestValidator& validator,
                                         DefinitionRegistry& definitions, ScheduleFirer& firer)
    : CallbackService(authorizer),
      database_(database),
      validator_(validator),
      definitions_(definitions),
      firer_(firer) {
  using Self = ScheduleServiceImpl;
  UnaryOnPool("CreateSchedule", pool, this, &Self::CreateSchedule);
  UnaryOnPool("UpdateSchedule", pool, this, &Self::UpdateSchedule);
  UnaryOnPool("DescribeSchedule", pool, this, &Self::DescribeSchedule);
  UnaryOnPool("ListSchedules", pool, this, &Self::ListSchedules);
  UnaryOnPool("PauseSchedule", pool, this, &Self::PauseSchedule);
  UnaryOnPool("ResumeSchedule", pool, this, &Self::ResumeSchedule);
  UnaryOnPool("TriggerSchedule", pool, this, &Self::TriggerSchedule);
  UnaryOnPool("BackfillSchedule", pool, this, &Self::BackfillSchedule);
  UnaryOnPool("DeleteSchedule", pool, this, &Self::DeleteSchedule);
  UnaryOnPool("PutCalendar", pool, this, &Self::PutCalendar);
  UnaryOnPool("GetCalendar", pool, this, &Self::GetCalendar);
  UnaryOnPool("ListCalendars", pool, this, &Self::ListCalendars);
  UnaryOnPool("DeleteCalendar", pool, this, &Self::DeleteCalendar);
  VerifyAllServed();
}

Status ScheduleServiceImpl::CheckSpec(pqxx::transaction_base& txn,
                                      const std::string& namespace_name,
                                      const std::string& spec_json, ScheduleSpec* spec) {
  json body;
  Status s = validator_.Json("spec_json", spec_json, false, &body);
  if (!s.ok()) return s;
  if (s = ScheduleSpec::Parse(body, spec); !s.ok()) {
    return Status::InvalidArgument("spec_json: " + s.message());
  }
  std::shared_ptr<const dsl::Definition> definition;
  if (s = definitions_.Resolve(txn, namespace_name, spec->definition(), spec->version(),
                               &definition);
      !s.ok()) {
    return Status(s.code(), "spec_json: workflow.definition: " + s.message());
  }
  if (!spec->calendar().empty() &&
      !persistence::FindCalendar(txn, namespace_name, spec->calendar())) {
    return Status::NotFound("spec_json: calendar: no calendar '" + spec->calendar() +
                            "' in namespace '" + namespace_name + "'");
  }
  return Status::Ok();
}

Status ScheduleServiceImpl::CreateSchedule(const Caller& caller,
                                           const v1::CreateScheduleRequest& req,
                                           v1::Schedule* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (s.ok()) s = validator_.AcceptsNewWork(ns);
  if (s.ok()) s = RequestValidator::ObjectId("id", req.id());
  if (s.ok()) s = validator_.Text("description", req.description());
  if (s.ok()) s = validator_.Text("note", req.note());
  if (s.ok()) s = validator_.Identifier("identity", req.identity(), false);
  if (!s.ok()) return s;
  persistence::ScheduleRow row;
  row.namespace_name = ns;
  row.id = req.id();
  row.description = req.description();
  row.paused = req.paused();
  row.note = req.note();
  row.created_by = Actor{caller.principal, req.identity()}.Describe();
  s = persistence::Transact(database_, "create schedule", [&](pqxx::work& txn) {
    ScheduleSpec spec;
    if (Status checked = CheckSpec(txn, ns, req.spec_json(), &spec); !checked.ok()) {
      return checked;
    }
    row.spec_json = req.spec_json();
    std::optional<Nominal> next;
    const auto calendar = ScheduleFirer::LoadCalendar(txn, ns, spec.calendar());
    ScheduleFirer::NextFiring(spec, row.id, calendar ? &*calendar : nullptr,
                              persistence::DatabaseNow(txn), {}, &next, &row.next_fire_at);
    if (next) row.next_nominal = next->at;
    if (!persistence::InsertSchedule(txn, row)) {
      return Status::AlreadyExists("schedule '" + row.id + "' already exists in namespace '" + ns +
                                   "'");
    }
    return Status::Ok();
  });
  if (!s.ok()) return s;
  spdlog::info("schedule {}/{} created by {}", ns, row.id, row.created_by);
  return Describe(ns, row.id, 0, resp);
}

Status ScheduleServiceImpl::UpdateSchedule(const Caller& caller,
                                           const v1::UpdateScheduleRequest& req,
                                           v1::Schedule* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (s.ok()) s = RequestValidator::ObjectId("id", req.id());
  if (s.ok() && req.has_description()) s = validator_.Text("description", req.description());
  if (s.ok()) s = validator_.Identifier("identity", req.identity(), false);
  if (!s.ok()) return s;
  s = persistence::Transact(database_, "update schedule", [&](pqxx::work& txn) {
    std::optional<persistence::ScheduleRow> row =
        persistence::FindSchedule(txn, ns, req.id(), true);
    if (!row) return Status::NotFound("schedule '" + req.id() + "' does not exist");
    ScheduleSpec spec;
    if (Status checked = CheckSpec(txn, ns, req.spec_json(), &spec); !checked.ok()) {
      return checked;
    }
    row->spec_json = req.spec_json();
    if (req.has_description()) row->description = req.description();
    row->updated_by = Actor{caller.principal, req.identity()}.Describe();
    // From now on: nominal times after the last one handled, or after now if none was.
    const TimePoint now = persistence::DatabaseNow(txn);
    const TimePoint after = row->last_nominal ? std::max(*row->last_nominal, now) : now;
    std::optional<Nominal> next;
    const auto calendar = ScheduleFirer::LoadCalendar(txn, ns, spec.calendar());
    ScheduleFirer::NextFiring(spec, row->id, calendar ? &*calendar : nullptr, after,
                              row->handled_deliveries, &next, &row->next_fire_at);
    row->next_nominal = next ? std::optional<TimePoint>(next->at) : std::nullopt;
    persistence::ReplaceScheduleSpec(txn, *row);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  spdlog::info("schedule {}/{} updated", ns, req.id());
  return Describe(ns, req.id(), 0, resp);
}

Status ScheduleServiceImpl::Describe(const std::string& ns, const std::string& id, int firings,
                                     v1::Schedule* resp) {
  std::optional<persistence::ScheduleRow> row;
  std::vector<persistence::FiringRow> recent;
  Status s = persistence::Transact(database_, "describe schedule", [&](pqxx::work& txn) {
    row = persistence::FindSchedule(txn, ns, id, false);
    if (row && firings > 0) recent = persistence::RecentFirings(txn, ns, id, firings);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  if (!row)
    return Status::NotFound("schedule '" + id + "' does not exist in namespace '" + ns + "'");
  ScheduleToProto(*row, resp);
  for (const auto& f : recent)
    FiringToProto(f, resp->add_recent_firings());
  ScheduleSpec spec;
  if (row->next_nominal && ScheduleFirer::ParseStoredSpec(*row, &spec).ok()) {
    TimePoint t = *row->next_nominal;
    int64_t upcoming = kUpcoming;
    if (spec.max_runs()) {
      upcoming = std::min(upcoming, std::max<int64_t>(0, *spec.max_runs() - row->runs_started - 1));
    }
    for (int64_t i = 0; i < upcoming; ++i) {
      // As the firer plans them: a delivery fired already is not listed again.
      const std::optional<Nominal> n =
          ScheduleFirer::NextUnhandled(spec, t, row->handled_deliveries);
      if (!n) break;
      ToProto(n->at, resp->add_upcoming_nominal_times());
      t = n->at;
    }
  }
  return Status::Ok();
}

Status ScheduleServiceImpl::DescribeSchedule(const v1::DescribeScheduleRequest& req,
                                             v1::Schedule* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (s.ok()) s = RequestValidator::ObjectId("id", req.id());
  if (!s.ok()) return s;
  if (req.firings() < 0 || req.firings() > kMaxFirings) {
    return Status::InvalidArgument("firings: must be between 0 and 1000");
  }
  return Describe(ns, req.id(), req.firings() == 0 ? kDefaultFirings : req.firings(), resp);
}

Status ScheduleServiceImpl::ListSchedules(const v1::ListSchedulesRequest& req,
                                          v1::ListSchedulesResponse* resp) {
  std::string ns;
  if (Status s = validator_.Namespace(req.namespace_(), &ns); !s.ok()) return s;
  std::vector<persistence::ScheduleRow> rows;
  const Status s = persistence::Transact(database_, "list schedules", [&](pqxx::work& txn) {
    rows = persistence::ListSchedules(txn, ns);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  for (const auto& row : rows)
    ScheduleToProto(row, resp->add_schedules());
  return Status::Ok();
}

Status ScheduleServiceImpl::SetPaused(const Caller& caller, const std::string& requested_namespace,
                                      const std::string& id, bool paused, const std::string& note,
                                      const std::string& identity, v1::Schedule* resp) {
  std::string ns;
  Status s = validator_.Namespace(requested_namespace, &ns);
  if (s.ok()) s = RequestValidator::ObjectId("id", id);
  if (s.ok()) s = validator_.Text("note", note);
  if (s.ok()) s = validator_.Identifier("identity", identity, false);
  if (!s.ok()) return s;
  if (paused && note.find_first_not_of(" \t\n") == std::string::npos) {
    return Status::InvalidArgument("note: is required to pause a schedule (say why)");
  }
  const std::string by = Actor{caller.principal, identity}.Describe();
  s = persistence::Transact(database_, paused ? "pause schedule" : "resume schedule",
                            [&](pqxx::work& txn) {
                              if (!persistence::FindSchedule(txn, ns, id, true)) {
                                return Status::NotFound("schedule '" + id + "' does not exist");
                              }
                              persistence::SetSchedulePaused(txn, ns, id, paused, note, by);
                              return Status::Ok();
                            });
  if (!s.ok()) return s;
  spdlog::warn("schedule {}/{} {} by {}: {}", ns, id, paused ? "paused" : "resumed", by, note);
  return Describe(ns, id, 0, resp);
}

Status ScheduleServiceImpl::PauseSchedule(const Caller& caller, const v1::PauseScheduleRequest& req,
                                          v1::Schedule* resp) {
  return SetPaused(caller, req.namespace_(), req.id(), true, req.note(), req.identity(), resp);
}

Status ScheduleServiceImpl::ResumeSchedule(const Caller& caller,
                                           const v1::ResumeScheduleRequest& req,
                                           v1::Schedule* resp) {
  return SetPaused(caller, req.namespace_(), req.id(), false, req.note(), req.identity(), resp);
}

Status ScheduleServiceImpl::TriggerSchedule(const v1::TriggerScheduleRequest& req,
                                            v1::TriggerScheduleResponse* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (s.ok()) s = validator_.AcceptsNewWork(ns);
  if (s.ok()) s = RequestValidator::ObjectId("id", req.id());
  if (s.ok()) s = validator_.Identifier("identity", req.identity(), false);
  if (!s.ok()) return s;
  persistence::FiringRow firing;
  s = firer_.Trigger(ns, req.id(), req.identity().empty() ? "an operator" : req.identity(),
                     &firing);
  if (!s.ok()) return s;
  FiringToProto(firing, resp->mutable_firing());
  return Status::Ok();
}

Status ScheduleServiceImpl::BackfillSchedule(const v1::BackfillScheduleRequest& req,
                                             v1::BackfillScheduleResponse* resp) {
  std::string ns;
  TimePoint from;
  TimePoint to;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (s.ok()) s = validator_.AcceptsNewWork(ns);
  if (s.ok()) s = RequestValidator::ObjectId("id", req.id());
  if (s.ok() && !req.has_from()) s = Status::InvalidArgument("from: is required");
  if (s.ok() && !req.has_to()) s = Status::InvalidArgument("to: is required");
  if (s.ok()) s = validator_.Timestamp("from", req.from(), &from);
  if (s.ok()) s = validator_.Timestamp("to", req.to(), &to);
  if (s.ok() && to < from) s = Status::InvalidArgument("to: is before from");
  if (s.ok()) s = validator_.Identifier("identity", req.identity(), false);
  if (!s.ok()) return s;
  BackfillResult result;
  s = firer_.Backfill(ns, req.id(), from, to,
                      req.identity().empty() ? "an operator" : req.identity(), &result);
  if (!s.ok()) return s;
  resp->set_started(result.started);
  resp->set_already_started(result.already_started);
  resp->set_failed(result.failed);
  for (const auto& f : result.firings)
    FiringToProto(f, resp->add_firings());
  return Status::Ok();
}

Status ScheduleServiceImpl::DeleteSchedule(const Caller& caller,
                                           const v1::DeleteScheduleRequest& req,
                                           v1::DeleteScheduleResponse* /*resp*/) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (s.ok()) s = RequestValidator::ObjectId("id", req.id());
  if (s.ok()) s = validator_.Identifier("identity", req.identity(), false);
  if (!s.ok()) return s;
  s = persistence::Transact(database_, "delete schedule", [&](pqxx::work& txn) {
    if (!persistence::DeleteSchedule(txn, ns, req.id())) {
      return Status::NotFound("schedule '" + req.id() + "' does not exist");
    }
    return Status::Ok();
  });
  if (!s.ok()) return s;
  spdlog::warn("schedule {}/{} deleted by {}", ns, req.id(),
               Actor{caller.principal, req.identity()}.Describe());
  return Status::Ok();
}

namespace {

// The schedules of namespace `ns` judged by calendar `name` fire by its days as they are now, from
// their next firing on (ScheduleFirer::Replan).
void ReplanJudgedBy(pqxx::transaction_base& txn, const std::string& ns, const std::string& name,
                    const std::string& change) {
  for (const persistence::ScheduleRow& listed : persistence::ListSchedules(txn, ns)) {
    ScheduleSpec spec;
    if (!ScheduleFirer::ParseStoredSpec(listed, &spec).ok() || spec.calendar() != name) continue;
    // Locked, and read again: a firing may have moved it on since the list was read.
    std::optional<persistence::ScheduleRow> locked =
        persistence::FindSchedule(txn, ns, listed.id, true);
    if (locked && ScheduleFirer::ParseStoredSpec(*locked, &spec).ok()) {
      ScheduleFirer::Replan(txn, spec, "under calendar " + name + " " + change, &*locked);
    }
  }
}

}  // namespace

Status ScheduleServiceImpl::PutCalendar(const Caller& caller, const v1::PutCalendarRequest& req,
                                        v1::Calendar* resp) {
  std::string ns;
  json body;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (s.ok()) s = ValidCalendarName(req.name());
  if (s.ok()) s = validator_.Json("body_json", req.body_json(), false, &body);
  if (s.ok()) s = validator_.Text("description", req.description());
  if (s.ok()) s = validator_.Identifier("identity", req.identity(), false);
  if (!s.ok()) return s;
  Calendar calendar;
  if (s = Calendar::FromJson(req.name(), body, &calendar); !s.ok()) {
    return Status::InvalidArgument("body_json: " + s.message());
  }
  persistence::CalendarRow row{ns,
                               req.name(),
                               calendar.ToJson().dump(),
                               req.description(),
                               Actor{caller.principal, req.identity()}.Describe(),
                               {}};
  std::optional<persistence::CalendarRow> stored;
  s = persistence::Transact(database_, "put calendar", [&](pqxx::work& txn) {
    persistence::PutCalendar(txn, row);
    stored = persistence::FindCalendar(txn, ns, req.name());
    ReplanJudgedBy(txn, ns, req.name(), "as changed");
    return Status::Ok();
  });
  if (!s.ok()) return s;
  spdlog::info("calendar {}/{} stored by {}", ns, row.name, row.updated_by);
  CalendarToProto(*stored, resp);
  return Status::Ok();
}

Status ScheduleServiceImpl::GetCalendar(const v1::GetCalendarRequest& req, v1::Calendar* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (s.ok()) s = ValidCalendarName(req.name());
  if (!s.ok()) return s;
  std::optional<persistence::CalendarRow> row;
  s = persistence::Transact(database_, "get calendar", [&](pqxx::work& txn) {
    row = persistence::FindCalendar(txn, ns, req.name());
    return Status::Ok();
  });
  if (!s.ok()) return s;
  if (!row) return Status::NotFound("calendar '" + req.name() + "' does not exist");
  CalendarToProto(*row, resp);
  return Status::Ok();
}

Status ScheduleServiceImpl::ListCalendars(const v1::ListCalendarsRequest& req,
                                          v1::ListCalendarsResponse* resp) {
  std::string ns;
  if (Status s = validator_.Namespace(req.namespace_(), &ns); !s.ok()) return s;
  std::vector<persistence::CalendarRow> rows;
  const Status s = persistence::Transact(database_, "list calendars", [&](pqxx::work& txn) {
    rows = persistence::ListCalendars(txn, ns);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  for (const auto& row : rows)
    CalendarToProto(row, resp->add_calendars());
  return Status::Ok();
}

Status ScheduleServiceImpl::DeleteCalendar(const Caller& caller,
                                           const v1::DeleteCalendarRequest& req,
                                           v1::DeleteCalendarResponse* /*resp*/) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (s.ok()) s = ValidCalendarName(req.name());
  if (s.ok()) s = validator_.Identifier("identity", req.identity(), false);
  if (!s.ok()) return s;
  s = persistence::Transact(database_, "delete calendar", [&](pqxx::work& txn) {
    if (!persistence::DeleteCalendar(txn, ns, req.name())) {
      return Status::NotFound("calendar '" + req.name() + "' does not exist");
    }
    ReplanJudgedBy(txn, ns, req.name(), "deleted (every day a business day)");
    return Status::Ok();
  });
  if (!s.ok()) return s;
  spdlog::warn("calendar {}/{} deleted by {}", ns, req.name(),
               Actor{caller.principal, req.identity()}.Describe());
  return Status::Ok();
}

}  // namespace gridflow::engine
