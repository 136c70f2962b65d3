// Transport security end to end: an engine serving TLS with bearer tokens or client
// certificates, reached by gridflowctl (a subprocess) and by the worker SDK.
#include <filesystem>
#include <fstream>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/integration/test_certificates.h"
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

namespace fs = std::filesystem;

engine::EngineConfig SecureConfig(const std::string& url, const Certificates& certs) {
  auto config = FastEngineConfig(url);
  config.security.tls_cert_file = certs.Path("server.pem");
  config.security.tls_key_file = certs.Path("server.key");
  return config;
}

grpc::health::v1::HealthCheckResponse::ServingStatus HealthOverTls(const std::string& address,
                                                                   const Certificates& certs) {
  ClientTransport transport;
  transport.address = address;
  transport.tls_ca = certs.Path("ca.pem");
  std::shared_ptr<grpc::Channel> channel;
  EXPECT_TRUE(OpenClientChannel(transport, false, &channel).ok());
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status s =
      grpc::health::v1::Health::NewStub(channel)->Check(Ctx().get(), request, &response);
  return s.ok() ? response.status() : grpc::health::v1::HealthCheckResponse::UNKNOWN;
}

class SecurityTest : public ::testing::Test {
 protected:
  int Ctl(std::vector<std::string> args, std::string* err = nullptr) {
    std::vector<std::string> argv = {CtlBinary(), "--address", address_, "--timeout", "5s"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string out, ignored;
    const int code = RunCommand(argv, &out, err != nullptr ? err : &ignored);
    last_out_ = out;
    return code;
  }

  Certificates certs_;
  TestDatabase db_;
  std::string address_;
  std::string last_out_;
};

TEST_F(SecurityTest, BearerTokensOverTls) {
  auto config = SecureConfig(db_.url(), certs_);
  config.security.tokens_file = certs_.Path("tokens");
  TestEngine engine(config);
  address_ = engine.address();
  const std::string ca = certs_.Path("ca.pem");
  std::ofstream(certs_.Path("def.json")) << SequenceDefinition("secured", {{"a", "t"}});

  std::string err;
  ASSERT_EQ(Ctl({"--tls-ca", ca, "--token", "s3cret-ops", "definitions", "apply",
                 certs_.Path("def.json")},
                &err),
            0)
      << err;
  EXPECT_EQ(Ctl({"--tls-ca", ca, "runs", "list"}, &err), 1);  // no token
  EXPECT_NE(err.find("bearer token is required"), std::string::npos) << err;
  EXPECT_EQ(Ctl({"--tls-ca", ca, "--token", "old-token", "runs", "list"}, &err), 1);
  EXPECT_EQ(Ctl({"runs", "list"}, &err), 4);                           // plaintext to a TLS port
  EXPECT_EQ(Ctl({"--token", "s3cret-ops", "runs", "list"}, &err), 2);  // a token needs TLS
  EXPECT_NE(err.find("only sent over TLS"), std::string::npos) << err;
  // Probes and load balancers check health without a token.
  EXPECT_EQ(HealthOverTls(address_, certs_), grpc::health::v1::HealthCheckResponse::SERVING);

  // The operator starts a run; a worker with its own token over TLS completes it.
  std::ofstream(certs_.Path("token")) << "s3cret-ops\n";
  ASSERT_EQ(Ctl({"--tls-ca", ca, "--token-file", certs_.Path("token"), "--identity", "anna", "runs",
                 "start", "secured", "--id", "sec-1"},
                &err),
            0)
      << err;
  // The Python example client (as a trading app would use it) over TLS with a token.
  auto python_client = [&](std::vector<std::string> args, std::string* out) {
    std::vector<std::string> argv = {
        "/usr/bin/env",
        std::string("GRIDFLOW_PYTHON_PATH=") + GRIDFLOW_PYTHON_DIR,
        "/usr/bin/python3",
        std::string(GRIDFLOW_SOURCE_DIR) + "/examples/python/gridflow_client.py",
        "--address",
        address_,
        "--tls-ca",
        ca};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, out, &err);
  };
  std::string out;
  ASSERT_EQ(python_client({"--token", "s3cret-ops", "start", "secured", "--id", "sec-py"}, &out), 0)
      << err;
  EXPECT_NE(out.find("started sec-py"), std::string::npos) << out;
  EXPECT_NE(python_client({"start", "secured", "--id", "sec-py-2"}, &out), 0);  // no token
  EXPECT_NE(err.find("UNAUTHENTICATED"), std::string::npos) << err;

