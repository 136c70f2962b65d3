// The engine's transport security: TLS with the replica's certificate, optionally requiring
// client certificates (mutual TLS), and optionally bearer tokens. Tokens need TLS (they are never
// accepted in plaintext). grpc.health.v1 answers without a token, so load balancers and probes
// need no secret. Certificates, the client CA and the tokens file are re-read while the replica
// runs (every `reload_interval`), so rotating them needs no restart. Who a call comes from (its
// principal: the token's name or the client certificate) is read by engine/auth/principal.h.
#pragma once

#include <grpcpp/security/server_credentials.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/duration.h"
#include "common/reloading_file.h"
#include "common/status.h"

namespace gridflow::engine {

struct ServerSecurity {
  std::string tls_cert_file;       // PEM certificate chain; empty: plaintext
  std::string tls_key_file;        // PEM private key
  std::string tls_client_ca_file;  // when set, clients must present a certificate it signed
  // When set, every call (but health checks) needs "authorization: Bearer <token>" with a token
  // of this file: one per line, followed by its name, the principal policies and history name
  // ("<token> <name>": principal "token:<name>"; "unnamed" when missing); '#' starts a comment.
  // With tls_client_ca_file as well, a token is optional: a call without one is authenticated
  // by its certificate.
  std::string tokens_file;
  // How often the files above are checked for changes (TLS files: whole seconds, at least 1).
  Millis reload_interval{10'000};
};

// The tokens file, shared by the transport (which refuses calls with unknown tokens) and by the
// principal lookup (which names a caller by its token). Re-read when it changes (ReloadingFile).
class TokenDirectory {
 public:
  using Tokens = std::map<std::string, std::string>;  // token -> name

  // INVALID_ARGUMENT when the file cannot be read or holds no token. `path` empty: *out null.
  static Status Load(const std::string& path, Millis reload, std::shared_ptr<TokenDirectory>* out);
  explicit TokenDirectory(std::unique_ptr<ReloadingFile<Tokens>> file) : file_(std::move(file)) {}

  // The name of `token`, or nullopt when it is not (or no longer) in the file.
  std::optional<std::string> NameOf(const std::string& token);

 private:
  std::unique_ptr<ReloadingFile<Tokens>> file_;
};

// The token of an "authorization: Bearer <token>" header value ("" for anything else).
std::string BearerToken(const std::string& authorization);

// INVALID_ARGUMENT when a file cannot be read or tokens come without TLS. `tokens` is
// security.tokens_file loaded (null when there is none).
Status MakeServerCredentials(const ServerSecurity& security, std::shared_ptr<TokenDirectory> tokens,
                             std::shared_ptr<grpc::ServerCredentials>* out);

}  // namespace gridflow::engine
