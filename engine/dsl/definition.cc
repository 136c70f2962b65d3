#include "engine/dsl/definition.h"

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <limits>
#include <set>

#include "common/json_text.h"
#include "engine/dsl/time_functions.h"

namespace gridflow::dsl {
namespace {

using nlohmann::json;

constexpr Millis kMaxTimeout{30LL * 24 * 3600 * 1000};   // 30 days
constexpr Millis kMaxRetryInterval{24LL * 3600 * 1000};  // 1 day
constexpr Millis kMaxWait{366LL * 24 * 3600 * 1000};     // timers and signal timeouts: a year
// Run data keeps the input under "input"; a foreach iteration sees "item" and "index".
constexpr std::string_view kReservedNames[] = {"input", "item", "index"};

std::string Join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

Status Error(const std::string& path, const std::string& message) {
  return Status::InvalidArgument(path + ": " + message);
}

std::string TypeName(const json& v) {
  return v.type_name();
}

Status CheckObject(const json& v, const std::string& path,
                   std::initializer_list<std::string_view> allowed) {
  if (!v.is_object()) return Error(path, "must be an object, not " + TypeName(v));
  for (const auto& [key, value] : v.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string list;
      for (std::string_view a : allowed)
        list += (list.empty() ? "" : ", ") + std::string(a);
      return Error(Join(path, key), "unknown field (allowed here: " + list + ")");
    }
  }
  return Status::Ok();
}

// Reads obj[key] as a string into *out. Absent: error if required, else *out is left unchanged.
Status ReadString(const json& obj, const std::string& path, const char* key, bool required,
                  std::string* out) {
  const auto it = obj.find(key);
  if (it == obj.end()) return required ? Error(Join(path, key), "is required") : Status::Ok();
  if (!it->is_string()) return Error(Join(path, key), "must be a string, not " + TypeName(*it));
  *out = it->get<std::string>();
  return Status::Ok();
}

Status ReadName(const json& obj, const std::string& path, const char* key, bool required,
                std::string* out) {
  Status s = ReadString(obj, path, key, required, out);
  if (!s.ok()) return s;
  if (obj.contains(key) && !IsValidName(*out)) {
    return Error(Join(path, key), "'" + QuotePrefix(*out) +
                                      "' is not a valid name (a letter, then letters, digits, '_', "
                                      "'-' or '.'; at most 128 characters)");
  }
  return Status::Ok();
}

Status ReadDuration(const json& obj, const std::string& path, const char* key, Millis max,
                    Millis* out) {
  const auto it = obj.find(key);
  if (it == obj.end()) return Status::Ok();
  const std::string p = Join(path, key);
  if (!it->is_string()) return Error(p, "must be a duration string such as \"30s\"");
  const auto d = ParseDuration(it->get<std::string>());
  if (!d) {
    return Error(p, "'" + QuotePrefix(it->get<std::string>()) +
                        "' is not a duration (e.g. 250ms, 30s, 5m, 1h30m)");
  }
  if (d->count() <= 0) return Error(p, "must be greater than zero");
  if (*d > max) return Error(p, "must be at most " + FormatDuration(max));
  *out = *d;
  return Status::Ok();
}

Status ReadOptionalDuration(const json& obj, const std::string& path, const char* key, Millis max,
                            std::optional<Millis>* out) {
  if (!obj.contains(key)) return Status::Ok();
  Millis d{0};
  Status s = ReadDuration(obj, path, key, max, &d);
  if (s.ok()) *out = d;
  return s;
}

// An expression field; a leading "=" is allowed (and ignored) for symmetry with templates.
Status ReadExpression(const json& obj, const std::string& path, const char* key, bool required,
                      std::optional<Expression>* out) {
  std::string text;
  Status s = ReadString(obj, path, key, required, &text);
  if (!s.ok() || !obj.contains(key)) return s;
  if (text.rfind('=', 0) == 0 && text.rfind("==", 0) != 0) text = text.substr(1);
  Expression e;
  if (s = Expression::Parse(text, &e); !s.ok()) return Error(Join(path, key), s.message());
  *out = std::move(e);
  return Status::Ok();
}

Status ReadTemplate(const json& obj, const std::string& path, const char* key, Template* out) {
  const auto it = obj.find(key);
  if (it == obj.end()) return Status::Ok();
  return Template::Compile(*it, Join(path, key), out);
}

Status ReadRetry(const json& v, const std::string& path, RetryPolicy* retry) {
  Status s = CheckObject(v, path,
                         {"max_attempts", "initial_interval", "backoff_coefficient", "max_interval",
                          "non_retryable_error_types", "jitter"});
  if (!s.ok()) return s;
  if (const auto it = v.find("max_attempts"); it != v.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 ||
        it->get<int64_t>() > Definition::kMaxAttempts) {
      return Error(Join(path, "max_attempts"),
                   "must be an integer between 1 and " + std::to_string(Definition::kMaxAttempts));
    }
    retry->max_attempts = it->get<int>();
  }
  if (s = ReadDuration(v, path, "initial_interval", kMaxRetryInterval, &retry->initial_interval);
      !s.ok()) {
    return s;
  }
  if (const auto it = v.find("backoff_coefficient"); it != v.end()) {
    if (!it->is_number() || it->get<double>() < 1.0 || it->get<double>() > 100.0) {
      return Error(Join(path, "backoff_coefficient"), "must be a number between 1.0 and 100.0");
    }
    retry->backoff_coefficient = it->get<double>();
  }
  retry->max_interval = std::min(retry->initial_interval * 100, kMaxRetryInterval);
  if (s = ReadDuration(v, path, "max_interval", kMaxRetryInterval, &retry->max_interval); !s.ok()) {
    return s;
  }
  if (retry->max_interval < retry->initial_interval) {
    return Error(Join(path, "max_interval"), "must not be shorter than initial_interval");
  }
  if (const auto it = v.find("non_retryable_error_types"); it != v.end()) {
    const std::string p = Join(path, "non_retryable_error_types");
    if (!it->is_array()) return Error(p, "must be an array of error type strings");
    for (size_t i = 0; i < it->size(); ++i) {
      const json& e = (*it)[i];
      if (!e.is_string() || e.get<std::string>().empty()) {
        return Error(Index(p, i), "must be a non-empty string");
      }
      retry->non_retryable_error_types.push_back(e.get<std::string>());
    }
  }
  if (const auto it = v.find("jitter"); it != v.end()) {
    if (!it->is_boolean()) return Error(Join(path, "jitter"), "must be true or false");
    retry->jitter = it->get<bool>();
  }
  return Status::Ok();
}