  worker::WorkerOptions options;
  options.transport.address = address_;
  options.transport.tls_ca = ca;
  options.transport.token = "s3cret-workers";
  options.task_queues = {"q"};
  options.poll_wait = Millis(1000);
  worker::Worker worker(options);
  worker.Register("t", [](worker::TaskContext&) { return worker::TaskOutcome::Success("{}"); });
  std::thread running([&] { EXPECT_TRUE(worker.Run().ok()); });
  EXPECT_EQ(
      Ctl({"--tls-ca", ca, "--token", "s3cret-ops", "runs", "wait", "sec-1", "--timeout", "20s"},
          &err),
      0)
      << err;
  EXPECT_EQ(
      Ctl({"--tls-ca", ca, "--token", "s3cret-ops", "runs", "wait", "sec-py", "--timeout", "20s"},
          &err),
      0)
      << err;
  worker.Shutdown();
  running.join();
  EXPECT_EQ(worker.stats().completed, 2);  // sec-1 and sec-py
}

TEST_F(SecurityTest, MutualTlsRefusesClientsWithoutACertificate) {
  auto config = SecureConfig(db_.url(), certs_);
  config.security.tls_client_ca_file = certs_.Path("ca.pem");
  TestEngine engine(config);
  address_ = engine.address();
  const std::string ca = certs_.Path("ca.pem");
  std::string err;
  EXPECT_EQ(Ctl({"--tls-ca", ca, "runs", "list"}, &err), 4);
  EXPECT_EQ(Ctl({"--tls-ca", ca, "--tls-cert", certs_.Path("client.pem"), "--tls-key",
                 certs_.Path("client.key"), "runs", "list"},
                &err),
            0)
      << err;
  EXPECT_EQ(Ctl({"--tls-ca", ca, "--tls-cert", certs_.Path("client.pem"), "runs", "list"}, &err),
            2);  // a certificate without its key
}

// Kubernetes' gRPC probes speak plaintext without tokens: the health-only port serves them while
// the API stays behind mutual TLS.
TEST_F(SecurityTest, PlaintextHealthPortServesProbesButNotTheApi) {
  auto config = SecureConfig(db_.url(), certs_);
  config.security.tls_client_ca_file = certs_.Path("ca.pem");
  config.health_listen = "127.0.0.1:0";
  TestEngine engine(config);
  ASSERT_NE(engine.engine().health_port(), 0);
  const std::string health_address = "127.0.0.1:" + std::to_string(engine.engine().health_port());
  auto channel = grpc::CreateChannel(health_address, grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  for (const std::string service : {"", "gridflow.v1.WorkflowService", "liveness"}) {
    EXPECT_TRUE(Eventually([&] {
      grpc::health::v1::HealthCheckRequest request;
      request.set_service(service);
      grpc::health::v1::HealthCheckResponse response;
      return health->Check(Ctx().get(), request, &response).ok() &&
             response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
    })) << service;
  }
  v1::ListRunsRequest list;
  v1::ListRunsResponse runs;
  const grpc::Status s = v1::WorkflowService::NewStub(channel)->ListRuns(Ctx().get(), list, &runs);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED) << s.error_message();

  engine.engine().Shutdown(Millis(0));  // drain: readiness fails before the process exits
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  EXPECT_FALSE(health->Check(Ctx(std::chrono::seconds(2)).get(), request, &response).ok() &&
               response.status() == grpc::health::v1::HealthCheckResponse::SERVING);
}

