// gridflow-console's JSON API against engines on a real PostgreSQL: sign-in with the user's
// token, the reads the pages make, operator actions done as the signed-in user (and refused for
// a reader), CSRF protection, bad input, and an engine replica restarting under the console.
#include <httplib.h>

#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>

#include "console/engine_client.h"
#include "console/server.h"
#include "tests/integration/test_certificates.h"
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

using json = nlohmann::json;

constexpr const char* kPolicy = R"({"grants": [
  {"principals": ["token:reader"], "namespaces": ["default"], "roles": ["reader"]},
  {"principals": ["token:ops-anna"], "namespaces": ["default"], "roles": ["operator"]}]})";
constexpr const char* kTokens = "t-reader reader\nt-anna ops-anna\n";

constexpr const char* kDefinition = R"({"name": "console-flow", "version": VERSION, "steps": [
  {"name": "prepare", "kind": "task", "task_type": "prepare", "task_queue": "q"},
  {"name": "settle", "kind": "task", "task_type": "settle", "task_queue": "q",
   "retry": {"max_attempts": 1}}]})";

std::string Definition(int version) {
  std::string text = kDefinition;
  text.replace(text.find("VERSION"), 7, std::to_string(version));
  if (version > 1) text.replace(text.find("\"max_attempts\": 1"), 17, "\"max_attempts\": 2");
  return text;
}

class ConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(certs_.Path("policy.json")) << kPolicy;
    std::ofstream(certs_.Path("console-tokens")) << kTokens;
    // Setup and workers go through a plaintext replica without a policy; the console through
    // one with TLS, tokens and the policy — the same database, as replicas of one cluster.
    plain_ = std::make_unique<TestEngine>(db_.url());
    StartSecureEngine("127.0.0.1:0");
    ClientTransport transport;
    transport.address = secure_->address();
    transport.tls_ca = certs_.Path("ca.pem");
    std::shared_ptr<grpc::Channel> channel;
    ASSERT_TRUE(OpenClientChannel(transport, true, &channel).ok());
    console::ConsoleOptions options;
    options.listen_port = 0;
    server_ = std::make_unique<console::ConsoleServer>(
        options, console::SessionKeys::Random(),
        std::make_shared<console::EngineClient>(transport, channel, std::chrono::seconds(3)));
    ASSERT_TRUE(server_->Start().ok());
    http_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }

  void StartSecureEngine(const std::string& listen) {
    auto config = FastEngineConfig(db_.url());
    config.listen_address = listen;
    config.security.tls_cert_file = certs_.Path("server.pem");
    config.security.tls_key_file = certs_.Path("server.key");
    config.security.tokens_file = certs_.Path("console-tokens");
    config.access_policy_file = certs_.Path("policy.json");
    secure_ = std::make_unique<TestEngine>(config);
  }

  // A signed-in session: the cookie and the CSRF token.
  struct Browser {
    std::string cookie, csrf;
  };

  Browser SignIn(const std::string& token, const std::string& name) {
    auto res = http_->Post("/api/session", json{{"token", token}, {"name", name}}.dump(),
                           "application/json");
    EXPECT_TRUE(res);
    if (!res) return {};
    EXPECT_EQ(res->status, 200) << res->body;
    const std::string set_cookie = res->get_header_value("Set-Cookie");
    EXPECT_NE(set_cookie.find("HttpOnly"), std::string::npos);
    EXPECT_NE(set_cookie.find("SameSite=Strict"), std::string::npos);
    return {set_cookie.substr(0, set_cookie.find(';')), json::parse(res->body)["csrf_token"]};
  }

  // GET as `browser`; the status and the parsed body.
  std::pair<int, json> Get(const std::string& path, const Browser& browser = {}) {
    httplib::Headers headers;
    if (!browser.cookie.empty()) headers.emplace("Cookie", browser.cookie);
    auto res = http_->Get(path.c_str(), headers);
    if (!res) return {0, json()};
    return {res->status, json::parse(res->body, nullptr, false)};
  }

  std::pair<int, json> Post(const std::string& path, const json& body, const Browser& browser,
                            httplib::Headers extra = {}) {
    httplib::Headers headers = std::move(extra);
    if (!browser.cookie.empty()) headers.emplace("Cookie", browser.cookie);
    if (!browser.csrf.empty() && headers.find("X-CSRF-Token") == headers.end()) {
      headers.emplace("X-CSRF-Token", browser.csrf);
    }
    auto res = http_->Post(path.c_str(), headers, body.dump(), "application/json");
    if (!res) return {0, json()};
    return {res->status, json::parse(res->body, nullptr, false)};
  }

  // A run of console-flow whose `settle` step failed for good.
  void StartFailedRun(const std::string& workflow_id) {
    ASSERT_TRUE(Register(*plain_, Definition(1)).ok());
    Start(*plain_, workflow_id, "console-flow");
    EXPECT_EQ(WaitClosed(*plain_, workflow_id).status(), v1::RUN_STATUS_FAILED);
  }

  Certificates certs_;
  TestDatabase db_;
  std::unique_ptr<TestEngine> plain_, secure_;
  std::unique_ptr<console::ConsoleServer> server_;
  std::unique_ptr<httplib::Client> http_;
  std::atomic<bool> settle_works_{false};
  std::unique_ptr<InProcessWorker> worker_ = nullptr;

  void StartWorker() {
    worker_ = std::make_unique<InProcessWorker>(
        *plain_, "console-test-worker",
        std::map<std::string, worker::Handler>{
            {"prepare", [](worker::TaskContext&) { return worker::TaskOutcome::Success("{}"); }},
            {"settle", [this](worker::TaskContext&) {
               return settle_works_
                          ? worker::TaskOutcome::Success(R"({"settled": true})")
                          : worker::TaskOutcome::Failure("LedgerDown", "ledger closed", false);
             }}});
  }
};

