#include "tests/integration/test_env.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <pqxx/nontransaction>
#include <pqxx/pqxx>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "gridflow/v1/run_status.h"
#include "persistence/connection_pool.h"
#include "persistence/transaction.h"

namespace gridflow::testing {
namespace {

std::string AdminUrl() {
  const char* url = std::getenv("GRIDFLOW_TEST_DATABASE_URL");
  if (url == nullptr || *url == '\0') {
    ADD_FAILURE() << "GRIDFLOW_TEST_DATABASE_URL is not set: run the suite with scripts/test.sh, "
                     "which starts a PostgreSQL for it";
    return "";
  }
  return url;
}

// The URL of another database on the same server: replaces the path of a postgresql:// URI.
std::string WithDatabase(const std::string& url, const std::string& database) {
  const size_t scheme = url.find("://");
  const size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  const size_t query = url.find('?', slash);
  std::string out = url.substr(0, slash) + "/" + database;
  if (query != std::string::npos) out += url.substr(query);
  return out;
}

}  // namespace

TestDatabase::TestDatabase() : admin_url_(AdminUrl()) {
  static std::atomic<int> counter{0};
  std::random_device random;
  name_ = "gf_t_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + "_" +
          std::to_string(random() % 100000);
  pqxx::connection admin(admin_url_);
  pqxx::nontransaction(admin).exec("CREATE DATABASE " + name_);
  url_ = WithDatabase(admin_url_, name_);
  // The engine's two roles (docs/security.md): tests run engines as the runtime login role and
  // migrate as the owner, as a production deployment does. Roles belong to the cluster: made
  // once, by whichever test gets there first.
  for (const char* role :
       {"gridflow_runtime NOLOGIN", "gridflow_engine LOGIN IN ROLE gridflow_runtime"}) {
    pqxx::nontransaction(admin).exec(std::string("DO $$ BEGIN CREATE ROLE ") + role +
                                     "; EXCEPTION WHEN duplicate_object OR unique_violation THEN "
                                     "NULL; END $$");
  }
}

std::string TestDatabase::runtime_url() const {
  return RuntimeUrl(url_);
}

std::string RuntimeUrl(const std::string& owner_url) {
  const size_t scheme = owner_url.find("://");
  const size_t at = owner_url.find('@', scheme);
  if (scheme == std::string::npos || at == std::string::npos) return owner_url;
  const size_t user_end = std::min(at, owner_url.find(':', scheme + 3));
  return owner_url.substr(0, scheme + 3) + kRuntimeLogin + owner_url.substr(user_end);
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection admin(admin_url_);
    pqxx::nontransaction(admin).exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (const std::exception& e) {
    ADD_FAILURE() << "could not drop " << name_ << ": " << e.what();
  }
}

std::string TestDatabase::Query(const std::string& sql) const {
  return QueryOn(url_, sql);
}

std::string TestDatabase::AdminQuery(const std::string& sql) const {
  return QueryOn(admin_url_, sql);
}

std::string TestDatabase::QueryOn(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::nontransaction txn(c);
  const pqxx::result r = txn.exec(sql);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].as<std::string>();
}

std::string ExplainEngineStatement(const std::string& url, const std::string& statement,
                                   const std::string& args, const std::string& explain,
                                   const std::string& setup) {
  persistence::ConnectionPool::Options options;
  options.dsn = url;
  options.size = 1;
  persistence::ConnectionPool pool(options);
  std::string plan;
  const Status s = persistence::Transact(pool, "explain", [&](pqxx::work& txn) {
    if (!setup.empty()) txn.exec(setup);
    txn.conn().prepare_now(statement);
    for (const auto& row : txn.exec("EXPLAIN " + explain + " EXECUTE " + statement + args))
      plan += row[0].as<std::string>() + "\n";
    return Status::Ok();
  });
  if (!s.ok()) throw std::runtime_error("EXPLAIN " + statement + ": " + s.ToString());
  return plan;
}

engine::EngineConfig FastEngineConfig(const std::string& database_url) {
  engine::EngineConfig config;
  config.listen_address = "127.0.0.1:0";
  config.database_url = RuntimeUrl(database_url);
  config.migration_database_url = database_url;
  config.database_pool_size = 8;
  config.lease_reaper_interval = Millis(100);
  config.dispatch_fallback_poll = Millis(200);
  config.health_check_interval = Millis(200);
  return config;
}

