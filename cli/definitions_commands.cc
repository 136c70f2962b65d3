// gridflowctl definitions apply|list|show|diff (rollouts: rollout_commands.cc)
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "cli/definition_diff.h"
#include "cli/exit_codes.h"
#include "cli/format.h"
#include "cli/table.h"

namespace gridflow::cli {
namespace {

int Apply(Session& session, const std::vector<std::string>& files, bool candidate) {
  Client& client = session.client();
  for (const std::string& file : files) {
    std::string text;
    if (!ReadFile(file, &text)) return kExitUsage;
    v1::RegisterDefinitionRequest request;
    request.set_namespace_(client.options().namespace_name);
    request.set_definition_json(text);
    request.set_identity(client.options().identity);
    request.set_candidate(candidate);
    v1::RegisterDefinitionResponse response;
    const grpc::Status status =
        client.workflows().RegisterDefinition(client.NewContext().get(), request, &response);
    if (!status.ok()) return client.Fail(status, file);
    if (client.json_output()) {
      std::cout << ToJson(response) << "\n";
    } else {
      const v1::Definition& d = response.definition();
      std::cout << (response.created() ? "registered " : "unchanged  ") << d.name() << " v"
                << d.version() << (d.candidate() ? " as a candidate" : "") << " (" << file << ")\n";
    }
  }
  return kExitOk;
}

int List(Session& session, const std::string& name) {
  Client& client = session.client();
  v1::ListDefinitionsRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_name(name);
  request.set_page_size(1000);
  Table table({"NAME", "VERSION", "CREATED", "CREATED BY", "CANDIDATE"});
  v1::ListDefinitionsResponse all;
  do {
    v1::ListDefinitionsResponse page;
    const grpc::Status status =
        client.workflows().ListDefinitions(client.NewContext().get(), request, &page);
    if (!status.ok()) return client.Fail(status, "list definitions");
    for (const auto& d : page.definitions()) {
      *all.add_definitions() = d;
      table.AddRow({d.name(), std::to_string(d.version()), FormatTime(d.create_time()),
                    d.created_by(), d.candidate() ? "withheld from latest" : ""});
    }
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  if (client.json_output()) {
    std::cout << ToJson(all) << "\n";
  } else {
    table.Print(std::cout);
  }
  return kExitOk;
}

bool Fetch(Client& client, const std::string& name, int version, v1::Definition* definition,
           int* exit_code) {
  v1::GetDefinitionRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_name(name);
  request.set_version(version);
  const grpc::Status status =
      client.workflows().GetDefinition(client.NewContext().get(), request, definition);
  if (!status.ok()) {
    *exit_code = client.Fail(
        status, "definition " + name + (version > 0 ? " v" + std::to_string(version) : ""));
  }
  return status.ok();
}

int Show(Session& session, const std::string& name, int version) {
  Client& client = session.client();
  v1::Definition definition;
  int code = kExitOk;
  if (!Fetch(client, name, version, &definition, &code)) return code;
  if (client.json_output()) {
    std::cout << ToJson(definition) << "\n";
  } else {
    std::cout << definition.name() << " v" << definition.version() << ", registered "
              << FormatTime(definition.create_time()) << " by " << definition.created_by() << "\n"
              << nlohmann::json::parse(definition.definition_json()).dump(2) << "\n";
  }
  return kExitOk;
}

int Diff(Session& session, const std::string& name, int from, int to) {
  Client& client = session.client();
  v1::Definition a, b;
  int code = kExitOk;
  if (!Fetch(client, name, from, &a, &code) || !Fetch(client, name, to, &b, &code)) return code;
  const auto changes = DiffDefinitions(nlohmann::json::parse(a.definition_json()),
                                       nlohmann::json::parse(b.definition_json()));
  if (client.json_output()) {
    nlohmann::json out = {{"name", name},
                          {"from_version", from},
                          {"to_version", to},
                          {"changes", nlohmann::json::array()}};
    for (const JsonChange& c : changes) {
      nlohmann::json change = {{"change", ChangeKindName(c.kind)}, {"path", c.path}};
      if (c.kind != JsonChange::Kind::kAdded) change["from"] = c.from;
      if (c.kind != JsonChange::Kind::kRemoved) change["to"] = c.to;
      out["changes"].push_back(change);
    }
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << name << " v" << from << " → v" << to << ": " << changes.size() << " change(s)\n";
  for (const JsonChange& c : changes) {
    switch (c.kind) {
      case JsonChange::Kind::kAdded:
        std::cout << "+ " << c.path << " = " << c.to.dump() << "\n";
        break;
      case JsonChange::Kind::kRemoved:
        std::cout << "- " << c.path << " (was " << c.from.dump() << ")\n";
        break;
      case JsonChange::Kind::kChanged:
        std::cout << "~ " << c.path << ": " << c.from.dump() << " → " << c.to.dump() << "\n";
        break;
    }
  }
  return kExitOk;
}

}  // namespace

void AddDefinitionCommands(CLI::App& app, Session& session) {
  CLI::App* group = app.add_subcommand("definitions", "register and read workflow definitions");
  group->require_subcommand(1);

  auto* apply = group->add_subcommand("apply", "register definition files (JSON); idempotent");
  auto files = std::make_shared<std::vector<std::string>>();
  auto candidate = std::make_shared<bool>(false);
  apply->add_option("files", *files, "definition files")->required()->check(CLI::ExistingFile);
  apply->add_flag("--candidate", *candidate,
                  "register new versions as candidates: not the latest until a rollout promotes "
                  "them (docs/rollouts.md)");
  apply->callback(
      [&session, files, candidate] { session.exit_code = Apply(session, *files, *candidate); });

  auto* list = group->add_subcommand("list", "list definitions and their versions");
  auto name = std::make_shared<std::string>();
  list->add_option("--name", *name, "only versions of this definition");
  list->callback([&session, name] { session.exit_code = List(session, *name); });

  auto* show = group->add_subcommand("show", "print a definition (latest version by default)");
  auto show_name = std::make_shared<std::string>();
  auto version = std::make_shared<int>(0);
  show->add_option("name", *show_name, "definition name")->required();
  show->add_option("--version", *version, "version (default: latest)");
  show->callback(
      [&session, show_name, version] { session.exit_code = Show(session, *show_name, *version); });

  struct DiffArgs {
    std::string name;
    int from = 0, to = 0;
  };
  auto diff = std::make_shared<DiffArgs>();
  auto* diff_cmd = group->add_subcommand(
      "diff", "what changed between two versions (steps matched by name, not position)");
  diff_cmd->add_option("name", diff->name, "definition name")->required();
  diff_cmd->add_option("v1", diff->from, "the older version")
      ->required()
      ->check(CLI::PositiveNumber);
  diff_cmd->add_option("v2", diff->to, "the newer version")->required()->check(CLI::PositiveNumber);
  diff_cmd->callback(
      [&session, diff] { session.exit_code = Diff(session, diff->name, diff->from, diff->to); });
  AddRolloutCommands(*group, session);
}

}  // namespace gridflow::cli