TEST_F(ConsoleTest, SignInChecksTheTokenWithTheEngine) {
  auto [status, session] = Get("/api/session");
  EXPECT_EQ(status, 200);
  EXPECT_FALSE(session["signed_in"].get<bool>());
  EXPECT_TRUE(session["engine_tls"].get<bool>());

  auto refused = http_->Post("/api/session", R"({"token": "t-forged"})", "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  EXPECT_TRUE(refused->get_header_value("Set-Cookie").empty());
  EXPECT_NE(refused->body.find("token"), std::string::npos);

  auto not_text = http_->Post("/api/session", R"({"token": 7})", "application/json");
  ASSERT_TRUE(not_text);
  EXPECT_EQ(not_text->status, 400);
  auto deep = http_->Post("/api/session", std::string(10000, '[') + std::string(10000, ']'),
                          "application/json");
  ASSERT_TRUE(deep);
  EXPECT_EQ(deep->status, 400);

  const Browser anna = SignIn("t-anna", "anna");
  auto [signed_in, described] = Get("/api/session", anna);
  EXPECT_EQ(signed_in, 200);
  EXPECT_TRUE(described["signed_in"].get<bool>());
  EXPECT_TRUE(described["with_token"].get<bool>());
  EXPECT_EQ(described["name"], "anna");
  EXPECT_EQ(described["csrf_token"], anna.csrf);
  EXPECT_EQ(anna.cookie.find("t-anna"), std::string::npos) << "the token is sealed";

  // Without a session the engine sees an anonymous caller, which the policy does not admit.
  auto [anonymous, error] = Get("/api/runs");
  EXPECT_EQ(anonymous, 401);
  EXPECT_EQ(error["error"]["code"], "UNAUTHENTICATED");
}

TEST_F(ConsoleTest, ReadsWhatThePagesShow) {
  StartWorker();
  StartFailedRun("console-failed-1");
  ASSERT_TRUE(Register(*plain_, Definition(2)).ok());
  const Browser reader = SignIn("t-reader", "");

  auto [listed, runs] = Get("/api/runs?status=failed&definition=console-flow", reader);
  ASSERT_EQ(listed, 200) << runs.dump();
  ASSERT_EQ(runs["runs"].size(), 1u) << runs.dump();
  EXPECT_EQ(runs["runs"][0]["workflow_id"], "console-failed-1");
  EXPECT_EQ(runs["runs"][0]["status"], "RUN_STATUS_FAILED");
  auto [none, empty] = Get("/api/runs?status=completed&definition=console-flow", reader);
  EXPECT_EQ(none, 200);
  EXPECT_TRUE(empty["runs"].empty());
  EXPECT_EQ(Get("/api/runs?since=1h&definition=console-flow", reader).second["runs"].size(), 1u);
  EXPECT_TRUE(Get("/api/runs?until=2020-01-01", reader).second["runs"].empty());

  auto [described, run] = Get("/api/run?id=console-failed-1", reader);
  ASSERT_EQ(described, 200) << run.dump();
  EXPECT_EQ(run["run"]["status"], "RUN_STATUS_FAILED");
  EXPECT_EQ(run["last_task_failure"]["step"], "settle");
  EXPECT_EQ(run["last_task_failure"]["error_type"], "LedgerDown");

  auto [got, history] = Get("/api/run/history?id=console-failed-1", reader);
  ASSERT_EQ(got, 200);
  EXPECT_FALSE(history["truncated"].get<bool>());
  EXPECT_EQ(history["events"].front()["type"], "RunStarted");
  EXPECT_EQ(history["events"].back()["type"], "RunFailed");

  auto [queues_status, queues] = Get("/api/queues", reader);
  EXPECT_EQ(queues_status, 200);
  EXPECT_TRUE(queues.contains("queues"));
  auto [cluster_status, cluster] = Get("/api/cluster", reader);
  EXPECT_EQ(cluster_status, 200);
  EXPECT_GE(cluster["members"].size(), 2u);

  auto [defs_status, defs] = Get("/api/definitions?name=console-flow", reader);
  EXPECT_EQ(defs_status, 200);
  EXPECT_EQ(defs["definitions"].size(), 2u);
  auto [diff_status, diff] = Get("/api/definitions/diff?name=console-flow&from=1&to=2", reader);
  ASSERT_EQ(diff_status, 200) << diff.dump();
  ASSERT_EQ(diff["changes"].size(), 1u) << diff.dump();
  EXPECT_EQ(diff["changes"][0]["path"], "steps[settle].retry.max_attempts");
  EXPECT_EQ(diff["changes"][0]["kind"], "changed");
  EXPECT_EQ(diff["changes"][0]["from"], 1);
  EXPECT_EQ(diff["changes"][0]["to"], 2);

  // Bad input: a clear 400 naming the parameter; unknown runs and routes: 404.
  auto [bad_status, bad] = Get("/api/runs?status=sleeping", reader);
  EXPECT_EQ(bad_status, 400);
  EXPECT_NE(bad["error"]["message"].get<std::string>().find("status"), std::string::npos);
  auto [bad_size, size_error] = Get("/api/runs?page_size=-3", reader);
  EXPECT_EQ(bad_size, 400);
  EXPECT_NE(size_error["error"]["message"].get<std::string>().find("page_size"), std::string::npos);
  auto [bad_since, since_error] = Get("/api/runs?since=yesterday-ish", reader);
  EXPECT_EQ(bad_since, 400);
  EXPECT_NE(since_error["error"]["message"].get<std::string>().find("since"), std::string::npos);
  auto [no_id, no_id_error] = Get("/api/run", reader);
  EXPECT_EQ(no_id, 400);
  EXPECT_EQ(Get("/api/run?id=no-such-run", reader).first, 404);
  EXPECT_EQ(Get("/api/nothing-here", reader).first, 404);
  EXPECT_EQ(Get("/api/definitions/diff?name=console-flow&from=1&to=9", reader).first, 404);

  // The UI's files come from inside the binary.
  auto page = http_->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<title>Gridflow console</title>"), std::string::npos);
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("default-src 'self'"),
            std::string::npos);
  auto script = http_->Get("/app.js");
  ASSERT_TRUE(script);
  EXPECT_EQ(script->status, 200);
  EXPECT_EQ(script->get_header_value("Content-Type").rfind("text/javascript", 0), 0u);
  EXPECT_EQ(http_->Get("/../etc/passwd")->status, 404);
}

