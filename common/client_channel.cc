#include "common/client_channel.h"

#include <CLI/CLI.hpp>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <algorithm>

#include "common/file.h"

namespace gridflow {
namespace {

// Adds the bearer token to every call's metadata.
class BearerToken final : public grpc::MetadataCredentialsPlugin {
 public:
  explicit BearerToken(std::string token) : header_("Bearer " + std::move(token)) {}
  grpc::Status GetMetadata(grpc::string_ref, grpc::string_ref, const grpc::AuthContext&,
                           std::multimap<grpc::string, grpc::string>* metadata) override {
    metadata->emplace("authorization", header_);
    return grpc::Status::OK;
  }

 private:
  const std::string header_;
};

}  // namespace

Status OpenClientChannel(const ClientTransport& t, bool round_robin,
                         std::shared_ptr<grpc::Channel>* channel) {
  grpc::ChannelArguments args;
  if (round_robin) args.SetLoadBalancingPolicyName("round_robin");
  // Reconnect attempts at most 2 s apart, so a worker finds a restarted engine within seconds:
  // gRPC's default backoff grows to 2 minutes, and an attempt after a failure waits for the
  // target's re-resolution, which is rate-limited too (measured: 10–16 s to find an engine back
  // after a 30 s outage; docs/worker.md). Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: the core takes
  // it as the time one attempt may take.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 1000);
  args.SetMaxReceiveMessageSize(t.max_receive_bytes);
  if (!t.uses_tls()) {
    if (!t.token.empty()) {
      return Status::InvalidArgument(
          "a token is only sent over TLS: add --tls (or --tls-ca) to connect with TLS");
    }
    *channel = grpc::CreateCustomChannel(t.address, grpc::InsecureChannelCredentials(), args);
    return Status::Ok();
  }
  if (t.tls_cert.empty() != t.tls_key.empty()) {
    return Status::InvalidArgument("a client certificate needs both tls_cert and tls_key");
  }
  // Read once here for clear errors; gRPC's file watcher then re-reads them.
  std::string pem;
  if (!t.tls_ca.empty()) {
    if (Status s = ReadTextFile("tls_ca", t.tls_ca, &pem); !s.ok()) return s;
  }
  if (!t.tls_cert.empty()) {
    if (Status s = ReadTextFile("tls_cert", t.tls_cert, &pem); !s.ok()) return s;
    if (Status s = ReadTextFile("tls_key", t.tls_key, &pem); !s.ok()) return s;
  }
  if (!t.tls_server_name.empty()) args.SetSslTargetNameOverride(t.tls_server_name);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (t.tls_ca.empty() && t.tls_cert.empty()) {
    credentials = grpc::SslCredentials(grpc::SslCredentialsOptions{});  // the system's CAs
  } else {
    auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        t.tls_key, t.tls_cert, t.tls_ca, static_cast<unsigned int>(std::max(1, t.reload_seconds)));
    grpc::experimental::TlsChannelCredentialsOptions options;
    options.set_certificate_provider(provider);
    if (!t.tls_ca.empty()) options.watch_root_certs();  // otherwise the system's CAs
    if (!t.tls_cert.empty()) options.watch_identity_key_cert_pairs();
    credentials = grpc::experimental::TlsCredentials(options);
  }
  if (!t.token.empty()) {
    credentials = grpc::CompositeChannelCredentials(
        credentials, grpc::MetadataCredentialsFromPlugin(std::make_unique<BearerToken>(t.token)));
  }
  *channel = grpc::CreateCustomChannel(t.address, credentials, args);
  return Status::Ok();
}

CLI::Option* AddTransportFlags(CLI::App& app, ClientTransport* t) {
  app.add_flag("--tls", t->tls, "connect with TLS (the system's CAs unless --tls-ca)")
      ->envname("GRIDFLOW_TLS");
  app.add_option("--tls-ca", t->tls_ca, "PEM file of the CA that signed the engine's cert")
      ->envname("GRIDFLOW_TLS_CA");
  app.add_option("--tls-cert", t->tls_cert, "client certificate (PEM) for mutual TLS")
      ->envname("GRIDFLOW_TLS_CERT");
  app.add_option("--tls-key", t->tls_key, "client private key (PEM) for mutual TLS")
      ->envname("GRIDFLOW_TLS_KEY");
  app.add_option("--tls-server-name", t->tls_server_name,
                 "name to check in the engine's certificate (default: the address' host)")
      ->envname("GRIDFLOW_TLS_SERVER_NAME");
  return app.add_option("--token", t->token, "bearer token sent with every call (needs TLS)")
      ->envname("GRIDFLOW_TOKEN");
}

}  // namespace gridflow