Status ReadTimeouts(const json& v, const std::string& path, TaskSpec* task) {
  Status s = CheckObject(v, path, {"start_to_close", "heartbeat", "schedule_to_start"});
  if (!s.ok()) return s;
  if (s = ReadDuration(v, path, "schedule_to_start", kMaxTimeout, &task->schedule_to_start);
      !s.ok()) {
    return s;
  }
  if (s = ReadDuration(v, path, "start_to_close", kMaxTimeout, &task->start_to_close); !s.ok()) {
    return s;
  }
  Millis heartbeat{0};
  if (s = ReadDuration(v, path, "heartbeat", kMaxTimeout, &heartbeat); !s.ok()) return s;
  if (heartbeat.count() > 0) {
    if (heartbeat > task->start_to_close) {
      return Error(Join(path, "heartbeat"), "must not be longer than start_to_close");
    }
    task->heartbeat_timeout = heartbeat;
  }
  return Status::Ok();
}

Status ReadCircuitBreaker(const json& v, const std::string& path, CircuitBreakerPolicy* out) {
  Status s = CheckObject(v, path, {"failure_rate", "min_attempts", "window", "cool_down"});
  if (!s.ok()) return s;
  if (const auto it = v.find("failure_rate"); it != v.end()) {
    if (!it->is_number() || it->get<double>() <= 0.0 || it->get<double>() > 1.0) {
      return Error(Join(path, "failure_rate"), "must be a number above 0 and at most 1");
    }
    out->failure_rate = it->get<double>();
  }
  if (const auto it = v.find("min_attempts"); it != v.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 100000) {
      return Error(Join(path, "min_attempts"), "must be an integer between 1 and 100000");
    }
    out->min_attempts = it->get<int>();
  }
  if (s = ReadDuration(v, path, "window", kMaxTimeout, &out->window); !s.ok()) return s;
  if (s = ReadDuration(v, path, "cool_down", kMaxTimeout, &out->cool_down); !s.ok()) return s;
  if (out->window < Millis(1000)) return Error(Join(path, "window"), "must be at least 1s");
  if (out->cool_down < Millis(100)) {
    return Error(Join(path, "cool_down"), "must be at least 100ms");
  }
  return Status::Ok();
}

