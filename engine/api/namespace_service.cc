#include "engine/api/namespace_service.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <regex>

#include "engine/api/proto_convert.h"
#include "engine/dsl/time_functions.h"
#include "engine/scheduler/actor.h"
#include "persistence/transaction.h"

namespace gridflow::engine {
namespace {

using google::protobuf::util::TimeUtil;

constexpr Millis kMaxRetention{100LL * 365 * 24 * 3600 * 1000};

void NamespaceToProto(const persistence::NamespaceRow& row, v1::Namespace* out) {
  out->set_name(row.name);
  out->set_description(row.description);
  if (row.closed_run_retention) {
    *out->mutable_closed_run_retention() =
        TimeUtil::MillisecondsToDuration(row.closed_run_retention->count());
  }
  out->set_time_zone(row.time_zone);
  out->set_deprecated(row.deprecated_at.has_value());
  out->set_deprecated_reason(row.deprecated_reason.value_or(""));
  if (row.deprecated_at) ToProto(*row.deprecated_at, out->mutable_deprecate_time());
  out->set_created_by(row.created_by);
  ToProto(row.created_at, out->mutable_create_time());
  out->set_updated_by(row.updated_by.value_or(""));
  if (row.updated_at) ToProto(*row.updated_at, out->mutable_update_time());
}

Status ValidName(const std::string& name) {
  static const std::regex kName("[a-z0-9][a-z0-9_.-]{0,62}");
  if (!std::regex_match(name, kName)) {
    return Status::InvalidArgument(
        "name: must be 1 to 63 characters: lowercase letters, digits, '_', '.', '-', starting "
        "with a letter or digit");
  }
  return Status::Ok();
}

Status ValidTimeZone(const std::string& zone) {
  if (zone.empty() || dsl::IsKnownTimeZone(zone)) return Status::Ok();
  return Status::InvalidArgument("time_zone: unknown time zone '" + zone.substr(0, 64) +
                                 "' (an IANA name such as Europe/Berlin)");
}

Status Retention(RequestValidator& validator, const google::protobuf::Duration& value,
                 std::optional<Millis>* out) {
  Millis retention{0};
  if (Status s = validator.NonNegativeDuration("closed_run_retention", value, &retention);
      !s.ok()) {
    return s;
  }
  if (retention > kMaxRetention) {
    return Status::InvalidArgument("closed_run_retention: must be at most 100 years");
  }
  if (retention.count() > 0 && retention < Millis(3'600'000)) {
    return Status::InvalidArgument("closed_run_retention: must be at least 1h (0: keep forever)");
  }
  out->reset();
  if (retention.count() > 0) *out = retention;
  return Status::Ok();
}

}  // namespace

NamespaceServiceImpl::NamespaceServiceImpl(WorkPool& pool, Authorizer& authorizer,
                                           persistence::ConnectionPool& database,
                                           RequestValidator& validator)
    : CallbackService(authorizer),
      authorizer_(authorizer),
      database_(database),
      validator_(validator) {
  using Self = NamespaceServiceImpl;
  UnaryOnPool("CreateNamespace", pool, this, &Self::CreateNamespace);
  UnaryOnPool("ListNamespaces", pool, this, &Self::ListNamespaces);
  UnaryOnPool("DescribeNamespace", pool, this, &Self::DescribeNamespace);
  UnaryOnPool("UpdateNamespace", pool, this, &Self::UpdateNamespace);
  VerifyAllServed();
}

Status NamespaceServiceImpl::CreateNamespace(const Caller& caller,
                                             const v1::CreateNamespaceRequest& req,
                                             v1::Namespace* resp) {
  persistence::NamespaceRow row;
  Status s = ValidName(req.name());
  if (s.ok()) s = validator_.Text("description", req.description());
  if (s.ok()) s = ValidTimeZone(req.time_zone());
  if (s.ok()) s = Retention(validator_, req.closed_run_retention(), &row.closed_run_retention);
  if (s.ok()) s = validator_.Identifier("identity", req.identity(), false);
  if (!s.ok()) return s;
  row.name = req.name();
  row.description = req.description();
  row.time_zone = req.time_zone();
  row.created_by = Actor{caller.principal, req.identity()}.Describe();
  std::optional<persistence::NamespaceRow> stored;
  s = persistence::Transact(database_, "create namespace", [&](pqxx::work& txn) {
    if (!persistence::InsertNamespace(txn, row)) {
      return Status::AlreadyExists("namespace '" + row.name + "' already exists");
    }
    stored = persistence::FindNamespace(txn, row.name);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  validator_.Remember(*stored);
  spdlog::info("namespace {} created by {}", row.name, row.created_by);
  NamespaceToProto(*stored, resp);
  return Status::Ok();
}

Status NamespaceServiceImpl::ListNamespaces(const Caller& caller,
                                            const v1::ListNamespacesRequest& req,
                                            v1::ListNamespacesResponse* resp) {
  std::vector<persistence::NamespaceRow> rows;
  Status s = persistence::Transact(database_, "list namespaces", [&](pqxx::work& txn) {
    rows = persistence::ListNamespaces(txn, req.include_deprecated());
    return Status::Ok();
  });
  if (!s.ok()) return s;
  for (const auto& row : rows) {
    if (authorizer_.MayRead(caller, row.name)) NamespaceToProto(row, resp->add_namespaces());
  }
  return Status::Ok();
}

Status NamespaceServiceImpl::DescribeNamespace(const v1::DescribeNamespaceRequest& req,
                                               v1::Namespace* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (!s.ok()) return s;
  std::optional<persistence::NamespaceRow> row;
  s = persistence::Transact(database_, "describe namespace", [&](pqxx::work& txn) {
    row = persistence::FindNamespace(txn, ns);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  if (!row) return Status::NotFound("namespace '" + ns + "' does not exist");
  NamespaceToProto(*row, resp);
  return Status::Ok();
}

Status NamespaceServiceImpl::UpdateNamespace(const Caller& caller,
                                             const v1::UpdateNamespaceRequest& req,
                                             v1::Namespace* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (!s.ok()) return s;
  persistence::NamespaceChange change;
  if (req.has_description()) {
    if (s = validator_.Text("description", req.description()); !s.ok()) return s;
    change.description = req.description();
  }
  if (req.has_closed_run_retention()) {
    std::optional<Millis> retention;
    if (s = Retention(validator_, req.closed_run_retention(), &retention); !s.ok()) return s;
    change.closed_run_retention = retention;
  }
  if (req.has_time_zone()) {
    if (s = ValidTimeZone(req.time_zone()); !s.ok()) return s;
    change.time_zone = req.time_zone();
  }
  if (req.has_deprecated()) {
    if (req.deprecated() && ns == RequestValidator::kDefaultNamespace) {
      return Status::InvalidArgument("deprecated: the default namespace cannot be deprecated");
    }
    if (req.deprecated() && req.reason().find_first_not_of(" \t\n") == std::string::npos) {
      return Status::InvalidArgument("reason: is required to deprecate a namespace");
    }
    change.deprecated = req.deprecated();
  }
  if (s = validator_.Text("reason", req.reason()); !s.ok()) return s;
  if (s = validator_.Identifier("identity", req.identity(), false); !s.ok()) return s;
  change.reason = req.reason();
  change.by = Actor{caller.principal, req.identity()}.Describe();
  std::optional<persistence::NamespaceRow> row;
  s = persistence::Transact(database_, "update namespace", [&](pqxx::work& txn) {
    persistence::UpdateNamespace(txn, ns, change);
    row = persistence::FindNamespace(txn, ns);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  validator_.Remember(*row);
  if (change.deprecated) {
    spdlog::warn("namespace {} {} by {}: {}", ns, *change.deprecated ? "deprecated" : "reinstated",
                 change.by, change.reason);
  }
  NamespaceToProto(*row, resp);
  return Status::Ok();
}

}  // namespace gridflow::engine
