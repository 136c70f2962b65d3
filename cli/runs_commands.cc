// gridflowctl runs start|list|signal|cancel|terminate|retry|wait (show and history: run_view.cc)
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/format.h"
#include "cli/table.h"
#include "common/duration.h"
#include "gridflow/v1/run_status.h"

namespace gridflow::cli {
namespace {

using google::protobuf::util::TimeUtil;

int GetRun(Client& client, const std::string& workflow_id, v1::Run* run) {
  v1::GetRunRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_workflow_id(workflow_id);
  const grpc::Status status = client.workflows().GetRun(client.NewContext().get(), request, run);
  return status.ok() ? kExitOk : client.Fail(status, "run " + workflow_id);
}

struct StartArgs {
  std::string definition, workflow_id, input, input_file, period;
  int version = 0;
  int revision = 0;
};

int Start(Session& session, const StartArgs& args) {
  Client& client = session.client();
  const std::string& workflow_id = args.workflow_id;
  std::string input_json = args.input;
  if (!args.input_file.empty() && !ReadFile(args.input_file, &input_json)) return kExitUsage;
  v1::StartRunRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_workflow_id(workflow_id);
  request.set_definition_name(args.definition);
  request.set_definition_version(args.version);
  request.set_input_json(input_json);
  request.set_period(args.period);
  request.set_revision(args.revision);
  request.set_identity(client.options().identity);
  v1::StartRunResponse response;
  const grpc::Status status =
      client.workflows().StartRun(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "start " + workflow_id);
  if (client.json_output()) {
    std::cout << ToJson(response) << "\n";
  } else {
    const v1::Run& run = response.run();
    std::cout << (response.created() ? "started " : "already started ") << workflow_id << " ("
              << run.definition_name() << " v" << run.definition_version() << ", run "
              << run.run_id() << ")\n";
    if (run.revision() > 0) {
      std::cout << "revision " << run.revision() << " of period " << run.period();
      if (!run.supersedes_workflow_id().empty()) {
        std::cout << ", supersedes " << run.supersedes_workflow_id();
      }
      std::cout << "\n";
    }
  }
  return kExitOk;
}

struct ListArgs {
  std::string status, definition, since, until, queue, search, query, sort = "created", page_token;
  std::string period;
  int version = 0;
  int limit = 50;
  bool ascending = false;
  bool latest_revisions = false;
};

int List(Session& session, const ListArgs& args) {
  Client& client = session.client();
  v1::ListRunsRequest request;
  request.set_namespace_(client.options().namespace_name);
  if (!args.status.empty()) {
    v1::RunStatus status;
    std::string upper;
    for (char c : args.status)
      upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!v1::RunStatus_Parse("RUN_STATUS_" + upper, &status)) {
      std::cerr << "gridflowctl: --status: unknown status '" << args.status
                << "' (running, cancelling, compensating, completed, failed, cancelled, "
                   "terminated)\n";
      return kExitUsage;
    }
    request.set_status(status);
  }
  request.set_definition_name(args.definition);
  request.set_definition_version(args.version);
  for (const auto& [flag, text, field] :
       {std::tuple{"--since", &args.since, request.mutable_created_after()},
        std::tuple{"--until", &args.until, request.mutable_created_before()}}) {
    if (text->empty()) continue;
    const auto instant = ParseInstant(*text);
    if (!instant) {
      std::cerr << "gridflowctl: " << flag << ": '" << *text
                << "' is not an RFC 3339 time, a date or a duration ago\n";
      return kExitUsage;
    }
    *field = *instant;
  }
  if (args.since.empty()) request.clear_created_after();
  if (args.until.empty()) request.clear_created_before();
  request.set_task_queue(args.queue);
  request.set_workflow_id_contains(args.search);
  request.set_query(args.query);
  request.set_period(args.period);
  request.set_latest_revisions_only(args.latest_revisions);
  request.set_order_by((args.sort == "updated" ? "update_time" : "create_time") +
                       std::string(args.ascending ? " asc" : " desc"));
  request.set_page_size(args.limit);
  request.set_page_token(args.page_token);
  v1::ListRunsResponse response;
  const grpc::Status status =
      client.workflows().ListRuns(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "list runs");
  if (client.json_output()) {
    std::cout << ToJson(response) << "\n";
    return kExitOk;
  }
  // Search attributes get a column when a listed run has any.
  const bool attributes = std::any_of(response.runs().begin(), response.runs().end(),
                                      [](const v1::Run& r) { return HasAttributes(r); });
  // So do settlement revisions: period, number, and whether a later one superseded it.
  const bool revisions = std::any_of(response.runs().begin(), response.runs().end(),
                                     [](const v1::Run& r) { return r.revision() > 0; });
  std::vector<std::string> headers = {"WORKFLOW ID", "DEFINITION",    "STATUS",
                                      "STEP",        "STARTED (UTC)", "UPDATED"};
  std::vector<size_t> widths = {30, 18, 12, 18, 20, 11};  // with the gaps: 119 columns
  if (revisions) {
    headers.push_back("REVISION");
    widths.push_back(48);
  }
  if (attributes) {
    headers.push_back("ATTRIBUTES");
    widths.push_back(48);
  }
  Table table(headers);
  table.SetMaxWidths(widths);
  for (const v1::Run& r : response.runs()) {
    std::vector<std::string> row = {
        r.workflow_id(),
        r.definition_name() + " v" + std::to_string(r.definition_version()),
        StatusName(r.status()),
        r.current_step(),
        FormatTime(r.create_time()),
        Ago(r.update_time())};
    if (revisions) row.push_back(FormatRevision(r));
    if (attributes) row.push_back(FormatAttributes(r));
    table.AddRow(row);
  }
  table.Print(std::cout);
  if (!response.next_page_token().empty()) {
    std::cout << "more: --page-token " << response.next_page_token() << "\n";
  }
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

int Terminate(Session& session, const std::string& workflow_id, const std::string& reason) {
  Client& client = session.client();
  v1::TerminateRunRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_workflow_id(workflow_id);
  request.set_reason(reason);
  request.set_identity(client.options().identity);
  v1::TerminateRunResponse response;
  const grpc::Status status =
      client.workflows().TerminateRun(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "terminate " + workflow_id);
  if (client.json_output()) {
    std::cout << ToJson(response) << "\n";
  } else {
    std::cout << workflow_id << ": " << StatusName(response.run().status()) << "\n";
  }
  return kExitOk;
}

int Retry(Session& session, const std::string& workflow_id, const std::string& from_step,
          const std::string& reason) {
  Client& client = session.client();
  v1::RetryRunRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_workflow_id(workflow_id);
  request.set_from_step(from_step);
  request.set_reason(reason);
  request.set_identity(client.options().identity);
  v1::RetryRunResponse response;
  const grpc::Status status =
      client.workflows().RetryRun(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "retry " + workflow_id);
  if (client.json_output()) {
    std::cout << ToJson(response) << "\n";
  } else {
    std::cout << workflow_id << ": " << StatusName(response.run().status()) << " again, from step "
              << response.from_step() << "\n";
  }
  return kExitOk;
}

int Wait(Session& session, const std::string& workflow_id, Millis timeout) {
  Client& client = session.client();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  v1::Run run;
  while (true) {
    if (int code = GetRun(client, workflow_id, &run); code != kExitOk) return code;
    if (v1::IsClosedRunStatus(run.status())) break;
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

void AddRunCommands(CLI::App& app, Session& session) {
  CLI::App* group =
      app.add_subcommand("runs", "start, list, inspect, signal, cancel, terminate and retry runs");
  group->require_subcommand(1);
  AddRunAuditCommands(*group, session);

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
  auto* period = start_cmd->add_option(
      "--period", start->period,
      "start a settlement revision of this period (docs/revisions.md); needs --revision");
  start_cmd->add_option("--revision", start->revision, "the revision number (1, 2, ...)")
      ->check(CLI::PositiveNumber)
      ->needs(period);
  period->needs(start_cmd->get_option("--revision"));
  start_cmd->callback([&session, start] { session.exit_code = Start(session, *start); });

  auto list = std::make_shared<ListArgs>();
  auto* list_cmd = group->add_subcommand("list", "list runs, newest first, with filters");
  list_cmd->add_option("--status", list->status,
                       "running, cancelling, compensating, completed, failed, cancelled, "
                       "terminated");
  list_cmd->add_option("--definition", list->definition, "only runs of this definition");
  list_cmd->add_option("--version", list->version, "only runs of this definition version")
      ->check(CLI::PositiveNumber)
      ->needs(list_cmd->get_option("--definition"));
  list_cmd->add_option("--since", list->since,
                       "started at or after: RFC 3339 time, UTC date or duration ago (2h)");
  list_cmd->add_option("--until", list->until, "started before (same forms as --since)");
  list_cmd->add_option("--queue", list->queue, "only runs with a queued or leased task there");
  list_cmd->add_option("--search", list->search, "text the workflow id contains (any case)");
  list_cmd->add_option("--query", list->query,
                       "a query over run fields and search attributes (docs/search.md), e.g. "
                       "\"market = 'DE-LU' AND status = 'FAILED'\"");
  list_cmd->add_option("--period", list->period,
                       "only revisions of this period; with --definition: its chain of revisions");
  list_cmd->add_flag("--latest-revisions", list->latest_revisions,
                     "only the latest revision of each period");
  list_cmd->add_option("--sort", list->sort, "created or updated")
      ->check(CLI::IsMember({"created", "updated"}))
      ->capture_default_str();
  list_cmd->add_flag("--asc", list->ascending, "oldest first");
  list_cmd->add_option("--limit", list->limit, "runs per page")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  list_cmd->add_option("--page-token", list->page_token, "continue after a previous page");
  list_cmd->callback([&session, list] { session.exit_code = List(session, *list); });

  auto id = std::make_shared<std::string>();
  auto* show_cmd = group->add_subcommand(
      "show", "a run now: status, steps, open tasks and leases, timers, last error");
  show_cmd->add_option("workflow_id", *id, "workflow id")->required();
  auto summary = std::make_shared<bool>(false);
  show_cmd->add_flag("--summary", *summary,
                     "without the run's input, data and result (for a run too large to read)");
  show_cmd->callback(
      [&session, id, summary] { session.exit_code = ShowRun(session, *id, *summary); });

  auto follow = std::make_shared<bool>(false);
  auto* history_cmd = group->add_subcommand(
      "history", "a run's full, ordered history (-o json: the auditors' export)");
  history_cmd->add_option("workflow_id", *id, "workflow id")->required();
  history_cmd->add_flag("-f,--follow", *follow,
                        "stream new events until the run ends (-o json: one event per line)");
  history_cmd->callback(
      [&session, id, follow] { session.exit_code = ShowHistory(session, *id, *follow); });

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

  auto* terminate_cmd = group->add_subcommand(
      "terminate", "end a run at once, without compensation (for runs cancel cannot end)");
  terminate_cmd->add_option("workflow_id", *id, "workflow id")->required();
  terminate_cmd->add_option("--reason", *reason, "why (required; recorded in history)")->required();
  terminate_cmd->callback(
      [&session, id, reason] { session.exit_code = Terminate(session, *id, *reason); });

  auto from_step = std::make_shared<std::string>();
  auto* retry_cmd = group->add_subcommand(
      "retry", "continue a failed, cancelled or terminated run from the failed or a named step");
  retry_cmd->add_option("workflow_id", *id, "workflow id")->required();
  retry_cmd->add_option("--from-step", *from_step, "a top-level step (default: the failed one)");
  retry_cmd->add_option("--reason", *reason, "why (required; recorded in history)")->required();
  retry_cmd->callback([&session, id, from_step, reason] {
    session.exit_code = Retry(session, *id, *from_step, *reason);
  });

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
