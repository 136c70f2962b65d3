// gridflowctl: the operators' command-line tool for Gridflow. See docs/cli.md.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"
#include "cli/config_file.h"
#include "cli/exit_codes.h"
#include "common/duration.h"

int main(int argc, char** argv) {
  using gridflow::cli::kExitUsage;
  gridflow::cli::Session session;
  gridflow::cli::ClientOptions& options = session.options;
  options.identity = gridflow::cli::DefaultIdentity();

  // The configuration file gives the defaults that environment variables and flags override.
  bool explicit_config = false;
  std::string config_path = gridflow::cli::ConfigPath(argc, argv, &explicit_config);
  std::string error;
  if (!gridflow::cli::LoadConfigFile(config_path, explicit_config, &options, &error)) {
    std::cerr << "gridflowctl: " << error << "\n";
    return kExitUsage;
  }

  std::string timeout;
  std::string token_file;
  CLI::App app{"gridflowctl: inspect and operate Gridflow workflow runs"};
  app.set_version_flag("--version", GRIDFLOW_VERSION);
  app.require_subcommand(1);
  app.add_option("--config", config_path,
                 "configuration file (default ~/.config/gridflow/gridflowctl.conf)")
      ->envname("GRIDFLOW_CONFIG");
  gridflow::ClientTransport& transport = options.transport;
  app.add_option("--address", transport.address, "engine address (host:port)")
      ->envname("GRIDFLOW_ADDRESS")
      ->capture_default_str();
  app.add_option("--namespace", options.namespace_name, "namespace (default: default)")
      ->envname("GRIDFLOW_NAMESPACE");
  app.add_option("--identity", options.identity, "who you are, recorded in history")
      ->envname("GRIDFLOW_IDENTITY")
      ->capture_default_str();
  app.add_option("-o,--output", options.output, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  app.add_option("--timeout", timeout, "per-call timeout (default 30s)")
      ->envname("GRIDFLOW_TIMEOUT");
  CLI::Option* token = gridflow::AddTransportFlags(app, &transport);
  app.add_option("--token-file", token_file, "read the bearer token from this file")
      ->envname("GRIDFLOW_TOKEN_FILE")
      ->excludes(token);
  app.parse_complete_callback([&] {
    if (!timeout.empty()) {
      const auto d = gridflow::ParseDuration(timeout);
      if (!d) throw CLI::ValidationError("--timeout", "'" + timeout + "' is not a duration");
      options.timeout = *d;
    }
    std::string token_error;
    if (!token_file.empty() &&
        !gridflow::cli::ReadTokenFile(token_file, &transport.token, &token_error)) {
      throw CLI::ValidationError("--token-file", token_error);
    }
    if (gridflow::Status s =
            gridflow::OpenClientChannel(transport, /*round_robin=*/false, &session.channel);
        !s.ok()) {
      throw CLI::ValidationError("connection settings", s.message());
    }
  });
  gridflow::cli::AddDefinitionCommands(app, session);
  gridflow::cli::AddRunCommands(app, session);
  gridflow::cli::AddQueueCommands(app, session);
  gridflow::cli::AddTaskCommands(app, session);
  gridflow::cli::AddClusterCommands(app, session);
  gridflow::cli::AddNamespaceCommands(app, session);
  gridflow::cli::AddScheduleCommands(app, session);
  gridflow::cli::AddOpsCommands(app, session);
  gridflow::cli::AddCompletionCommand(app, session);

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
    return kExitUsage;
  }
  return session.exit_code;
}
