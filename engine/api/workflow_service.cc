#include "engine/api/workflow_service.h"

#include <spdlog/spdlog.h>

#include <tuple>

#include <cctype>
#include <map>

#include "common/json_text.h"
#include "engine/api/page_budget.h"
#include "engine/api/page_token.h"
#include "engine/api/proto_convert.h"
#include "engine/api/run_query.h"

namespace gridflow::engine {
namespace {

constexpr int kDefaultPageSize = 50;
constexpr int kDefaultHistoryPageSize = 100;
// Runs one RetryDeadLetters call retries: each is a transaction of its own.
constexpr int kDefaultDeadLetterRetries = 100;
constexpr int kMaxDeadLetterRetries = 1000;

// A caller's network address without its port ("ipv4:10.0.0.7:51234" -> "ipv4:10.0.0.7"): the
// client a per-client limit counts (all connections from one host count together).
std::string ClientAddress(const std::string& peer) {
  const size_t colon = peer.rfind(':');
  return colon == std::string::npos || colon < 5 ? peer : peer.substr(0, colon);
}

// What GetRun or DescribeRun reads of the run (an unknown view is refused, naming the field).
Status RunFieldsOf(v1::RunView view, persistence::RunFields* fields) {
  switch (view) {
    case v1::RUN_VIEW_UNSPECIFIED:
    case v1::RUN_VIEW_FULL:
      *fields = persistence::RunFields::kAll;
      return Status::Ok();
    case v1::RUN_VIEW_SUMMARY:
      *fields = persistence::RunFields::kSummary;
      return Status::Ok();
    default:
      return Status::InvalidArgument("view: unknown value " + std::to_string(view));
  }
}

bool IsUuid(const std::string& text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (text[i] == '-')) return false;
    if (!dash && !std::isxdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  return true;
}

bool ParseRunOrder(const std::string& text, persistence::RunListFilter::Order* order) {
  using Order = persistence::RunListFilter::Order;
  static const std::map<std::string, Order> kOrders = {{"create_time desc", Order::kCreatedDesc},
                                                       {"create_time asc", Order::kCreatedAsc},
                                                       {"update_time desc", Order::kUpdatedDesc},
                                                       {"update_time asc", Order::kUpdatedAsc}};
  const auto it = kOrders.find(text);
  if (it == kOrders.end()) return false;
  *order = it->second;
  return true;
}

}  // namespace

WorkflowServiceImpl::WorkflowServiceImpl(WorkPool& pool, Authorizer& authorizer,
                                         RequestValidator& validator,
                                         DefinitionRegistry& definitions, Scheduler& scheduler,
                                         RunReader& reader, HistoryWatchHub& watches)
    : CallbackService(authorizer),
      pool_(pool),
      validator_(validator),
      definitions_(definitions),
      scheduler_(scheduler),
      reader_(reader),
      watches_(watches) {
  using Self = WorkflowServiceImpl;
  UnaryOnPool("RegisterDefinition", pool, this, &Self::RegisterDefinition);
  UnaryOnPool("GetDefinition", pool, this, &Self::GetDefinition);
  UnaryOnPool("ListDefinitions", pool, this, &Self::ListDefinitions);
  Unary<v1::StartRunRequest, v1::StartRunResponse>("StartRun",
                                                   [this](auto* call) { StartRun(call); });
  UnaryOnPool("GetRun", pool, this, &Self::GetRun);
  UnaryOnPool("ListRuns", pool, this, &Self::ListRuns);
  UnaryOnPool("DescribeRun", pool, this, &Self::DescribeRun);
  UnaryOnPool("GetHistory", pool, this, &Self::GetHistory);
  UnaryOnPool("SignalRun", pool, this, &Self::SignalRun);
  UnaryOnPool("CancelRun", pool, this, &Self::CancelRun);
  UnaryOnPool("TerminateRun", pool, this, &Self::TerminateRun);
  UnaryOnPool("RetryRun", pool, this, &Self::RetryRun);
  UnaryOnPool("ListDeadLetters", pool, this, &Self::ListDeadLetters);
  UnaryOnPool("RetryDeadLetters", pool, this, &Self::RetryDeadLetters);
  ServerStream<v1::WatchHistoryRequest, v1::Event>(
      "WatchHistory",
      [this](grpc::CallbackServerContext* context, const v1::WatchHistoryRequest& r) {
        return WatchHistory(r, ClientAddress(context->peer()));
      });
  VerifyAllServed();
}

Status WorkflowServiceImpl::RegisterDefinition(const Caller& caller,
                                               const v1::RegisterDefinitionRequest& req,
                                               v1::RegisterDefinitionResponse* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (!s.ok()) return s;
  if (s = validator_.AcceptsNewWork(ns); !s.ok()) return s;
  if (s = validator_.Identifier("identity", req.identity(), false); !s.ok()) return s;
  if (req.definition_json().empty()) {
    return Status::InvalidArgument("definition_json: is required");
  }
  if (req.definition_json().size() > validator_.limits().max_definition_bytes) {
    return Status::InvalidArgument(
        "definition_json: is " + std::to_string(req.definition_json().size()) +
        " bytes; the limit is " + std::to_string(validator_.limits().max_definition_bytes));
  }
  persistence::DefinitionRow stored;
  bool created = false;
  s = definitions_.Register(ns, req.definition_json(),
                            Actor{caller.principal, req.identity()}.Describe(), req.candidate(),
                            &stored, &created);
  if (!s.ok()) return s;
  ToProto(stored, resp->mutable_definition());
  resp->set_created(created);
  return Status::Ok();
}

Status WorkflowServiceImpl::GetDefinition(const v1::GetDefinitionRequest& req,
                                          v1::Definition* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (!s.ok()) return s;
  if (s = validator_.Name("name", req.name()); !s.ok()) return s;
  if (req.version() < 0) return Status::InvalidArgument("version: must not be negative");
  persistence::DefinitionRow row;
  if (s = definitions_.Get(ns, req.name(), req.version(), &row); !s.ok()) return s;
  ToProto(row, resp);
  return Status::Ok();
}

Status WorkflowServiceImpl::ListDefinitions(const v1::ListDefinitionsRequest& req,
                                            v1::ListDefinitionsResponse* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (!s.ok()) return s;
  if (!req.name().empty()) {
    if (s = validator_.Name("name", req.name()); !s.ok()) return s;
  }
  int page_size = 0;
  if (s = PageSize(req.page_size(), kDefaultPageSize, &page_size); !s.ok()) return s;
  std::string after_name;
  int64_t after_version = 0;
  if (!req.page_token().empty()) {
    const auto fields = DecodePageToken("defs", req.page_token(), 2);
    if (!fields || !ParsePageInt64((*fields)[1], &after_version)) return BadPageToken();
    after_name = (*fields)[0];
  }
  std::vector<persistence::DefinitionRow> rows;
  s = definitions_.List(ns, req.name(), after_name, static_cast<int>(after_version), page_size + 1,
                        &rows);
  if (!s.ok()) return s;
  const bool more = static_cast<int>(rows.size()) > page_size;
  if (more) rows.resize(page_size);
  for (const auto& row : rows)
    ToProto(row, resp->add_definitions());
  if (more) {
    resp->set_next_page_token(
        EncodePageToken("defs", {rows.back().name, std::to_string(rows.back().version)}));
  }
  return Status::Ok();
}

// Group-committed: validated here, answered by the scheduler once its transaction committed.
void WorkflowServiceImpl::StartRun(UnaryCall<v1::StartRunRequest, v1::StartRunResponse>* call) {
  const v1::StartRunRequest& req = call->request();
  StartRunParams params;
  Status s = validator_.Namespace(req.namespace_(), &params.namespace_name);
  if (s.ok()) s = validator_.AcceptsNewWork(params.namespace_name);
  if (s.ok()) s = validator_.Identifier("workflow_id", req.workflow_id(), true);
  if (s.ok()) s = validator_.Name("definition_name", req.definition_name());
  if (s.ok() && req.definition_version() < 0) {
    s = Status::InvalidArgument("definition_version: must not be negative (0 means latest)");
  }
  if (s.ok()) s = validator_.Json("input_json", req.input_json(), true, &params.input);
  if (s.ok()) s = validator_.Identifier("identity", req.identity(), false);
  if (s.ok()) s = RevisionOfStart(req);
  if (!s.ok()) {
    call->Finish(s);
    return;
  }
  params.workflow_id = req.workflow_id();
  params.definition_name = req.definition_name();
  params.definition_version = req.definition_version();
  params.actor = Actor{call->caller().principal, req.identity()};
  params.revision_period = req.period();
  params.revision = req.revision();
  if (params.revision != 0) {
    // A revision takes its series' lock in a transaction of its own, on the RPC pool.
    RunOnPool<v1::StartRunRequest, v1::StartRunResponse>(
        pool_, call, [this, params](const v1::StartRunRequest&, v1::StartRunResponse* resp) {
          persistence::RunRow run;
          bool created = false;
          const Status started = scheduler_.StartRevision(params, &run, &created);
          if (started.ok()) {
            ToProto(run, resp->mutable_run());
            resp->set_created(created);
          }
          return started;
        });
    return;
  }
  scheduler_.StartRun(std::move(params),
                      [call](const Status& status, const persistence::RunRow& run, bool created) {
                        if (status.ok()) {
                          ToProto(run, call->response().mutable_run());
                          call->response().set_created(created);
                        }
                        call->Finish(status);
                      });
}

Status WorkflowServiceImpl::RevisionOfStart(const v1::StartRunRequest& req) {
  if (req.period().empty() && req.revision() == 0) return Status::Ok();
  if (req.revision() < 1) {
    return Status::InvalidArgument("revision: must be at least 1 when a period is given");
  }
  if (req.period().empty()) return Status::InvalidArgument("period: is required with a revision");
  return RequestValidator::ObjectId("period", req.period());
}

Status WorkflowServiceImpl::GetRun(const v1::GetRunRequest& req, v1::Run* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (!s.ok()) return s;
  if (s = validator_.Identifier("workflow_id", req.workflow_id(), true); !s.ok()) return s;
  persistence::RunFields fields;
  if (s = RunFieldsOf(req.view(), &fields); !s.ok()) return s;
  persistence::RunRow run;
  if (s = reader_.GetRun(ns, req.workflow_id(), fields, &run); !s.ok()) return s;
  ToProto(run, resp);
  return Status::Ok();
}

Status WorkflowServiceImpl::ListRuns(const v1::ListRunsRequest& req, v1::ListRunsResponse* resp) {
  persistence::RunListFilter filter;
  Status s = validator_.Namespace(req.namespace_(), &filter.namespace_name);
  if (!s.ok()) return s;
  if (!v1::RunStatus_IsValid(req.status())) {
    return Status::InvalidArgument("status: unknown run status " + std::to_string(req.status()));
  }
  filter.status = std::string(RunStatusToStored(req.status()));
  if (!req.definition_name().empty()) {
    if (s = validator_.Name("definition_name", req.definition_name()); !s.ok()) return s;
    filter.definition_name = req.definition_name();
  }
  if (req.definition_version() < 0) {
    return Status::InvalidArgument("definition_version: must not be negative");
  }
  if (req.definition_version() > 0 && req.definition_name().empty()) {
    return Status::InvalidArgument("definition_version: needs definition_name");
  }
  filter.definition_version = req.definition_version();
  if (req.has_created_after()) {
    TimePoint t;
    if (s = validator_.Timestamp("created_after", req.created_after(), &t); !s.ok()) return s;
    filter.created_after = t;
  }
  if (req.has_created_before()) {
    TimePoint t;
    if (s = validator_.Timestamp("created_before", req.created_before(), &t); !s.ok()) return s;
    filter.created_before = t;
  }
  if (!req.task_queue().empty()) {
    if (s = validator_.Name("task_queue", req.task_queue()); !s.ok()) return s;
    filter.task_queue = req.task_queue();
  }
  if (s = validator_.Identifier("workflow_id_contains", req.workflow_id_contains(), false);
      !s.ok()) {
    return s;
  }
  filter.workflow_id_contains = req.workflow_id_contains();
  if (!req.period().empty()) {
    if (s = RequestValidator::ObjectId("period", req.period()); !s.ok()) return s;
    filter.revision_period = req.period();
  }
  filter.latest_revisions_only = req.latest_revisions_only();
  if (!req.query().empty()) {
    std::map<std::string, std::string> types;
    if (s = reader_.AttributeTypes(filter.namespace_name, &types); !s.ok()) return s;
    persistence::RunCondition condition;
    if (s = ParseRunQuery(req.query(), types, &condition); !s.ok()) return s;
    filter.condition = std::move(condition);
  }
  const std::string order_by = req.order_by().empty() ? "create_time desc" : req.order_by();
  if (!ParseRunOrder(order_by, &filter.order)) {
    return Status::InvalidArgument("order_by: '" + QuotePrefix(order_by) +
                                   "' is not one of \"create_time desc\", \"create_time asc\", "
                                   "\"update_time desc\", \"update_time asc\"");
  }
  int page_size = 0;
  if (s = PageSize(req.page_size(), kDefaultPageSize, &page_size); !s.ok()) return s;
  // The token carries the order it was made for: a cursor means nothing in another order.
  if (!req.page_token().empty()) {
    const auto fields = DecodePageToken("runs", req.page_token(), 3);
    int64_t micros = 0;
    if (!fields || (*fields)[0] != order_by || !ParsePageInt64((*fields)[1], &micros) ||
        !IsUuid((*fields)[2])) {
      return BadPageToken();
    }
    filter.after_time = persistence::FromEpochMicros(micros);
    filter.after_id = (*fields)[2];
  }
  filter.limit = page_size;
  // The rest of the page's budget is for the runs' small fields and the encoding.
  filter.field_budget = kPageByteBudget - kPageByteBudget / 8;
  persistence::RunPage page;
  if (s = reader_.ListRuns(filter, &page); !s.ok()) return s;
  std::vector<persistence::RunRow>& runs = page.runs;
  bool more = page.more;
  if (const size_t sent = FillPage(runs, resp->mutable_runs()); sent < runs.size()) {
    runs.resize(sent);
    more = true;
  }
  if (more) {
    const persistence::RunRow& last = runs.back();
    const bool by_update = filter.order == persistence::RunListFilter::Order::kUpdatedDesc ||
                           filter.order == persistence::RunListFilter::Order::kUpdatedAsc;
    const TimePoint sort_time = by_update ? last.updated_at : last.created_at;
    resp->set_next_page_token(EncodePageToken(
        "runs", {order_by, std::to_string(persistence::ToEpochMicros(sort_time)), last.id}));
  }
  return Status::Ok();
}

Status WorkflowServiceImpl::DescribeRun(const v1::DescribeRunRequest& req,
                                        v1::DescribeRunResponse* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (!s.ok()) return s;
  if (s = validator_.Identifier("workflow_id", req.workflow_id(), true); !s.ok()) return s;
  persistence::RunFields fields;
  if (s = RunFieldsOf(req.view(), &fields); !s.ok()) return s;
  RunDescription d;
  if (s = reader_.DescribeRun(ns, req.workflow_id(), fields, &d); !s.ok()) return s;
  if (d.time_zone.empty()) d.time_zone = validator_.TimeZoneOf(ns);  // the namespace's default
  ToProto(d.run, resp->mutable_run());
  for (const auto& step : d.active_steps)
    resp->add_active_steps(step);
  resp->set_open_tasks_omitted(FillOpenTasks(d.open_tasks, resp->mutable_open_tasks()));
  for (const auto& timer : d.pending_timers)
    ToProto(timer, d.time_zone, resp->add_pending_timers());
  if (d.last_task_failure) {
    const persistence::EventRow& e = *d.last_task_failure;
    v1::Failure* failure = resp->mutable_last_task_failure();
    FailureToProto(e.payload_json, failure);
    if (e.step) failure->set_step(*e.step);
    if (e.attempt) failure->set_attempt(*e.attempt);
  }
  resp->set_time_zone(d.time_zone);
  return Status::Ok();
}

Status WorkflowServiceImpl::GetHistory(const v1::GetHistoryRequest& req,
                                       v1::GetHistoryResponse* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (!s.ok()) return s;
  if (s = validator_.Identifier("workflow_id", req.workflow_id(), true); !s.ok()) return s;
  int page_size = 0;
  if (s = PageSize(req.page_size(), kDefaultHistoryPageSize, &page_size); !s.ok()) return s;
  int64_t after_seq = 0;
  if (!req.page_token().empty()) {
    const auto fields = DecodePageToken("history", req.page_token(), 1);
    if (!fields || !ParsePageInt64((*fields)[0], &after_seq) || after_seq < 0)
      return BadPageToken();
  }
  std::vector<persistence::EventRow> events;
  persistence::RunRow run;
  s = reader_.GetHistory(ns, req.workflow_id(), after_seq, page_size, kPageByteBudget, &events,
                         &run);
  if (!s.ok()) return s;
  events.resize(FillPage(events, resp->mutable_events()));
  resp->set_run_status(RunStatusToProto(run.status));
  if (!events.empty() && events.back().seq < run.last_event_seq) {
    resp->set_next_page_token(EncodePageToken("history", {std::to_string(events.back().seq)}));
  }
  return Status::Ok();
}

Status WorkflowServiceImpl::SignalRun(const Caller& caller, const v1::SignalRunRequest& req,
                                      v1::SignalRunResponse* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (!s.ok()) return s;
  if (s = validator_.Identifier("workflow_id", req.workflow_id(), true); !s.ok()) return s;
  if (s = validator_.Name("signal_name", req.signal_name()); !s.ok()) return s;
  if (s = validator_.Json("payload_json", req.payload_json(), true); !s.ok()) return s;
  if (s = validator_.Identifier("dedup_id", req.dedup_id(), false); !s.ok()) return s;
  if (s = validator_.Identifier("identity", req.identity(), false); !s.ok()) return s;
  bool accepted = false;
  s = scheduler_.SignalRun(ns, req.workflow_id(), req.signal_name(), req.payload_json(),
                           req.dedup_id(), Actor{caller.principal, req.identity()}, &accepted);
  if (!s.ok()) return s;
  resp->set_accepted(accepted);
  return Status::Ok();
}

Status WorkflowServiceImpl::CancelRun(const Caller& caller, const v1::CancelRunRequest& req,
                                      v1::CancelRunResponse* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (!s.ok()) return s;
  if (s = validator_.Identifier("workflow_id", req.workflow_id(), true); !s.ok()) return s;
  if (s = validator_.Text("reason", req.reason()); !s.ok()) return s;
  if (s = validator_.Identifier("identity", req.identity(), false); !s.ok()) return s;
  persistence::RunRow run;
  s = scheduler_.CancelRun(ns, req.workflow_id(), req.reason(),
                           Actor{caller.principal, req.identity()}, &run);
  if (!s.ok()) return s;
  ToProto(run, resp->mutable_run());
  return Status::Ok();
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* WorkflowServiceImpl::WatchHistory(
    const v1::WatchHistoryRequest& req, const std::string& client) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (s.ok()) s = validator_.Identifier("workflow_id", req.workflow_id(), true);
  if (s.ok() && req.after_sequence() < 0) {
    s = Status::InvalidArgument("after_sequence: must not be negative");
  }
  if (!s.ok()) return EndedStream(ToGrpcStatus(s));
  const int limit = validator_.limits().max_watches_per_client;
  if (auto* stream = watches_.Watch(req, ns, client, limit)) return stream;
  return EndedStream(
      grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                   "this client already holds " + std::to_string(limit) +
                       " history streams on this replica; close some (or ask the operator to raise "
                       "--max-watches-per-client)"));
}

