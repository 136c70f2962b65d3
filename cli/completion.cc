// gridflowctl completion bash: a bash completion script generated from the command tree, so it
// always matches the commands and flags this binary has.
#include <iostream>
#include <map>
#include <string>

#include "cli/commands.h"
#include "cli/exit_codes.h"

namespace gridflow::cli {
namespace {

// The words offered after each command path ("gridflowctl runs list" → its subcommands and flags).
void Collect(CLI::App& app, const std::string& path, std::map<std::string, std::string>* words) {
  std::string offered;
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    offered += sub->get_name() + " ";
    Collect(*sub, path + " " + sub->get_name(), words);
  }
  for (const CLI::Option* option : app.get_options()) {
    for (const std::string& name : option->get_lnames())
      offered += "--" + name + " ";
    for (const std::string& name : option->get_snames())
      offered += "-" + name + " ";
  }
  if (!offered.empty()) offered.pop_back();
  (*words)[path] = offered;
}

std::string BashScript(CLI::App& app) {
  std::map<std::string, std::string> words;
  Collect(app, "gridflowctl", &words);
  std::string script = R"sh(# bash completion for gridflowctl. Install:
#   gridflowctl completion bash > /etc/bash_completion.d/gridflowctl
_gridflowctl() {
  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
  local -A words=(
)sh";
  for (const auto& [path, offered] : words)
    script += "    [\"" + path + "\"]=\"" + offered + "\"\n";
  script += R"sh(  )
  case "$prev" in
    -o|--output) COMPREPLY=($(compgen -W "table json" -- "$cur")); return ;;
    --status) COMPREPLY=($(compgen -W "running cancelling compensating completed failed cancelled terminated" -- "$cur")); return ;;
    --sort) COMPREPLY=($(compgen -W "created updated" -- "$cur")); return ;;
    --config|--tls-ca|--tls-cert|--tls-key|--token-file|--input-file)
      COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  # The deepest command named so far decides what is offered.
  local path="gridflowctl" word i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="${COMP_WORDS[i]}"
    [[ -n "${words["$path $word"]+set}" ]] && path="$path $word"
  done
  if [[ "$path" == "gridflowctl definitions apply" && "$cur" != -* ]]; then
    COMPREPLY=($(compgen -f -- "$cur")); return
  fi
  COMPREPLY=($(compgen -W "${words["$path"]}" -- "$cur"))
}
complete -F _gridflowctl gridflowctl
)sh";
  return script;
}

}  // namespace

void AddCompletionCommand(CLI::App& app, Session& session) {
  CLI::App* group = app.add_subcommand("completion", "print a shell completion script");
  group->require_subcommand(1);
  group
      ->add_subcommand("bash",
                       "bash completion: gridflowctl completion bash > "
                       "/etc/bash_completion.d/gridflowctl")
      ->callback([&app, &session] {
        std::cout << BashScript(app);
        session.exit_code = kExitOk;
      });
}

}  // namespace gridflow::cli
