// gridflowctl cluster status
#include <google/protobuf/util/time_util.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/format.h"
#include "cli/table.h"
#include "common/duration.h"

namespace gridflow::cli {
namespace {

using google::protobuf::util::TimeUtil;

std::string State(const v1::Member& m) {
  if (m.has_stop_time()) return "stopped";
  if (!m.alive()) return "dead";
  return m.draining() ? "draining" : "alive";
}

int Status(Session& session) {
  Client& client = session.client();
  v1::GetClusterStatusRequest request;
  v1::GetClusterStatusResponse response;
  const grpc::Status status =
      client.cluster().GetClusterStatus(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "cluster status");
  if (client.json_output()) {
    std::cout << ToJson(response) << "\n";
    return kExitOk;
  }
  std::cout << "answered by " << response.answered_by() << "; database "
            << (response.database_reachable() ? "reachable" : "UNREACHABLE") << ", schema version "
            << response.schema_version() << "\n\n";
  Table table({"MEMBER", "STATE", "ADDRESS", "PID", "VERSION", "STARTED", "LAST HEARTBEAT"});
  int alive = 0;
  for (const v1::Member& m : response.members()) {
    if (State(m) == "alive") ++alive;
    table.AddRow(
        {m.member_id(), State(m), m.address(), std::to_string(m.pid()), m.version(),
         FormatTime(m.start_time()),
         ShortDuration(Millis(TimeUtil::DurationToMilliseconds(m.heartbeat_age()))) + " ago"});
  }
  table.Print(std::cout, 40);
  std::cout << "\n" << alive << " of " << response.members_size() << " replicas alive\n";
  return kExitOk;
}

}  // namespace

void AddClusterCommands(CLI::App& app, Session& session) {
  CLI::App* group = app.add_subcommand("cluster", "the engine replicas");
  group->require_subcommand(1);
  group->add_subcommand("status", "replicas, their heartbeats and the database's reachability")
      ->callback([&session] { session.exit_code = Status(session); });
}

}  // namespace gridflow::cli
