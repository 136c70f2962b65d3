// Workflow definitions: the JSON document users register, parsed and fully validated.
// The format is documented in docs/dsl.md. Parse() either returns a Definition that the scheduler
// can run without further checks, or INVALID_ARGUMENT naming the path of the first problem
// ("steps[2].retry.max_attempts: must be between 1 and 100"). Unknown fields are errors, so a
// typo never silently changes behaviour. Pure: no I/O.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/duration.h"
#include "common/status.h"
#include "engine/dsl/retry_policy.h"

namespace gridflow::dsl {

enum class StepKind { kTask, kSucceed, kFail };

std::string_view StepKindName(StepKind kind);

struct TaskSpec {
  std::string task_type;
  std::string task_queue = "default";
  RetryPolicy retry;
  Millis start_to_close{300'000};
  std::optional<Millis> heartbeat_timeout;
};

struct FailSpec {
  std::string error_type = "WorkflowFailed";
  std::string message;
};

struct Step {
  std::string name;
  StepKind kind = StepKind::kTask;
  // The step that follows on success; empty means the run completes after this step.
  std::string next;
  TaskSpec task;  // kTask only
  FailSpec fail;  // kFail only
};

class Definition {
 public:
  // Limits on what a definition may contain.
  static constexpr size_t kMaxSteps = 1000;
  static constexpr int kMaxAttempts = 100;

  static Status Parse(std::string_view json_text, Definition* out);
  static Status FromJson(const nlohmann::json& doc, Definition* out);

  const std::string& name() const { return name_; }
  int version() const { return version_; }
  const std::vector<Step>& steps() const { return steps_; }
  const Step& first_step() const { return steps_.front(); }
  // nullptr when there is no step of that name.
  const Step* FindStep(std::string_view name) const;
  // The step after `step` completes successfully; nullptr when the run completes instead.
  const Step* Next(const Step& step) const;
  // The document in canonical form (keys sorted, no insignificant white space).
  const std::string& canonical_json() const { return canonical_json_; }

 private:
  std::string name_;
  int version_ = 0;
  std::vector<Step> steps_;
  std::unordered_map<std::string, size_t> index_;
  std::string canonical_json_;
};

// Names of definitions, steps, task types and queues: a letter, then letters, digits, '_', '-',
// '.'; at most 128 characters.
bool IsValidName(std::string_view name);

}  // namespace gridflow::dsl
