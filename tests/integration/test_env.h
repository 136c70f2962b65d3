// The environment integration tests run in: a real PostgreSQL (started by scripts/test.sh, URL in
// GRIDFLOW_TEST_DATABASE_URL) in which every test gets a fresh database of its own, and an engine
// started in-process on a free port. Helpers wait for conditions with deadlines, never sleep blind.
#pragma once

#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/server/engine.h"
#include "gridflow/v1/worker_service.grpc.pb.h"
#include "gridflow/v1/workflow_service.grpc.pb.h"
#include "worker/worker.h"

namespace gridflow::testing {

// A database created for one test and dropped afterwards.
class TestDatabase {
 public:
  TestDatabase();
  ~TestDatabase();
  const std::string& url() const { return url_; }  // as the owner (a superuser here)
  // The same database as the engine's runtime login role (RuntimeUrl).
  std::string runtime_url() const;
  const std::string& name() const { return name_; }
  // Runs SQL on the test database and returns the first column of the first row ("" if none).
  std::string Query(const std::string& sql) const;
  // The same, on the server's maintenance database (for ALTER DATABASE and the like).
  std::string AdminQuery(const std::string& sql) const;

 private:
  static std::string QueryOn(const std::string& url, const std::string& sql);

  std::string admin_url_;
  std::string name_;
  std::string url_;
};

// The plan of one of the engine's prepared statements, prepared as the engine prepares it (its
// session settings and statements) and run as `EXPLAIN <explain> EXECUTE <statement><args>`
// after `setup` in the same transaction; throws if any of it fails.
std::string ExplainEngineStatement(const std::string& url, const std::string& statement,
                                   const std::string& args, const std::string& explain = "",
                                   const std::string& setup = "");

// The login role engines run as in tests: a member of gridflow_runtime (migration 0008).
inline constexpr const char* kRuntimeLogin = "gridflow_engine";
// `owner_url` with its user replaced by kRuntimeLogin.
std::string RuntimeUrl(const std::string& owner_url);

// Engine settings that make lease expiry and retries quick enough to test; the engine runs as
// the runtime role and migrates as the owner.
engine::EngineConfig FastEngineConfig(const std::string& database_url);

// An engine replica running in this process.
class TestEngine {
 public:
  explicit TestEngine(const std::string& database_url);
  explicit TestEngine(engine::EngineConfig config);
  ~TestEngine();

