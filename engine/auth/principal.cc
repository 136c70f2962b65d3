#include "engine/auth/principal.h"

#include <grpc/grpc_security_constants.h>

#include "engine/server/server_credentials.h"

namespace gridflow::engine {
namespace {

std::string FirstProperty(const grpc::AuthContext& context, const char* name) {
  const auto values = context.FindPropertyValues(name);
  if (values.empty()) return "";
  return std::string(values.front().data(), values.front().size());
}

}  // namespace

std::string PrincipalOf(const grpc::ServerContextBase& call, TokenDirectory* tokens) {
  // The transport let the call in only with a known token (or none, under mutual TLS).
  const auto& metadata = call.client_metadata();
  if (const auto header = metadata.find("authorization");
      tokens != nullptr && header != metadata.end()) {
    const auto name =
        tokens->NameOf(BearerToken(std::string(header->second.data(), header->second.size())));
    if (name) return "token:" + *name;
  }
  // The peer's certificate properties belong to the connection, and gRPC set them only from a
  // certificate it verified against the client CA.
  const std::shared_ptr<const grpc::AuthContext> context = call.auth_context();
  if (context == nullptr) return kAnonymousPrincipal;
  // Only a verified client certificate yields these (the server requires and checks it).
  if (std::string uri = FirstProperty(*context, GRPC_PEER_URI_PROPERTY_NAME); !uri.empty()) {
    return "cert:" + uri;
  }
  if (std::string subject = FirstProperty(*context, GRPC_X509_SUBJECT_PROPERTY_NAME);
      !subject.empty()) {
    return "cert:" + subject;
  }
  return kAnonymousPrincipal;
}

}  // namespace gridflow::engine
