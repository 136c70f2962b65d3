#include "engine/dsl/definition.h"

#include <algorithm>
#include <initializer_list>

namespace gridflow::dsl {
namespace {

using nlohmann::json;

constexpr Millis kMaxTimeout{30LL * 24 * 3600 * 1000};   // 30 days
constexpr Millis kMaxRetryInterval{24LL * 3600 * 1000};  // 1 day
constexpr std::string_view kReservedStepName = "input";  // run data keeps the input there

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
    return Error(Join(path, key), "'" + *out +
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
  if (!d)
    return Error(p,
                 "'" + it->get<std::string>() + "' is not a duration (e.g. 250ms, 30s, 5m, 1h30m)");
  if (d->count() <= 0) return Error(p, "must be greater than zero");
  if (*d > max) return Error(p, "must be at most " + FormatDuration(max));
  *out = *d;
  return Status::Ok();
}

Status ReadRetry(const json& v, const std::string& path, RetryPolicy* retry) {
  Status s = CheckObject(v, path,
                         {"max_attempts", "initial_interval", "backoff_coefficient", "max_interval",
                          "non_retryable_error_types"});
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
  return Status::Ok();
}

Status ReadTimeouts(const json& v, const std::string& path, TaskSpec* task) {
  Status s = CheckObject(v, path, {"start_to_close", "heartbeat"});
  if (!s.ok()) return s;
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

Status ReadStep(const json& v, const std::string& path, Step* step) {
  if (!v.is_object()) return Error(path, "must be an object, not " + TypeName(v));
  Status s = ReadName(v, path, "name", true, &step->name);
  if (!s.ok()) return s;
  if (step->name == kReservedStepName) {
    return Error(Join(path, "name"), "'input' is reserved: run data holds the run's input there");
  }
  std::string kind;
  if (s = ReadString(v, path, "kind", true, &kind); !s.ok()) return s;
  if (kind == "task") {
    step->kind = StepKind::kTask;
    s = CheckObject(
        v, path,
        {"name", "kind", "description", "next", "task_type", "task_queue", "retry", "timeouts"});
    if (!s.ok()) return s;
    if (s = ReadName(v, path, "task_type", true, &step->task.task_type); !s.ok()) return s;
    if (s = ReadName(v, path, "task_queue", false, &step->task.task_queue); !s.ok()) return s;
    if (v.contains("retry")) {
      if (s = ReadRetry(v["retry"], Join(path, "retry"), &step->task.retry); !s.ok()) return s;
    }
    if (v.contains("timeouts")) {
      if (s = ReadTimeouts(v["timeouts"], Join(path, "timeouts"), &step->task); !s.ok()) return s;
    }
    if (s = ReadString(v, path, "next", false, &step->next); !s.ok()) return s;
    if (v.contains("next") && step->next.empty()) {
      return Error(Join(path, "next"), "must name a step (omit it to continue with the next one)");
    }
  } else if (kind == "succeed") {
    step->kind = StepKind::kSucceed;
    s = CheckObject(v, path, {"name", "kind", "description"});
  } else if (kind == "fail") {
    step->kind = StepKind::kFail;
    s = CheckObject(v, path, {"name", "kind", "description", "error_type", "message"});
    if (!s.ok()) return s;
    if (s = ReadName(v, path, "error_type", false, &step->fail.error_type); !s.ok()) return s;
    s = ReadString(v, path, "message", false, &step->fail.message);
  } else {
    return Error(Join(path, "kind"),
                 "unknown step kind '" + kind + "' (supported: task, succeed, fail)");
  }
  if (!s.ok()) return s;
  if (v.contains("description") && !v["description"].is_string()) {
    return Error(Join(path, "description"), "must be a string");
  }
  return Status::Ok();
}

}  // namespace

std::string_view StepKindName(StepKind kind) {
  switch (kind) {
    case StepKind::kTask:
      return "task";
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
  try {
    doc = json::parse(json_text);
  } catch (const json::parse_error& e) {
    return Status::InvalidArgument("definition is not valid JSON: " + std::string(e.what()));
  }
  return FromJson(doc, out);
}

Status Definition::FromJson(const json& doc, Definition* out) {
  Definition def;
  if (!doc.is_object()) {
    return Status::InvalidArgument("definition: must be a JSON object, not " + TypeName(doc));
  }
  Status s = CheckObject(doc, "", {"name", "version", "description", "steps"});
  if (!s.ok()) return s;
  if (s = ReadName(doc, "", "name", true, &def.name_); !s.ok()) return s;
  const auto version = doc.find("version");
  if (version == doc.end()) return Error("version", "is required");
  if (!version->is_number_integer() || version->get<int64_t>() < 1 ||
      version->get<int64_t>() > 2'147'483'647) {
    return Error("version", "must be a positive integer");
  }
  def.version_ = version->get<int>();
  if (doc.contains("description") && !doc["description"].is_string()) {
    return Error("description", "must be a string");
  }
  const auto steps = doc.find("steps");
  if (steps == doc.end()) return Error("steps", "is required");
  if (!steps->is_array() || steps->empty()) return Error("steps", "must be a non-empty array");
  if (steps->size() > kMaxSteps) {
    return Error("steps", "has " + std::to_string(steps->size()) + " steps; at most " +
                              std::to_string(kMaxSteps) + " are allowed");
  }

  for (size_t i = 0; i < steps->size(); ++i) {
    Step step;
    if (s = ReadStep((*steps)[i], Index("steps", i), &step); !s.ok()) return s;
    if (def.index_.count(step.name) > 0) {
      return Error(Index("steps", i) + ".name", "duplicate step name '" + step.name +
                                                    "' (first used by steps[" +
                                                    std::to_string(def.index_[step.name]) + "])");
    }
    def.index_[step.name] = i;
    def.steps_.push_back(std::move(step));
  }

  // Successors: an explicit `next`, else the following step (task steps only).
  for (size_t i = 0; i < def.steps_.size(); ++i) {
    Step& step = def.steps_[i];
    if (step.kind != StepKind::kTask) continue;
    if (!step.next.empty()) {
      if (def.index_.count(step.next) == 0) {
        return Error(Index("steps", i) + ".next", "names no step: '" + step.next + "'");
      }
    } else if (i + 1 < def.steps_.size()) {
      step.next = def.steps_[i + 1].name;
    }
  }

  // Without wait steps every step has at most one successor, so the steps run are one path from
  // the first step: it must end (no cycle) and cover every step (nothing unreachable).
  std::vector<bool> on_path(def.steps_.size(), false);
  std::vector<std::string> path;
  for (const Step* step = &def.steps_.front(); step != nullptr; step = def.Next(*step)) {
    const size_t i = def.index_.at(step->name);
    path.push_back(step->name);
    if (on_path[i]) {
      std::string cycle;
      for (const std::string& name : path)
        cycle += (cycle.empty() ? "" : " -> ") + name;
      return Error(Index("steps", i), "the steps form a cycle (" + cycle +
                                          "); loops are not supported by this version");
    }
    on_path[i] = true;
  }
  for (size_t i = 0; i < on_path.size(); ++i) {
    if (!on_path[i]) {
      return Error(Index("steps", i),
                   "step '" + def.steps_[i].name + "' is unreachable from the first step");
    }
  }

  def.canonical_json_ = doc.dump();
  *out = std::move(def);
  return Status::Ok();
}

const Step* Definition::FindStep(std::string_view name) const {
  const auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &steps_[it->second];
}

const Step* Definition::Next(const Step& step) const {
  if (step.kind != StepKind::kTask || step.next.empty()) return nullptr;
  return FindStep(step.next);
}

}  // namespace gridflow::dsl
