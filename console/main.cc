// gridflow-console: the web console for operators (docs/console.md). It speaks only gridflow.v1
// gRPC to the engines, with each user's own token; it never touches PostgreSQL.
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>

#include "common/cli_flags.h"
#include "common/client_channel.h"
#include "common/logging.h"
#include "common/termination_signals.h"
#include "console/server.h"

int main(int argc, char** argv) {
  gridflow::BlockTerminationSignals();  // before any thread exists
  std::signal(SIGPIPE, SIG_IGN);        // browsers close connections at will

  gridflow::ClientTransport transport;
  gridflow::console::ConsoleOptions options;
  gridflow::LoggingFlags logging;
  std::string listen = "127.0.0.1:8080";
  std::string session_key_file;
  gridflow::Millis call_timeout{10'000};
  gridflow::Millis session_ttl{12 * 3600 * 1000};

  CLI::App app{"gridflow-console: the web console for Gridflow's operators"};
  app.set_version_flag("--version", GRIDFLOW_VERSION);
  app.add_option("--listen", listen, "host:port the console serves on (HTTP, or HTTPS with TLS)")
      ->envname("GRIDFLOW_CONSOLE_LISTEN")
      ->capture_default_str();
  app.add_option("--address", transport.address,
                 "engine: host:port, or dns:///name:port to spread over every replica")
      ->envname("GRIDFLOW_ADDRESS")
      ->capture_default_str();
  // The console never has a token of its own: calls carry the signed-in user's.
  app.remove_option(gridflow::AddTransportFlags(app, &transport));
  app.add_option("--session-key-file", session_key_file,
                 "secret (at least 32 bytes) that seals session cookies; give every replica the "
                 "same file. Without it sessions end when the console restarts")
      ->envname("GRIDFLOW_CONSOLE_SESSION_KEY_FILE");
  gridflow::AddDurationFlag(app, "--session-ttl", &session_ttl, "how long a sign-in lasts");
  app.add_option("--tls-cert-file", options.tls_cert_file, "serve HTTPS with this certificate")
      ->envname("GRIDFLOW_CONSOLE_TLS_CERT_FILE");
  app.add_option("--tls-key-file", options.tls_key_file, "the key of --tls-cert-file")
      ->envname("GRIDFLOW_CONSOLE_TLS_KEY_FILE");
  app.add_flag("--secure-cookies", options.secure_cookies,
               "mark cookies Secure (behind a proxy that terminates TLS)")
      ->envname("GRIDFLOW_CONSOLE_SECURE_COOKIES");
  gridflow::AddDurationFlag(app, "--call-timeout", &call_timeout, "deadline of each engine call");
  gridflow::AddLoggingFlags(app, &logging);
  CLI11_PARSE(app, argc, argv);

  if (gridflow::Status s = gridflow::ConfigureLogging("console", logging.level, logging.format);
      !s.ok()) {
    std::fprintf(stderr, "gridflow-console: %s\n", s.message().c_str());
    return 2;
  }
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !CLI::detail::lexical_cast(listen.substr(colon + 1), port) ||
      port < 0 || port > 65535) {
    std::fprintf(stderr, "gridflow-console: --listen '%s' is not host:port\n", listen.c_str());
    return 2;
  }
  options.listen_host = listen.substr(0, colon);
  options.listen_port = port;
  options.session_ttl = std::chrono::duration_cast<std::chrono::seconds>(session_ttl);

  gridflow::console::SessionKeys keys = gridflow::console::SessionKeys::Random();
  if (!session_key_file.empty()) {
    if (gridflow::Status s = gridflow::console::SessionKeys::FromFile(session_key_file, &keys);
        !s.ok()) {
      std::fprintf(stderr, "gridflow-console: %s\n", s.message().c_str());
      return 2;
    }
  } else {
    spdlog::warn("no --session-key-file: sign-ins end when this console restarts");
  }
  std::shared_ptr<grpc::Channel> channel;
  if (gridflow::Status s = gridflow::OpenClientChannel(transport, true, &channel); !s.ok()) {
    std::fprintf(stderr, "gridflow-console: %s\n", s.message().c_str());
    return 2;
  }
  auto engine = std::make_shared<gridflow::console::EngineClient>(transport, channel, call_timeout);
  gridflow::console::ConsoleServer server(options, keys, engine);
  if (gridflow::Status s = server.Start(); !s.ok()) {
    spdlog::critical("{}", s.ToString());
    return 1;
  }
  spdlog::info("console on {}://{}:{} for the engine at {}",
               options.tls_cert_file.empty() ? "http" : "https", options.listen_host, server.port(),
               transport.address);
  std::atomic<bool> never{false};
  const int signal = gridflow::WaitForTerminationSignal(never);
  spdlog::info("received signal {}: stopping", signal);
  server.Stop();
  return 0;
}
