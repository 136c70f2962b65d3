// How Gridflow's clients (gridflowctl, the worker SDK) reach an engine: the target, TLS and a
// bearer token. One place, so every client offers the same settings with the same meaning.
#pragma once

#include <grpcpp/channel.h>

#include <memory>
#include <string>

#include "common/status.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace gridflow {

struct ClientTransport {
  // A gRPC target: "host:port", "dns:///engine.ns.svc:7233", "ipv4:10.0.0.1:7233,10.0.0.2:7233".
  std::string address = "localhost:7233";
  // TLS is on when `tls` is set or any TLS file is given. Without tls_ca the system's CAs are
  // trusted; tls_cert + tls_key present a client certificate (mutual TLS).
  bool tls = false;
  std::string tls_ca, tls_cert, tls_key;
  std::string tls_server_name;  // the name to check in the engine's certificate
  // Sent as "authorization: Bearer <token>" on every call; only over TLS.
  std::string token;
  // tls_ca, tls_cert and tls_key are re-read this often (whole seconds, at least 1): renewed
  // certificates apply to new connections of a long-running client (a worker) without a restart.
  int reload_seconds = 60;
  // The largest answer taken. As the Python and TypeScript SDKs: gRPC's default (4 MiB) would
  // refuse a leased task or a run whose payloads are within the engine's limits (2 MiB each by
  // default) but add up to more.
  int max_receive_bytes = 64 * 1024 * 1024;

  bool uses_tls() const { return tls || !tls_ca.empty() || !tls_cert.empty(); }
};

// A channel to the engine. `round_robin`: spread calls over every address the target resolves
// to (workers; replicas behind a headless service). INVALID_ARGUMENT when a TLS file cannot be
// read, a client certificate comes without its key, or a token is given without TLS.
Status OpenClientChannel(const ClientTransport& transport, bool round_robin,
                         std::shared_ptr<grpc::Channel>* channel);

// The flags (and GRIDFLOW_* variables) every client offers for *t but the address: --tls,
// --tls-ca, --tls-cert, --tls-key, --tls-server-name, --token. Returns the --token option.
CLI::Option* AddTransportFlags(CLI::App& app, ClientTransport* t);

}  // namespace gridflow