TestEngine::TestEngine(const std::string& database_url)
    : TestEngine(FastEngineConfig(database_url)) {}

TestEngine::TestEngine(engine::EngineConfig config)
    : engine_(std::make_unique<engine::Engine>(std::move(config))) {
  const Status s = engine_->Start();
  if (!s.ok()) {
    ADD_FAILURE() << "engine did not start: " << s.ToString();
    return;
  }
  channel_ = grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
  workflows_ = v1::WorkflowService::NewStub(channel_);
  workers_ = v1::WorkerService::NewStub(channel_);
}

TestEngine::~TestEngine() {
  engine_->Shutdown(Millis(2000));
}

std::unique_ptr<grpc::ClientContext> Ctx(std::chrono::milliseconds timeout) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + timeout);
  return c;
}

bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

grpc::Status Register(TestEngine& e, const std::string& definition_json) {
  v1::RegisterDefinitionRequest request;
  request.set_definition_json(definition_json);
  request.set_identity("test");
  v1::RegisterDefinitionResponse response;
  return e.workflows().RegisterDefinition(Ctx().get(), request, &response);
}

v1::StartRunResponse Start(TestEngine& e, const std::string& workflow_id,
                           const std::string& definition, const std::string& input_json) {
  v1::StartRunRequest request;
  request.set_workflow_id(workflow_id);
  request.set_definition_name(definition);
  request.set_input_json(input_json);
  request.set_identity("test-client");
  v1::StartRunResponse response;
  const grpc::Status s = e.workflows().StartRun(Ctx().get(), request, &response);
  EXPECT_TRUE(s.ok()) << "StartRun " << workflow_id << ": " << s.error_message();
  return response;
}

v1::Run GetRun(TestEngine& e, const std::string& workflow_id) {
  v1::GetRunRequest request;
  request.set_workflow_id(workflow_id);
  v1::Run run;
  const grpc::Status s = e.workflows().GetRun(Ctx().get(), request, &run);
  EXPECT_TRUE(s.ok()) << "GetRun " << workflow_id << ": " << s.error_message();
  return run;
}

