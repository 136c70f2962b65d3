// gridflowctl schedules create|list|show|update|pause|resume|trigger|backfill|delete and
// gridflowctl calendars put|list|show|delete (docs/schedules.md).
#include <nlohmann/json.hpp>

#include <iostream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/format.h"
#include "cli/table.h"

namespace gridflow::cli {
namespace {

std::string Trigger(const v1::Schedule& s) {
  const auto spec = nlohmann::json::parse(s.spec_json(), nullptr, false);
  if (!spec.is_object() || !spec.contains("trigger")) return "";
  const nlohmann::json& t = spec["trigger"];
  std::string text;
  if (t.contains("cron")) text = "cron " + t.value("cron", "");
  if (t.contains("every")) text = "every " + t.value("every", "");
  if (t.contains("event")) {
    text = t.value("event", "") + (t.contains("market") ? " " + t.value("market", "") : "") +
           (t.contains("period") ? " " + t.value("period", "") : "");
  }
  if (t.contains("offset")) text += " " + t.value("offset", "");
  if (t.contains("time_zone")) text += " (" + t.value("time_zone", "") + ")";
  return text;
}

void PrintFiring(const v1::ScheduleFiring& f) {
  std::cout << "    " << FormatTime(f.nominal_time()) << "  " << f.outcome();
  if (!f.workflow_id().empty()) std::cout << "  " << f.workflow_id();
  if (!f.detail().empty()) std::cout << "  (" << f.detail() << ")";
  std::cout << "\n";
}

int Print(Client& client, const v1::Schedule& s) {
  if (client.json_output()) {
    std::cout << ToJson(s) << "\n";
    return kExitOk;
  }
  std::cout << s.id() << (s.paused() ? "  PAUSED: " + s.note() : "") << "\n"
            << "  trigger:       " << Trigger(s) << "\n"
            << "  description:   " << s.description() << "\n"
            << "  next nominal:  "
            << (s.has_next_nominal_time() ? FormatTime(s.next_nominal_time()) : "none left")
            << "\n";
  if (s.has_next_fire_time()) {
    std::cout << "  fires at:      " << FormatTime(s.next_fire_time()) << "\n";
  }
  if (!s.last_delivery().empty()) std::cout << "  last delivery: " << s.last_delivery() << "\n";
  if (s.has_buffered_nominal_time()) {
    std::cout << "  buffered:      " << FormatTime(s.buffered_nominal_time()) << "\n";
  }
  if (!s.upcoming_nominal_times().empty()) {
    std::cout << "  then:          ";
    for (int i = 0; i < s.upcoming_nominal_times_size(); ++i)
      std::cout << (i > 0 ? ", " : "") << FormatTime(s.upcoming_nominal_times(i));
    std::cout << "\n";
  }
  std::cout << "  runs started:  " << s.runs_started()
            << (s.last_run_id().empty() ? "" : " (last run " + s.last_run_id() + ")") << "\n"
            << "  created:       " << FormatTime(s.create_time()) << " by " << s.created_by()
            << "\n"
            << "  updated:       " << FormatTime(s.update_time()) << " by " << s.updated_by()
            << "\n";
  if (!s.recent_firings().empty()) {
    std::cout << "  recent firings (newest first):\n";
    for (const v1::ScheduleFiring& f : s.recent_firings())
      PrintFiring(f);
  }
  return kExitOk;
}

struct Args {
  std::string id, file, description, note, from, to;
  bool paused = false;
  bool description_set = false;
  int firings = 20;
};

bool ReadSpec(const std::string& path, std::string* spec) {
  if (path.empty()) {
    std::cerr << "--file: the schedule's spec (JSON) is required\n";
    return false;
  }
  return ReadFile(path, spec);
}

int Create(Session& session, const Args& a) {
  Client& client = session.client();
  v1::CreateScheduleRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_id(a.id);
  if (!ReadSpec(a.file, request.mutable_spec_json())) return kExitUsage;
  request.set_description(a.description);
  request.set_paused(a.paused);
  request.set_note(a.note);
  request.set_identity(client.options().identity);
  v1::Schedule response;
  const grpc::Status status =
      client.schedules().CreateSchedule(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "create schedule " + a.id);
  return Print(client, response);
}

int Update(Session& session, const Args& a) {
  Client& client = session.client();
  v1::UpdateScheduleRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_id(a.id);
  if (!ReadSpec(a.file, request.mutable_spec_json())) return kExitUsage;
  if (a.description_set) request.set_description(a.description);
  request.set_identity(client.options().identity);
  v1::Schedule response;
  const grpc::Status status =
      client.schedules().UpdateSchedule(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "update schedule " + a.id);
  return Print(client, response);
}

int List(Session& session) {
  Client& client = session.client();
  v1::ListSchedulesRequest request;
  request.set_namespace_(client.options().namespace_name);
  v1::ListSchedulesResponse response;
  const grpc::Status status =
      client.schedules().ListSchedules(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "list schedules");
  if (client.json_output()) {
    std::cout << ToJson(response) << "\n";
    return kExitOk;
  }
  Table table({"ID", "STATE", "TRIGGER", "NEXT FIRE", "RUNS", "DESCRIPTION"});
  for (const v1::Schedule& s : response.schedules()) {
    table.AddRow({s.id(), s.paused() ? "paused" : "active", Trigger(s),
                  s.has_next_fire_time() ? FormatTime(s.next_fire_time()) : "-",
                  std::to_string(s.runs_started()), s.description()});
  }
  table.Print(std::cout);
  return kExitOk;
}

int Show(Session& session, const Args& a) {
  Client& client = session.client();
  v1::DescribeScheduleRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_id(a.id);
  request.set_firings(a.firings);
  v1::Schedule response;
  const grpc::Status status =
      client.schedules().DescribeSchedule(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "schedule " + a.id);
  return Print(client, response);
}

int SetPaused(Session& session, const Args& a, bool paused) {
  Client& client = session.client();
  v1::Schedule response;
  grpc::Status status;
  if (paused) {
    v1::PauseScheduleRequest request;
    request.set_namespace_(client.options().namespace_name);
    request.set_id(a.id);
    request.set_note(a.note);
    request.set_identity(client.options().identity);
    status = client.schedules().PauseSchedule(client.NewContext().get(), request, &response);
  } else {
    v1::ResumeScheduleRequest request;
    request.set_namespace_(client.options().namespace_name);
    request.set_id(a.id);
    request.set_note(a.note);
    request.set_identity(client.options().identity);
    status = client.schedules().ResumeSchedule(client.NewContext().get(), request, &response);
  }
  if (!status.ok()) return client.Fail(status, (paused ? "pause " : "resume ") + a.id);
  return Print(client, response);
}

int TriggerNow(Session& session, const Args& a) {
  Client& client = session.client();
  v1::TriggerScheduleRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_id(a.id);
  request.set_identity(client.options().identity);
  v1::TriggerScheduleResponse response;
  const grpc::Status status =
      client.schedules().TriggerSchedule(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "trigger " + a.id);
  if (client.json_output()) {
    std::cout << ToJson(response) << "\n";
    return kExitOk;
  }
  std::cout << response.firing().outcome() << " " << response.firing().workflow_id() << " (run "
            << response.firing().run_id() << ")\n";
  return kExitOk;
}

int Backfill(Session& session, const Args& a) {
  Client& client = session.client();
  const auto from = ParseInstant(a.from);
  const auto to = ParseInstant(a.to);
  if (!from || !to) {
    std::cerr << "--from, --to: an RFC 3339 instant, a UTC date (2026-12-01) or a duration ago "
                 "(2d)\n";
    return kExitUsage;
  }
  v1::BackfillScheduleRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_id(a.id);
  *request.mutable_from() = *from;
  *request.mutable_to() = *to;
  request.set_identity(client.options().identity);
  v1::BackfillScheduleResponse response;
  // A large backfill takes a while: no per-call timeout.
  const grpc::Status status =
      client.schedules().BackfillSchedule(client.NewContext(false).get(), request, &response);
  if (!status.ok()) return client.Fail(status, "backfill " + a.id);
  if (client.json_output()) {
    std::cout << ToJson(response) << "\n";
    return kExitOk;
  }
  for (const v1::ScheduleFiring& f : response.firings())
    PrintFiring(f);
  std::cout << response.started() << " started, " << response.already_started()
            << " already had a run, " << response.failed() << " failed\n";
  return response.failed() > 0 ? kExitRejected : kExitOk;
}

int Delete(Session& session, const Args& a) {
  Client& client = session.client();
  v1::DeleteScheduleRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_id(a.id);
  request.set_identity(client.options().identity);
  v1::DeleteScheduleResponse response;
  const grpc::Status status =
      client.schedules().DeleteSchedule(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "delete " + a.id);
  if (client.json_output()) {
    std::cout << "{\"deleted\": \"" << a.id << "\"}\n";
  } else {
    std::cout << "deleted schedule " << a.id << " (the runs it started stay)\n";
  }
  return kExitOk;
}

int PrintCalendar(Client& client, const v1::Calendar& c) {
  if (client.json_output()) {
    std::cout << ToJson(c) << "\n";
    return kExitOk;
  }
  std::cout << c.name() << "\n"
            << "  description: " << c.description() << "\n"
            << "  calendar:    " << c.body_json() << "\n"
            << "  updated:     " << FormatTime(c.update_time()) << " by " << c.updated_by() << "\n";
  return kExitOk;
}

int PutCalendar(Session& session, const Args& a) {
  Client& client = session.client();
  v1::PutCalendarRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_name(a.id);
  if (a.file.empty()) {
    std::cerr << "--file: the calendar (JSON: weekend, holidays) is required\n";
    return kExitUsage;
  }
  if (!ReadFile(a.file, request.mutable_body_json())) return kExitUsage;
  request.set_description(a.description);
  request.set_identity(client.options().identity);
  v1::Calendar response;
  const grpc::Status status =
      client.schedules().PutCalendar(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "put calendar " + a.id);
  return PrintCalendar(client, response);
}

int ShowCalendar(Session& session, const Args& a) {
  Client& client = session.client();
  v1::GetCalendarRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_name(a.id);
  v1::Calendar response;
  const grpc::Status status =
      client.schedules().GetCalendar(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "calendar " + a.id);
  return PrintCalendar(client, response);
}

int ListCalendars(Session& session) {
  Client& client = session.client();
  v1::ListCalendarsRequest request;
  request.set_namespace_(client.options().namespace_name);
  v1::ListCalendarsResponse response;
  const grpc::Status status =
      client.schedules().ListCalendars(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "list calendars");
  if (client.json_output()) {
    std::cout << ToJson(response) << "\n";
    return kExitOk;
  }
  Table table({"NAME", "HOLIDAYS", "DESCRIPTION"});
  for (const v1::Calendar& c : response.calendars()) {
    const auto body = nlohmann::json::parse(c.body_json(), nullptr, false);
    const size_t holidays =
        body.is_object() ? body.value("holidays", nlohmann::json::array()).size() : 0;
    table.AddRow({c.name(), std::to_string(holidays), c.description()});
  }
  table.Print(std::cout);
  return kExitOk;
}

int DeleteCalendar(Session& session, const Args& a) {
  Client& client = session.client();
  v1::DeleteCalendarRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_name(a.id);
  request.set_identity(client.options().identity);
  v1::DeleteCalendarResponse response;
  const grpc::Status status =
      client.schedules().DeleteCalendar(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "delete calendar " + a.id);
  if (client.json_output()) {
    std::cout << "{\"deleted\": \"" << a.id << "\"}\n";
  } else {
    std::cout << "deleted calendar " << a.id << "\n";
  }
  return kExitOk;
}

}  // namespace

void AddScheduleCommands(CLI::App& app, Session& session) {
  CLI::App* group = app.add_subcommand(
      "schedules",
      "schedules: create, list, show, update, pause, resume, trigger, backfill, delete");
  group->require_subcommand(1);
  auto a = std::make_shared<Args>();
  const auto id_arg = [a](CLI::App* cmd) {
    cmd->add_option("id", a->id, "schedule id")->required();
  };

  auto* create_cmd = group->add_subcommand("create", "create a schedule from a JSON spec");
  id_arg(create_cmd);
  create_cmd->add_option("--file", a->file, "the spec (docs/schedules.md)")->required();
  create_cmd->add_option("--description", a->description, "what it is for");
  create_cmd->add_flag("--paused", a->paused, "create it paused");
  create_cmd->add_option("--note", a->note, "why it is paused");
  create_cmd->callback([&session, a] { session.exit_code = Create(session, *a); });

  auto* update_cmd = group->add_subcommand("update", "replace a schedule's spec");
  id_arg(update_cmd);
  update_cmd->add_option("--file", a->file, "the new spec")->required();
  update_cmd->add_option("--description", a->description, "what it is for");
  update_cmd->callback([&session, a, update_cmd] {
    a->description_set = update_cmd->count("--description") > 0;
    session.exit_code = Update(session, *a);
  });

  auto* list_cmd = group->add_subcommand("list", "the namespace's schedules");
  list_cmd->callback([&session] { session.exit_code = List(session); });

  auto* show_cmd = group->add_subcommand("show", "a schedule, its next times and firings");
  id_arg(show_cmd);
  show_cmd->add_option("--firings", a->firings, "recent firings to show (at most 1000)");
  show_cmd->callback([&session, a] { session.exit_code = Show(session, *a); });

  auto* pause_cmd = group->add_subcommand("pause", "stop firing (with a note saying why)");
  id_arg(pause_cmd);
  pause_cmd->add_option("--note", a->note, "why (recorded)")->required();
  pause_cmd->callback([&session, a] { session.exit_code = SetPaused(session, *a, true); });

  auto* resume_cmd = group->add_subcommand(
      "resume", "fire again (missed times within the catch-up window fire once)");
  id_arg(resume_cmd);
  resume_cmd->add_option("--note", a->note, "a note (recorded)");
  resume_cmd->callback([&session, a] { session.exit_code = SetPaused(session, *a, false); });

  auto* trigger_cmd = group->add_subcommand("trigger", "start the next nominal time's run now");
  id_arg(trigger_cmd);
  trigger_cmd->callback([&session, a] { session.exit_code = TriggerNow(session, *a); });

  auto* backfill_cmd = group->add_subcommand(
      "backfill", "start the runs of every nominal time in a range that has none");
  id_arg(backfill_cmd);
  backfill_cmd->add_option("--from", a->from, "first instant (RFC 3339, a UTC date, or 2d ago)")
      ->required();
  backfill_cmd->add_option("--to", a->to, "last instant")->required();
  backfill_cmd->callback([&session, a] { session.exit_code = Backfill(session, *a); });

  auto* delete_cmd = group->add_subcommand("delete", "delete a schedule (its runs stay)");
  id_arg(delete_cmd);
  delete_cmd->callback([&session, a] { session.exit_code = Delete(session, *a); });

  CLI::App* calendars =
      app.add_subcommand("calendars", "business-day calendars: put, list, show, delete");
  calendars->require_subcommand(1);
  const auto name_arg = [a](CLI::App* cmd) {
    cmd->add_option("name", a->id, "calendar name")->required();
  };
  auto* put_cmd = calendars->add_subcommand("put", "create or replace a calendar from JSON");
  name_arg(put_cmd);
  put_cmd->add_option("--file", a->file, "{\"weekend\": [...], \"holidays\": [...]}")->required();
  put_cmd->add_option("--description", a->description, "what it is");
  put_cmd->callback([&session, a] { session.exit_code = PutCalendar(session, *a); });
  auto* calendars_list = calendars->add_subcommand("list", "the namespace's calendars");
  calendars_list->callback([&session] { session.exit_code = ListCalendars(session); });
  auto* calendar_show = calendars->add_subcommand("show", "one calendar");
  name_arg(calendar_show);
  calendar_show->callback([&session, a] { session.exit_code = ShowCalendar(session, *a); });
  auto* calendar_delete = calendars->add_subcommand("delete", "delete a calendar");
  name_arg(calendar_delete);
  calendar_delete->callback([&session, a] { session.exit_code = DeleteCalendar(session, *a); });
}

}  // namespace gridflow::cli
