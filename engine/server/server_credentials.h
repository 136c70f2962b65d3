// The engine's transport security: TLS with the replica's certificate, optionally requiring
// client certificates (mutual TLS), and optionally bearer tokens. Tokens need TLS (they are never
// accepted in plaintext). grpc.health.v1 answers without a token, so load balancers and probes
// need no secret. Certificates, the client CA and the tokens file are re-read while the replica
// runs (every `reload_interval`), so rotating them needs no restart.
#pragma once

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "common/duration.h"
#include "common/status.h"

namespace gridflow::engine {

struct ServerSecurity {
  std::string tls_cert_file;       // PEM certificate chain; empty: plaintext
  std::string tls_key_file;        // PEM private key
  std::string tls_client_ca_file;  // when set, clients must present a certificate it signed
  // When set, every call (but health checks) needs "authorization: Bearer <token>" with a token
  // of this file: one per line, optionally followed by a name for the logs ("<token> <name>");
  // '#' starts a comment.
  std::string tokens_file;
  // How often the files above are checked for changes (TLS files: whole seconds, at least 1).
  Millis reload_interval{10'000};
};

// INVALID_ARGUMENT when a file cannot be read, holds no token, or tokens come without TLS.
Status MakeServerCredentials(const ServerSecurity& security,
                             std::shared_ptr<grpc::ServerCredentials>* out);

}  // namespace gridflow::engine