std::vector<v1::Event> History(TestEngine& e, const std::string& workflow_id) {
  std::vector<v1::Event> events;
  v1::GetHistoryRequest request;
  request.set_workflow_id(workflow_id);
  do {
    v1::GetHistoryResponse page;
    const grpc::Status s = e.workflows().GetHistory(Ctx().get(), request, &page);
    EXPECT_TRUE(s.ok()) << "GetHistory " << workflow_id << ": " << s.error_message();
    if (!s.ok()) break;
    events.insert(events.end(), page.events().begin(), page.events().end());
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  return events;
}

std::vector<std::string> EventTypes(const std::vector<v1::Event>& events) {
  std::vector<std::string> types;
  for (const auto& e : events)
    types.push_back(e.type());
  return types;
}

v1::Run WaitClosed(TestEngine& e, const std::string& workflow_id,
                   std::chrono::milliseconds timeout) {
  v1::Run run;
  const bool closed = Eventually(
      [&] {
        run = GetRun(e, workflow_id);
        return v1::IsClosedRunStatus(run.status());
      },
      timeout);
  EXPECT_TRUE(closed) << "run " << workflow_id << " still " << v1::RunStatus_Name(run.status());
  return run;
}

v1::Event WaitForEvent(TestEngine& e, const std::string& workflow_id, const std::string& type,
                       std::chrono::milliseconds timeout) {
  v1::Event found;
  const bool seen = Eventually(
      [&] {
        for (const v1::Event& event : History(e, workflow_id)) {
          if (event.type() == type) {
            found = event;
            return true;
          }
        }
        return false;
      },
      timeout);
  EXPECT_TRUE(seen) << "no " << type << " event in the history of " << workflow_id;
  return found;
}

void CompleteLeased(TestEngine& e, const v1::LeasedTask& task, const std::string& result_json) {
  v1::CompleteTaskRequest request;
  request.set_task_id(task.task_id());
  request.set_lease_epoch(task.lease_epoch());
  request.set_result_json(result_json);
  request.set_identity("test-worker");
  v1::CompleteTaskResponse response;
  const grpc::Status s = e.workers().CompleteTask(Ctx().get(), request, &response);
  EXPECT_TRUE(s.ok()) << "CompleteTask " << task.step() << ": " << s.error_message();
}

void SendSignal(TestEngine& e, const std::string& workflow_id, const std::string& name,
                const std::string& payload_json) {
  v1::SignalRunRequest request;
  request.set_workflow_id(workflow_id);
  request.set_signal_name(name);
  request.set_payload_json(payload_json);
  v1::SignalRunResponse response;
  const grpc::Status s = e.workflows().SignalRun(Ctx().get(), request, &response);
  EXPECT_TRUE(s.ok()) << "SignalRun " << name << ": " << s.error_message();
}

v1::LeasedTask LeaseOne(TestEngine& e, const std::string& queue, const std::string& identity,
                        std::chrono::milliseconds wait) {
  v1::LeaseTasksRequest request;
  request.add_task_queues(queue);
  request.set_max_tasks(1);
  request.set_identity(identity);
  request.mutable_wait()->set_seconds(wait.count() / 1000);
  request.mutable_wait()->set_nanos(static_cast<int32_t>((wait.count() % 1000) * 1'000'000));
  v1::LeaseTasksResponse response;
  const grpc::Status s =
      e.workers().LeaseTasks(Ctx(wait + std::chrono::seconds(5)).get(), request, &response);
  EXPECT_TRUE(s.ok()) << "LeaseTasks: " << s.error_message();
  return response.tasks().empty() ? v1::LeasedTask() : response.tasks(0);
}

void TakeTaskIdsAfter(const TestDatabase& db, int64_t after, int count) {
  db.Query(
      "INSERT INTO tasks OVERRIDING SYSTEM VALUE SELECT (jsonb_populate_record(NULL::tasks, "
      "to_jsonb(t) || jsonb_build_object('id', g, 'run_id', gen_random_uuid(), 'state', "
      "'CANCELLED'))).* FROM tasks t, generate_series(" +
      std::to_string(after + 1) + ", " + std::to_string(after + count) +
      ") g WHERE t.id = " + std::to_string(after));
}

std::string SequenceDefinition(const std::string& name,
                               const std::vector<std::pair<std::string, std::string>>& steps,
                               const std::string& step_extras) {
  nlohmann::json def = {{"name", name}, {"version", 1}, {"steps", nlohmann::json::array()}};
  const nlohmann::json extras =
      step_extras.empty() ? nlohmann::json::object() : nlohmann::json::parse(step_extras);
  for (const auto& [step, type] : steps) {
    nlohmann::json s = {{"name", step}, {"kind", "task"}, {"task_type", type}, {"task_queue", "q"}};
    s.update(extras);
    def["steps"].push_back(s);
  }
  return def.dump();
}

std::string ForeachDefinition(const std::string& name, const std::string& task_type,
                              int max_concurrency) {
  const nlohmann::json task = {
      {"name", task_type}, {"kind", "task"}, {"task_type", task_type}, {"task_queue", "q"}};
  return nlohmann::json{{"name", name},
                        {"version", 1},
                        {"steps",
                         {{{"name", "items"},
                           {"kind", "foreach"},
                           {"items", "=$/input/items"},
                           {"max_concurrency", max_concurrency},
                           {"steps", {task}}}}}}
      .dump();
}

worker::WorkerOptions InProcessOptions(TestEngine& engine, const std::string& identity,
                                       int concurrency,
                                       std::shared_ptr<prometheus::Registry> metrics) {
  worker::WorkerOptions options;
  options.metrics = std::move(metrics);
  options.transport.address = engine.address();
  options.task_queues = {"q"};
  options.identity = identity;
  options.max_concurrent_tasks = concurrency;
  options.poll_wait = Millis(2000);
  options.shutdown_grace = Millis(2000);
  return options;
}

InProcessWorker::InProcessWorker(TestEngine& engine, const std::string& identity,
                                 const std::map<std::string, worker::Handler>& handlers,
                                 int concurrency, std::shared_ptr<prometheus::Registry> metrics)
    : worker_(InProcessOptions(engine, identity, concurrency, std::move(metrics))) {
  for (const auto& [type, handler] : handlers)
    worker_.Register(type, handler);
  thread_ = std::thread([this] {
    const Status s = worker_.Run();
    EXPECT_TRUE(s.ok()) << s.ToString();
  });
}

InProcessWorker::~InProcessWorker() {
  worker_.Shutdown();
  thread_.join();
}

std::string WorkerBinary() {
  return GRIDFLOW_WORKER_BIN;
}
std::string CtlBinary() {
  return GRIDFLOW_CTL_BIN;
}
std::string ExampleWorkerBinary() {
  return GRIDFLOW_EXAMPLE_WORKER_BIN;
}
std::string EngineBinary() {
  return GRIDFLOW_ENGINE_BIN;
}

ScratchDir::ScratchDir(const std::string& prefix)
    : path_(std::filesystem::temp_directory_path() /
            (prefix + "-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
  std::filesystem::remove_all(path_);  // left by a killed earlier run of the same pid and test
  std::filesystem::create_directories(path_);
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& log_path,
                           const std::string& stderr_path) {
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
  const int out = open(log_path.c_str(), flags, 0644);
  const int err = stderr_path.empty() ? out : open(stderr_path.c_str(), flags, 0644);
  pid_ = fork();
  if (pid_ == 0) {
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out);
  if (err != out) close(err);
  setpgid(pid_, pid_);
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    kill(-pid_, SIGKILL);
    Wait(std::chrono::seconds(10));
  }
}

void ChildProcess::Signal(int signal) {
  if (pid_ > 0 && !reaped_) kill(-pid_, signal);
}

int ChildProcess::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (true) {
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return -1000;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  reaped_ = true;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

namespace {

std::string TempPath() {
  char path[] = "/tmp/gf-cmd-XXXXXX";
  close(mkstemp(path));
  return path;
}

std::string ReadAndRemove(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  unlink(path.c_str());
  return text.str();
}

}  // namespace

int RunCommand(const std::vector<std::string>& argv, std::string* out, std::string* err) {
  const std::string out_path = TempPath(), err_path = TempPath();
  int code;
  {
    ChildProcess child(argv, out_path, err_path);
    code = child.Wait(std::chrono::seconds(60));
  }
  *out = ReadAndRemove(out_path);
  const std::string err_text = ReadAndRemove(err_path);
  if (err != nullptr) *err = err_text;
  return code;
}

namespace {

sockaddr_in LoopbackAddress(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// A TCP socket on 127.0.0.1:`port` through `attach` (connect or bind), or -1.
int LoopbackSocket(int port, int (*attach)(int, const sockaddr*, socklen_t)) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  const sockaddr_in address = LoopbackAddress(port);
  if (attach(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int ConnectLoopback(int port) {
  return LoopbackSocket(port, connect);
}

int BindLoopback(int port) {
  return LoopbackSocket(port, bind);
}

int BoundPort(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return 0;
  return ntohs(address.sin_port);
}

std::string HttpGet(int port, const std::string& path) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return "";
  const std::string request =
      "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return "";
  }
  std::string response;
  char buffer[8192];
  for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;)
    response.append(buffer, static_cast<size_t>(n));
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

double Sample(const std::string& text, const std::string& name,
              const std::map<std::string, std::string>& labels) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t brace = line.find('{');
    const size_t space = line.rfind(' ');
    const std::string sample_name = line.substr(0, std::min(brace, line.find(' ')));
    if (sample_name != name) continue;
    std::map<std::string, std::string> found;
    if (brace != std::string::npos) {
      const std::string inside = line.substr(brace + 1, line.rfind('}') - brace - 1);
      size_t at = 0;
      while (at < inside.size()) {
        const size_t eq = inside.find('=', at);
        const size_t end = inside.find('"', eq + 2);
        found[inside.substr(at, eq - at)] = inside.substr(eq + 2, end - eq - 2);
        at = end + 2;  // past '",'
      }
    }
    bool match = true;
    for (const auto& [key, value] : labels)
      match = match && found.count(key) > 0 && found[key] == value;
    if (match) return std::stod(line.substr(space + 1));
  }
  return -1;
}

bool AwaitFirstTransaction(TestEngine& engine, const std::string& operation) {
  return Eventually([&] {
    return Sample(HttpGet(engine.engine().metrics_port(), "/metrics"),
                  "gridflow_db_transaction_seconds_count", {{"operation", operation}}) >= 1;
  });
}

}  // namespace gridflow::testing
