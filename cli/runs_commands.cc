// gridflowctl runs start|list|show|history|signal|cancel|wait
#include <google/protobuf/util/time_util.h>

#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/table.h"
#include "common/duration.h"

namespace gridflow::cli {
namespace {

using google::protobuf::util::TimeUtil;

bool IsClosed(v1::RunStatus s) {
  return s == v1::RUN_STATUS_COMPLETED || s == v1::RUN_STATUS_FAILED ||
         s == v1::RUN_STATUS_CANCELLED;
}

std::string Compact(const std::string& json_text) {
  const auto doc = nlohmann::json::parse(json_text, nullptr, false);
  return doc.is_discarded() ? json_text : doc.dump();
}

int GetRun(Client& client, const std::string& workflow_id, v1::Run* run) {
  v1::GetRunRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_workflow_id(workflow_id);
  const grpc::Status status = client.workflows().GetRun(client.NewContext().get(), request, run);
  return status.ok() ? kExitOk : client.Fail(status, "run " + workflow_id);
}

void PrintRun(const v1::Run& r) {
  const auto line = [](const char* key, const std::string& value) {
    if (!value.empty()) std::cout << std::left << std::setw(16) << key << value << "\n";
  };
  line("workflow id", r.workflow_id());
  line("run id", r.run_id());
  line("definition", r.definition_name() + " v" + std::to_string(r.definition_version()));
  line("status", StatusName(r.status()));
  line("current step", r.current_step());
  line("started", FormatTime(r.create_time()) + " by " + r.started_by());
  line("updated", FormatTime(r.update_time()));
  if (r.has_close_time()) line("closed", FormatTime(r.close_time()));
  line("cancelled by", r.cancel_requested_by());
  if (r.has_failure()) {
    const v1::Failure& f = r.failure();
    line("failure", f.error_type() + " at step " + f.step() +
                        (f.attempt() > 0 ? " (attempt " + std::to_string(f.attempt()) + ")" : "") +
                        ": " + f.message());
  }
  line("history", std::to_string(r.history_length()) + " events");
  line("input", Compact(r.input_json()));
  if (!r.result_json().empty()) line("result", Compact(r.result_json()));
}

int Start(Session& session, const std::string& definition, const std::string& workflow_id,
          int version, const std::string& input, const std::string& input_file) {
  Client& client = session.client();
  std::string input_json = input;
  if (!input_file.empty() && !ReadFile(input_file, &input_json)) return kExitUsage;
  v1::StartRunRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_workflow_id(workflow_id);
  request.set_definition_name(definition);
  request.set_definition_version(version);
  request.set_input_json(input_json);
  request.set_identity(client.options().identity);
  v1::StartRunResponse response;
  const grpc::Status status =
      client.workflows().StartRun(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "start " + workflow_id);
  if (client.json_output()) {
    std::cout << ToJson(response) << "\n";
  } else {
    std::cout << (response.created() ? "started " : "already started ") << workflow_id << " ("
              << response.run().definition_name() << " v" << response.run().definition_version()
              << ", run " << response.run().run_id() << ")\n";
  }
  return kExitOk;
}

int List(Session& session, const std::string& status_name, const std::string& definition, int limit,
         const std::string& page_token) {
  Client& client = session.client();
  v1::ListRunsRequest request;
  request.set_namespace_(client.options().namespace_name);
  if (!status_name.empty()) {
    v1::RunStatus status;
    std::string upper;
    for (char c : status_name)
      upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!v1::RunStatus_Parse("RUN_STATUS_" + upper, &status)) {
      std::cerr << "gridflowctl: --status: unknown status '" << status_name
                << "' (running, cancelling, compensating, completed, failed, cancelled)\n";
      return kExitUsage;
    }
    request.set_status(status);
  }
  request.set_definition_name(definition);
  request.set_page_size(limit);
  request.set_page_token(page_token);
  v1::ListRunsResponse response;
  const grpc::Status status =
      client.workflows().ListRuns(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "list runs");
  if (client.json_output()) {
    std::cout << ToJson(response) << "\n";
    return kExitOk;
  }
  Table table({"WORKFLOW ID", "DEFINITION", "STATUS", "STEP", "STARTED", "UPDATED"});
  for (const v1::Run& r : response.runs()) {
    table.AddRow({r.workflow_id(),
                  r.definition_name() + " v" + std::to_string(r.definition_version()),
                  StatusName(r.status()), r.current_step(), FormatTime(r.create_time()),
                  FormatTime(r.update_time())});
  }
  table.Print(std::cout, 32);
  if (!response.next_page_token().empty()) {
    std::cout << "more: --page-token " << response.next_page_token() << "\n";
  }
  return kExitOk;
}

int Show(Session& session, const std::string& workflow_id) {
  Client& client = session.client();
  v1::Run run;
  if (int code = GetRun(client, workflow_id, &run); code != kExitOk) return code;
  if (client.json_output()) {
    std::cout << ToJson(run) << "\n";
  } else {
    PrintRun(run);
  }
  return kExitOk;
}

std::string Summary(const v1::Event& e) {
  const auto p = nlohmann::json::parse(e.payload_json(), nullptr, false);
  if (p.is_discarded() || !p.is_object()) return e.payload_json();
  if (p.contains("error_type")) {
    std::string s = p.value("error_type", "") + ": " + p.value("message", "");
    if (p.value("will_retry", false)) s += " (retry at " + p.value("retry_at", "") + ")";
    return s;
  }
  if (p.contains("failure")) {
    return p["failure"].value("error_type", "") + ": " + p["failure"].value("message", "");
  }
  if (e.type() == "TaskScheduled")
    return "queue " + p.value("task_queue", "") + ", type " + p.value("task_type", "");
  if (p.contains("result")) return p["result"].dump();
  if (p.contains("signal_name")) return p.value("signal_name", "") + " " + p["payload"].dump();
  if (p.contains("reason")) return p.value("reason", "");
  if (p.contains("input")) return "input " + p["input"].dump();
  return p.dump();
}

int History(Session& session, const std::string& workflow_id) {
  Client& client = session.client();
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
  Table table({"SEQ", "TIME", "+ELAPSED", "TYPE", "STEP", "ATTEMPT", "ACTOR", "DETAILS"});
  const int64_t start =
      all.events().empty() ? 0 : TimeUtil::TimestampToMilliseconds(all.events(0).time());
  for (const v1::Event& e : all.events()) {
    const int64_t elapsed = TimeUtil::TimestampToMilliseconds(e.time()) - start;
    table.AddRow({std::to_string(e.sequence()), FormatTime(e.time()).substr(11),
                  "+" + FormatDuration(Millis(elapsed)), e.type(), e.step(),
                  e.attempt() > 0 ? std::to_string(e.attempt()) : "", e.actor(), Summary(e)});
  }
  table.Print(std::cout, 48);
  std::cout << "run status: " << StatusName(all.run_status()) << "\n";
  return kExitOk;
}

int Signal(Session& session, const std::string& workflow_id, const std::string& name,
           const std::string& payload, const std::string& dedup_id) {
  Client& client = session.client();
  v1::SignalRunRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_workflow_id(workflow_id);
  request.set_signal_name(name);
  request.set_payload_json(payload);
  request.set_dedup_id(dedup_id);
  request.set_identity(client.options().identity);
  v1::SignalRunResponse response;
  const grpc::Status status =
      client.workflows().SignalRun(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "signal " + workflow_id);
  if (client.json_output()) {
    std::cout << ToJson(response) << "\n";
  } else {
    std::cout << (response.accepted() ? "signal " + name + " delivered to " + workflow_id
                                      : "signal " + name + " with dedup id " + dedup_id +
                                            " was already delivered; ignored")
              << "\n";
  }
  return kExitOk;
}

int Cancel(Session& session, const std::string& workflow_id, const std::string& reason) {
  Client& client = session.client();
  v1::CancelRunRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_workflow_id(workflow_id);
  request.set_reason(reason);
  request.set_identity(client.options().identity);
  v1::CancelRunResponse response;
  const grpc::Status status =
      client.workflows().CancelRun(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "cancel " + workflow_id);
  if (client.json_output()) {
    std::cout << ToJson(response) << "\n";
  } else {
    std::cout << workflow_id << ": " << StatusName(response.run().status())
              << (response.run().status() == v1::RUN_STATUS_CANCELLING
                      ? " (the executing task's worker is told by its next heartbeat)"
                      : "")
              << "\n";
  }
  return kExitOk;
}

int Wait(Session& session, const std::string& workflow_id, Millis timeout) {
  Client& client = session.client();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  v1::Run run;
  while (true) {
    if (int code = GetRun(client, workflow_id, &run); code != kExitOk) return code;
    if (IsClosed(run.status())) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      std::cerr << "gridflowctl: run " << workflow_id << " still " << StatusName(run.status())
                << " after " << FormatDuration(timeout) << "\n";
      return kExitTimeout;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (client.json_output()) {
    std::cout << ToJson(run) << "\n";
  } else {
    std::cout << workflow_id << ": " << StatusName(run.status()) << "\n";
  }
  return run.status() == v1::RUN_STATUS_COMPLETED ? kExitOk : kExitRunFailed;
}

}  // namespace

std::string FormatTime(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "";
  std::string text = TimeUtil::ToString(t);  // RFC 3339, UTC
  const size_t dot = text.find('.');
  if (dot != std::string::npos && text.size() > dot + 4) text = text.substr(0, dot + 4) + "Z";
  return text;
}

std::string StatusName(v1::RunStatus status) {
  const std::string& name = v1::RunStatus_Name(status);
  return name.rfind("RUN_STATUS_", 0) == 0 ? name.substr(11) : name;
}

void AddRunCommands(CLI::App& app, Session& session) {
  CLI::App* group = app.add_subcommand("runs", "start, inspect, signal and cancel runs");
  group->require_subcommand(1);

  struct StartArgs {
    std::string definition, workflow_id, input, input_file;
    int version = 0;
  };
  auto start = std::make_shared<StartArgs>();
  auto* start_cmd = group->add_subcommand("start", "start a run (idempotent per workflow id)");
  start_cmd->add_option("definition", start->definition, "definition name")->required();
  start_cmd->add_option("--id", start->workflow_id, "workflow id, unique per namespace")
      ->required();
  start_cmd->add_option("--version", start->version, "definition version (default: latest)");
  auto* input = start_cmd->add_option("--input", start->input, "input as JSON text");
  start_cmd->add_option("--input-file", start->input_file, "input from a JSON file")
      ->excludes(input)
      ->check(CLI::ExistingFile);
  start_cmd->callback([&session, start] {
    session.exit_code = Start(session, start->definition, start->workflow_id, start->version,
                              start->input, start->input_file);
  });

  struct ListArgs {
    std::string status, definition, page_token;
    int limit = 50;
  };
  auto list = std::make_shared<ListArgs>();
  auto* list_cmd = group->add_subcommand("list", "list runs, newest first");
  list_cmd->add_option("--status", list->status,
                       "running, cancelling, compensating, completed, failed, cancelled");
  list_cmd->add_option("--definition", list->definition, "only runs of this definition");
  list_cmd->add_option("--limit", list->limit, "runs per page")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  list_cmd->add_option("--page-token", list->page_token, "continue after a previous page");
  list_cmd->callback([&session, list] {
    session.exit_code =
        List(session, list->status, list->definition, list->limit, list->page_token);
  });

  auto id = std::make_shared<std::string>();
  auto* show_cmd = group->add_subcommand("show", "a run's status, step, failure and data");
  show_cmd->add_option("workflow_id", *id, "workflow id")->required();
  show_cmd->callback([&session, id] { session.exit_code = Show(session, *id); });

  auto* history_cmd = group->add_subcommand("history", "a run's full, ordered history");
  history_cmd->add_option("workflow_id", *id, "workflow id")->required();
  history_cmd->callback([&session, id] { session.exit_code = History(session, *id); });

  struct SignalArgs {
    std::string name, payload, dedup_id;
  };
  auto signal = std::make_shared<SignalArgs>();
  auto* signal_cmd = group->add_subcommand("signal", "deliver a named signal to a run");
  signal_cmd->add_option("workflow_id", *id, "workflow id")->required();
  signal_cmd->add_option("signal", signal->name, "signal name")->required();
  signal_cmd->add_option("--payload", signal->payload, "payload as JSON text");
  signal_cmd->add_option("--dedup-id", signal->dedup_id,
                         "a repeated delivery with this id is ignored");
  signal_cmd->callback([&session, id, signal] {
    session.exit_code = Signal(session, *id, signal->name, signal->payload, signal->dedup_id);
  });

  auto reason = std::make_shared<std::string>();
  auto* cancel_cmd = group->add_subcommand("cancel", "cancel a run (recorded with your identity)");
  cancel_cmd->add_option("workflow_id", *id, "workflow id")->required();
  cancel_cmd->add_option("--reason", *reason, "why (recorded in history)");
  cancel_cmd->callback(
      [&session, id, reason] { session.exit_code = Cancel(session, *id, *reason); });

  auto timeout = std::make_shared<std::string>("5m");
  auto* wait_cmd =
      group->add_subcommand("wait", "wait until a run ends; exit 0 only if it completed");
  wait_cmd->add_option("workflow_id", *id, "workflow id")->required();
  wait_cmd->add_option("--timeout", *timeout, "give up after this long")->capture_default_str();
  wait_cmd->callback([&session, id, timeout] {
    const auto d = ParseDuration(*timeout);
    if (!d) {
      std::cerr << "gridflowctl: --timeout: '" << *timeout << "' is not a duration\n";
      session.exit_code = kExitUsage;
      return;
    }
    session.exit_code = Wait(session, *id, *d);
  });
}

}  // namespace gridflow::cli
