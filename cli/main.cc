// gridflowctl: the operators' command-line tool for Gridflow. See docs/cli.md.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "common/duration.h"

int main(int argc, char** argv) {
  gridflow::cli::Session session;
  session.options.identity = gridflow::cli::DefaultIdentity();
  std::string timeout = "30s";

  CLI::App app{"gridflowctl: inspect and operate Gridflow workflow runs"};
  app.set_version_flag("--version", GRIDFLOW_VERSION);
  app.require_subcommand(1);
  app.add_option("--address", session.options.address, "engine address (host:port)")
      ->envname("GRIDFLOW_ADDRESS")
      ->capture_default_str();
  app.add_option("--namespace", session.options.namespace_name, "namespace (default: default)")
      ->envname("GRIDFLOW_NAMESPACE");
  app.add_option("--identity", session.options.identity, "who you are, recorded in history")
      ->envname("GRIDFLOW_IDENTITY")
      ->capture_default_str();
  app.add_option("-o,--output", session.options.output, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  app.add_option("--timeout", timeout, "per-call timeout")->capture_default_str();
  app.parse_complete_callback([&] {
    const auto d = gridflow::ParseDuration(timeout);
    if (!d) throw CLI::ValidationError("--timeout", "'" + timeout + "' is not a duration");
    session.options.timeout = *d;
  });
  gridflow::cli::AddDefinitionCommands(app, session);
  gridflow::cli::AddRunCommands(app, session);
  gridflow::cli::AddClusterCommands(app, session);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return gridflow::cli::kExitUsage;
  }
  return session.exit_code;
}