// `task_queue`: a queue name, or "=expression" giving one per task (routing per item).
Status ReadTaskQueue(const json& v, const std::string& path, TaskSpec* task) {
  const auto it = v.find("task_queue");
  if (it != v.end() && it->is_string()) {
    const std::string& text = it->get_ref<const std::string&>();
    if (text.rfind('=', 0) == 0 && text.rfind("==", 0) != 0) {
      return Template::Compile(*it, Join(path, "task_queue"), &task->queue_template);
    }
  }
  return ReadName(v, path, "task_queue", false, &task->task_queue);
}

// The fields shared by task steps and compensations.
Status ReadTaskSpec(const json& v, const std::string& path, TaskSpec* task) {
  Status s = ReadName(v, path, "task_type", true, &task->task_type);
  if (!s.ok()) return s;
  if (s = ReadTaskQueue(v, path, task); !s.ok()) return s;
  if (v.contains("circuit_breaker")) {
    task->circuit_breaker.emplace();
    s = ReadCircuitBreaker(v["circuit_breaker"], Join(path, "circuit_breaker"),
                           &*task->circuit_breaker);
    if (!s.ok()) return s;
  }
  if (v.contains("retry")) {
    if (s = ReadRetry(v["retry"], Join(path, "retry"), &task->retry); !s.ok()) return s;
  }
  if (v.contains("timeouts")) {
    if (s = ReadTimeouts(v["timeouts"], Join(path, "timeouts"), task); !s.ok()) return s;
  }
  return ReadTemplate(v, path, "input", &task->input);
}

}  // namespace

// Builds a Definition from its document: steps and blocks first, then each block's graph.
class DefinitionParser {
 public:
  explicit DefinitionParser(Definition* def) : def_(*def) {}

  Status Parse(const json& doc) {
    if (!doc.is_object()) {
      return Status::InvalidArgument("definition: must be a JSON object, not " + TypeName(doc));
    }
    Status s = CheckObject(
        doc, "",
        {"name", "version", "description", "time_zone", "deadline", "search_attributes", "steps"});
    if (!s.ok()) return s;
    if (s = ReadName(doc, "", "name", true, &def_.name_); !s.ok()) return s;
    const auto version = doc.find("version");
    if (version == doc.end()) return Error("version", "is required");
    if (!version->is_number_integer() || version->get<int64_t>() < 1 ||
        version->get<int64_t>() > 2'147'483'647) {
      return Error("version", "must be a positive integer");
    }
    def_.version_ = version->get<int>();
    if (doc.contains("description") && !doc["description"].is_string()) {
      return Error("description", "must be a string");
    }
    if (s = ReadString(doc, "", "time_zone", false, &def_.time_zone_); !s.ok()) return s;
    if (s = ReadExpression(doc, "", "deadline", false, &def_.deadline_); !s.ok()) return s;
    if (doc.contains("time_zone") && !IsKnownTimeZone(def_.time_zone_)) {
      return Error("time_zone", "unknown time zone '" + def_.time_zone_ +
                                    "' (use an IANA name such as Europe/Brussels)");
    }
    if (s = ParseSearchAttributes(doc, &def_.search_attributes_); !s.ok()) return s;
    int root = 0;
    if (s = ParseBlock(doc, "", "steps", &root); !s.ok()) return s;
    for (size_t b = 0; b < def_.blocks_.size(); ++b) {
      if (s = CheckBlock(static_cast<int>(b)); !s.ok()) return s;
      def_.block_owner_.push_back(
          owner_names_[b].empty() ? -1 : static_cast<int>(def_.index_.at(owner_names_[b])));
    }
    def_.canonical_json_ = doc.dump();
    return Status::Ok();
  }

