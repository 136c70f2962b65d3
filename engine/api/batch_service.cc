#include "engine/api/batch_service.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <map>
#include <random>

#include "engine/api/page_token.h"
#include "engine/api/proto_convert.h"
#include "engine/api/run_query.h"
#include "engine/scheduler/actor.h"
#include "persistence/attribute_store.h"
#include "persistence/transaction.h"

namespace gridflow::engine {
namespace {

using Kind = v1::BatchOperationKind;
using ItemState = v1::BatchOperationItem::State;

constexpr int kDefaultOperationsPage = 50;
constexpr int kDefaultItemsPage = 100;

const std::map<Kind, std::string>& KindNames() {
  static const std::map<Kind, std::string> kNames = {
      {v1::BATCH_OPERATION_KIND_CANCEL, "cancel"},
      {v1::BATCH_OPERATION_KIND_TERMINATE, "terminate"},
      {v1::BATCH_OPERATION_KIND_SIGNAL, "signal"},
      {v1::BATCH_OPERATION_KIND_RETRY, "retry"}};
  return kNames;
}

const std::map<v1::BatchOperationState, std::string>& StateNames() {
  static const std::map<v1::BatchOperationState, std::string> kNames = {
      {v1::BATCH_OPERATION_STATE_RUNNING, persistence::batch_state::kRunning},
      {v1::BATCH_OPERATION_STATE_COMPLETED, persistence::batch_state::kCompleted},
      {v1::BATCH_OPERATION_STATE_CANCELLED, persistence::batch_state::kCancelled}};
  return kNames;
}

const std::map<ItemState, std::string>& ItemStateNames() {
  static const std::map<ItemState, std::string> kNames = {
      {v1::BatchOperationItem::STATE_PENDING, persistence::item_state::kPending},
      {v1::BatchOperationItem::STATE_SUCCEEDED, persistence::item_state::kSucceeded},
      {v1::BatchOperationItem::STATE_FAILED, persistence::item_state::kFailed},
      {v1::BatchOperationItem::STATE_SKIPPED, persistence::item_state::kSkipped}};
  return kNames;
}

// The enum value whose stored name is `stored` (the first, UNSPECIFIED, when none is).
template <typename Enum>
Enum FromStored(const std::map<Enum, std::string>& names, const std::string& stored) {
  for (const auto& [value, name] : names) {
    if (name == stored) return value;
  }
  return Enum{};
}

// A stored name for a filter: "" for UNSPECIFIED (any); INVALID_ARGUMENT for an unknown value.
template <typename Enum>
Status StoredFilter(const char* field, const std::map<Enum, std::string>& names, Enum value,
                    std::string* stored) {
  stored->clear();
  if (static_cast<int>(value) == 0) return Status::Ok();
  const auto it = names.find(value);
  if (it == names.end()) return Status::InvalidArgument(std::string(field) + ": unknown value");
  *stored = it->second;
  return Status::Ok();
}

void OperationToProto(const persistence::BatchOperationRow& row, v1::BatchOperation* out) {
  out->set_namespace_(row.namespace_name);
  out->set_id(row.id);
  out->set_kind(FromStored(KindNames(), row.kind));
  out->set_query(row.query);
  out->set_reason(row.reason);
  out->set_from_step(row.from_step);
  out->set_signal_name(row.signal_name);
  out->set_signal_payload_json(row.signal_payload);
  out->set_rate_per_second(row.rate_per_second);
  out->set_state(FromStored(StateNames(), row.state));
  out->set_total(row.total);
  out->set_succeeded(row.succeeded);
  out->set_failed(row.failed);
  out->set_skipped(row.skipped);
  out->set_created_by(row.created_by);
  out->set_identity(row.identity);
  ToProto(row.created_at, out->mutable_create_time());
  if (row.finished_at) ToProto(*row.finished_at, out->mutable_finish_time());
  out->set_cancelled_by(row.cancelled_by.value_or(""));
}

void ItemToProto(const persistence::BatchItemRow& row, v1::BatchOperationItem* out) {
  out->set_seq(row.seq);
  out->set_run_id(row.run_id);
  out->set_workflow_id(row.workflow_id);
  out->set_state(FromStored(ItemStateNames(), row.state));
  out->set_code(row.code);
  out->set_message(row.message);
  if (row.done_at) ToProto(*row.done_at, out->mutable_done_time());
}

// "batch-" and 12 random hex digits.
std::string NewOperationId() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "batch-";
  uint64_t bits = random();
  for (int i = 0; i < 12; ++i, bits >>= 4)
    id += kHex[bits & 0xF];
  return id;
}

// Whether a stored operation is the one requested again (a retried start).
bool SameRequest(const persistence::BatchOperationRow& a, const persistence::BatchOperationRow& b) {
  return a.kind == b.kind && a.query == b.query && a.reason == b.reason &&
         a.from_step == b.from_step && a.signal_name == b.signal_name &&
         a.signal_payload == b.signal_payload;
}

}  // namespace

