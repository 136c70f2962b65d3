// Workflow definitions: the JSON document users register, parsed and fully validated.
// The format is documented in docs/dsl.md. Parse() either returns a Definition the engine can run
// without further checks, or INVALID_ARGUMENT naming the path of the first problem
// ("steps[2].retry.max_attempts: must be between 1 and 100"). Unknown fields are errors, so a
// typo never silently changes behaviour. Pure: no I/O.
//
// Structure: a definition is a tree of blocks. The top-level `steps` is block 0; a parallel
// step's branches and a foreach step's body are blocks of their own. Within a block steps run in
// sequence (following `next`, choices and branch targets, which stay inside the block); a block
// ends when a step has no successor. Step names are unique across the whole definition.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/duration.h"
#include "common/priority.h"
#include "common/status.h"
#include "engine/dsl/expression.h"
#include "engine/dsl/retry_policy.h"
#include "engine/dsl/search_attributes.h"
#include "engine/dsl/template.h"

namespace gridflow::dsl {

enum class StepKind {
  kTask,
  kTimer,
  kWaitSignal,
  kChoice,
  kParallel,
  kForeach,
  kChild,
  kSucceed,
  kFail
};

std::string_view StepKindName(StepKind kind);

// Dispatch classes (common/priority.h; docs/dsl.md, "Priorities and deadlines").
using gridflow::kDefaultPriority;
using gridflow::kLowestPriority;
using gridflow::kUrgentPriority;
using gridflow::PriorityName;
inline constexpr const char* kPriorityExpected =
    "must be 0 to 4 or one of urgent, high, normal, low, bulk";
// The class of a priority value (an integer 0-4 or a class name); nullopt for anything else.
std::optional<int> PriorityClass(const nlohmann::json& value);

// When a task type's attempts fail this often, the engine stops dispatching it for a while
// (docs/dispatch.md, "Circuit breakers").
struct CircuitBreakerPolicy {
  double failure_rate = 0.5;  // failed share of the attempts in the window that opens it
  int min_attempts = 10;      // attempts in the window before the rate counts
  Millis window{60'000};
  Millis cool_down{30'000};  // open this long before one probe attempt
};

// What a task step (or a compensation) runs.
struct TaskSpec {
  std::string task_type;
  std::string task_queue = "default";
  Template queue_template;      // "=expression": the queue of each task, instead of task_queue
  Millis schedule_to_start{0};  // 0: none; a task nobody took in this time fails its attempt
  std::optional<CircuitBreakerPolicy> circuit_breaker;
  RetryPolicy retry;
  Millis start_to_close{300'000};
  std::optional<Millis> heartbeat_timeout;
  Template input;  // absent: the whole scope
};

struct Choice {
  Expression when;
  std::string next;
};

struct Branch {
  std::string name;
  int block = 0;
};

struct Step {
  std::string name;
  StepKind kind = StepKind::kTask;
  std::string path;  // "steps[3].branches[1].steps[0]", for messages
  int block = 0;     // the block this step belongs to
  // The successor on success within the block; empty at the end of the block.
  std::string next;

  // kTask
  TaskSpec task;
  std::optional<Expression> deadline;     // an instant
  std::string on_deadline;                // empty: a missed deadline fails the run
  Template priority;                      // absent: kDefaultPriority
  std::optional<Expression> dispatch_by;  // an instant: dispatch before it
  std::optional<TaskSpec> compensate;

  // kTimer: one of the two
  std::optional<Millis> duration;
  std::optional<Expression> until;  // an instant

  // kWaitSignal
  std::string signal;
  std::optional<Millis> timeout;
  std::optional<Expression> timeout_at;
  std::string on_timeout;  // empty: a timeout fails the run

  // kChoice
  std::vector<Choice> choices;
  std::string default_next;  // empty: no match fails the run

  // kParallel
  std::vector<Branch> branches;
  bool join_first = false;

  // kForeach
  std::optional<Expression> items;
  int max_concurrency = 10;
  int body_block = -1;
  Template output;  // per iteration; absent: the iteration's last step output

  // kChild (input in task.input)
  std::string child_definition;
  int child_version = 0;

  // kSucceed: the run's (or branch's, or iteration's) result; absent: the run data
  Template result;

  // kFail
  std::string error_type = "WorkflowFailed";
  Template message;  // a string, or an expression giving one
};

class Definition {
 public:
  static constexpr size_t kMaxSteps = 1000;
  static constexpr int kMaxAttempts = 100;
  static constexpr int kMaxConcurrency = 1000;
  // Arrays and objects inside one another in a definition's JSON (checked before parsing).
  static constexpr int kMaxJsonDepth = 64;

  // Parses and validates JSON text (size is the caller's limit; depth, UTF-8 and U+0000 are
  // checked here). Errors start with the JSON path of the problem or "definition_json:".
  static Status Parse(std::string_view json_text, Definition* out);
  static Status FromJson(const nlohmann::json& doc, Definition* out);

  const std::string& name() const { return name_; }
  int version() const { return version_; }
  // The definition's market time zone (IANA), for showing times; empty when it declares none.
  const std::string& time_zone() const { return time_zone_; }
  // The run's deadline (an instant, evaluated when the run starts); every task's dispatch
  // deadline is at most this, and the run fails when it passes.
  const std::optional<Expression>& deadline() const { return deadline_; }
  // Declared search attributes (docs/search.md), in name order; empty when none.
  const std::vector<SearchAttribute>& search_attributes() const { return search_attributes_; }
  // The top-level step that is or contains `step` (for a step inside a branch or an iteration,
  // the parallel or foreach step around it).
  const Step& TopLevelStepOf(const Step& step) const;
  const std::vector<Step>& steps() const { return steps_; }
  // The first step of a block (block 0: the definition's first step).
  const Step& FirstStepOf(int block) const { return steps_[blocks_[block].front()]; }
  const Step& first_step() const { return FirstStepOf(0); }
  // The most urgent class among the tasks a new run is handed at once: its first step's, or for
  // a foreach or parallel first step, its body's or branches' first steps' (recursively). A class
  // given by an expression, and any other kind of first step, count as kDefaultPriority.
  int StartClass() const { return StartClassOf(0); }
  // nullptr when there is no step of that name.
  const Step* FindStep(std::string_view name) const;
  // The step after `step` succeeds; nullptr at the end of its block.
  const Step* Next(const Step& step) const;
  // The document in canonical form (keys sorted, no insignificant white space).
  const std::string& canonical_json() const { return canonical_json_; }

 private:
  friend class DefinitionParser;
  int StartClassOf(int block) const;

  std::string name_;
  int version_ = 0;
  std::vector<Step> steps_;
  std::vector<std::vector<size_t>> blocks_;  // step indices per block, in document order
  std::vector<int> block_owner_;             // per block: the step owning it (-1 for block 0)
  std::string time_zone_;
  std::optional<Expression> deadline_;
  std::vector<SearchAttribute> search_attributes_;
  std::unordered_map<std::string, size_t> index_;
  std::string canonical_json_;
};

// Names of definitions, steps, task types, queues, signals and error types: a letter, then
// letters, digits, '_', '-', '.'; at most 128 characters.
bool IsValidName(std::string_view name);

}  // namespace gridflow::dsl