 private:
  // obj[key] is a block's array of steps.
  Status ParseBlock(const json& obj, const std::string& path, const char* key, int* block) {
    const std::string p = Join(path, key);
    const auto steps = obj.find(key);
    if (steps == obj.end()) return Error(p, "is required");
    if (!steps->is_array() || steps->empty()) return Error(p, "must be a non-empty array of steps");
    *block = static_cast<int>(def_.blocks_.size());
    def_.blocks_.emplace_back();
    owner_names_.push_back(owner_);
    for (size_t i = 0; i < steps->size(); ++i) {
      if (def_.steps_.size() >= Definition::kMaxSteps) {
        return Error(Index(p, i), "a definition may have at most " +
                                      std::to_string(Definition::kMaxSteps) + " steps");
      }
      Step step;
      step.block = *block;
      step.path = Index(p, i);
      Status s = ReadStep((*steps)[i], &step);
      if (!s.ok()) return s;
      if (const auto it = def_.index_.find(step.name); it != def_.index_.end()) {
        return Error(step.path + ".name", "duplicate step name '" + step.name +
                                              "' (first used by " + def_.steps_[it->second].path +
                                              ")");
      }
      def_.index_[step.name] = def_.steps_.size();
      def_.blocks_[*block].push_back(def_.steps_.size());
      def_.steps_.push_back(std::move(step));
    }
    return Status::Ok();
  }

  Status ReadStep(const json& v, Step* step) {
    const std::string& path = step->path;
    if (!v.is_object()) return Error(path, "must be an object, not " + TypeName(v));
    Status s = ReadName(v, path, "name", true, &step->name);
    if (!s.ok()) return s;
    // Blocks opened while reading this step (branches, a foreach body) belong to it.
    const std::string outer_owner = owner_;
    owner_ = step->name;
    s = ReadStepFields(v, step);
    owner_ = outer_owner;
    return s;
  }

  Status ReadStepFields(const json& v, Step* step) {
    const std::string& path = step->path;
    Status s;
    for (std::string_view reserved : kReservedNames) {
      if (step->name == reserved) {
        return Error(Join(path, "name"),
                     "'" + QuotePrefix(step->name) + "' is reserved (run data uses it)");
      }
    }
    std::string kind;
    if (s = ReadString(v, path, "kind", true, &kind); !s.ok()) return s;
    if (kind == "task") return ReadTask(v, step);
    if (kind == "timer") return ReadTimer(v, step);
    if (kind == "wait_signal") return ReadWaitSignal(v, step);
    if (kind == "choice") return ReadChoice(v, step);
    if (kind == "parallel") return ReadParallel(v, step);
    if (kind == "foreach") return ReadForeach(v, step);
    if (kind == "child") return ReadChild(v, step);
    if (kind == "succeed") {
      step->kind = StepKind::kSucceed;
      if (s = CheckObject(v, path, {"name", "kind", "description", "result"}); !s.ok()) return s;
      return ReadTemplate(v, path, "result", &step->result);
    }
    if (kind == "fail") {
      step->kind = StepKind::kFail;
      s = CheckObject(v, path, {"name", "kind", "description", "error_type", "message"});
      if (!s.ok()) return s;
      if (s = ReadName(v, path, "error_type", false, &step->error_type); !s.ok()) return s;
      if (v.contains("message") && !v["message"].is_string()) {
        return Error(Join(path, "message"), "must be a string");
      }
      return ReadTemplate(v, path, "message", &step->message);
    }
    return Error(Join(path, "kind"),
                 "unknown step kind '" + kind +
                     "' (supported: task, timer, wait_signal, choice, parallel, foreach, child, "
                     "succeed, fail)");
  }