BatchServiceImpl::BatchServiceImpl(WorkPool& pool, Authorizer& authorizer,
                                   persistence::ConnectionPool& database,
                                   RequestValidator& validator)
    : CallbackService(authorizer), database_(database), validator_(validator) {
  using Self = BatchServiceImpl;
  UnaryOnPool("StartBatchOperation", pool, this, &Self::StartBatchOperation);
  UnaryOnPool("GetBatchOperation", pool, this, &Self::GetBatchOperation);
  UnaryOnPool("ListBatchOperations", pool, this, &Self::ListBatchOperations);
  UnaryOnPool("ListBatchOperationItems", pool, this, &Self::ListBatchOperationItems);
  UnaryOnPool("CancelBatchOperation", pool, this, &Self::CancelBatchOperation);
  VerifyAllServed();
}

Status BatchServiceImpl::Requested(const Caller& caller, const v1::StartBatchOperationRequest& req,
                                   persistence::BatchOperationRow* row) {
  Status s = validator_.Namespace(req.namespace_(), &row->namespace_name);
  if (!s.ok()) return s;
  if (!req.id().empty()) {
    if (s = RequestValidator::ObjectId("id", req.id()); !s.ok()) return s;
  }
  const auto kind = KindNames().find(req.kind());
  if (kind == KindNames().end()) {
    return Status::InvalidArgument(
        "kind: is required: BATCH_OPERATION_KIND_CANCEL, _TERMINATE, _SIGNAL or _RETRY");
  }
  row->kind = kind->second;
  const bool signal = req.kind() == v1::BATCH_OPERATION_KIND_SIGNAL;
  if (req.query().find_first_not_of(" \t\n") == std::string::npos) {
    return Status::InvalidArgument(
        "query: is required: the runs to act on (docs/search.md), e.g. \"status = 'FAILED'\"");
  }
  if (!signal && req.reason().find_first_not_of(" \t\n") == std::string::npos) {
    return Status::InvalidArgument("reason: is required (it is recorded in each run's history)");
  }
  if (s = validator_.Text("reason", req.reason()); !s.ok()) return s;
  if (signal) {
    if (s = validator_.Name("signal_name", req.signal_name()); !s.ok()) return s;
    if (s = validator_.Json("signal_payload_json", req.signal_payload_json(), true); !s.ok()) {
      return s;
    }
  } else if (!req.signal_name().empty() || !req.signal_payload_json().empty()) {
    return Status::InvalidArgument("signal_name: only a signal operation takes a signal");
  }
  if (!req.from_step().empty()) {
    if (req.kind() != v1::BATCH_OPERATION_KIND_RETRY) {
      return Status::InvalidArgument("from_step: only a retry operation takes a step");
    }
    if (s = validator_.Name("from_step", req.from_step()); !s.ok()) return s;
  }
  const double rate = req.rate_per_second();
  if (rate != 0 && !(rate >= kMinRate && rate <= kMaxRate)) {
    return Status::InvalidArgument(
        "rate_per_second: must be 0 (the default, 50) or between 0.01 "
        "and 1000");
  }
  if (s = validator_.Identifier("identity", req.identity(), false); !s.ok()) return s;
  row->id = req.id();
  row->query = req.query();
  row->reason = req.reason();
  row->from_step = req.from_step();
  row->signal_name = req.signal_name();
  row->signal_payload = req.signal_payload_json();
  row->rate_per_second = rate == 0 ? kDefaultRate : rate;
  row->created_by = caller.principal;
  row->identity = req.identity();
  return Status::Ok();
}

