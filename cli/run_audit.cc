// runs verify / runs export: the tamper-evident history checked where the auditor sits.
#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/history_chain.h"
#include "common/history_export.h"

namespace gridflow::cli {
namespace {

// The run and its whole history, paged.
int ReadRunHistory(Client& client, const std::string& workflow_id, v1::Run* run,
                   std::vector<v1::Event>* events) {
  v1::GetRunRequest get;
  get.set_namespace_(client.options().namespace_name);
  get.set_workflow_id(workflow_id);
  grpc::Status status = client.workflows().GetRun(client.NewContext().get(), get, run);
  if (!status.ok()) return client.Fail(status, "run " + workflow_id);
  v1::GetHistoryRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_workflow_id(workflow_id);
  request.set_page_size(1000);
  do {
    v1::GetHistoryResponse page;
    status = client.workflows().GetHistory(client.NewContext().get(), request, &page);
    if (!status.ok()) return client.Fail(status, "history of " + workflow_id);
    events->insert(events->end(), page.events().begin(), page.events().end());
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  // The run read first may be older than the history read after it: read it again when the
  // history outgrew it (the run moved on meanwhile).
  if (static_cast<int64_t>(events->size()) > run->history_length()) {
    status = client.workflows().GetRun(client.NewContext().get(), get, run);
    if (!status.ok()) return client.Fail(status, "run " + workflow_id);
  }
  return kExitOk;
}

// Prints one verdict line (or JSON object); returns whether the chain is intact.
bool Report(Client& client, const std::string& workflow_id, const ChainVerdict& v) {
  if (client.json_output()) {
    nlohmann::json out = {{"workflow_id", workflow_id}, {"intact", v.intact}, {"events", v.events}};
    if (v.first_linked_seq > 1) out["chain_starts_at"] = v.first_linked_seq;
    if (!v.intact) {
      out["broken_at"] = v.broken_at;
      out["problem"] = v.problem;
    }
    std::cout << out.dump() << "\n";
  } else if (v.intact) {
    std::cout << "intact  " << workflow_id << ": " << v.events << " events";
    if (v.first_linked_seq > 1) {
      std::cout << " (chained from event " << v.first_linked_seq << "; earlier ones predate it)";
    }
    std::cout << "\n";
  } else {
    std::cout << "BROKEN  " << workflow_id << ": at event " << v.broken_at << ": " << v.problem
              << "\n";
  }
  return v.intact;
}

int VerifyOne(Session& session, const std::string& workflow_id) {
  Client& client = session.client();
  v1::Run run;
  std::vector<v1::Event> events;
  if (int code = ReadRunHistory(client, workflow_id, &run, &events); code != kExitOk) return code;
  const ChainVerdict v =
      VerifyChain(run.run_id(), run.history_head(), run.history_length(), events);
  return Report(client, workflow_id, v) ? kExitOk : kExitVerifyFailed;
}

// Every run of the namespace, newest first, one line each as it is checked.
int VerifyAll(Session& session) {
  Client& client = session.client();
  v1::ListRunsRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_page_size(500);
  int64_t runs = 0, broken = 0;
  do {
    v1::ListRunsResponse page;
    const grpc::Status status =
        client.workflows().ListRuns(client.NewContext().get(), request, &page);
    if (!status.ok()) return client.Fail(status, "list runs");
    for (const v1::Run& listed : page.runs()) {
      v1::Run run;
      std::vector<v1::Event> events;
      if (int code = ReadRunHistory(client, listed.workflow_id(), &run, &events); code != kExitOk) {
        return code;
      }
      ++runs;
      const ChainVerdict v =
          VerifyChain(run.run_id(), run.history_head(), run.history_length(), events);
      if (!Report(client, run.workflow_id(), v)) ++broken;
    }
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  if (!client.json_output()) {
    std::cout << runs << " runs checked, " << broken << " broken\n";
  }
  return broken == 0 ? kExitOk : kExitVerifyFailed;
}

// An export file: a header line, then one event per line (the API's JSON for v1.Event).
int VerifyFile(Session& session, const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "cannot read " << path << "\n";
    return kExitUsage;
  }
  std::string line;
  nlohmann::json header;
  if (!std::getline(in, line) || !nlohmann::json::accept(line) ||
      (header = nlohmann::json::parse(line)).value("format", "") != kHistoryExportFormat ||
      header.value("version", 0) != kHistoryExportVersion) {
    std::cerr << path << ": not a gridflow history export (version " << kHistoryExportVersion
              << ")\n";
    return kExitUsage;
  }
  std::vector<v1::Event> events;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    v1::Event event;
    if (!google::protobuf::util::JsonStringToMessage(line, &event).ok()) {
      std::cerr << path << ": line " << events.size() + 2 << " is not an event\n";
      return kExitUsage;
    }
    events.push_back(std::move(event));
  }
  const ChainVerdict v = VerifyChain(header.value("run_id", ""), header.value("history_head", ""),
                                     header.value("history_length", int64_t{0}), events);
  return Report(session.client(), header.value("workflow_id", ""), v) ? kExitOk : kExitVerifyFailed;
}

int Export(Session& session, const std::string& workflow_id, const std::string& path) {
  Client& client = session.client();
  v1::Run run;
  std::vector<v1::Event> events;
  if (int code = ReadRunHistory(client, workflow_id, &run, &events); code != kExitOk) return code;
  std::ofstream file;
  if (!path.empty() && path != "-") {
    file.open(path);
    if (!file) {
      std::cerr << "cannot write " << path << "\n";
      return kExitUsage;
    }
  }
  std::ostream& out = file.is_open() ? file : std::cout;
  // The header pins the chain's head: kept apart from the database (a ticket, a WORM store), it
  // proves later that nothing in this history changed.
  out << HistoryExportHeaderJson({run.namespace_(), run.workflow_id(), run.run_id(),
                                  static_cast<int64_t>(events.size()),
                                  events.empty() ? "" : events.back().hash(), run.history_head()})
             .dump()
      << "\n";
  for (const v1::Event& e : events)
    out << ToJson(e, false) << "\n";
  out.flush();
  if (!out) {
    std::cerr << "writing the export failed\n";
    return kExitInternal;
  }
  // The export carries the chain it was given: check it now, so a broken chain is never
  // handed on as if it were sound.
  const ChainVerdict v =
      VerifyChain(run.run_id(), run.history_head(), run.history_length(), events);
  if (!v.intact) {
    std::cerr << "warning: the exported history does not verify: at event " << v.broken_at << ": "
              << v.problem << "\n";
    return kExitVerifyFailed;
  }
  if (file.is_open()) {
    std::cerr << "exported " << events.size() << " events of " << workflow_id << " to " << path
              << " (head " << run.history_head() << ")\n";
  }
  return kExitOk;
}

}  // namespace

void AddRunAuditCommands(CLI::App& runs, Session& session) {
  struct VerifyArgs {
    std::string workflow_id, file;
    bool all = false;
  };
  auto verify = std::make_shared<VerifyArgs>();
  auto* verify_cmd = runs.add_subcommand(
      "verify",
      "check a run's tamper-evident history (or --all runs of the namespace, or an export "
      "--file); exit 8 when a chain is broken, naming the first broken event");
  verify_cmd->add_option("workflow_id", verify->workflow_id, "workflow id");
  verify_cmd->add_flag("--all", verify->all, "every run of the namespace, one line each");
  verify_cmd->add_option("--file", verify->file, "an export written by `runs export`");
  verify_cmd->callback([&session, verify] {
    const int chosen = !verify->workflow_id.empty() + verify->all + !verify->file.empty();
    if (chosen != 1) {
      std::cerr << "runs verify: name one workflow id, --all or --file\n";
      session.exit_code = kExitUsage;
      return;
    }
    session.exit_code = !verify->file.empty() ? VerifyFile(session, verify->file)
                        : verify->all         ? VerifyAll(session)
                                              : VerifyOne(session, verify->workflow_id);
  });

  struct ExportArgs {
    std::string workflow_id, file;
  };
  auto exported = std::make_shared<ExportArgs>();
  auto* export_cmd = runs.add_subcommand(
      "export",
      "write a run's history as a self-verifying file (JSON lines: a header with the chain's "
      "head, then every event with its hash); `runs verify --file` checks it offline");
  export_cmd->add_option("workflow_id", exported->workflow_id, "workflow id")->required();
  export_cmd->add_option("--file", exported->file, "where to write (default: standard output)");
  export_cmd->callback([&session, exported] {
    session.exit_code = Export(session, exported->workflow_id, exported->file);
  });
}

}  // namespace gridflow::cli
