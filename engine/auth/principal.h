// Who a call comes from, as the engine authenticated it (never what the client claims):
//   "token:<name>"  a bearer token of the tokens file, by its name;
//   "cert:<uri>"    a client certificate with a URI SAN (a SPIFFE ID, say), by that URI;
//   "cert:<subject>" a client certificate without one, by its subject ("CN=desk-7,O=Trading");
//   "anonymous"     neither (a plaintext or server-only TLS port).
// A token wins over a certificate: the certificate often names a host, the token the application.
#pragma once

#include <grpcpp/server_context.h>

#include <string>

namespace gridflow::engine {

inline constexpr const char* kAnonymousPrincipal = "anonymous";

class TokenDirectory;

// `tokens`: the engine's tokens (null when it takes none).
std::string PrincipalOf(const grpc::ServerContextBase& context, TokenDirectory* tokens);

}  // namespace gridflow::engine