Status BatchServiceImpl::StartBatchOperation(const Caller& caller,
                                             const v1::StartBatchOperationRequest& req,
                                             v1::BatchOperation* resp) {
  persistence::BatchOperationRow row;
  Status s = Requested(caller, req, &row);
  if (!s.ok()) return s;
  if (row.id.empty()) row.id = NewOperationId();
  bool created = false;
  std::optional<persistence::BatchOperationRow> stored;
  s = persistence::Transact(database_, "start batch operation", [&](pqxx::work& txn) -> Status {
    persistence::RunCondition condition;
    const Status parsed = ParseRunQuery(
        row.query, persistence::ReadAttributeTypes(txn, row.namespace_name), &condition);
    if (!parsed.ok()) return parsed;
    int64_t total = 0;
    created = persistence::InsertBatchOperation(txn, row, condition, &total);
    // The operation as stored (its snapshot's size, times), from this same transaction.
    stored = persistence::FindBatchOperation(txn, row.namespace_name, row.id, false);
    if (created || (stored && SameRequest(*stored, row))) return Status::Ok();
    return Status::AlreadyExists("id: batch operation '" + row.id +
                                 "' exists with a different kind, query or arguments");
  });
  if (!s.ok()) return s;
  if (created) {
    spdlog::info("batch operation {}/{} ({}) started by {}: {}", row.namespace_name, row.id,
                 row.kind, caller.principal, row.query);
  }
  OperationToProto(*stored, resp);
  return Status::Ok();
}