// A run whose DescribeRun answer passes what the console's channel takes is read again as its
// summary: shown without input, data and result, and saying so (`fields_omitted`).
TEST_F(ConsoleTest, ARunTooLargeForTheConsoleIsShownAsItsSummary) {
  ClientTransport transport;
  transport.address = secure_->address();
  transport.tls_ca = certs_.Path("ca.pem");
  transport.max_receive_bytes = 1024 * 1024;
  std::shared_ptr<grpc::Channel> channel;
  ASSERT_TRUE(OpenClientChannel(transport, true, &channel).ok());
  console::ConsoleOptions options;
  options.listen_port = 0;
  console::ConsoleServer small(
      options, console::SessionKeys::Random(),
      std::make_shared<console::EngineClient>(transport, channel, std::chrono::seconds(3)));
  ASSERT_TRUE(small.Start().ok());
  http_ = std::make_unique<httplib::Client>("127.0.0.1", small.port());

  ASSERT_TRUE(Register(*plain_, Definition(1)).ok());
  const std::string big = json{{"curve", std::string(1200 * 1024, 'x')}}.dump();
  Start(*plain_, "console-big-1", "console-flow", big);  // input and data: 2.4 MB
  Start(*plain_, "console-small-1", "console-flow");
  const Browser reader = SignIn("t-reader", "");

  auto [status, described] = Get("/api/run?id=console-big-1", reader);
  ASSERT_EQ(status, 200) << described.dump().substr(0, 300);
  EXPECT_EQ(described["run"]["workflow_id"], "console-big-1");
  EXPECT_EQ(described["run"]["status"], "RUN_STATUS_RUNNING");
  EXPECT_TRUE(described["run"].value("fields_omitted", false)) << described.dump();
  EXPECT_EQ(described["run"].value("input_json", ""), "");
  EXPECT_EQ(described["run"].value("data_json", ""), "");
  EXPECT_EQ(described["active_steps"].size(), 1u) << described.dump();

  auto [small_status, whole] = Get("/api/run?id=console-small-1", reader);
  ASSERT_EQ(small_status, 200);
  EXPECT_FALSE(whole["run"].value("fields_omitted", false));
  EXPECT_EQ(whole["run"]["input_json"], "{}");
}

