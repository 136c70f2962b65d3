#include "engine/server/server_credentials.h"

#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <sstream>

#include "common/file.h"
#include "common/reloading_file.h"

namespace gridflow::engine {
namespace {

// token → name
Status ReadTokens(const std::string& path, std::map<std::string, std::string>* tokens) {
  std::string text;
  if (Status s = ReadTextFile("tokens file", path, &text); !s.ok()) return s;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    line.erase(std::min(line.find('#'), line.size()));
    std::istringstream words(line);
    std::string token, name;
    if (!(words >> token)) continue;
    words >> name;
    (*tokens)[token] = name.empty() ? "unnamed" : name;
  }
  if (tokens->empty()) return Status::InvalidArgument("tokens file " + path + " holds no token");
  return Status::Ok();
}

// Accepts calls that carry a known bearer token; health checks pass without one. With client
// certificates (mutual TLS) a token is optional: a call without one is authenticated by its
// certificate. A token that is not known is refused either way. The header is left on the call:
// the principal lookup (engine/auth/principal.h) names the caller by it. (The AuthContext is
// per connection in gRPC, so a property set here would leak into the connection's other calls.)
class BearerTokenProcessor final : public grpc::AuthMetadataProcessor {
 public:
  BearerTokenProcessor(std::shared_ptr<TokenDirectory> tokens, bool token_required)
      : tokens_(std::move(tokens)), token_required_(token_required) {}

  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext*, OutputMetadata*,
                       OutputMetadata*) override {
    const auto path = metadata.find(":path");
    if (path != metadata.end() &&
        std::string(path->second.data(), path->second.size()).rfind("/grpc.health.v1.Health/", 0) ==
            0) {
      return grpc::Status::OK;
    }
    const auto header = metadata.find("authorization");
    if (header == metadata.end() && !token_required_) return grpc::Status::OK;
    if (header != metadata.end()) {
      const std::string value(header->second.data(), header->second.size());
      if (tokens_->NameOf(BearerToken(value))) return grpc::Status::OK;
    }
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "a valid bearer token is required (authorization: Bearer <token>)");
  }

 private:
  std::shared_ptr<TokenDirectory> tokens_;
  const bool token_required_;
};

}  // namespace

std::string BearerToken(const std::string& authorization) {
  constexpr std::string_view kBearer = "Bearer ";
  return authorization.rfind(kBearer, 0) == 0 ? authorization.substr(kBearer.size()) : "";
}

Status TokenDirectory::Load(const std::string& path, Millis reload,
                            std::shared_ptr<TokenDirectory>* out) {
  out->reset();
  if (path.empty()) return Status::Ok();
  Tokens tokens;
  if (Status s = ReadTokens(path, &tokens); !s.ok()) return s;
  *out = std::make_shared<TokenDirectory>(std::make_unique<ReloadingFile<Tokens>>(
      "tokens file", path, std::move(tokens), reload, ReadTokens));
  return Status::Ok();
}

std::optional<std::string> TokenDirectory::NameOf(const std::string& token) {
  if (token.empty()) return std::nullopt;
  const std::shared_ptr<const Tokens> tokens = file_->Current();
  const auto known = tokens->find(token);
  if (known == tokens->end()) return std::nullopt;
  return known->second;
}

Status MakeServerCredentials(const ServerSecurity& security, std::shared_ptr<TokenDirectory> tokens,
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
  // Read once here for clear start-up errors; gRPC's file watcher then re-reads them, so
  // renewed certificates (cert-manager) apply to new connections without a restart.
  std::string ignored;
  if (Status s = ReadTextFile("TLS certificate", security.tls_cert_file, &ignored); !s.ok())
    return s;
  if (Status s = ReadTextFile("TLS key", security.tls_key_file, &ignored); !s.ok()) return s;
  if (!security.tls_client_ca_file.empty()) {
    if (Status s = ReadTextFile("client CA", security.tls_client_ca_file, &ignored); !s.ok())
      return s;
  }
  const auto seconds = static_cast<unsigned int>(std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(security.reload_interval).count()));
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      security.tls_key_file, security.tls_cert_file, security.tls_client_ca_file, seconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!security.tls_client_ca_file.empty()) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::experimental::TlsServerCredentials(options);
  if (tokens) {
    credentials->SetAuthMetadataProcessor(std::make_shared<BearerTokenProcessor>(
        std::move(tokens), security.tls_client_ca_file.empty()));
  }
  *out = std::move(credentials);
  return Status::Ok();
}

}  // namespace gridflow::engine
