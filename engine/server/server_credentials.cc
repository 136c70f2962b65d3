#include "engine/server/server_credentials.h"

#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <sstream>

#include "common/file.h"

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
    (*tokens)[token] = name.empty() ? "token" : name;
  }
  if (tokens->empty()) return Status::InvalidArgument("tokens file " + path + " holds no token");
  return Status::Ok();
}

// Accepts calls that carry a known bearer token; health checks pass without one. The tokens file
// is re-read when it changes (checked at most once per reload interval, on a call); a file that
// cannot be read or holds no token leaves the previous tokens in force.
class BearerTokenProcessor final : public grpc::AuthMetadataProcessor {
 public:
  using Tokens = std::map<std::string, std::string>;

  BearerTokenProcessor(std::string path, Tokens tokens, Millis reload_interval)
      : path_(std::move(path)),
        reload_interval_(reload_interval),
        tokens_(std::make_shared<const Tokens>(std::move(tokens))),
        version_(FileVersion(path_)),
        checked_(std::chrono::steady_clock::now()) {}

  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed, OutputMetadata*) override {
    const auto path = metadata.find(":path");
    if (path != metadata.end() &&
        std::string(path->second.data(), path->second.size()).rfind("/grpc.health.v1.Health/", 0) ==
            0) {
      return grpc::Status::OK;
    }
    const std::shared_ptr<const Tokens> tokens = CurrentTokens();
    const auto header = metadata.find("authorization");
    if (header != metadata.end()) {
      const std::string value(header->second.data(), header->second.size());
      constexpr std::string_view kBearer = "Bearer ";
      if (value.rfind(kBearer, 0) == 0) {
        const auto known = tokens->find(value.substr(kBearer.size()));
        if (known != tokens->end()) {
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
  // Modification time and size: Kubernetes replaces a Secret's files by swapping a symbolic
  // link, which changes both.
  static std::pair<int64_t, uintmax_t> FileVersion(const std::string& path) {
    std::error_code error;
    const auto time = std::filesystem::last_write_time(path, error);
    const auto size = std::filesystem::file_size(path, error);
    if (error) return {0, 0};
    return {static_cast<int64_t>(time.time_since_epoch().count()), size};
  }

  std::shared_ptr<const Tokens> CurrentTokens() {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (now - checked_ < reload_interval_) return tokens_;
    checked_ = now;
    const auto version = FileVersion(path_);
    if (version == version_) return tokens_;
    Tokens fresh;
    if (Status s = ReadTokens(path_, &fresh); !s.ok()) {
      spdlog::error("tokens file changed but is unusable, keeping the previous tokens: {}",
                    s.message());
      return tokens_;  // version_ unchanged: tried again at the next check
    }
    version_ = version;
    tokens_ = std::make_shared<const Tokens>(std::move(fresh));
    spdlog::info("tokens file {} reloaded: {} token(s)", path_, tokens_->size());
    return tokens_;
  }

  const std::string path_;
  const Millis reload_interval_;
  std::mutex mu_;
  std::shared_ptr<const Tokens> tokens_;           // guarded by mu_
  std::pair<int64_t, uintmax_t> version_;          // guarded by mu_
  std::chrono::steady_clock::time_point checked_;  // guarded by mu_
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
  if (!security.tokens_file.empty()) {
    std::map<std::string, std::string> tokens;
    if (Status s = ReadTokens(security.tokens_file, &tokens); !s.ok()) return s;
    credentials->SetAuthMetadataProcessor(std::make_shared<BearerTokenProcessor>(
        security.tokens_file, std::move(tokens), security.reload_interval));
  }
  *out = std::move(credentials);
  return Status::Ok();
}

}  // namespace gridflow::engine
