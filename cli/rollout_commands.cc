// gridflowctl definitions rollout start|status|promote|rollback: canary rollouts of a
// definition version (docs/rollouts.md).
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/format.h"

namespace gridflow::cli {
namespace {

std::string Rate(int64_t failed, int64_t closed) {
  if (closed == 0) return "no runs closed";
  char text[64];
  std::snprintf(text, sizeof(text), "%lld of %lld failed (%.1f%%)", static_cast<long long>(failed),
                static_cast<long long>(closed), 100.0 * failed / closed);
  return text;
}

int Print(Client& client, const v1::Rollout& r) {
  if (client.json_output()) {
    std::cout << ToJson(r) << "\n";
    return kExitOk;
  }
  const std::string state =
      v1::RolloutState_Name(r.state()).substr(std::string("ROLLOUT_STATE_").size());
  std::cout << "rollout     " << r.id() << " of " << r.definition_name() << ": " << state << "\n"
            << "routing     " << r.percent() << "% of latest to version " << r.candidate_version()
            << ", the rest to version " << r.stable_version() << "\n"
            << "rules       roll back when version " << r.candidate_version() << " fails more than "
            << r.max_failure_increase() * 100 << " points above version " << r.stable_version()
            << " over " << ShortDuration(Millis(int64_t{r.window_seconds()} * 1000)) << " (once "
            << r.min_runs() << " candidate runs closed); "
            << (r.auto_promote_seconds() > 0
                    ? "promote after " +
                          ShortDuration(Millis(int64_t{r.auto_promote_seconds()} * 1000))
                    : std::string("promote by hand"))
            << "\n"
            << "started     " << FormatTime(r.start_time()) << " by " << r.started_by() << "\n";
  if (r.has_evaluate_time()) {
    std::cout << "evaluated   " << Ago(r.evaluate_time()) << ": candidate v"
              << r.candidate_version() << " " << Rate(r.candidate_failed(), r.candidate_closed())
              << "; stable v" << r.stable_version() << " "
              << Rate(r.stable_failed(), r.stable_closed()) << "\n";
  }
  if (r.has_end_time()) {
    std::cout << "ended       " << FormatTime(r.end_time()) << " by " << r.ended_by() << ": "
              << r.end_reason() << "\n";
  }
  return kExitOk;
}

struct StartArgs {
  std::string name;
  int version = 0;
  int percent = 0;
  std::string window, auto_promote;
  double max_failure_increase = 0;
  int min_runs = 0;
};

// A duration flag in seconds (0 when empty); false after printing why it is not one.
bool Seconds(const char* flag, const std::string& text, int* seconds) {
  *seconds = 0;
  if (text.empty()) return true;
  const std::optional<Millis> d = ParseDuration(text);
  if (!d || d->count() < 1000) {
    std::cerr << "gridflowctl: " << flag << ": '" << text
              << "' is not a duration of a second or more (30m, 2h, 1d)\n";
    return false;
  }
  *seconds = static_cast<int>(d->count() / 1000);
  return true;
}

int Start(Session& session, const StartArgs& args) {
  Client& client = session.client();
  v1::StartRolloutRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_definition_name(args.name);
  request.set_candidate_version(args.version);
  request.set_percent(args.percent);
  int window = 0;
  int promote = 0;
  if (!Seconds("--window", args.window, &window) ||
      !Seconds("--auto-promote-after", args.auto_promote, &promote)) {
    return kExitUsage;
  }
  request.set_window_seconds(window);
  request.set_auto_promote_seconds(promote);
  request.set_max_failure_increase(args.max_failure_increase / 100.0);
  request.set_min_runs(args.min_runs);
  request.set_identity(client.options().identity);
  v1::Rollout rollout;
  const grpc::Status status =
      client.rollouts().StartRollout(client.NewContext().get(), request, &rollout);
  if (!status.ok()) return client.Fail(status, "start rollout");
  return Print(client, rollout);
}

int Status(Session& session, const std::string& name) {
  Client& client = session.client();
  v1::GetRolloutRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_definition_name(name);
  v1::Rollout rollout;
  const grpc::Status status =
      client.rollouts().GetRollout(client.NewContext().get(), request, &rollout);
  if (!status.ok()) return client.Fail(status, "rollout status");
  return Print(client, rollout);
}

int End(Session& session, const std::string& name, const std::string& reason, bool promote) {
  Client& client = session.client();
  v1::EndRolloutRequest request;
  request.set_namespace_(client.options().namespace_name);
  request.set_definition_name(name);
  request.set_reason(reason);
  request.set_identity(client.options().identity);
  v1::Rollout rollout;
  const grpc::Status status =
      promote ? client.rollouts().PromoteRollout(client.NewContext().get(), request, &rollout)
              : client.rollouts().RollbackRollout(client.NewContext().get(), request, &rollout);
  if (!status.ok()) return client.Fail(status, promote ? "promote rollout" : "roll back rollout");
  return Print(client, rollout);
}

}  // namespace

void AddRolloutCommands(CLI::App& definitions, Session& session) {
  auto* group = definitions.add_subcommand(
      "rollout", "canary rollouts: route a share of new runs to a candidate version");
  group->require_subcommand(1);

  auto start_args = std::make_shared<StartArgs>();
  auto* start = group->add_subcommand(
      "start", "route --percent of the starts that ask for the latest to --version");
  start->add_option("name", start_args->name, "definition name")->required();
  start->add_option("--version", start_args->version, "the candidate version")->required();
  start->add_option("--percent", start_args->percent, "share of new runs, 1-100")->required();
  start->add_option("--window", start_args->window,
                    "failure rates are compared over this window (default 1h)");
  start->add_option("--max-failure-increase", start_args->max_failure_increase,
                    "roll back when the candidate fails more than this many percentage points "
                    "above the stable version (default 5)");
  start->add_option("--min-runs", start_args->min_runs,
                    "candidate runs closed in the window before a rule applies (default 20)");
  start->add_option("--auto-promote-after", start_args->auto_promote,
                    "promote automatically after this long (default: by hand)");
  start->callback([&session, start_args] { session.exit_code = Start(session, *start_args); });

  auto name = std::make_shared<std::string>();
  auto* status = group->add_subcommand("status", "the running (or latest) rollout and its rates");
  status->add_option("name", *name, "definition name")->required();
  status->callback([&session, name] { session.exit_code = Status(session, *name); });

  auto promote_name = std::make_shared<std::string>();
  auto* promote =
      group->add_subcommand("promote", "end the rollout: the candidate is the latest for all");
  promote->add_option("name", *promote_name, "definition name")->required();
  promote->callback(
      [&session, promote_name] { session.exit_code = End(session, *promote_name, "", true); });

  struct RollbackArgs {
    std::string name, reason;
  };
  auto rollback_args = std::make_shared<RollbackArgs>();
  auto* rollback = group->add_subcommand(
      "rollback", "end the rollout: the candidate is withheld, the stable version is the latest");
  rollback->add_option("name", rollback_args->name, "definition name")->required();
  rollback->add_option("--reason", rollback_args->reason, "why (recorded with the rollout)")
      ->required();
  rollback->callback([&session, rollback_args] {
    session.exit_code = End(session, rollback_args->name, rollback_args->reason, false);
  });
}

}  // namespace gridflow::cli