Status WorkflowServiceImpl::TerminateRun(const Caller& caller, const v1::TerminateRunRequest& req,
                                         v1::TerminateRunResponse* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (!s.ok()) return s;
  if (s = validator_.Identifier("workflow_id", req.workflow_id(), true); !s.ok()) return s;
  if (s = RequiredReason(req.reason()); !s.ok()) return s;
  if (s = validator_.Identifier("identity", req.identity(), false); !s.ok()) return s;
  persistence::RunRow run;
  s = scheduler_.TerminateRun(ns, req.workflow_id(), req.reason(),
                              Actor{caller.principal, req.identity()}, &run);
  if (!s.ok()) return s;
  ToProto(run, resp->mutable_run());
  return Status::Ok();
}

Status WorkflowServiceImpl::RetryRun(const Caller& caller, const v1::RetryRunRequest& req,
                                     v1::RetryRunResponse* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (!s.ok()) return s;
  if (s = validator_.Identifier("workflow_id", req.workflow_id(), true); !s.ok()) return s;
  if (!req.from_step().empty()) {
    if (s = validator_.Name("from_step", req.from_step()); !s.ok()) return s;
  }
  if (s = RequiredReason(req.reason()); !s.ok()) return s;
  if (s = validator_.Identifier("identity", req.identity(), false); !s.ok()) return s;
  persistence::RunRow run;
  std::string step;
  s = scheduler_.RetryRun(ns, req.workflow_id(), req.from_step(), req.reason(),
                          Actor{caller.principal, req.identity()}, &run, &step);
  if (!s.ok()) return s;
  ToProto(run, resp->mutable_run());
  resp->set_from_step(step);
  return Status::Ok();
}

