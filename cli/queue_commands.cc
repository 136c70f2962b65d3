// gridflowctl queues list | pause | resume | limit set|clear | breaker set|clear|reset
// (docs/cli.md; what the controls do: docs/dispatch.md).
#include <google/protobuf/util/time_util.h>

#include <cmath>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/format.h"
#include "cli/table.h"
#include "common/cli_flags.h"
#include "common/duration.h"

namespace gridflow::cli {
namespace {

using google::protobuf::util::TimeUtil;

// A queue (positional) or a task type (--task-type): what a control command applies to.
struct Target {
  std::string queue;
  std::string task_type;
};

std::string Number(double value) {
  std::ostringstream out;
  out << std::setprecision(6) << value;
  return out.str();
}

// The control's state in a few words ("paused by ops: venue down", "40/s burst 40").
std::string Describe(const v1::DispatchControl& c) {
  std::vector<std::string> parts;
  if (c.paused()) {
    std::string p = "PAUSED by " + c.paused_by();
    if (!c.paused_reason().empty()) p += ": " + c.paused_reason();
    parts.push_back(p);
  }
  if (c.rate_per_second() > 0) {
    parts.push_back("limit " + Number(c.rate_per_second()) + "/s burst " +
                    std::to_string(c.burst()) + " (" + Number(std::floor(c.tokens())) + " tokens)");
  }
  if (c.has_circuit_breaker()) {
    const v1::CircuitBreaker& b = c.circuit_breaker();
    // An open or half-open circuit stands out in capitals, like a pause.
    std::string state = b.state() == "open"        ? "circuit OPEN"
                        : b.state() == "half_open" ? "circuit HALF-OPEN"
                                                   : "circuit closed";
    state += " (" + std::to_string(b.window_failures()) + "/" +
             std::to_string(b.window_attempts()) + " failed; opens at " +
             Number(b.failure_rate() * 100) + "% of " + std::to_string(b.min_attempts()) + ")";
    parts.push_back(state);
  }
  std::string out;
  for (const std::string& p : parts)
    out += (out.empty() ? "" : "; ") + p;
  return out;
}

int ListQueues(Session& session) {
  Client& client = session.client();
  v1::ListQueuesRequest request;
  request.set_namespace_(client.options().namespace_name);
  v1::ListQueuesResponse response;
  const grpc::Status status =
      client.cluster().ListQueues(client.NewContext().get(), request, &response);
  if (!status.ok()) return client.Fail(status, "list queues");
  if (client.json_output()) {
    std::cout << ToJson(response) << "\n";
    return kExitOk;
  }
  std::map<std::string, const v1::DispatchControl*> queue_controls;
  for (const v1::DispatchControl& c : response.controls()) {
    if (c.scope() == v1::DISPATCH_SCOPE_QUEUE) queue_controls[c.name()] = &c;
  }
  Table table({"QUEUE", "DEPTH", "DUE NOW", "OLDEST DUE", "LEASED", "WORKERS POLLING", "DISPATCH"});
  table.SetMaxWidths({40, 8, 8, 12, 8, 15, 60});
  for (const v1::QueueInfo& q : response.queues()) {
    const int64_t oldest = TimeUtil::DurationToMilliseconds(q.oldest_due_age());
    const auto control = queue_controls.find(q.name());
    table.AddRow({q.name(), std::to_string(q.pending()), std::to_string(q.due()),
                  q.due() > 0 ? ShortDuration(Millis(oldest)) : "-", std::to_string(q.leased()),
                  std::to_string(q.waiting_polls()),
                  control == queue_controls.end() ? "" : Describe(*control->second)});
  }
  table.Print(std::cout);
  if (response.queues().empty()) std::cout << "no queued tasks and no workers polling\n";
  Table types({"TASK TYPE", "DISPATCH"});
  types.SetMaxWidths({40, 100});
  for (const v1::DispatchControl& c : response.controls()) {
    if (c.scope() == v1::DISPATCH_SCOPE_TASK_TYPE) types.AddRow({c.name(), Describe(c)});
  }
  if (types.rows() > 0) {
    std::cout << "\n";
    types.Print(std::cout);
  }
  return kExitOk;
}

// Fills the request's scope and name from the target; false (usage error printed) if neither or
// both were given.
template <typename Request>
bool SetTarget(const Target& target, Request* request) {
  if (target.queue.empty() == target.task_type.empty()) {
    std::cerr << "gridflowctl: name a queue or --task-type TYPE (one of them)\n";
    return false;
  }
  request->set_scope(target.queue.empty() ? v1::DISPATCH_SCOPE_TASK_TYPE
                                          : v1::DISPATCH_SCOPE_QUEUE);
  request->set_name(target.queue.empty() ? target.task_type : target.queue);
  return true;
}

int Answered(Client& client, const grpc::Status& status, const char* what,
             const v1::DispatchControlResponse& response, const std::string& subject) {
  if (!status.ok()) return client.Fail(status, what);
  if (client.json_output()) {
    std::cout << ToJson(response) << "\n";
    return kExitOk;
  }
  const std::string now =
      response.has_control() ? Describe(response.control()) : "no dispatch control";
  std::cout << subject << ": " << (now.empty() ? "no dispatch control" : now) << "\n";
  return kExitOk;
}

std::string Subject(const Target& t) {
  return t.queue.empty() ? "task type " + t.task_type : "queue " + t.queue;
}

int Pause(Session& session, const Target& target, const std::string& reason) {
  Client& client = session.client();
  v1::PauseDispatchRequest request;
  request.set_namespace_(client.options().namespace_name);
  if (!SetTarget(target, &request)) return kExitUsage;
  request.set_reason(reason);
  request.set_identity(client.options().identity);
  v1::DispatchControlResponse response;
  const grpc::Status status =
      client.cluster().PauseDispatch(client.NewContext().get(), request, &response);
  return Answered(client, status, "pause", response, Subject(target));
}

int Resume(Session& session, const Target& target) {
  Client& client = session.client();
  v1::ResumeDispatchRequest request;
  request.set_namespace_(client.options().namespace_name);
  if (!SetTarget(target, &request)) return kExitUsage;
  request.set_identity(client.options().identity);
  v1::DispatchControlResponse response;
  const grpc::Status status =
      client.cluster().ResumeDispatch(client.NewContext().get(), request, &response);
  return Answered(client, status, "resume", response, Subject(target));
}

int SetLimit(Session& session, const Target& target, double rate, int burst) {
  Client& client = session.client();
  v1::SetRateLimitRequest request;
  request.set_namespace_(client.options().namespace_name);
  if (!SetTarget(target, &request)) return kExitUsage;
  request.set_rate_per_second(rate);
  request.set_burst(burst);
  request.set_identity(client.options().identity);
  v1::DispatchControlResponse response;
  const grpc::Status status =
      client.cluster().SetRateLimit(client.NewContext().get(), request, &response);
  return Answered(client, status, "set rate limit", response, Subject(target));
}

struct BreakerFlags {
  std::string task_type;
  double failure_rate = 0.5;
  int min_attempts = 10;
  Millis window{60'000};
  Millis cool_down{30'000};
};

int SetBreaker(Session& session, const BreakerFlags& flags, bool clear, bool reset) {
  Client& client = session.client();
  v1::SetCircuitBreakerRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_task_type(flags.task_type);
  if (!clear && !reset) {
    request.set_failure_rate(flags.failure_rate);
    request.set_min_attempts(flags.min_attempts);
    *request.mutable_window() = TimeUtil::MillisecondsToDuration(flags.window.count());
    *request.mutable_cool_down() = TimeUtil::MillisecondsToDuration(flags.cool_down.count());
  }
  request.set_clear(clear);
  request.set_reset(reset);
  request.set_identity(client.options().identity);
  v1::DispatchControlResponse response;
  const grpc::Status status =
      client.cluster().SetCircuitBreaker(client.NewContext().get(), request, &response);
  return Answered(client, status, "circuit breaker", response, "task type " + flags.task_type);
}

void AddTargetOptions(CLI::App* cmd, Target* target) {
  cmd->add_option("queue", target->queue, "the queue (or give --task-type)");
  cmd->add_option("--task-type", target->task_type, "a task type on any queue, instead");
}

}  // namespace

void AddQueueCommands(CLI::App& app, Session& session) {
  CLI::App* group = app.add_subcommand("queues", "task queues and their dispatch control");
  group->require_subcommand(1);
  group
      ->add_subcommand("list",
                       "queues with their depth, oldest task's age, leased tasks, the workers "
                       "long-polling them, pauses, rate limits and circuit breakers")
      ->callback([&session] { session.exit_code = ListQueues(session); });

  auto target = std::make_shared<Target>();
  auto reason = std::make_shared<std::string>();
  CLI::App* pause = group->add_subcommand(
      "pause", "stop handing out a queue's (or a task type's) tasks; they stay queued");
  AddTargetOptions(pause, target.get());
  pause->add_option("--reason", *reason, "why (required; kept with the pause)")->required();
  pause->callback(
      [&session, target, reason] { session.exit_code = Pause(session, *target, *reason); });

  CLI::App* resume = group->add_subcommand("resume", "hand out a paused queue's tasks again");
  AddTargetOptions(resume, target.get());
  resume->callback([&session, target] { session.exit_code = Resume(session, *target); });

  CLI::App* limit = group->add_subcommand("limit", "rate limits across all replicas");
  limit->require_subcommand(1);
  auto rate = std::make_shared<double>(0);
  auto burst = std::make_shared<int>(0);
  CLI::App* set = limit->add_subcommand("set", "at most RATE tasks per second, BURST at once");
  AddTargetOptions(set, target.get());
  set->add_option("--rate", *rate, "tasks per second")->required()->check(CLI::Range(0.001, 1e5));
  set->add_option("--burst", *burst, "tasks at once after a quiet spell (default: the rate)")
      ->check(CLI::Range(1, 100000));
  set->callback([&session, target, rate, burst] {
    session.exit_code = SetLimit(session, *target, *rate, *burst);
  });
  CLI::App* clear = limit->add_subcommand("clear", "remove the rate limit");
  AddTargetOptions(clear, target.get());
  clear->callback([&session, target] { session.exit_code = SetLimit(session, *target, 0, 0); });

  CLI::App* breaker = group->add_subcommand("breaker", "a task type's circuit breaker");
  breaker->require_subcommand(1);
  auto flags = std::make_shared<BreakerFlags>();
  CLI::App* bset = breaker->add_subcommand(
      "set", "open the circuit when this share of attempts fails (replaces a definition's)");
  bset->add_option("--task-type", flags->task_type, "the task type")->required();
  bset->add_option("--failure-rate", flags->failure_rate, "failed share that opens it")
      ->check(CLI::Range(0.001, 1.0))
      ->capture_default_str();
  bset->add_option("--min-attempts", flags->min_attempts, "attempts in the window first")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  AddDurationFlag(*bset, "--window", &flags->window, "the window attempts are counted in");
  AddDurationFlag(*bset, "--cool-down", &flags->cool_down, "open this long before one probe");
  bset->callback(
      [&session, flags] { session.exit_code = SetBreaker(session, *flags, false, false); });
  CLI::App* bclear = breaker->add_subcommand("clear", "remove the circuit breaker");
  bclear->add_option("--task-type", flags->task_type, "the task type")->required();
  bclear->callback(
      [&session, flags] { session.exit_code = SetBreaker(session, *flags, true, false); });
  CLI::App* breset =
      breaker->add_subcommand("reset", "close an open circuit now (the configuration stays)");
  breset->add_option("--task-type", flags->task_type, "the task type")->required();
  breset->callback(
      [&session, flags] { session.exit_code = SetBreaker(session, *flags, false, true); });
}

}  // namespace gridflow::cli
