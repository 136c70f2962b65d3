// gridflowctl namespaces list|show|create|update|deprecate|reinstate
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

std::string Retention(const v1::Namespace& n) {
  if (!n.has_closed_run_retention()) return "forever";
  return FormatDuration(Millis(TimeUtil::DurationToMilliseconds(n.closed_run_retention())));
}

int Print(Client& client, const v1::Namespace& n) {
  if (client.json_output()) {
    std::cout << ToJson(n) << "\n";
    return kExitOk;
  }
  std::cout << n.name() << (n.deprecated() ? "  DEPRECATED: " + n.deprecated_reason() : "") << "\n"
            << "  description:    " << n.description() << "\n"
            << "  time zone:      " << (n.time_zone().empty() ? "-" : n.time_zone()) << "\n"
            << "  keep closed runs " << Retention(n) << "\n"
            << "  created:        " << FormatTime(n.create_time()) << " by " << n.created_by()
            << "\n";
  if (!n.updated_by().empty()) {
    std::cout << "  updated:        " << FormatTime(n.update_time()) << " by " << n.updated_by()
              << "\n";
  }
  return kExitOk;
}

int List(Session& session, bool all) {
  Client& client = session.client();
  v1::ListNamespacesRequest request;
  request.set_include_deprecated(all);
  v1::ListNamespacesResponse response;
  const grpc::Status status =
      client.namespaces().ListNamespaces(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "list namespaces");
  if (client.json_output()) {
    std::cout << ToJson(response) << "\n";
    return kExitOk;
  }
  Table table({"NAME", "STATE", "TIME ZONE", "RETENTION", "DESCRIPTION"});
  for (const v1::Namespace& n : response.namespaces()) {
    table.AddRow({n.name(), n.deprecated() ? "deprecated" : "active", n.time_zone(), Retention(n),
                  n.description()});
  }
  table.Print(std::cout);
  return kExitOk;
}

int Show(Session& session, const std::string& name) {
  Client& client = session.client();
  v1::DescribeNamespaceRequest request;
  request.set_namespace_(name);
  v1::Namespace response;
  const grpc::Status status =
      client.namespaces().DescribeNamespace(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "namespace " + name);
  return Print(client, response);
}

struct Fields {
  std::string name, description, time_zone, retention, reason;
  bool description_set = false, time_zone_set = false;
};

// --retention's text to a Duration ("0s": forever); false (with a message) when unreadable.
bool ReadRetention(const std::string& text, google::protobuf::Duration* out) {
  const auto parsed = ParseDuration(text);
  if (!parsed) {
    std::cerr << "--retention: not a duration (e.g. 90d, 2160h; 0s keeps closed runs forever)\n";
    return false;
  }
  *out = TimeUtil::MillisecondsToDuration(parsed->count());
  return true;
}

int Create(Session& session, const Fields& f) {
  Client& client = session.client();
  v1::CreateNamespaceRequest request;
  request.set_name(f.name);
  request.set_description(f.description);
  request.set_time_zone(f.time_zone);
  request.set_identity(client.options().identity);
  if (!f.retention.empty() && !ReadRetention(f.retention, request.mutable_closed_run_retention())) {
    return kExitUsage;
  }
  v1::Namespace response;
  const grpc::Status status =
      client.namespaces().CreateNamespace(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "create namespace " + f.name);
  return Print(client, response);
}

// update, deprecate (deprecated = true) and reinstate (false).
int Update(Session& session, const Fields& f, std::optional<bool> deprecated) {
  Client& client = session.client();
  v1::UpdateNamespaceRequest request;
  request.set_namespace_(f.name);
  if (f.description_set) request.set_description(f.description);
  if (f.time_zone_set) request.set_time_zone(f.time_zone);
  if (!f.retention.empty() && !ReadRetention(f.retention, request.mutable_closed_run_retention())) {
    return kExitUsage;
  }
  if (deprecated) request.set_deprecated(*deprecated);
  request.set_reason(f.reason);
  request.set_identity(client.options().identity);
  v1::Namespace response;
  const grpc::Status status =
      client.namespaces().UpdateNamespace(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "update namespace " + f.name);
  return Print(client, response);
}

}  // namespace

void AddNamespaceCommands(CLI::App& app, Session& session) {
  CLI::App* group = app.add_subcommand(
      "namespaces", "namespaces: list, show, create, update, deprecate, reinstate");
  group->require_subcommand(1);

  auto all = std::make_shared<bool>(false);
  auto* list_cmd = group->add_subcommand("list", "the namespaces you may read");
  list_cmd->add_flag("--all", *all, "deprecated ones too");
  list_cmd->callback([&session, all] { session.exit_code = List(session, *all); });

  auto f = std::make_shared<Fields>();
  auto* show_cmd = group->add_subcommand("show", "one namespace and its settings");
  show_cmd->add_option("name", f->name, "namespace")->required();
  show_cmd->callback([&session, f] { session.exit_code = Show(session, f->name); });

  auto add_settings = [f](CLI::App* cmd) {
    cmd->add_option("name", f->name, "namespace")->required();
    cmd->add_option("--description", f->description, "what it is for");
    cmd->add_option("--time-zone", f->time_zone,
                    "IANA zone runs are shown in when their definition names none");
    cmd->add_option("--retention", f->retention,
                    "how long closed runs are kept (e.g. 400d; 0s: forever)");
  };
  auto* create_cmd = group->add_subcommand("create", "create a namespace (needs admin on \"*\")");
  add_settings(create_cmd);
  create_cmd->callback([&session, f] { session.exit_code = Create(session, *f); });

  auto* update_cmd = group->add_subcommand("update", "change a namespace's settings");
  add_settings(update_cmd);
  update_cmd->callback([&session, f, update_cmd] {
    f->description_set = update_cmd->count("--description") > 0;
    f->time_zone_set = update_cmd->count("--time-zone") > 0;
    session.exit_code = Update(session, *f, std::nullopt);
  });

  auto* deprecate_cmd = group->add_subcommand(
      "deprecate", "stop new runs and definitions in a namespace; open runs go on");
  deprecate_cmd->add_option("name", f->name, "namespace")->required();
  deprecate_cmd->add_option("--reason", f->reason, "why (recorded)")->required();
  deprecate_cmd->callback([&session, f] { session.exit_code = Update(session, *f, true); });

  auto* reinstate_cmd = group->add_subcommand("reinstate", "take a deprecation back");
  reinstate_cmd->add_option("name", f->name, "namespace")->required();
  reinstate_cmd->callback([&session, f] { session.exit_code = Update(session, *f, false); });
}

}  // namespace gridflow::cli
