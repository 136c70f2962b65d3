#include "worker/runtime/command_handler.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <nlohmann/json.hpp>
#include <system_error>
#include <vector>

extern char** environ;

namespace gridflow::worker {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxMessageBytes = 4000;

struct Pipe {
  int read = -1;
  int write = -1;
};

bool MakePipe(Pipe* p) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  p->read = fds[0];
  p->write = fds[1];
  return true;
}

void Close(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// The environment for the child, built before fork (nothing after fork may allocate).
std::vector<std::string> ChildEnvironment(const TaskContext& ctx, const CommandOptions& options) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const size_t eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [k, v] : options.environment)
    env[k] = v;
  const v1::LeasedTask& t = ctx.task();
  env["GRIDFLOW_TASK_ID"] = t.task_id();
  env["GRIDFLOW_TASK_TYPE"] = t.task_type();
  env["GRIDFLOW_TASK_QUEUE"] = t.task_queue();
  env["GRIDFLOW_NAMESPACE"] = t.namespace_();
  env["GRIDFLOW_WORKFLOW_ID"] = t.workflow_id();
  env["GRIDFLOW_RUN_ID"] = t.run_id();
  env["GRIDFLOW_STEP"] = t.step();
  env["GRIDFLOW_ATTEMPT"] = std::to_string(t.attempt());
  env["GRIDFLOW_MAX_ATTEMPTS"] = std::to_string(t.max_attempts());
  env["GRIDFLOW_LEASE_EPOCH"] = std::to_string(t.lease_epoch());
  env["GRIDFLOW_IDEMPOTENCY_KEY"] = t.idempotency_key();
  std::vector<std::string> out;
  for (const auto& [k, v] : env)
    out.push_back(k + "=" + v);
  return out;
}

std::string Tail(const std::string& text, size_t n) {
  std::string trimmed = text;
  while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == '\r'))
    trimmed.pop_back();
  return trimmed.size() <= n ? trimmed : "..." + trimmed.substr(trimmed.size() - n);
}

TaskOutcome FailureFromOutput(int exit_code, const std::string& out, const std::string& err) {
  const nlohmann::json doc = nlohmann::json::parse(out, nullptr, false);
  if (doc.is_object() && doc.contains("error") && doc["error"].is_object()) {
    const nlohmann::json& e = doc["error"];
    const std::string type = e.value("type", "CommandFailed");
    const std::string message = e.value("message", Tail(err, kMaxMessageBytes));
    const bool retryable = e.value("retryable", true);
    const std::string details = e.contains("details") ? e["details"].dump() : "";
    return TaskOutcome::Failure(type, message, retryable, details);
  }
  std::string message = Tail(err, kMaxMessageBytes);
  if (message.empty()) message = "the command exited with code " + std::to_string(exit_code);
  return TaskOutcome::Failure("CommandFailed", message, true,
                              nlohmann::json{{"exit_code", exit_code}}.dump());
}

}  // namespace