Status BatchServiceImpl::Find(const std::string& ns, const std::string& id,
                              persistence::BatchOperationRow* row) {
  std::optional<persistence::BatchOperationRow> found;
  Status s = persistence::Transact(database_, "read batch operation", [&](pqxx::work& txn) {
    found = persistence::FindBatchOperation(txn, ns, id, false);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  if (!found) {
    return Status::NotFound("batch operation '" + id + "' does not exist in namespace '" + ns +
                            "'");
  }
  *row = std::move(*found);
  return Status::Ok();
}

Status BatchServiceImpl::GetBatchOperation(const v1::GetBatchOperationRequest& req,
                                           v1::BatchOperation* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (s.ok()) s = RequestValidator::ObjectId("id", req.id());
  persistence::BatchOperationRow row;
  if (s.ok()) s = Find(ns, req.id(), &row);
  if (s.ok()) OperationToProto(row, resp);
  return s;
}

Status BatchServiceImpl::ListBatchOperations(const v1::ListBatchOperationsRequest& req,
                                             v1::ListBatchOperationsResponse* resp) {
  std::string ns;
  std::string state;
  int page_size = 0;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (s.ok()) s = StoredFilter("state", StateNames(), req.state(), &state);
  if (s.ok()) s = PageSize(req.page_size(), kDefaultOperationsPage, &page_size);
  if (!s.ok()) return s;
  std::optional<TimePoint> after_time;
  std::string after_id;
  if (!req.page_token().empty()) {
    const auto fields = DecodePageToken("batch-operations", req.page_token(), 2);
    int64_t micros = 0;
    if (!fields || !ParsePageInt64((*fields)[0], &micros)) return BadPageToken();
    after_time = FromEpochMicros(micros);
    after_id = (*fields)[1];
  }
  std::vector<persistence::BatchOperationRow> rows;
  s = persistence::Transact(database_, "list batch operations", [&](pqxx::work& txn) {
    rows = persistence::ListBatchOperations(txn, ns, state, after_time, after_id, page_size + 1);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  const bool more = static_cast<int>(rows.size()) > page_size;
  if (more) rows.resize(static_cast<size_t>(page_size));
  for (const auto& row : rows)
    OperationToProto(row, resp->add_operations());
  if (more) {
    resp->set_next_page_token(
        EncodePageToken("batch-operations",
                        {std::to_string(ToEpochMicros(rows.back().created_at)), rows.back().id}));
  }
  return Status::Ok();
}

Status BatchServiceImpl::ListBatchOperationItems(const v1::ListBatchOperationItemsRequest& req,
                                                 v1::ListBatchOperationItemsResponse* resp) {
  std::string ns;
  std::string state;
  int page_size = 0;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (s.ok()) s = RequestValidator::ObjectId("id", req.id());
  if (s.ok()) s = StoredFilter("state", ItemStateNames(), req.state(), &state);
  if (s.ok()) s = PageSize(req.page_size(), kDefaultItemsPage, &page_size);
  if (!s.ok()) return s;
  int64_t after_seq = 0;
  if (!req.page_token().empty()) {
    const auto fields = DecodePageToken("batch-items", req.page_token(), 1);
    if (!fields || !ParsePageInt64((*fields)[0], &after_seq)) return BadPageToken();
  }
  std::optional<persistence::BatchOperationRow> op;
  std::vector<persistence::BatchItemRow> rows;
  s = persistence::Transact(database_, "list batch items", [&](pqxx::work& txn) {
    op = persistence::FindBatchOperation(txn, ns, req.id(), false);
    if (op) rows = persistence::ListBatchItems(txn, ns, req.id(), state, after_seq, page_size + 1);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  if (!op) {
    return Status::NotFound("batch operation '" + req.id() + "' does not exist in namespace '" +
                            ns + "'");
  }
  const bool more = static_cast<int>(rows.size()) > page_size;
  if (more) rows.resize(static_cast<size_t>(page_size));
  for (const auto& row : rows)
    ItemToProto(row, resp->add_items());
  if (more) {
    resp->set_next_page_token(EncodePageToken("batch-items", {std::to_string(rows.back().seq)}));
  }
  return Status::Ok();
}

Status BatchServiceImpl::CancelBatchOperation(const Caller& caller,
                                              const v1::CancelBatchOperationRequest& req,
                                              v1::BatchOperation* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (s.ok()) s = RequestValidator::ObjectId("id", req.id());
  if (s.ok()) s = validator_.Identifier("identity", req.identity(), false);
  if (!s.ok()) return s;
  const std::string by = Actor{caller.principal, req.identity()}.Describe();
  std::optional<persistence::BatchOperationRow> op;
  s = persistence::Transact(database_, "cancel batch operation", [&](pqxx::work& txn) -> Status {
    const bool cancelled = persistence::CancelBatchOperation(txn, ns, req.id(), by);
    op = persistence::FindBatchOperation(txn, ns, req.id(), false);
    if (cancelled) return Status::Ok();
    if (!op) {
      return Status::NotFound("batch operation '" + req.id() + "' does not exist in namespace '" +
                              ns + "'");
    }
    return Status::FailedPrecondition("batch operation '" + req.id() + "' is already " + op->state);
  });
  if (!s.ok()) return s;
  spdlog::info("batch operation {}/{} cancelled by {}", ns, req.id(), by);
  OperationToProto(*op, resp);
  return Status::Ok();
}

}  // namespace gridflow::engine
