// gridflowctl tasks dead-letter [--retry] (docs/cli.md; what a dead letter is:
// docs/operations.md, "Dead letters").
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/format.h"
#include "cli/table.h"

namespace gridflow::cli {
namespace {

struct DeadLetterArgs {
  std::string queue, task_type, error_type, since, reason, from_step;
  bool retry = false;
};

int ListDeadLetters(Session& session, const DeadLetterArgs& args) {
  Client& client = session.client();
  v1::ListDeadLettersRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_task_queue(args.queue);
  request.set_task_type(args.task_type);
  request.set_error_type(args.error_type);
  if (!args.since.empty()) {
    const auto instant = ParseInstant(args.since);
    if (!instant) {
      std::cerr << "gridflowctl: --since: '" << args.since
                << "' is not an RFC 3339 time, a date or a duration ago\n";
      return kExitUsage;
    }
    *request.mutable_failed_after() = *instant;
  }
  v1::ListDeadLettersResponse response;
  const grpc::Status status =
      client.workflows().ListDeadLetters(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "list dead letters");
  if (client.json_output()) {
    std::cout << ToJson(response) << "\n";
    return kExitOk;
  }
  if (response.groups().empty()) {
    std::cout
        << "no dead letters: every task that failed for good belongs to a run retried since\n";
    return kExitOk;
  }
  Table table(
      {"QUEUE", "TASK TYPE", "ERROR TYPE", "RUNS", "TASKS", "FIRST (UTC)", "LAST", "SAMPLE RUNS"});
  table.SetMaxWidths({14, 16, 22, 6, 6, 20, 11, 40});
  for (const v1::DeadLetterGroup& g : response.groups()) {
    std::string samples;
    for (const std::string& id : g.sample_workflow_ids())
      samples += (samples.empty() ? "" : " ") + id;
    table.AddRow({g.task_queue(), g.task_type(), g.error_type(), std::to_string(g.runs()),
                  std::to_string(g.tasks()), FormatTime(g.first_failure_time()),
                  Ago(g.last_failure_time()), samples});
  }
  table.Print(std::cout);
  const v1::DeadLetterGroup& last = response.groups(0);
  std::cout << "latest error: " << last.error_type() << ": " << last.last_message() << "\n";
  return kExitOk;
}

// Retries one group page by page, showing progress; interrupted, running it again goes on
// (retried runs have left the group).
int RetryDeadLetters(Session& session, const DeadLetterArgs& args) {
  if (args.queue.empty() || args.task_type.empty() || args.error_type.empty()) {
    std::cerr << "gridflowctl: --retry needs the group: --queue, --task-type and --error-type "
                 "(as `tasks dead-letter` lists them)\n";
    return kExitUsage;
  }
  Client& client = session.client();
  v1::RetryDeadLettersRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_task_queue(args.queue);
  request.set_task_type(args.task_type);
  request.set_error_type(args.error_type);
  request.set_reason(args.reason);
  request.set_from_step(args.from_step);
  request.set_identity(client.options().identity);
  const bool terminal = isatty(STDOUT_FILENO) != 0 && !client.json_output();
  int retried = 0;
  std::vector<v1::RetryDeadLettersResponse::Refused> refused;
  while (true) {
    v1::RetryDeadLettersResponse response;
    const grpc::Status status =
        client.workflows().RetryDeadLetters(client.NewContext().get(), request, &response);
    if (!status.ok()) {
      if (terminal) std::cout << "\n";
      std::cerr << "gridflowctl: " << retried << " runs retried before the error\n";
      return client.Fail(status, "retry dead letters");
    }
    retried += response.retried_workflow_ids_size();
    for (const auto& r : response.refused())
      refused.push_back(r);
    if (client.json_output()) {
      std::cout << ToJson(response) << "\n";
    } else if (terminal) {
      std::cout << "\rretried " << retried << " runs, " << refused.size() << " refused"
                << std::flush;
    }
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  if (client.json_output()) return refused.empty() ? kExitOk : kExitRejected;
  if (terminal) std::cout << "\n";
  std::cout << "retried " << retried << " runs of " << args.queue << "/" << args.task_type << "/"
            << args.error_type << " from "
            << (args.from_step.empty() ? "their failed step" : "step " + args.from_step);
  std::cout << (refused.empty() ? "\n" : "; refused:\n");
  for (const auto& r : refused)
    std::cout << "  " << r.workflow_id() << ": " << r.message() << "\n";
  return refused.empty() ? kExitOk : kExitRejected;
}

}  // namespace

void AddTaskCommands(CLI::App& app, Session& session) {
  auto* group = app.add_subcommand("tasks", "tasks across runs: the dead-letter view");
  group->require_subcommand(1);
  auto args = std::make_shared<DeadLetterArgs>();
  auto* dead = group->add_subcommand(
      "dead-letter",
      "tasks that failed for good in runs still FAILED, grouped by queue, task type and error "
      "type; --retry retries one group's runs from their failed step");
  dead->add_option("--queue", args->queue, "only this queue");
  dead->add_option("--task-type", args->task_type, "only this task type");
  dead->add_option("--error-type", args->error_type, "only this error type");
  dead->add_option("--since", args->since,
                   "failed at or after: RFC 3339 time, UTC date or duration ago (2h)");
  auto* retry = dead->add_flag("--retry", args->retry,
                               "retry every run of the group (needs --queue, --task-type, "
                               "--error-type and --reason)");
  dead->add_option("--reason", args->reason, "why (recorded in each run's history)")->needs(retry);
  dead->add_option("--from-step", args->from_step,
                   "with --retry: the top-level step every run goes on from (default: each "
                   "run's failed step)")
      ->needs(retry);
  dead->callback([&session, args] {
    session.exit_code =
        args->retry ? RetryDeadLetters(session, *args) : ListDeadLetters(session, *args);
  });
}

}  // namespace gridflow::cli
