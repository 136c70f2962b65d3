// gridflowctl runs show|history: what a run is doing now, and everything it did.
#include <google/protobuf/util/time_util.h>

#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/format.h"
#include "cli/table.h"

namespace gridflow::cli {
namespace {

using google::protobuf::util::TimeUtil;

std::string Compact(const std::string& json_text) {
  const auto doc = nlohmann::json::parse(json_text, nullptr, false);
  return doc.is_discarded() ? json_text : doc.dump();
}

std::string DescribeFailure(const v1::Failure& f) {
  std::string text = f.error_type();
  if (!f.step().empty()) text += " at step " + f.step();
  if (f.attempt() > 0) text += " (attempt " + std::to_string(f.attempt()) + ")";
  return text + ": " + f.message();
}

void PrintSummary(const v1::DescribeRunResponse& d) {
  const v1::Run& r = d.run();
  const auto line = [](const char* key, const std::string& value) {
    if (!value.empty()) std::cout << std::left << std::setw(16) << key << value << "\n";
  };
  std::string active;
  for (const auto& step : d.active_steps())
    active += (active.empty() ? "" : ", ") + step;
  line("workflow id", r.workflow_id());
  line("run id", r.run_id());
  line("definition", r.definition_name() + " v" + std::to_string(r.definition_version()) +
                         (d.time_zone().empty() ? "" : " (market time " + d.time_zone() + ")"));
  // Why this version, when a rollout chose it (docs/rollouts.md).
  const std::string& why = r.version_reason();
  if (!why.empty() && why != "latest" && why != "requested") line("version", why);
  line("status", StatusName(r.status()));
  if (r.revision() > 0) {
    line("revision", FormatRevision(r) + (r.supersedes_workflow_id().empty()
                                              ? ""
                                              : "; supersedes " + r.supersedes_workflow_id()));
  }
  line("at", active);
  line("started", FormatTime(r.create_time()) + " by " + r.started_by());
  line("updated", FormatTime(r.update_time()) + " (" + Ago(r.update_time()) + ")");
  if (r.has_close_time()) line("closed", FormatTime(r.close_time()));
  line("cancelled by", r.cancel_requested_by());
  if (r.has_failure()) line("run failure", DescribeFailure(r.failure()));
  if (d.has_last_task_failure()) line("last error", DescribeFailure(d.last_task_failure()));
  line("attributes", FormatAttributes(r));
  line("history", std::to_string(r.history_length()) + " events");
  if (r.fields_omitted()) {
    line("input", "(left out: --summary)");
    return;
  }
  line("input", Compact(r.input_json()));
  if (!r.result_json().empty()) line("result", Compact(r.result_json()));
}

void PrintTasks(const v1::DescribeRunResponse& d) {
  if (d.open_tasks().empty()) return;
  std::cout << "\nOPEN TASKS\n";
  Table table({"TASK", "STEP", "TYPE", "QUEUE", "STATE", "ATTEMPT", "LEASE HOLDER", "WAITING"});
  table.SetMaxWidths({10, 20, 16, 14, 8, 7, 24, 14});
  for (const v1::TaskInfo& t : d.open_tasks()) {
    std::string state = t.state();
    if (t.cancel_requested()) state += " (cancel asked)";
    std::string waiting;
    if (t.state() == "LEASED") {
      waiting = "lease ends " + FormatClock(t.lease_expire_time()).substr(0, 8);
    } else if (TimeUtil::TimestampToMilliseconds(t.not_before()) >
               TimeUtil::TimestampToMilliseconds(TimeUtil::GetCurrentTime())) {
      waiting = "retry at " + FormatClock(t.not_before()).substr(0, 8);
    } else {
      waiting = "queued " +
                ShortDuration(Millis(TimeUtil::TimestampToMilliseconds(TimeUtil::GetCurrentTime()) -
                                     TimeUtil::TimestampToMilliseconds(t.not_before())));
    }
    const std::string step =
        t.step() + t.iteration() + (t.kind() == "compensation" ? " (compensate)" : "");
    table.AddRow({t.task_id(), step, t.task_type(), t.task_queue(), state,
                  std::to_string(t.attempt()) + "/" + std::to_string(t.max_attempts()),
                  t.lease_owner(), waiting});
  }
  table.Print(std::cout);
  if (d.open_tasks_omitted() > 0) {
    std::cout << "... and " << d.open_tasks_omitted()
              << " more open task(s), left out to keep the answer within 3 MiB\n";
  }
  for (const v1::TaskInfo& t : d.open_tasks()) {
    if (t.details_omitted()) {
      std::cout << "task " << t.task_id()
                << ": progress and failure details left out (the answer's size)\n";
    }
    if (!t.heartbeat_details_json().empty()) {
      std::cout << "task " << t.task_id() << " progress: " << Compact(t.heartbeat_details_json())
                << "\n";
    }
    if (t.has_last_failure()) {
      std::cout << "task " << t.task_id() << " last failed: " << DescribeFailure(t.last_failure())
                << "\n";
    }
  }
}

void PrintTimers(const v1::DescribeRunResponse& d) {
  if (d.pending_timers().empty()) return;
  std::cout << "\nPENDING TIMERS\n";
  const std::string local_header =
      d.time_zone().empty() ? "FIRES (LOCAL)" : "FIRES (" + d.time_zone() + ")";
  Table table({"STEP", "KIND", "FIRES (UTC)", local_header, "IN"});
  table.SetMaxWidths({24, 14, 20, 25, 12});
  const int64_t now = TimeUtil::TimestampToMilliseconds(TimeUtil::GetCurrentTime());
  for (const v1::TimerInfo& t : d.pending_timers()) {
    const int64_t in = TimeUtil::TimestampToMilliseconds(t.fire_time()) - now;
    table.AddRow({t.step(), t.kind(), FormatTime(t.fire_time()), t.fire_time_local(),
                  in > 0 ? ShortDuration(Millis(in)) : "due"});
  }
  table.Print(std::cout);
}

// A one-line summary of an event's payload for the timeline (never the full payload).
std::string Summary(const v1::Event& e) {
  const auto p = nlohmann::json::parse(e.payload_json(), nullptr, false);
  if (p.is_discarded() || !p.is_object()) return e.payload_json();
  if (p.contains("error_type")) {
    std::string s = p.value("error_type", "") + ": " + p.value("message", "");
    if (p.value("will_retry", false)) s += " (retry at " + p.value("retry_at", "") + ")";
    return s;
  }
  if (p.contains("failure") && p["failure"].is_object()) {
    return p["failure"].value("error_type", "") + ": " + p["failure"].value("message", "");
  }
  if (e.type() == "TaskScheduled")
    return "queue " + p.value("task_queue", "") + ", type " + p.value("task_type", "");
  if (e.type() == "RunRetried") {
    return "from " + p.value("from_step", "") + ": " + p.value("reason", "");
  }
  if (p.contains("fire_at")) return "fires " + p.value("fire_at", "");
  if (p.contains("result")) return p["result"].dump();
  if (p.contains("signal_name")) return p.value("signal_name", "") + " " + p["payload"].dump();
  if (p.contains("reason")) return p.value("reason", "");
  if (p.contains("input")) return "input " + p["input"].dump();
  return p.dump();
}

// Timeline rows have fixed columns so that streamed events line up with those printed before;
// a row fits 120 columns.
void PrintTimelineHeader() {
  std::cout << PadTo("SEQ", 6) << PadTo("TIME (UTC)", 14) << PadTo("+ELAPSED", 10)
            << PadTo("TYPE", 22) << PadTo("STEP#ATTEMPT", 18) << PadTo("ACTOR", 16) << "DETAILS\n";
}

void PrintTimelineRow(const v1::Event& e, int64_t start_ms) {
  const int64_t elapsed = TimeUtil::TimestampToMilliseconds(e.time()) - start_ms;
  std::string step = e.step() + e.iteration();  // "setpoint[3]"
  if (e.attempt() > 0) step += "#" + std::to_string(e.attempt());
  std::string details = PadTo(Summary(e), 120 - 86);
  details.erase(details.find_last_not_of(' ') + 1);
  std::cout << PadTo(std::to_string(e.sequence()), 6) << PadTo(FormatClock(e.time()), 14)
            << PadTo("+" + ShortDuration(Millis(elapsed)), 10) << PadTo(e.type(), 21) << ' '
            << PadTo(step, 17) << ' ' << PadTo(e.actor(), 15) << ' ' << details << "\n";
}

int64_t StartOf(const v1::Event& first) {
  return TimeUtil::TimestampToMilliseconds(first.time());
}

// The whole history, paged; for the table or the auditors' JSON export.
int PrintHistory(Client& client, const std::string& workflow_id) {
  v1::GetHistoryRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_workflow_id(workflow_id);
  request.set_page_size(1000);
  v1::GetHistoryResponse all;
  do {
    v1::GetHistoryResponse page;
    const grpc::Status status =
        client.workflows().GetHistory(client.NewContext().get(), request, &page);
    if (!status.ok()) return client.Fail(status, "history of " + workflow_id);
    for (const auto& e : page.events())
      *all.add_events() = e;
    all.set_run_status(page.run_status());
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  if (client.json_output()) {
    std::cout << ToJson(all) << "\n";
    return kExitOk;
  }
  if (!all.events().empty()) {
    std::cout << workflow_id << " from " << FormatTime(all.events(0).time()) << "\n";
  }
  PrintTimelineHeader();
  for (const v1::Event& e : all.events())
    PrintTimelineRow(e, StartOf(all.events(0)));
  std::cout << "run status: " << StatusName(all.run_status()) << "\n";
  return kExitOk;
}

// Streams the history until the run ends. JSON output is one event per line (NDJSON). When the
// replica goes away the stream resumes, on whichever replica answers, after the last event seen.
int FollowHistory(Client& client, const std::string& workflow_id) {
  v1::WatchHistoryRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_workflow_id(workflow_id);
  int64_t start_ms = 0;
  bool header_printed = false;
  auto last_progress = std::chrono::steady_clock::now();
  while (true) {
    auto context = client.NewContext(false);
    auto stream = client.workflows().WatchHistory(context.get(), request);
    v1::Event event;
    while (stream->Read(&event)) {
      last_progress = std::chrono::steady_clock::now();
      request.set_after_sequence(event.sequence());
      if (client.json_output()) {
        std::cout << ToJson(event, false) << std::endl;
        continue;
      }
      if (!header_printed) {
        PrintTimelineHeader();
        header_printed = true;
      }
      if (start_ms == 0) start_ms = StartOf(event);
      PrintTimelineRow(event, start_ms);
      std::cout.flush();
    }
    const grpc::Status status = stream->Finish();
    if (status.ok()) return kExitOk;  // the run ended
    const bool retryable = status.error_code() == grpc::StatusCode::UNAVAILABLE;
    if (!retryable || std::chrono::steady_clock::now() - last_progress > client.options().timeout) {
      return client.Fail(status, "history of " + workflow_id);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

}  // namespace

int ShowRun(Session& session, const std::string& workflow_id, bool summary) {
  Client& client = session.client();
  v1::DescribeRunRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_workflow_id(workflow_id);
  request.set_view(summary ? v1::RUN_VIEW_SUMMARY : v1::RUN_VIEW_FULL);
  v1::DescribeRunResponse response;
  const grpc::Status status =
      client.workflows().DescribeRun(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "run " + workflow_id);
  if (client.json_output()) {
    std::cout << ToJson(response) << "\n";
    return kExitOk;
  }
  PrintSummary(response);
  PrintTasks(response);
  PrintTimers(response);
  return kExitOk;
}

int ShowHistory(Session& session, const std::string& workflow_id, bool follow) {
  Client& client = session.client();
  return follow ? FollowHistory(client, workflow_id) : PrintHistory(client, workflow_id);
}

}  // namespace gridflow::cli