Status WorkflowServiceImpl::ListDeadLetters(const v1::ListDeadLettersRequest& req,
                                            v1::ListDeadLettersResponse* resp) {
  persistence::DeadLetterFilter filter;
  Status s = validator_.Namespace(req.namespace_(), &filter.namespace_name);
  if (!s.ok()) return s;
  for (const auto& [field, value, out] :
       {std::tuple{"task_queue", &req.task_queue(), &filter.queue},
        std::tuple{"task_type", &req.task_type(), &filter.task_type},
        std::tuple{"error_type", &req.error_type(), &filter.error_type}}) {
    if (value->empty()) continue;
    if (s = validator_.Name(field, *value); !s.ok()) return s;
    *out = *value;
  }
  if (req.has_failed_after()) {
    TimePoint t;
    if (s = validator_.Timestamp("failed_after", req.failed_after(), &t); !s.ok()) return s;
    filter.failed_after = t;
  }
  std::vector<persistence::DeadLetterGroupRow> groups;
  if (s = reader_.ListDeadLetters(filter, &groups); !s.ok()) return s;
  for (const persistence::DeadLetterGroupRow& g : groups) {
    v1::DeadLetterGroup* out = resp->add_groups();
    out->set_task_queue(g.queue);
    out->set_task_type(g.task_type);
    out->set_error_type(g.error_type);
    out->set_tasks(g.tasks);
    out->set_runs(g.runs);
    ToProto(g.first_failure, out->mutable_first_failure_time());
    ToProto(g.last_failure, out->mutable_last_failure_time());
    for (const std::string& id : g.sample_workflow_ids)
      out->add_sample_workflow_ids(id);
    out->set_last_message(g.last_message);
  }
  return Status::Ok();
}