TEST_F(ConsoleTest, ActionsRunAsTheSignedInUserAndReadersAreRefused) {
  StartWorker();
  StartFailedRun("console-failed-2");
  const Browser reader = SignIn("t-reader", "rita");
  const Browser anna = SignIn("t-anna", "anna");
  const std::string events_before = db_.Query("SELECT count(*) FROM events");

  auto [refused, denial] =
      Post("/api/run/retry?id=console-failed-2", {{"reason", "try again"}}, reader);
  EXPECT_EQ(refused, 403);
  EXPECT_EQ(denial["error"]["code"], "PERMISSION_DENIED");
  EXPECT_NE(denial["error"]["message"].get<std::string>().find("token:reader"), std::string::npos);
  EXPECT_EQ(db_.Query("SELECT count(*) FROM events"), events_before);

  // CSRF: no token, a wrong one, another site's origin, a form post, no session — all refused,
  // nothing changed.
  EXPECT_EQ(Post("/api/run/retry?id=console-failed-2", {{"reason", "x"}}, {anna.cookie, "deadbeef"})
                .first,
            403);
  EXPECT_EQ(Post("/api/run/retry?id=console-failed-2", {{"reason", "x"}}, {anna.cookie, ""}).first,
            403);
  EXPECT_EQ(Post("/api/run/retry?id=console-failed-2", {{"reason", "x"}}, anna,
                 {{"Origin", "https://evil.example"}})
                .first,
            403);
  EXPECT_EQ(Post("/api/run/retry?id=console-failed-2", {{"reason", "x"}}, reader,
                 {{"X-CSRF-Token", anna.csrf}})
                .first,
            403)
      << "a CSRF token belongs to its own session";
  EXPECT_EQ(Post("/api/run/retry?id=console-failed-2", {{"reason", "x"}}, {}).first, 401);
  auto form = http_->Post("/api/run/retry?id=console-failed-2",
                          httplib::Headers{{"Cookie", anna.cookie}, {"X-CSRF-Token", anna.csrf}},
                          "reason=x", "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 403);
  EXPECT_EQ(db_.Query("SELECT count(*) FROM events"), events_before);

  // Bad action bodies: 400 naming the field.
  auto [bad_reason, reason_error] =
      Post("/api/run/retry?id=console-failed-2", {{"reason", 12}}, anna);
  EXPECT_EQ(bad_reason, 400);
  EXPECT_NE(reason_error["error"]["message"].get<std::string>().find("reason"), std::string::npos);
  auto [no_reason, engine_error] = Post("/api/run/retry?id=console-failed-2", json::object(), anna);
  EXPECT_EQ(no_reason, 400) << "the engine requires a reason";
  EXPECT_EQ(db_.Query("SELECT count(*) FROM events"), events_before);

  settle_works_ = true;
  auto [retried, answer] =
      Post("/api/run/retry?id=console-failed-2", {{"reason", "ledger open again"}}, anna);
  ASSERT_EQ(retried, 200) << answer.dump();
  EXPECT_EQ(answer["from_step"], "settle");
  EXPECT_EQ(WaitClosed(*plain_, "console-failed-2").status(), v1::RUN_STATUS_COMPLETED);
  const v1::Event retry = WaitForEvent(*plain_, "console-failed-2", "RunRetried");
  EXPECT_EQ(retry.actor(), "token:ops-anna") << "the engine records the user, not the console";
  EXPECT_NE(retry.payload_json().find("gridflow-console:anna"), std::string::npos)
      << retry.payload_json();

  // Signal, cancel and terminate go the same way.
  Start(*plain_, "console-open", "console-flow");  // v2 now; its worker completes it quickly
  ASSERT_TRUE(Register(*plain_, R"({"name": "console-wait", "version": 1, "steps": [
    {"name": "wait", "kind": "wait_signal", "signal": "go"}]})")
                  .ok());
  Start(*plain_, "console-waiting", "console-wait");
  Start(*plain_, "console-doomed", "console-wait");
  auto [signalled, signal_answer] =
      Post("/api/run/signal?id=console-waiting",
           {{"signal_name", "go"}, {"payload_json", "{\"ok\":1}"}}, anna);
  EXPECT_EQ(signalled, 200) << signal_answer.dump();
  EXPECT_EQ(WaitClosed(*plain_, "console-waiting").status(), v1::RUN_STATUS_COMPLETED);
  auto [bad_payload, payload_error] =
      Post("/api/run/signal?id=console-doomed", {{"signal_name", "go"}, {"payload_json", "{oops"}},
           anna);
  EXPECT_EQ(bad_payload, 400) << payload_error.dump();
  auto [terminated, terminate_answer] =
      Post("/api/run/terminate?id=console-doomed", {{"reason", "wrong day"}}, anna);
  EXPECT_EQ(terminated, 200) << terminate_answer.dump();
  EXPECT_EQ(GetRun(*plain_, "console-doomed").status(), v1::RUN_STATUS_TERMINATED);
  EXPECT_EQ(WaitForEvent(*plain_, "console-doomed", "RunTerminated").actor(), "token:ops-anna");
  auto [closed, closed_error] =
      Post("/api/run/cancel?id=console-doomed", {{"reason", "late"}}, anna);
  EXPECT_EQ(closed, 409) << closed_error.dump();

  // Signing out ends the session for the browser.
  auto [ended, end_answer] = Post("/api/session/end", json::object(), anna);
  EXPECT_EQ(ended, 200);
}

TEST_F(ConsoleTest, KeepsServingWhileItsEngineRestarts) {
  const Browser reader = SignIn("t-reader", "");
  ASSERT_EQ(Get("/api/runs", reader).first, 200);
  const std::string listen = secure_->address();
  secure_.reset();  // the replica goes away
  auto [down, error] = Get("/api/runs", reader);
  EXPECT_EQ(down, 503) << error.dump();
  EXPECT_EQ(error["error"]["code"], "UNAVAILABLE");
  EXPECT_EQ(Get("/api/session", reader).first, 200) << "the console itself stays up";

  StartSecureEngine(listen);  // the replica comes back on its address
  EXPECT_TRUE(Eventually([&] { return Get("/api/runs", reader).first == 200; }))
      << "the console recovers without a restart";
}

}  // namespace
}  // namespace gridflow::testing
