#include "engine/api/cluster_service.h"

#include <google/protobuf/util/time_util.h>

#include "engine/api/proto_convert.h"
#include "engine/cluster/queue_report.h"
#include "engine/scheduler/actor.h"
#include "persistence/dispatch_control_store.h"
#include "persistence/transaction.h"

#include <spdlog/spdlog.h>

#include <cmath>

namespace gridflow::engine {
namespace {

using google::protobuf::util::TimeUtil;

void ControlToProto(const persistence::DispatchControl& c, v1::DispatchControl* out) {
  out->set_namespace_(c.namespace_name);
  out->set_scope(c.scope == persistence::kScopeQueue ? v1::DISPATCH_SCOPE_QUEUE
                                                     : v1::DISPATCH_SCOPE_TASK_TYPE);
  out->set_name(c.name);
  out->set_paused(c.paused);
  out->set_paused_by(c.paused_by.value_or(""));
  out->set_paused_reason(c.paused_reason.value_or(""));
  if (c.paused_at) ToProto(*c.paused_at, out->mutable_pause_time());
  out->set_rate_per_second(c.rate_per_second.value_or(0));
  out->set_burst(c.burst.value_or(0));
  out->set_tokens(c.tokens);
  if (c.breaker) {
    v1::CircuitBreaker* b = out->mutable_circuit_breaker();
    b->set_failure_rate(c.breaker->failure_rate);
    b->set_min_attempts(c.breaker->min_attempts);
    *b->mutable_window() = TimeUtil::MillisecondsToDuration(c.breaker->window.count());
    *b->mutable_cool_down() = TimeUtil::MillisecondsToDuration(c.breaker->cool_down.count());
    b->set_configured_by(c.breaker_configured_by.value_or(""));
    b->set_state(c.breaker_state);
    if (c.breaker_changed_at) ToProto(*c.breaker_changed_at, b->mutable_state_time());
    b->set_window_attempts(c.window_attempts);
    b->set_window_failures(c.window_failures);
  }
}

// The scope's stored name; INVALID_ARGUMENT for an unspecified one.
Status ReadScope(v1::DispatchScope scope, std::string* out) {
  switch (scope) {
    case v1::DISPATCH_SCOPE_QUEUE:
      *out = persistence::kScopeQueue;
      return Status::Ok();
    case v1::DISPATCH_SCOPE_TASK_TYPE:
      *out = persistence::kScopeTaskType;
      return Status::Ok();
    default:
      return Status::InvalidArgument(
          "scope: must be DISPATCH_SCOPE_QUEUE or "
          "DISPATCH_SCOPE_TASK_TYPE");
  }
}

// The namespace, scope and name a dispatch control request names, and its identity.
template <typename Request>
Status ReadTarget(RequestValidator& validator, const Request& req, std::string* ns,
                  std::string* scope) {
  Status s = validator.Namespace(req.namespace_(), ns);
  if (s.ok()) s = ReadScope(req.scope(), scope);
  if (s.ok()) s = validator.Name("name", req.name());
  if (s.ok()) s = validator.Identifier("identity", req.identity(), false);
  return s;
}

constexpr double kMaxRate = 100'000;
constexpr Millis kMaxBreakerDuration{7LL * 24 * 3600 * 1000};

}  // namespace

ClusterServiceImpl::ClusterServiceImpl(WorkPool& pool, Authorizer& authorizer,
                                       persistence::ConnectionPool& database,
                                       RequestValidator& validator, Membership& membership,
                                       HealthMonitor& health)
    : CallbackService(authorizer),
      database_(database),
      validator_(validator),
      membership_(membership),
      health_(health) {
  UnaryOnPool("GetClusterStatus", pool, this, &ClusterServiceImpl::GetClusterStatus);
  UnaryOnPool("ListQueues", pool, this, &ClusterServiceImpl::ListQueues);
  UnaryOnPool("PauseDispatch", pool, this, &ClusterServiceImpl::PauseDispatch);
  UnaryOnPool("ResumeDispatch", pool, this, &ClusterServiceImpl::ResumeDispatch);
  UnaryOnPool("SetRateLimit", pool, this, &ClusterServiceImpl::SetRateLimit);
  UnaryOnPool("SetCircuitBreaker", pool, this, &ClusterServiceImpl::SetCircuitBreaker);
  VerifyAllServed();
}

Status ClusterServiceImpl::GetClusterStatus(const v1::GetClusterStatusRequest&,
                                            v1::GetClusterStatusResponse* resp) {
  {
    resp->set_answered_by(membership_.member_id());
    std::vector<persistence::MemberRow> members;
    int schema_version = 0;
    const Status s = membership_.ReadCluster(&members, &schema_version);
    resp->set_database_reachable(s.ok() && health_.database_reachable());
    if (!s.ok()) return s;  // UNAVAILABLE: the caller learns this replica lost its database
    resp->set_schema_version(schema_version);
    for (const persistence::MemberRow& m : members) {
      v1::Member* out = resp->add_members();
      out->set_member_id(m.id);
      out->set_address(m.address);
      out->set_hostname(m.hostname);
      out->set_pid(m.pid);
      out->set_version(m.version);
      ToProto(m.started_at, out->mutable_start_time());
      ToProto(m.heartbeat_at, out->mutable_heartbeat_time());
      *out->mutable_heartbeat_age() = google::protobuf::util::TimeUtil::MillisecondsToDuration(
          static_cast<int64_t>(m.seconds_since_heartbeat * 1000));
      out->set_draining(m.draining);
      if (m.stopped_at) ToProto(*m.stopped_at, out->mutable_stop_time());
      out->set_alive(membership_.IsAlive(m));
    }
    return Status::Ok();
  }
}

Status ClusterServiceImpl::ListQueues(const v1::ListQueuesRequest& req,
                                      v1::ListQueuesResponse* resp) {
  {
    std::string ns;
    Status s = validator_.Namespace(req.namespace_(), &ns);
    if (!s.ok()) return s;
    std::vector<QueueReport> queues;
    if (s = ReadQueueReport(database_, membership_, ns, &queues); !s.ok()) return s;
    for (const QueueReport& q : queues) {
      v1::QueueInfo* out = resp->add_queues();
      out->set_name(q.stats.queue);
      out->set_pending(q.stats.pending);
      out->set_due(q.stats.due);
      out->set_leased(q.stats.leased);
      *out->mutable_oldest_due_age() = google::protobuf::util::TimeUtil::MillisecondsToDuration(
          static_cast<int64_t>(q.stats.oldest_due_seconds * 1000));
      out->set_waiting_polls(q.waiting_polls);
    }
    std::vector<persistence::DispatchControl> controls;
    s = persistence::Transact(database_, "list dispatch controls", [&](pqxx::work& txn) {
      controls = persistence::ListDispatchControls(txn, ns);
      return Status::Ok();
    });
    if (!s.ok()) return s;
    for (const persistence::DispatchControl& c : controls)
      ControlToProto(c, resp->add_controls());
    return Status::Ok();
  }
}

Status ClusterServiceImpl::ChangeControl(const char* what, const std::string& ns,
                                         const std::string& scope, const std::string& name,
                                         const std::function<void(pqxx::transaction_base&)>& change,
                                         v1::DispatchControlResponse* resp) {
  std::vector<persistence::DispatchControl> controls;
  Status s = persistence::Transact(database_, what, [&](pqxx::work& txn) {
    change(txn);
    controls = persistence::ListDispatchControls(txn, ns);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  for (const persistence::DispatchControl& c : controls) {
    if (c.scope == scope && c.name == name) ControlToProto(c, resp->mutable_control());
  }
  return Status::Ok();
}

Status ClusterServiceImpl::PauseDispatch(const Caller& caller, const v1::PauseDispatchRequest& req,
                                         v1::DispatchControlResponse* resp) {
  std::string ns, scope;
  Status s = ReadTarget(validator_, req, &ns, &scope);
  if (s.ok()) s = validator_.Text("reason", req.reason());
  if (!s.ok()) return s;
  const std::string by = Actor{caller.principal, req.identity()}.Describe();
  s = ChangeControl(
      "pause dispatch", ns, scope, req.name(),
      [&](pqxx::transaction_base& txn) {
        persistence::SetPaused(txn, ns, scope, req.name(), true, by, req.reason());
      },
      resp);
  if (s.ok()) {
    spdlog::warn("dispatch of {} {}/{} paused by {}: {}", scope, ns, req.name(), by,
                 req.reason().empty() ? "(no reason given)" : req.reason());
  }
  return s;
}

Status ClusterServiceImpl::ResumeDispatch(const Caller& caller,
                                          const v1::ResumeDispatchRequest& req,
                                          v1::DispatchControlResponse* resp) {
  std::string ns, scope;
  Status s = ReadTarget(validator_, req, &ns, &scope);
  if (!s.ok()) return s;
  s = ChangeControl(
      "resume dispatch", ns, scope, req.name(),
      [&](pqxx::transaction_base& txn) {
        persistence::SetPaused(txn, ns, scope, req.name(), false, "", "");
      },
      resp);
  if (s.ok()) {
    spdlog::warn("dispatch of {} {}/{} resumed by {}", scope, ns, req.name(),
                 Actor{caller.principal, req.identity()}.Describe());
  }
  return s;
}

Status ClusterServiceImpl::SetRateLimit(const Caller& caller, const v1::SetRateLimitRequest& req,
                                        v1::DispatchControlResponse* resp) {
  std::string ns, scope;
  Status s = ReadTarget(validator_, req, &ns, &scope);
  if (!s.ok()) return s;
  const double rate = req.rate_per_second();
  if (!(rate >= 0 && rate <= kMaxRate)) {  // NaN fails too
    return Status::InvalidArgument("rate_per_second: must be between 0 (no limit) and 100000");
  }
  if (req.burst() < 0 || req.burst() > kMaxRate) {
    return Status::InvalidArgument("burst: must be between 1 and 100000 (0: the rate, at least 1)");
  }
  std::optional<std::pair<double, int>> limit;
  if (rate > 0) {
    limit.emplace(rate,
                  req.burst() > 0 ? req.burst() : std::max(1, static_cast<int>(std::ceil(rate))));
  }
  s = ChangeControl(
      "set rate limit", ns, scope, req.name(),
      [&](pqxx::transaction_base& txn) {
        persistence::SetRateLimit(txn, ns, scope, req.name(), limit);
      },
      resp);
  if (s.ok()) {
    spdlog::info("rate limit of {} {}/{} set by {}: {}", scope, ns, req.name(),
                 Actor{caller.principal, req.identity()}.Describe(),
                 limit ? std::to_string(limit->first) + "/s, burst " + std::to_string(limit->second)
                       : std::string("none"));
  }
  return s;
}

Status ClusterServiceImpl::SetCircuitBreaker(const Caller& caller,
                                             const v1::SetCircuitBreakerRequest& req,
                                             v1::DispatchControlResponse* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (s.ok()) s = validator_.Name("task_type", req.task_type());
  if (s.ok()) s = validator_.Identifier("identity", req.identity(), false);
  if (!s.ok()) return s;
  persistence::BreakerConfig config;
  if (req.failure_rate() != 0) {
    if (!(req.failure_rate() > 0 && req.failure_rate() <= 1)) {
      return Status::InvalidArgument("failure_rate: must be above 0 and at most 1");
    }
    config.failure_rate = req.failure_rate();
  }
  if (req.min_attempts() != 0) {
    if (req.min_attempts() < 1 || req.min_attempts() > 100'000) {
      return Status::InvalidArgument("min_attempts: must be between 1 and 100000");
    }
    config.min_attempts = req.min_attempts();
  }
  if (req.has_window()) {
    if (s = validator_.NonNegativeDuration("window", req.window(), &config.window); !s.ok()) {
      return s;
    }
    if (config.window < Millis(1000) || config.window > kMaxBreakerDuration) {
      return Status::InvalidArgument("window: must be between 1s and 7 days");
    }
  }
  if (req.has_cool_down()) {
    s = validator_.NonNegativeDuration("cool_down", req.cool_down(), &config.cool_down);
    if (!s.ok()) return s;
    if (config.cool_down < Millis(100) || config.cool_down > kMaxBreakerDuration) {
      return Status::InvalidArgument("cool_down: must be between 100ms and 7 days");
    }
  }
  if (req.clear() && req.reset()) {
    return Status::InvalidArgument("clear: and reset cannot be asked together");
  }
  const std::string& type = req.task_type();
  s = ChangeControl(
      "set circuit breaker", ns, persistence::kScopeTaskType, type,
      [&](pqxx::transaction_base& txn) {
        if (req.reset()) {
          persistence::ResetBreaker(txn, ns, type);
        } else {
          persistence::SetBreaker(txn, ns, type, req.clear() ? std::nullopt : std::optional(config),
                                  persistence::kOperatorConfigured, true);
        }
      },
      resp);
  if (s.ok()) {
    spdlog::warn("circuit breaker of task type {}/{} {} by {}", ns, type,
                 req.reset()   ? "closed"
                 : req.clear() ? "removed"
                               : "configured",
                 Actor{caller.principal, req.identity()}.Describe());
  }
  return s;
}

}  // namespace gridflow::engine