  Status ReadTask(const json& v, Step* step) {
    const std::string& path = step->path;
    step->kind = StepKind::kTask;
    Status s = CheckObject(v, path,
                           {"name", "kind", "description", "next", "task_type", "task_queue",
                            "retry", "timeouts", "input", "deadline", "on_deadline", "compensate",
                            "priority", "dispatch_by", "circuit_breaker"});
    if (!s.ok()) return s;
    if (s = ReadTaskSpec(v, path, &step->task); !s.ok()) return s;
    if (s = ReadExpression(v, path, "deadline", false, &step->deadline); !s.ok()) return s;
    if (s = ReadExpression(v, path, "dispatch_by", false, &step->dispatch_by); !s.ok()) return s;
    if (s = ReadTemplate(v, path, "priority", &step->priority); !s.ok()) return s;
    if (step->priority.present() && step->priority.constant() &&
        !PriorityClass(step->priority.literal())) {
      return Error(Join(path, "priority"), kPriorityExpected);
    }
    if (s = ReadName(v, path, "on_deadline", false, &step->on_deadline); !s.ok()) return s;
    if (!step->on_deadline.empty() && !step->deadline) {
      return Error(Join(path, "on_deadline"), "needs a deadline");
    }
    if (v.contains("compensate")) {
      const std::string p = Join(path, "compensate");
      if (s = CheckObject(v["compensate"], p,
                          {"task_type", "task_queue", "retry", "timeouts", "input"});
          !s.ok()) {
        return s;
      }
      TaskSpec compensation;
      if (s = ReadTaskSpec(v["compensate"], p, &compensation); !s.ok()) return s;
      if (compensation.queue_template.present()) {
        // An undo runs after the step's scope is gone: its queue is fixed.
        return Error(Join(p, "task_queue"), "must be a queue name (no expression)");
      }
      step->compensate = std::move(compensation);
    }
    return ReadNext(v, step);
  }

  Status ReadTimer(const json& v, Step* step) {
    const std::string& path = step->path;
    step->kind = StepKind::kTimer;
    Status s = CheckObject(v, path, {"name", "kind", "description", "next", "duration", "until"});
    if (!s.ok()) return s;
    if (s = ReadOptionalDuration(v, path, "duration", kMaxWait, &step->duration); !s.ok()) return s;
    if (s = ReadExpression(v, path, "until", false, &step->until); !s.ok()) return s;
    if (step->duration.has_value() == step->until.has_value()) {
      return Error(path, "a timer needs exactly one of duration and until");
    }
    return ReadNext(v, step);
  }

  Status ReadWaitSignal(const json& v, Step* step) {
    const std::string& path = step->path;
    step->kind = StepKind::kWaitSignal;
    Status s = CheckObject(
        v, path,
        {"name", "kind", "description", "next", "signal", "timeout", "timeout_at", "on_timeout"});
    if (!s.ok()) return s;
    if (s = ReadName(v, path, "signal", true, &step->signal); !s.ok()) return s;
    if (s = ReadOptionalDuration(v, path, "timeout", kMaxWait, &step->timeout); !s.ok()) return s;
    if (s = ReadExpression(v, path, "timeout_at", false, &step->timeout_at); !s.ok()) return s;
    if (step->timeout && step->timeout_at) {
      return Error(path, "give either timeout or timeout_at, not both");
    }
    if (s = ReadName(v, path, "on_timeout", false, &step->on_timeout); !s.ok()) return s;
    if (!step->on_timeout.empty() && !step->timeout && !step->timeout_at) {
      return Error(Join(path, "on_timeout"), "needs a timeout or timeout_at");
    }
    return ReadNext(v, step);
  }