Status WorkflowServiceImpl::RetryDeadLetters(const Caller& caller,
                                             const v1::RetryDeadLettersRequest& req,
                                             v1::RetryDeadLettersResponse* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (!s.ok()) return s;
  for (const auto& [field, value] :
       {std::pair{"task_queue", &req.task_queue()}, std::pair{"task_type", &req.task_type()},
        std::pair{"error_type", &req.error_type()}}) {
    if (s = validator_.Name(field, *value); !s.ok()) return s;
  }
  if (!req.from_step().empty()) {
    if (s = validator_.Name("from_step", req.from_step()); !s.ok()) return s;
  }
  if (s = RequiredReason(req.reason()); !s.ok()) return s;
  if (s = validator_.Identifier("identity", req.identity(), false); !s.ok()) return s;
  if (req.limit() < 0 || req.limit() > kMaxDeadLetterRetries) {
    return Status::InvalidArgument("limit: must be between 0 (the default, " +
                                   std::to_string(kDefaultDeadLetterRetries) + ") and " +
                                   std::to_string(kMaxDeadLetterRetries));
  }
  const int limit = req.limit() == 0 ? kDefaultDeadLetterRetries : req.limit();
  std::string after;
  if (!req.page_token().empty()) {
    const auto fields = DecodePageToken("dead-letters", req.page_token(), 1);
    if (!fields || !IsUuid((*fields)[0])) return BadPageToken();
    after = (*fields)[0];
  }
  // One more than the page: whether the group goes on.
  std::vector<std::pair<std::string, std::string>> runs;
  s = reader_.DeadLetterRuns(ns, req.task_queue(), req.task_type(), req.error_type(), after,
                             limit + 1, &runs);
  if (!s.ok()) return s;
  const bool more = static_cast<int>(runs.size()) > limit;
  if (more) runs.resize(static_cast<size_t>(limit));
  for (const auto& [run_id, workflow_id] : runs) {
    std::string step;
    const Status retried =
        scheduler_.RetryRun(ns, workflow_id, req.from_step(), req.reason(),
                            Actor{caller.principal, req.identity()}, /*run=*/nullptr, &step);
    if (retried.ok()) {
      resp->add_retried_workflow_ids(workflow_id);
    } else if (retried.code() == StatusCode::kUnavailable) {
      return retried;  // the database is gone: the caller retries the page (retried runs left it)
    } else {
      auto* refused = resp->add_refused();
      refused->set_workflow_id(workflow_id);
      refused->set_message(retried.ToString());
    }
  }
  if (more) resp->set_next_page_token(EncodePageToken("dead-letters", {runs.back().first}));
  if (!resp->retried_workflow_ids().empty()) {
    spdlog::info("dead letters {}/{}/{} in namespace {}: {} runs retried by {}", req.task_queue(),
                 req.task_type(), req.error_type(), ns, resp->retried_workflow_ids_size(),
                 caller.principal);
  }
  return Status::Ok();
}

Status WorkflowServiceImpl::RequiredReason(const std::string& reason) {
  if (reason.find_first_not_of(" \t\n") == std::string::npos) {
    return Status::InvalidArgument("reason: is required (it is recorded in the run's history)");
  }
  return validator_.Text("reason", reason);
}

}  // namespace gridflow::engine