// Rotation without a restart: a new tokens file and a renewed certificate take effect while the
// replica runs.
TEST_F(SecurityTest, RotatedTokensAndCertificatesApplyWithoutARestart) {
  fs::copy_file(certs_.Path("server.pem"), certs_.Path("live.pem"));
  fs::copy_file(certs_.Path("server.key"), certs_.Path("live.key"));
  fs::copy_file(certs_.Path("tokens"), certs_.Path("live-tokens"));
  auto config = FastEngineConfig(db_.url());
  config.security.tls_cert_file = certs_.Path("live.pem");
  config.security.tls_key_file = certs_.Path("live.key");
  config.security.tokens_file = certs_.Path("live-tokens");
  config.security.reload_interval = Millis(0);  // tokens: looked at on every call; TLS: every 1 s
  TestEngine engine(config);
  address_ = engine.address();
  const std::string ca = certs_.Path("ca.pem");
  ASSERT_EQ(Ctl({"--tls-ca", ca, "--token", "s3cret-ops", "runs", "list"}), 0);

  // Tokens: the new one works and the retired one stops working.
  {
    std::ofstream(certs_.Path("live-tokens.new")) << "n3w-token anna\n";
    fs::rename(certs_.Path("live-tokens.new"), certs_.Path("live-tokens"));
  }
  EXPECT_TRUE(Eventually([&] {
    return Ctl({"--tls-ca", ca, "--token", "n3w-token", "runs", "list"}) == 0;
  }));
  EXPECT_EQ(Ctl({"--tls-ca", ca, "--token", "s3cret-ops", "runs", "list"}), 1);
  // A broken tokens file keeps the tokens in force (this very call reads it).
  std::ofstream(certs_.Path("live-tokens")) << "# nothing\n";
  EXPECT_EQ(Ctl({"--tls-ca", ca, "--token", "n3w-token", "runs", "list"}), 0);

  // Certificates: after the renewal, new connections are served with the new certificate.
  fs::copy_file(certs_.Path("server2.key"), certs_.Path("live.key"),
                fs::copy_options::overwrite_existing);
  fs::copy_file(certs_.Path("server2.pem"), certs_.Path("live.pem"),
                fs::copy_options::overwrite_existing);
  EXPECT_TRUE(Eventually([&] {
    return Ctl({"--tls-ca", certs_.Path("ca2.pem"), "--token", "n3w-token", "runs", "list"}) == 0;
  }));
  EXPECT_NE(Ctl({"--tls-ca", ca, "--token", "n3w-token", "runs", "list"}), 0);
}

// A worker's renewed client certificate applies without restarting the worker: it starts with a
// certificate the engine does not trust, then its files are replaced with a trusted one.
TEST_F(SecurityTest, WorkersPickUpRenewedClientCertificates) {
  auto config = SecureConfig(db_.url(), certs_);
  config.security.tls_client_ca_file = certs_.Path("ca.pem");
  TestEngine engine(config);
  address_ = engine.address();
  const std::string ca = certs_.Path("ca.pem");
  const std::vector<std::string> mtls = {"--tls-ca",   ca,
                                         "--tls-cert", certs_.Path("client.pem"),
                                         "--tls-key",  certs_.Path("client.key")};
  std::ofstream(certs_.Path("def.json")) << SequenceDefinition("renewal", {{"a", "t"}});
  std::vector<std::string> apply = mtls;
  apply.insert(apply.end(), {"definitions", "apply", certs_.Path("def.json")});
  ASSERT_EQ(Ctl(apply), 0);
  std::vector<std::string> start = mtls;
  start.insert(start.end(), {"runs", "start", "renewal", "--id", "renew-1"});
  ASSERT_EQ(Ctl(start), 0);

  fs::copy_file(certs_.Path("client2.pem"), certs_.Path("worker.pem"));
  fs::copy_file(certs_.Path("client2.key"), certs_.Path("worker.key"));
  worker::WorkerOptions options;
  options.transport.address = address_;
  options.transport.tls_ca = ca;
  options.transport.tls_cert = certs_.Path("worker.pem");
  options.transport.tls_key = certs_.Path("worker.key");
  options.transport.reload_seconds = 1;
  options.task_queues = {"q"};
  options.poll_wait = Millis(1000);
  worker::Worker worker(options);
  worker.Register("t", [](worker::TaskContext&) { return worker::TaskOutcome::Success("{}"); });
  std::thread running([&] { EXPECT_TRUE(worker.Run().ok()); });
  ASSERT_TRUE(Eventually([&] { return worker.stats().poll_errors >= 2; }));
  EXPECT_EQ(worker.stats().completed, 0);  // the engine refuses the untrusted certificate

  fs::copy_file(certs_.Path("client.key"), certs_.Path("worker.key"),
                fs::copy_options::overwrite_existing);
  fs::copy_file(certs_.Path("client.pem"), certs_.Path("worker.pem"),
                fs::copy_options::overwrite_existing);
  EXPECT_TRUE(Eventually([&] { return worker.stats().completed == 1; }, std::chrono::seconds(40)));
  worker.Shutdown();
  running.join();
}

TEST_F(SecurityTest, TokensWithoutTlsAreRefusedAtStart) {
  auto config = FastEngineConfig(db_.url());
  config.security.tokens_file = certs_.Path("tokens");
  engine::Engine engine(config);
  const Status s = engine.Start();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("need TLS"), std::string::npos) << s.message();
  engine.Shutdown(Millis(0));
}

}  // namespace
}  // namespace gridflow::testing
