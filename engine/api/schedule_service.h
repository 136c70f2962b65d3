// gridflow.v1.ScheduleService: schedules and business-day calendars as API objects
// (docs/schedules.md). Firing itself is the ScheduleFirer's, on every replica.
#pragma once

#include "common/work_pool.h"
#include "engine/api/callback_service.h"
#include "engine/api/request_validator.h"
#include "engine/schedules/schedule_firer.h"
#include "gridflow/v1/schedule_service.grpc.pb.h"
#include "persistence/connection_pool.h"

namespace gridflow::engine {

class ScheduleServiceImpl final : public CallbackService<v1::ScheduleService> {
 public:
  ScheduleServiceImpl(WorkPool& pool, Authorizer& authorizer, persistence::ConnectionPool& database,
                      RequestValidator& validator, DefinitionRegistry& definitions,
                      ScheduleFirer& firer);

 private:
  Status CreateSchedule(const Caller& caller, const v1::CreateScheduleRequest& req,
                        v1::Schedule* resp);
  Status UpdateSchedule(const Caller& caller, const v1::UpdateScheduleRequest& req,
                        v1::Schedule* resp);
  Status DescribeSchedule(const v1::DescribeScheduleRequest& req, v1::Schedule* resp);
  Status ListSchedules(const v1::ListSchedulesRequest& req, v1::ListSchedulesResponse* resp);
  Status PauseSchedule(const Caller& caller, const v1::PauseScheduleRequest& req,
                       v1::Schedule* resp);
  Status ResumeSchedule(const Caller& caller, const v1::ResumeScheduleRequest& req,
                        v1::Schedule* resp);
  Status TriggerSchedule(const v1::TriggerScheduleRequest& req, v1::TriggerScheduleResponse* resp);
  Status BackfillSchedule(const v1::BackfillScheduleRequest& req,
                          v1::BackfillScheduleResponse* resp);
  Status DeleteSchedule(const Caller& caller, const v1::DeleteScheduleRequest& req,
                        v1::DeleteScheduleResponse* resp);
  Status PutCalendar(const Caller& caller, const v1::PutCalendarRequest& req, v1::Calendar* resp);
  Status GetCalendar(const v1::GetCalendarRequest& req, v1::Calendar* resp);
  Status ListCalendars(const v1::ListCalendarsRequest& req, v1::ListCalendarsResponse* resp);
  Status DeleteCalendar(const Caller& caller, const v1::DeleteCalendarRequest& req,
                        v1::DeleteCalendarResponse* resp);

  // Validates a spec against the stored definitions and calendars (NOT_FOUND naming what is
  // missing); the parsed spec goes to *spec.
  Status CheckSpec(pqxx::transaction_base& txn, const std::string& namespace_name,
                   const std::string& spec_json, ScheduleSpec* spec);
  // Pause or resume.
  Status SetPaused(const Caller& caller, const std::string& requested_namespace,
                   const std::string& id, bool paused, const std::string& note,
                   const std::string& identity, v1::Schedule* resp);
  Status Describe(const std::string& namespace_name, const std::string& id, int firings,
                  v1::Schedule* resp);

  persistence::ConnectionPool& database_;
  RequestValidator& validator_;
  DefinitionRegistry& definitions_;
  ScheduleFirer& firer_;
};

}  // namespace gridflow::engine