  Status ReadChoice(const json& v, Step* step) {
    const std::string& path = step->path;
    step->kind = StepKind::kChoice;
    Status s = CheckObject(v, path, {"name", "kind", "description", "choices", "default"});
    if (!s.ok()) return s;
    const auto choices = v.find("choices");
    const std::string p = Join(path, "choices");
    if (choices == v.end()) return Error(p, "is required");
    if (!choices->is_array() || choices->empty()) return Error(p, "must be a non-empty array");
    for (size_t i = 0; i < choices->size(); ++i) {
      const std::string cp = Index(p, i);
      if (s = CheckObject((*choices)[i], cp, {"when", "next"}); !s.ok()) return s;
      std::optional<Expression> when;
      if (s = ReadExpression((*choices)[i], cp, "when", true, &when); !s.ok()) return s;
      Choice choice{std::move(*when), ""};
      if (s = ReadName((*choices)[i], cp, "next", true, &choice.next); !s.ok()) return s;
      step->choices.push_back(std::move(choice));
    }
    return ReadName(v, path, "default", false, &step->default_next);
  }

  Status ReadParallel(const json& v, Step* step) {
    const std::string& path = step->path;
    step->kind = StepKind::kParallel;
    Status s = CheckObject(v, path, {"name", "kind", "description", "next", "branches", "join"});
    if (!s.ok()) return s;
    const auto branches = v.find("branches");
    const std::string p = Join(path, "branches");
    if (branches == v.end()) return Error(p, "is required");
    if (!branches->is_array() || branches->empty()) return Error(p, "must be a non-empty array");
    std::set<std::string> names;
    for (size_t i = 0; i < branches->size(); ++i) {
      const std::string bp = Index(p, i);
      if (s = CheckObject((*branches)[i], bp, {"name", "steps"}); !s.ok()) return s;
      Branch branch;
      if (s = ReadName((*branches)[i], bp, "name", true, &branch.name); !s.ok()) return s;
      if (!names.insert(branch.name).second) {
        return Error(Join(bp, "name"), "duplicate branch name '" + branch.name + "'");
      }
      if (s = ParseBlock((*branches)[i], bp, "steps", &branch.block); !s.ok()) return s;
      step->branches.push_back(std::move(branch));
    }
    std::string join = "all";
    if (s = ReadString(v, path, "join", false, &join); !s.ok()) return s;
    if (join != "all" && join != "first") {
      return Error(Join(path, "join"), "must be \"all\" or \"first\", not '" + join + "'");
    }
    step->join_first = join == "first";
    return ReadNext(v, step);
  }

  Status ReadForeach(const json& v, Step* step) {
    const std::string& path = step->path;
    step->kind = StepKind::kForeach;
    Status s = CheckObject(
        v, path,
        {"name", "kind", "description", "next", "items", "max_concurrency", "steps", "output"});
    if (!s.ok()) return s;
    if (s = ReadExpression(v, path, "items", true, &step->items); !s.ok()) return s;
    if (const auto it = v.find("max_concurrency"); it != v.end()) {
      if (!it->is_number_integer() || it->get<int64_t>() < 1 ||
          it->get<int64_t>() > Definition::kMaxConcurrency) {
        return Error(
            Join(path, "max_concurrency"),
            "must be an integer between 1 and " + std::to_string(Definition::kMaxConcurrency));
      }
      step->max_concurrency = it->get<int>();
    }
    if (s = ParseBlock(v, path, "steps", &step->body_block); !s.ok()) return s;
    if (s = ReadTemplate(v, path, "output", &step->output); !s.ok()) return s;
    return ReadNext(v, step);
  }

  Status ReadChild(const json& v, Step* step) {
    const std::string& path = step->path;
    step->kind = StepKind::kChild;
    Status s = CheckObject(
        v, path, {"name", "kind", "description", "next", "definition", "version", "input"});
    if (!s.ok()) return s;
    if (s = ReadName(v, path, "definition", true, &step->child_definition); !s.ok()) return s;
    if (const auto it = v.find("version"); it != v.end()) {
      if (!it->is_number_integer() || it->get<int64_t>() < 0 ||
          it->get<int64_t>() > 2'147'483'647) {
        return Error(Join(path, "version"), "must be a positive integer (or 0 for the latest)");
      }
      step->child_version = it->get<int>();
    }
    if (step->child_definition == def_.name_) {
      return Error(Join(path, "definition"), "a definition cannot start itself as a child");
    }
    return ReadTemplate(v, path, "input", &step->task.input);
  }

