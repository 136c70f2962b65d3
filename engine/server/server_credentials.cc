#include "engine/server/server_credentials.h"

#include <grpcpp/security/auth_metadata_processor.h>

#include <fstream>
#include <map>
#include <sstream>

namespace gridflow::engine {
namespace {

Status ReadFile(const char* what, const std::string& path, std::string* text) {
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument(std::string(what) + ": cannot read " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  *text = buffer.str();
  return Status::Ok();
}

// token → name
Status ReadTokens(const std::string& path, std::map<std::string, std::string>* tokens) {
  std::string text;
  if (Status s = ReadFile("tokens file", path, &text); !s.ok()) return s;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    line.erase(std::min(line.find('#'), line.size()));
    std::istringstream words(line);
    std::string token, name;
    if (!(words >> token)) continue;
    words >> name;
    (*tokens)[token] = name.empty() ? "token" : name;
  }
  if (tokens->empty()) return Status::InvalidArgument("tokens file " + path + " holds no token");
  return Status::Ok();
}

// Accepts calls that carry a known bearer token; health checks pass without one.
class BearerTokenProcessor final : public grpc::AuthMetadataProcessor {
 public:
  explicit BearerTokenProcessor(std::map<std::string, std::string> tokens)
      : tokens_(std::move(tokens)) {}

  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed, OutputMetadata*) override {
    const auto path = metadata.find(":path");
    if (path != metadata.end() &&
        std::string(path->second.data(), path->second.size()).rfind("/grpc.health.v1.Health/", 0) ==
            0) {
      return grpc::Status::OK;
    }
    const auto header = metadata.find("authorization");
    if (header != metadata.end()) {
      const std::string value(header->second.data(), header->second.size());
      constexpr std::string_view kBearer = "Bearer ";
      if (value.rfind(kBearer, 0) == 0) {
        const auto known = tokens_.find(value.substr(kBearer.size()));
        if (known != tokens_.end()) {
          context->AddProperty("gridflow_client", known->second);
          context->SetPeerIdentityPropertyName("gridflow_client");
          consumed->insert({"authorization", value});
          return grpc::Status::OK;
        }
      }
    }
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "a valid bearer token is required (authorization: Bearer <token>)");
  }

 private:
  const std::map<std::string, std::string> tokens_;
};

}  // namespace

Status MakeServerCredentials(const ServerSecurity& security,
                             std::shared_ptr<grpc::ServerCredentials>* out) {
  if (security.tls_cert_file.empty() != security.tls_key_file.empty()) {
    return Status::InvalidArgument("TLS needs both a certificate and its key");
  }
  if (security.tls_cert_file.empty()) {
    if (!security.tokens_file.empty() || !security.tls_client_ca_file.empty()) {
      return Status::InvalidArgument(
          "tokens and client certificates need TLS: give the replica a certificate and key");
    }
    *out = grpc::InsecureServerCredentials();
    return Status::Ok();
  }
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  if (Status s = ReadFile("TLS certificate", security.tls_cert_file, &pair.cert_chain); !s.ok())
    return s;
  if (Status s = ReadFile("TLS key", security.tls_key_file, &pair.private_key); !s.ok()) return s;
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back(pair);
  if (!security.tls_client_ca_file.empty()) {
    if (Status s = ReadFile("client CA", security.tls_client_ca_file, &options.pem_root_certs);
        !s.ok()) {
      return s;
    }
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(options);
  if (!security.tokens_file.empty()) {
    std::map<std::string, std::string> tokens;
    if (Status s = ReadTokens(security.tokens_file, &tokens); !s.ok()) return s;
    credentials->SetAuthMetadataProcessor(
        std::make_shared<BearerTokenProcessor>(std::move(tokens)));
  }
  *out = std::move(credentials);
  return Status::Ok();
}

}  // namespace gridflow::engine
