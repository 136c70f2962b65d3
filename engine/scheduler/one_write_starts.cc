#include "engine/scheduler/one_write_starts.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "common/json_text.h"

namespace gridflow::engine {
namespace {

std::string DefinitionKey(const StartRunParams& p) {
  return p.namespace_name + '/' + p.definition_name + '/' + std::to_string(p.definition_version);
}

TimePoint LocalNow() {
  return std::chrono::time_point_cast<Micros>(std::chrono::system_clock::now());
}

}  // namespace

std::string NewRunId(TimePoint at) {
  thread_local std::mt19937_64 random{std::random_device{}()};
  const uint64_t millis = static_cast<uint64_t>(ToEpochMicros(at) / 1000);
  // 48 bits of time, version 7, 12 random bits; variant 10, 62 random bits.
  const uint64_t high = (millis << 16) | 0x7000 | (random() & 0x0fff);
  const uint64_t low = (random() & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char text[37];
  std::snprintf(text, sizeof text, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(high >> 32),
                static_cast<unsigned>((high >> 16) & 0xffff), static_cast<unsigned>(high & 0xffff),
                static_cast<unsigned>(low >> 48),
                static_cast<unsigned long long>(low & 0xffffffffffffULL));
  return text;
}

void OneWriteStarts::NoteClock(TimePoint db_now, std::chrono::system_clock::time_point began) {
  const int64_t began_us = ToEpochMicros(std::chrono::time_point_cast<Micros>(began));
  skew_us_.store(ToEpochMicros(db_now) - began_us, std::memory_order_relaxed);
  skew_known_.store(true, std::memory_order_release);
  std::lock_guard lock(mu_);
  floor_ = std::max(floor_, db_now);
}

std::optional<OneWriteStarts::Plan> OneWriteStarts::PlanStart(const StartRunParams& p) {
  if (p.revision != 0 || !p.revision_period.empty()) return std::nullopt;  // StartRevision's
  if (!skew_known_.load(std::memory_order_acquire)) return std::nullopt;
  TimePoint now = LocalNow() + Micros(skew_us_.load(std::memory_order_relaxed));
  {
    std::lock_guard lock(mu_);
    const auto paused = paused_.find(DefinitionKey(p));
    if (paused != paused_.end()) {
      if (std::chrono::steady_clock::now() < paused->second) return std::nullopt;
      paused_.erase(paused);
    }
    // After the floor, but never further than kMaxLead ahead of the reckoning: a floor left high
    // by a database clock that stepped back (a failover, an NTP step) would otherwise place every
    // plan outside what the write statement accepts until the clock caught up.
    now = std::max(now, std::min(floor_ + Micros(1), now + kMaxLead));
    floor_ = now;
  }
  Plan plan;
  plan.definition = definitions_.KnownForStart(p.namespace_name, p.definition_name,
                                               p.definition_version, &plan.routed);
  if (!plan.definition) return std::nullopt;
  persistence::RunRow& run = plan.run;
  run.id = NewRunId(now);
  run.namespace_name = p.namespace_name;
  run.workflow_id = p.workflow_id;
  run.definition_name = p.definition_name;
  run.definition_version = plan.definition->version();
  run.status = "RUNNING";
  run.input_json = DumpJson(p.input);
  run.data_json = DumpJson(nlohmann::json{{"input", p.input}});
  run.started_by = p.actor.principal;
  run.created_at = now;
  run.updated_at = now;
  run.transaction_now = now;
  run.search_attributes_json = "{}";
  run.version_reason = plan.routed ? "latest" : "requested";
  return plan;
}

void OneWriteStarts::NeedsDatabase(const StartRunParams& params) {
  std::lock_guard lock(mu_);
  paused_[DefinitionKey(params)] = std::chrono::steady_clock::time_point::max();
}

void OneWriteStarts::WorkflowIdTaken(const StartRunParams& params) {
  std::lock_guard lock(mu_);
  auto& until = paused_[DefinitionKey(params)];
  until = std::max(until, std::chrono::steady_clock::now() + kTakenPause);
}

}  // namespace gridflow::engine