  Status ReadNext(const json& v, Step* step) {
    if (v.contains("next") && v["next"] == "") {
      return Error(Join(step->path, "next"),
                   "must name a step (omit it to go on with the next one)");
    }
    return ReadName(v, step->path, "next", false, &step->next);
  }

  // Jump targets stay inside their block; implicit successors are resolved; the block's graph
  // must have no unreachable step and no cycle that lacks a waiting step.
  Status CheckBlock(int block) {
    const std::vector<size_t>& members = def_.blocks_[block];
    const auto target = [&](const Step& from, const std::string& field, const std::string& name) {
      const auto it = def_.index_.find(name);
      if (it == def_.index_.end())
        return Error(from.path + "." + field, "names no step: '" + name + "'");
      if (def_.steps_[it->second].block != block) {
        return Error(from.path + "." + field, "'" + QuotePrefix(name) +
                                                  "' is in another block; jumps stay within the "
                                                  "steps list they are in");
      }
      return Status::Ok();
    };
    for (size_t pos = 0; pos < members.size(); ++pos) {
      Step& step = def_.steps_[members[pos]];
      const bool continues = step.kind != StepKind::kChoice && step.kind != StepKind::kSucceed &&
                             step.kind != StepKind::kFail;
      Status s;
      if (!step.next.empty()) {
        if (s = target(step, "next", step.next); !s.ok()) return s;
      } else if (continues && pos + 1 < members.size()) {
        step.next = def_.steps_[members[pos + 1]].name;
      }
      for (size_t i = 0; i < step.choices.size(); ++i) {
        if (s = target(step, "choices[" + std::to_string(i) + "].next", step.choices[i].next);
            !s.ok()) {
          return s;
        }
      }
      if (!step.default_next.empty() && !(s = target(step, "default", step.default_next)).ok())
        return s;
      if (!step.on_deadline.empty() && !(s = target(step, "on_deadline", step.on_deadline)).ok())
        return s;
      if (!step.on_timeout.empty() && !(s = target(step, "on_timeout", step.on_timeout)).ok())
        return s;
    }

    // Cycles: without waiting steps (timer, wait_signal) the graph must be acyclic.
    std::unordered_map<std::string, int> mark;  // 0 new, 1 on the current path, 2 done
    std::vector<std::string> path;
    std::function<Status(const Step&)> visit = [&](const Step& step) -> Status {
      if (step.kind == StepKind::kTimer || step.kind == StepKind::kWaitSignal) return Status::Ok();
      int& m = mark[step.name];
      if (m == 2) return Status::Ok();
      path.push_back(step.name);
      if (m == 1) {
        std::string cycle;
        const auto start = std::find(path.begin(), path.end(), step.name);
        for (auto it = start; it != path.end(); ++it)
          cycle += (cycle.empty() ? "" : " -> ") + *it;
        return Error(step.path, "the steps form a cycle without a wait (" + cycle +
                                    "); put a timer or wait_signal step in the loop");
      }
      m = 1;
      for (const std::string& name : Successors(step)) {
        if (Status s = visit(*def_.FindStep(name)); !s.ok()) return s;
      }
      m = 2;
      path.pop_back();
      return Status::Ok();
    };
    for (size_t index : members) {
      if (Status s = visit(def_.steps_[index]); !s.ok()) return s;
    }

    // Reachability from the block's first step.
    std::set<std::string> seen;
    std::vector<const Step*> stack = {&def_.steps_[members.front()]};
    while (!stack.empty()) {
      const Step* step = stack.back();
      stack.pop_back();
      if (!seen.insert(step->name).second) continue;
      for (const std::string& name : Successors(*step))
        stack.push_back(def_.FindStep(name));
    }
    for (size_t index : members) {
      if (seen.count(def_.steps_[index].name) == 0) {
        return Error(def_.steps_[index].path,
                     "step '" + def_.steps_[index].name +
                         "' is unreachable from the first step of its list");
      }
    }
    return Status::Ok();
  }

