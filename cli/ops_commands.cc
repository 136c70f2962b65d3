// gridflowctl ops start|list|show|cancel: batch operations (docs/cli.md; what they guarantee:
// docs/operations.md, "Batch operations").
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/format.h"
#include "cli/table.h"

namespace gridflow::cli {
namespace {

using std::chrono::steady_clock;

const std::map<std::string, v1::BatchOperationKind>& Kinds() {
  static const std::map<std::string, v1::BatchOperationKind> kKinds = {
      {"cancel", v1::BATCH_OPERATION_KIND_CANCEL},
      {"terminate", v1::BATCH_OPERATION_KIND_TERMINATE},
      {"signal", v1::BATCH_OPERATION_KIND_SIGNAL},
      {"retry", v1::BATCH_OPERATION_KIND_RETRY}};
  return kKinds;
}

std::string KindName(v1::BatchOperationKind kind) {
  for (const auto& [name, value] : Kinds()) {
    if (value == kind) return name;
  }
  return "?";
}

// RUNNING, COMPLETED, CANCELLED.
std::string StateName(v1::BatchOperationState state) {
  const std::string name = v1::BatchOperationState_Name(state);
  return name.substr(std::string("BATCH_OPERATION_STATE_").size());
}

std::string ItemStateName(v1::BatchOperationItem::State state) {
  return v1::BatchOperationItem::State_Name(state).substr(std::string("STATE_").size());
}

int64_t Done(const v1::BatchOperation& op) {
  return op.succeeded() + op.failed() + op.skipped();
}

// "[##########..........] 250/500  50%  failed 3"
std::string ProgressBar(const v1::BatchOperation& op) {
  constexpr int kWidth = 30;
  const int64_t done = Done(op);
  const double fraction = op.total() == 0 ? 1.0 : static_cast<double>(done) / op.total();
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar = "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] ";
  bar += std::to_string(done) + "/" + std::to_string(op.total()) + "  " +
         std::to_string(static_cast<int>(fraction * 100)) + "%  failed " +
         std::to_string(op.failed());
  if (op.skipped() > 0) bar += "  skipped " + std::to_string(op.skipped());
  return bar;
}

void PrintOperation(const v1::BatchOperation& op) {
  std::cout << "operation   " << op.id() << " (" << KindName(op.kind()) << ")\n"
            << "state       " << StateName(op.state()) << "\n"
            << "query       " << op.query() << "\n";
  if (!op.reason().empty()) std::cout << "reason      " << op.reason() << "\n";
  if (!op.from_step().empty()) std::cout << "from step   " << op.from_step() << "\n";
  if (!op.signal_name().empty()) {
    std::cout << "signal      " << op.signal_name()
              << (op.signal_payload_json().empty() ? "" : " " + op.signal_payload_json()) << "\n";
  }
  std::cout << "progress    " << ProgressBar(op) << "\n"
            << "runs        " << op.total() << " matched: " << op.succeeded() << " done, "
            << op.failed() << " refused, " << op.skipped() << " skipped, " << op.total() - Done(op)
            << " to go\n"
            << "rate        " << op.rate_per_second() << " runs/s\n"
            << "created     " << FormatTime(op.create_time()) << " by " << op.created_by()
            << (op.identity().empty() ? "" : " (" + op.identity() + ")") << "\n";
  if (op.has_finish_time()) std::cout << "finished    " << FormatTime(op.finish_time()) << "\n";
  if (!op.cancelled_by().empty()) std::cout << "cancelled   by " << op.cancelled_by() << "\n";
}

grpc::Status GetOperation(Client& client, const std::string& id, v1::BatchOperation* op) {
  v1::GetBatchOperationRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_id(id);
  return client.batches().GetBatchOperation(client.NewContext().get(), request, op);
}

// Follows an operation until it is no longer running: a progress bar redrawn on a terminal, a
// line per 10 % otherwise. Exit: OK when every run was done; REJECTED when some were refused
// or skipped.
int Follow(Client& client, v1::BatchOperation op) {
  const bool terminal = isatty(STDOUT_FILENO) != 0 && !client.json_output();
  int reported_tenth = -1;
  while (true) {
    if (terminal) {
      std::cout << "\r" << ProgressBar(op) << "   " << std::flush;
    } else if (!client.json_output() && op.total() > 0) {
      const int tenth = static_cast<int>(Done(op) * 10 / op.total());
      if (tenth != reported_tenth) {
        std::cout << ProgressBar(op) << "\n";
        reported_tenth = tenth;
      }
    }
    if (op.state() != v1::BATCH_OPERATION_STATE_RUNNING) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(terminal ? 200 : 1000));
    const grpc::Status status = GetOperation(client, op.id(), &op);
    if (!status.ok()) {
      if (terminal) std::cout << "\n";
      return client.Fail(status, "follow batch operation");
    }
  }
  if (client.json_output()) {
    std::cout << ToJson(op) << "\n";
  } else {
    if (terminal) std::cout << "\n";
    std::cout << "operation " << op.id() << " " << StateName(op.state()) << ": " << op.succeeded()
              << " done, " << op.failed() << " refused, " << op.skipped() << " skipped of "
              << op.total() << "\n";
    if (op.failed() > 0) {
      std::cout << "see the refusals: gridflowctl ops show " << op.id() << " --failed\n";
    }
  }
  return op.failed() == 0 && op.skipped() == 0 ? kExitOk : kExitRejected;
}

struct StartArgs {
  std::string id, kind, query, reason, from_step, signal, payload;
  double rate = 0;
  bool wait = false;
};

int Start(Session& session, const StartArgs& args) {
  Client& client = session.client();
  const auto kind = Kinds().find(args.kind);
  if (kind == Kinds().end()) {
    std::cerr << "gridflowctl: --kind: '" << args.kind
              << "' is not cancel, terminate, signal or retry\n";
    return kExitUsage;
  }
  v1::StartBatchOperationRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_id(args.id);
  request.set_kind(kind->second);
  request.set_query(args.query);
  request.set_reason(args.reason);
  request.set_from_step(args.from_step);
  request.set_signal_name(args.signal);
  request.set_signal_payload_json(args.payload);
  request.set_rate_per_second(args.rate);
  request.set_identity(client.options().identity);
  v1::BatchOperation op;
  const grpc::Status status =
      client.batches().StartBatchOperation(client.NewContext().get(), request, &op);
  if (!status.ok()) return client.Fail(status, "start batch operation");
  if (args.wait) return Follow(client, op);
  if (client.json_output()) {
    std::cout << ToJson(op) << "\n";
    return kExitOk;
  }
  std::cout << "batch operation " << op.id() << " started: " << KindName(op.kind()) << " of "
            << op.total() << " runs at up to " << op.rate_per_second() << "/s\n"
            << "follow it: gridflowctl ops show " << op.id() << " --wait\n";
  return kExitOk;
}

int List(Session& session, const std::string& state) {
  Client& client = session.client();
  v1::ListBatchOperationsRequest request;
  request.set_namespace_(client.options().namespace_name);
  if (!state.empty()) {
    std::string upper = state;
    std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
    v1::BatchOperationState value;
    if (!v1::BatchOperationState_Parse("BATCH_OPERATION_STATE_" + upper, &value) ||
        value == v1::BATCH_OPERATION_STATE_UNSPECIFIED) {
      std::cerr << "gridflowctl: --state: '" << state
                << "' is not running, completed or cancelled\n";
      return kExitUsage;
    }
    request.set_state(value);
  }
  v1::ListBatchOperationsResponse response;
  const grpc::Status status =
      client.batches().ListBatchOperations(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "list batch operations");
  if (client.json_output()) {
    std::cout << ToJson(response) << "\n";
    return kExitOk;
  }
  if (response.operations().empty()) {
    std::cout << "no batch operations\n";
    return kExitOk;
  }
  Table table({"ID", "KIND", "STATE", "DONE", "REFUSED", "SKIPPED", "CREATED", "BY", "QUERY"});
  table.SetMaxWidths({24, 9, 9, 11, 7, 7, 11, 20, 50});
  for (const v1::BatchOperation& op : response.operations()) {
    table.AddRow({op.id(), KindName(op.kind()), StateName(op.state()),
                  std::to_string(op.succeeded()) + "/" + std::to_string(op.total()),
                  std::to_string(op.failed()), std::to_string(op.skipped()), Ago(op.create_time()),
                  op.created_by(), op.query()});
  }
  table.Print(std::cout);
  if (!response.next_page_token().empty()) std::cout << "(more: the newest 50 are shown)\n";
  return kExitOk;
}

struct ShowArgs {
  std::string id;
  bool items = false;
  bool failed = false;
  bool wait = false;
};

int Show(Session& session, const ShowArgs& args) {
  Client& client = session.client();
  v1::BatchOperation op;
  grpc::Status status = GetOperation(client, args.id, &op);
  if (!status.ok()) return client.Fail(status, "show batch operation");
  if (args.wait) return Follow(client, op);
  if (!args.items && !args.failed) {
    if (client.json_output()) {
      std::cout << ToJson(op) << "\n";
    } else {
      PrintOperation(op);
      if (op.failed() > 0)
        std::cout << "refusals: gridflowctl ops show " << op.id() << " --failed\n";
    }
    return kExitOk;
  }
  v1::ListBatchOperationItemsRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_id(args.id);
  if (args.failed) request.set_state(v1::BatchOperationItem::STATE_FAILED);
  request.set_page_size(1000);
  if (!client.json_output()) PrintOperation(op);
  Table table({"#", "WORKFLOW ID", "STATE", "CODE", "MESSAGE"});
  table.SetMaxWidths({7, 36, 9, 20, 80});
  do {
    v1::ListBatchOperationItemsResponse response;
    status =
        client.batches().ListBatchOperationItems(client.NewContext().get(), request, &response);
    if (!status.ok()) return client.Fail(status, "list batch operation items");
    for (const v1::BatchOperationItem& item : response.items()) {
      if (client.json_output()) {
        std::cout << ToJson(item, false) << "\n";
      } else {
        table.AddRow({std::to_string(item.seq()), item.workflow_id(), ItemStateName(item.state()),
                      item.code(), item.message()});
      }
    }
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  if (!client.json_output()) table.Print(std::cout);
  return kExitOk;
}

int Cancel(Session& session, const std::string& id) {
  Client& client = session.client();
  v1::CancelBatchOperationRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_id(id);
  request.set_identity(client.options().identity);
  v1::BatchOperation op;
  const grpc::Status status =
      client.batches().CancelBatchOperation(client.NewContext().get(), request, &op);
  if (!status.ok()) return client.Fail(status, "cancel batch operation");
  if (client.json_output()) {
    std::cout << ToJson(op) << "\n";
  } else {
    std::cout << "batch operation " << op.id() << " cancelled: " << op.succeeded() << " done, "
              << op.failed() << " refused, " << op.skipped() << " skipped of " << op.total()
              << "\n";
  }
  return kExitOk;
}

}  // namespace

void AddOpsCommands(CLI::App& app, Session& session) {
  auto* group = app.add_subcommand(
      "ops", "batch operations: cancel, terminate, signal or retry every run a query matches");
  group->require_subcommand(1);

  auto start_args = std::make_shared<StartArgs>();
  auto* start = group->add_subcommand(
      "start", "start a batch operation on the runs matching --query (docs/search.md)");
  start->add_option("--kind", start_args->kind, "cancel, terminate, signal or retry")->required();
  start
      ->add_option("--query", start_args->query,
                   "which runs, e.g. \"market = 'DE-LU' AND status = 'FAILED'\"")
      ->required();
  start->add_option("--reason", start_args->reason,
                    "why (recorded in each run's history; required but for signal)");
  start->add_option("--from-step", start_args->from_step,
                    "retry: the top-level step every run goes on from (default: its failed step)");
  start->add_option("--signal", start_args->signal, "signal: the signal's name");
  start->add_option("--payload", start_args->payload, "signal: its payload (JSON)");
  start->add_option("--rate", start_args->rate, "runs per second at most (default 50, max 1000)");
  start->add_option("--id", start_args->id,
                    "the operation's id (default: made by the engine); the same start with the "
                    "same id is not done twice");
  start->add_flag("--wait", start_args->wait, "follow its progress until it ends");
  start->callback([&session, start_args] { session.exit_code = Start(session, *start_args); });

  auto state = std::make_shared<std::string>();
  auto* list = group->add_subcommand("list", "batch operations, newest first");
  list->add_option("--state", *state, "running, completed or cancelled");
  list->callback([&session, state] { session.exit_code = List(session, *state); });

  auto show_args = std::make_shared<ShowArgs>();
  auto* show = group->add_subcommand("show", "one batch operation: progress and outcome");
  show->add_option("id", show_args->id, "the operation's id")->required();
  show->add_flag("--items", show_args->items, "what became of every run");
  show->add_flag("--failed", show_args->failed, "only the runs that refused the command");
  show->add_flag("--wait", show_args->wait, "follow its progress until it ends");
  show->callback([&session, show_args] { session.exit_code = Show(session, *show_args); });

  auto cancel_id = std::make_shared<std::string>();
  auto* cancel =
      group->add_subcommand("cancel", "stop a running operation; runs not reached are skipped");
  cancel->add_option("id", *cancel_id, "the operation's id")->required();
  cancel->callback([&session, cancel_id] { session.exit_code = Cancel(session, *cancel_id); });
}

}  // namespace gridflow::cli