TaskOutcome RunCommand(const std::string& command, TaskContext& ctx,
                       const CommandOptions& options) {
  Pipe in, out, err;
  const auto spawn_failed = [&](const char* what) {
    const std::string reason = std::string(what) + ": " + std::generic_category().message(errno);
    for (int* fd : {&in.read, &in.write, &out.read, &out.write, &err.read, &err.write})
      Close(*fd);
    return TaskOutcome::Failure("gridflow.CommandSpawnFailed", reason);
  };
  if (!MakePipe(&in) || !MakePipe(&out) || !MakePipe(&err)) return spawn_failed("pipe");
  const std::vector<std::string> env_strings = ChildEnvironment(ctx, options);
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (const auto& e : env_strings)
    envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};

  const pid_t pid = fork();
  if (pid < 0) return spawn_failed("fork");
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);  // undo the worker's blocked termination signals
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &default_action, nullptr);  // the worker ignores it; the command must not
    dup2(in.read, STDIN_FILENO);
    dup2(out.write, STDOUT_FILENO);
    dup2(err.write, STDERR_FILENO);
    execve("/bin/sh", const_cast<char* const*>(argv), envp.data());
    _exit(127);
  }
  setpgid(pid, pid);  // also here, so the group exists before we might signal it
  Close(in.read);
  Close(out.write);
  Close(err.write);
  fcntl(in.write, F_SETFL, O_NONBLOCK);

  const std::string& input = ctx.input_json();
  size_t written = 0;
  std::string stdout_text, stderr_text;
  bool too_large = false;
  bool terminated = false;
  Clock::time_point kill_at{};
  char buffer[65536];
  // SIGTERM to the group once the handler should stop, SIGKILL when the grace period is over.
  const auto stop_if_asked = [&] {
    if (ctx.should_stop() && !terminated) {
      kill(-pid, SIGTERM);
      terminated = true;
      kill_at = Clock::now() + options.kill_grace;
    }
    if (terminated && Clock::now() >= kill_at) kill(-pid, SIGKILL);
  };

  while (out.read >= 0 || err.read >= 0) {
    if (in.write >= 0 && written == input.size()) Close(in.write);
    stop_if_asked();

    std::vector<pollfd> fds;
    if (in.write >= 0) fds.push_back({in.write, POLLOUT, 0});
    if (out.read >= 0) fds.push_back({out.read, POLLIN, 0});
    if (err.read >= 0) fds.push_back({err.read, POLLIN, 0});
    if (poll(fds.data(), fds.size(), 100) < 0 && errno != EINTR) break;
    for (const pollfd& p : fds) {
      if (p.revents == 0) continue;
      if (p.fd == in.write) {
        const ssize_t n = write(in.write, input.data() + written, input.size() - written);
        if (n > 0) {
          written += static_cast<size_t>(n);
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          Close(in.write);  // EPIPE: the command does not read its input
        }
        continue;
      }
      int& fd = p.fd == out.read ? out.read : err.read;
      std::string& sink = p.fd == out.read ? stdout_text : stderr_text;
      const ssize_t n = read(fd, buffer, sizeof buffer);
      if (n > 0) {
        if (sink.size() + static_cast<size_t>(n) > options.max_output_bytes) {
          too_large = true;
          if (!terminated) {
            kill(-pid, SIGKILL);
            terminated = true;
          }
        } else {
          sink.append(buffer, static_cast<size_t>(n));
        }
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        Close(fd);
      }
    }
  }
  Close(in.write);
  int wstatus = 0;
  while (true) {  // the command closed its output; wait for it to exit, still honouring a stop
    const pid_t done = waitpid(pid, &wstatus, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) break;
    stop_if_asked();
    usleep(20'000);
  }
  kill(-pid, SIGKILL);  // leftovers of the group (background children)

  if (too_large) {
    return TaskOutcome::Failure(
        "gridflow.OutputTooLarge",
        "the command wrote more than " + std::to_string(options.max_output_bytes) + " bytes");
  }
  if (ctx.cancel_requested())
    return TaskOutcome::Cancelled("the command was stopped: run cancelled");
  if (WIFSIGNALED(wstatus)) {
    return TaskOutcome::Failure(
        "CommandKilled",
        "the command was killed by signal " + std::to_string(WTERMSIG(wstatus)) +
            (stderr_text.empty() ? "" : ": " + Tail(stderr_text, kMaxMessageBytes)));
  }
  const int code = WEXITSTATUS(wstatus);
  if (code != 0) return FailureFromOutput(code, stdout_text, stderr_text);
  const std::string result =
      stdout_text.find_first_not_of(" \t\r\n") == std::string::npos ? "" : stdout_text;
  if (!result.empty() && !nlohmann::json::accept(result)) {
    return TaskOutcome::Failure(
        "gridflow.InvalidResult",
        "the command exited 0 but its stdout is not JSON: " + Tail(result, 200));
  }
  return TaskOutcome::Success(result);
}

}  // namespace gridflow::worker
