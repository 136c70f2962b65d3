// gridflowctl's command groups. Each Add* registers subcommands on `app`; when one runs it sets
// `session.exit_code`.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>

#include "cli/client.h"

namespace gridflow::cli {

struct Session {
  ClientOptions options;
  std::shared_ptr<grpc::Channel> channel;  // opened once the command line was parsed
  int exit_code = 0;
  Client& client() {
    if (!client_) client_ = std::make_unique<Client>(options, channel);
    return *client_;
  }

 private:
  std::unique_ptr<Client> client_;
};

void AddDefinitionCommands(CLI::App& app, Session& session);
void AddRunCommands(CLI::App& app, Session& session);
void AddQueueCommands(CLI::App& app, Session& session);
void AddClusterCommands(CLI::App& app, Session& session);
void AddNamespaceCommands(CLI::App& app, Session& session);
void AddScheduleCommands(CLI::App& app, Session& session);
// tasks dead-letter (task_commands.cc).
void AddTaskCommands(CLI::App& app, Session& session);
// ops start|list|show|cancel: batch operations (ops_commands.cc).
void AddOpsCommands(CLI::App& app, Session& session);
// `completion bash`: a completion script generated from the commands registered on `app`.
void AddCompletionCommand(CLI::App& app, Session& session);

// definitions rollout start|status|promote|rollback (rollout_commands.cc), on `definitions`.
void AddRolloutCommands(CLI::App& definitions, Session& session);

// runs verify / runs export (run_audit.cc), registered on the `runs` group.
void AddRunAuditCommands(CLI::App& runs, Session& session);

// runs show / runs history (run_view.cc).
// `summary`: without the run's input, data and result (RUN_VIEW_SUMMARY).
int ShowRun(Session& session, const std::string& workflow_id, bool summary);
int ShowHistory(Session& session, const std::string& workflow_id, bool follow);

}  // namespace gridflow::cli