  static std::vector<std::string> Successors(const Step& step) {
    std::vector<std::string> out;
    if (!step.next.empty()) out.push_back(step.next);
    for (const Choice& c : step.choices)
      out.push_back(c.next);
    if (!step.default_next.empty()) out.push_back(step.default_next);
    if (!step.on_deadline.empty()) out.push_back(step.on_deadline);
    if (!step.on_timeout.empty()) out.push_back(step.on_timeout);
    return out;
  }

  Definition& def_;
  // The step being read; blocks opened meanwhile record it as their owner ("" for the top level).
  std::string owner_;
  std::vector<std::string> owner_names_;
};

std::string_view StepKindName(StepKind kind) {
  switch (kind) {
    case StepKind::kTask:
      return "task";
    case StepKind::kTimer:
      return "timer";
    case StepKind::kWaitSignal:
      return "wait_signal";
    case StepKind::kChoice:
      return "choice";
    case StepKind::kParallel:
      return "parallel";
    case StepKind::kForeach:
      return "foreach";
    case StepKind::kChild:
      return "child";
    case StepKind::kSucceed:
      return "succeed";
    case StepKind::kFail:
      return "fail";
  }
  return "unknown";
}

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  const auto is_letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!is_letter(name[0])) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) {
    return is_letter(c) || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  });
}

Status Definition::Parse(std::string_view json_text, Definition* out) {
  json doc;
  const JsonLimits limits{std::numeric_limits<size_t>::max(), kMaxJsonDepth};
  if (Status s = ParseJsonText("definition_json", json_text, limits, &doc); !s.ok()) return s;
  return FromJson(doc, out);
}

Status Definition::FromJson(const json& doc, Definition* out) {
  Definition def;
  DefinitionParser parser(&def);
  Status s = parser.Parse(doc);
  if (!s.ok()) return s;
  *out = std::move(def);
  return Status::Ok();
}

const Step* Definition::FindStep(std::string_view name) const {
  const auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &steps_[it->second];
}

const Step& Definition::TopLevelStepOf(const Step& step) const {
  const Step* s = &step;
  while (s->block != 0)
    s = &steps_[static_cast<size_t>(block_owner_[static_cast<size_t>(s->block)])];
  return *s;
}

int Definition::StartClassOf(int block) const {
  if (blocks_[static_cast<size_t>(block)].empty()) return kDefaultPriority;
  const Step& step = FirstStepOf(block);
  switch (step.kind) {
    case StepKind::kTask:
      if (!step.priority.present() || !step.priority.constant()) return kDefaultPriority;
      return PriorityClass(step.priority.literal()).value_or(kDefaultPriority);
    case StepKind::kForeach:
      return StartClassOf(step.body_block);
    case StepKind::kParallel: {
      int most_urgent = kLowestPriority;
      for (const Branch& branch : step.branches)
        most_urgent = std::min(most_urgent, StartClassOf(branch.block));
      return most_urgent;
    }
    default:
      return kDefaultPriority;
  }
}

const Step* Definition::Next(const Step& step) const {
  return step.next.empty() ? nullptr : FindStep(step.next);
}

}  // namespace gridflow::dsl

namespace gridflow::dsl {

std::optional<int> PriorityClass(const nlohmann::json& value) {
  if (value.is_number_integer()) {
    const int64_t p = value.get<int64_t>();
    if (p >= kUrgentPriority && p <= kLowestPriority) return static_cast<int>(p);
    return std::nullopt;
  }
  if (!value.is_string() || value.get_ref<const std::string&>().size() < 2) return std::nullopt;
  return PriorityFromText(value.get_ref<const std::string&>());  // a name, not a digit string
}

}  // namespace gridflow::dsl