  std::string address() const { return "127.0.0.1:" + std::to_string(engine_->port()); }
  v1::WorkflowService::Stub& workflows() { return *workflows_; }
  v1::WorkerService::Stub& workers() { return *workers_; }
  engine::Engine& engine() { return *engine_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  // Moves the engine's clock forward (test-only clock; see Engine::SetClockOffset).
  void SetClockOffset(Millis offset) { engine_->SetClockOffset(offset); }

 private:
  std::unique_ptr<engine::Engine> engine_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkflowService::Stub> workflows_;
  std::unique_ptr<v1::WorkerService::Stub> workers_;
};

std::unique_ptr<grpc::ClientContext> Ctx(
    std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Polls `condition` until it holds or `timeout` passes; returns whether it held.
bool Eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(20));

// API shorthands; each asserts the call succeeded unless it returns the status.
grpc::Status Register(TestEngine& e, const std::string& definition_json);
v1::StartRunResponse Start(TestEngine& e, const std::string& workflow_id,
                           const std::string& definition, const std::string& input_json = "{}");
v1::Run GetRun(TestEngine& e, const std::string& workflow_id);
std::vector<v1::Event> History(TestEngine& e, const std::string& workflow_id);
std::vector<std::string> EventTypes(const std::vector<v1::Event>& events);
// Waits until the run is closed (or `timeout`), returns it.
v1::Run WaitClosed(TestEngine& e, const std::string& workflow_id,
                   std::chrono::milliseconds timeout = std::chrono::seconds(20));
// Waits until the run's history has an event of `type`; returns it (empty event on timeout).
v1::Event WaitForEvent(TestEngine& e, const std::string& workflow_id, const std::string& type,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20));
// Completes a leased task with `result_json`; asserts success.
void CompleteLeased(TestEngine& e, const v1::LeasedTask& task, const std::string& result_json);
// Sends a signal to the run; asserts success.
void SendSignal(TestEngine& e, const std::string& workflow_id, const std::string& name,
                const std::string& payload_json);

// Long-polls one task of `queue` (waiting up to `wait`); empty task_id when none came.
v1::LeasedTask LeaseOne(TestEngine& e, const std::string& queue, const std::string& identity,
                        std::chrono::milliseconds wait = std::chrono::seconds(5));

// Writes `count` cancelled tasks with the ids right after task `after` (a copy of it, of no run):
// what another replica writes when a sequence that went back (a failover) hands it ids this
// replica still holds in its block (persistence::TaskIdPool).
void TakeTaskIdsAfter(const TestDatabase& db, int64_t after, int count);

// A definition of task steps in sequence, one per (step name, task type); queue "q".
std::string SequenceDefinition(const std::string& name,
                               const std::vector<std::pair<std::string, std::string>>& steps,
                               const std::string& step_extras = "");
// Version 1 of `name`: one foreach over the input's `items`, each item one task of `task_type`
// on queue "q", at most `max_concurrency` at once.
std::string ForeachDefinition(const std::string& name, const std::string& task_type,
                              int max_concurrency);

// What InProcessWorker runs with: queue "q", `concurrency` slots, 2 s polls and shutdown grace.
worker::WorkerOptions InProcessOptions(TestEngine& engine, const std::string& identity,
                                       int concurrency,
                                       std::shared_ptr<prometheus::Registry> metrics = nullptr);

// An SDK worker polling queue "q" of `engine`, running on its own thread until destroyed.
class InProcessWorker {
 public:
  // `metrics`: where the worker registers its metrics (none when null).
  InProcessWorker(TestEngine& engine, const std::string& identity,
                  const std::map<std::string, worker::Handler>& handlers, int concurrency = 2,
                  std::shared_ptr<prometheus::Registry> metrics = nullptr);
  ~InProcessWorker();  // Shutdown() + wait for Run() to return
  worker::Worker& worker() { return worker_; }

 private:
  worker::Worker worker_;
  std::thread thread_;
};

// Paths of the built binaries.
std::string WorkerBinary();
std::string CtlBinary();
std::string EngineBinary();
std::string ExampleWorkerBinary();  // examples/cpp-worker

// An empty directory of the running test's own under the temp dir ("<prefix>-<pid>-<test>"),
// removed with everything in it when destroyed.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A child process in its own process group (so a kill reaches its children too).
class ChildProcess {
 public:
  // stdout (and stderr, unless `stderr_path` is given) go to `log_path`.
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path,
               const std::string& stderr_path = "");
  ~ChildProcess();  // SIGKILLs the group if still running
  pid_t pid() const { return pid_; }
  void Signal(int signal);  // to the whole process group
  // Waits for exit; returns the exit code, or -signal when killed; -1000 on timeout.
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(30));

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// Runs a command to completion (60 s at most); returns its exit code, fills stdout and stderr.
int RunCommand(const std::vector<std::string>& argv, std::string* out, std::string* err = nullptr);

// A TCP connection to 127.0.0.1:<port>: its file descriptor, or -1 when it cannot be made.
int ConnectLoopback(int port);
// A TCP socket bound to 127.0.0.1:<port> (0: a free port the kernel picks): its file descriptor,
// or -1 when the port is taken. BoundPort(fd) is the port it got.
int BindLoopback(int port);
int BoundPort(int fd);

// GET http://127.0.0.1:<port><path>; the response body ("" on failure).
std::string HttpGet(int port, const std::string& path);

// The value of the sample `name` in Prometheus text `text` whose labels include `labels`; -1 when
// there is none.
double Sample(const std::string& text, const std::string& name,
              const std::map<std::string, std::string>& labels = {});

// Waits until `engine` (serving /metrics) has finished a transaction of `operation` (the label of
// gridflow_db_transaction_seconds) — e.g. a background job's start-up tick ("search index",
// "history partitions"): a test that sets that job's interval long then knows no later tick
// undoes what it does next.
bool AwaitFirstTransaction(TestEngine& engine, const std::string& operation);

}  // namespace gridflow::testing
