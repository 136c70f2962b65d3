#include "engine/api/workflow_service.h"

#include "engine/api/page_token.h"
#include "engine/api/proto_convert.h"
#include "engine/api/rpc_boundary.h"

namespace gridflow::engine {
namespace {

constexpr int kDefaultPageSize = 50;
constexpr int kDefaultHistoryPageSize = 100;
constexpr int kMaxPageSize = 1000;

Status PageSize(int requested, int default_size, int* size) {
  if (requested < 0) return Status::InvalidArgument("page_size: must not be negative");
  *size = requested == 0 ? default_size : std::min(requested, kMaxPageSize);
  return Status::Ok();
}

Status BadToken() {
  return Status::InvalidArgument(
      "page_token: not a token returned by this method (pass next_page_token unchanged)");
}

// Parses a decimal field of a decoded page token.
bool ParseInt64(const std::string& text, int64_t* out) {
  try {
    size_t used = 0;
    *out = std::stoll(text, &used);
    return used == text.size();
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

grpc::Status WorkflowServiceImpl::RegisterDefinition(grpc::ServerContext*,
                                                     const v1::RegisterDefinitionRequest* req,
                                                     v1::RegisterDefinitionResponse* resp) {
  return ServeRpc("RegisterDefinition", [&]() -> Status {
    std::string ns;
    Status s = validator_.Namespace(req->namespace_(), &ns);
    if (!s.ok()) return s;
    if (s = validator_.Identifier("identity", req->identity(), false); !s.ok()) return s;
    if (req->definition_json().empty()) {
      return Status::InvalidArgument("definition_json: is required");
    }
    if (req->definition_json().size() > validator_.limits().max_definition_bytes) {
      return Status::InvalidArgument(
          "definition_json: is " + std::to_string(req->definition_json().size()) +
          " bytes; the limit is " + std::to_string(validator_.limits().max_definition_bytes));
    }
    persistence::DefinitionRow stored;
    bool created = false;
    s = definitions_.Register(ns, req->definition_json(), validator_.Actor(req->identity()),
                              &stored, &created);
    if (!s.ok()) return s;
    ToProto(stored, resp->mutable_definition());
    resp->set_created(created);
    return Status::Ok();
  });
}

grpc::Status WorkflowServiceImpl::GetDefinition(grpc::ServerContext*,
                                                const v1::GetDefinitionRequest* req,
                                                v1::Definition* resp) {
  return ServeRpc("GetDefinition", [&]() -> Status {
    std::string ns;
    Status s = validator_.Namespace(req->namespace_(), &ns);
    if (!s.ok()) return s;
    if (s = validator_.Name("name", req->name()); !s.ok()) return s;
    if (req->version() < 0) return Status::InvalidArgument("version: must not be negative");
    persistence::DefinitionRow row;
    if (s = definitions_.Get(ns, req->name(), req->version(), &row); !s.ok()) return s;
    ToProto(row, resp);
    return Status::Ok();
  });
}

grpc::Status WorkflowServiceImpl::ListDefinitions(grpc::ServerContext*,
                                                  const v1::ListDefinitionsRequest* req,
                                                  v1::ListDefinitionsResponse* resp) {
  return ServeRpc("ListDefinitions", [&]() -> Status {
    std::string ns;
    Status s = validator_.Namespace(req->namespace_(), &ns);
    if (!s.ok()) return s;
    if (!req->name().empty()) {
      if (s = validator_.Name("name", req->name()); !s.ok()) return s;
    }
    int page_size = 0;
    if (s = PageSize(req->page_size(), kDefaultPageSize, &page_size); !s.ok()) return s;
    std::string after_name;
    int64_t after_version = 0;
    if (!req->page_token().empty()) {
      const auto fields = DecodePageToken("defs", req->page_token(), 2);
      if (!fields || !ParseInt64((*fields)[1], &after_version)) return BadToken();
      after_name = (*fields)[0];
    }
    std::vector<persistence::DefinitionRow> rows;
    s = definitions_.List(ns, req->name(), after_name, static_cast<int>(after_version),
                          page_size + 1, &rows);
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
  });
}

grpc::Status WorkflowServiceImpl::StartRun(grpc::ServerContext*, const v1::StartRunRequest* req,
                                           v1::StartRunResponse* resp) {
  return ServeRpc("StartRun", [&]() -> Status {
    StartRunParams params;
    Status s = validator_.Namespace(req->namespace_(), &params.namespace_name);
    if (!s.ok()) return s;
    if (s = validator_.Identifier("workflow_id", req->workflow_id(), true); !s.ok()) return s;
    if (s = validator_.Name("definition_name", req->definition_name()); !s.ok()) return s;
    if (req->definition_version() < 0) {
      return Status::InvalidArgument("definition_version: must not be negative (0 means latest)");
    }
    if (s = validator_.Json("input_json", req->input_json(), true); !s.ok()) return s;
    if (s = validator_.Identifier("identity", req->identity(), false); !s.ok()) return s;
    params.workflow_id = req->workflow_id();
    params.definition_name = req->definition_name();
    params.definition_version = req->definition_version();
    params.input_json = req->input_json().empty() ? "null" : req->input_json();
    params.identity = validator_.Actor(req->identity());
    persistence::RunRow run;
    bool created = false;
    if (s = scheduler_.StartRun(params, &run, &created); !s.ok()) return s;
    ToProto(run, resp->mutable_run());
    resp->set_created(created);
    return Status::Ok();
  });
}

grpc::Status WorkflowServiceImpl::GetRun(grpc::ServerContext*, const v1::GetRunRequest* req,
                                         v1::Run* resp) {
  return ServeRpc("GetRun", [&]() -> Status {
    std::string ns;
    Status s = validator_.Namespace(req->namespace_(), &ns);
    if (!s.ok()) return s;
    if (s = validator_.Identifier("workflow_id", req->workflow_id(), true); !s.ok()) return s;
    persistence::RunRow run;
    if (s = reader_.GetRun(ns, req->workflow_id(), &run); !s.ok()) return s;
    ToProto(run, resp);
    return Status::Ok();
  });
}

grpc::Status WorkflowServiceImpl::ListRuns(grpc::ServerContext*, const v1::ListRunsRequest* req,
                                           v1::ListRunsResponse* resp) {
  return ServeRpc("ListRuns", [&]() -> Status {
    persistence::RunListFilter filter;
    Status s = validator_.Namespace(req->namespace_(), &filter.namespace_name);
    if (!s.ok()) return s;
    if (!v1::RunStatus_IsValid(req->status())) {
      return Status::InvalidArgument("status: unknown run status " + std::to_string(req->status()));
    }
    filter.status = std::string(RunStatusToStored(req->status()));
    if (!req->definition_name().empty()) {
      if (s = validator_.Name("definition_name", req->definition_name()); !s.ok()) return s;
      filter.definition_name = req->definition_name();
    }
    int page_size = 0;
    if (s = PageSize(req->page_size(), kDefaultPageSize, &page_size); !s.ok()) return s;
    if (!req->page_token().empty()) {
      const auto fields = DecodePageToken("runs", req->page_token(), 2);
      int64_t micros = 0;
      if (!fields || !ParseInt64((*fields)[0], &micros) || (*fields)[1].size() != 36) {
        return BadToken();
      }
      filter.before_created_at = persistence::FromEpochMicros(micros);
      filter.before_id = (*fields)[1];
    }
    filter.limit = page_size + 1;
    std::vector<persistence::RunRow> runs;
    if (s = reader_.ListRuns(filter, &runs); !s.ok()) return s;
    const bool more = static_cast<int>(runs.size()) > page_size;
    if (more) runs.resize(page_size);
    for (const auto& run : runs)
      ToProto(run, resp->add_runs());
    if (more) {
      resp->set_next_page_token(EncodePageToken(
          "runs",
          {std::to_string(persistence::ToEpochMicros(runs.back().created_at)), runs.back().id}));
    }
    return Status::Ok();
  });
}

grpc::Status WorkflowServiceImpl::GetHistory(grpc::ServerContext*, const v1::GetHistoryRequest* req,
                                             v1::GetHistoryResponse* resp) {
  return ServeRpc("GetHistory", [&]() -> Status {
    std::string ns;
    Status s = validator_.Namespace(req->namespace_(), &ns);
    if (!s.ok()) return s;
    if (s = validator_.Identifier("workflow_id", req->workflow_id(), true); !s.ok()) return s;
    int page_size = 0;
    if (s = PageSize(req->page_size(), kDefaultHistoryPageSize, &page_size); !s.ok()) return s;
    int64_t after_seq = 0;
    if (!req->page_token().empty()) {
      const auto fields = DecodePageToken("history", req->page_token(), 1);
      if (!fields || !ParseInt64((*fields)[0], &after_seq) || after_seq < 0) return BadToken();
    }
    std::vector<persistence::EventRow> events;
    persistence::RunRow run;
    s = reader_.GetHistory(ns, req->workflow_id(), after_seq, page_size, &events, &run);
    if (!s.ok()) return s;
    for (const auto& e : events)
      ToProto(e, resp->add_events());
    resp->set_run_status(RunStatusToProto(run.status));
    if (!events.empty() && events.back().seq < run.last_event_seq) {
      resp->set_next_page_token(EncodePageToken("history", {std::to_string(events.back().seq)}));
    }
    return Status::Ok();
  });
}

grpc::Status WorkflowServiceImpl::SignalRun(grpc::ServerContext*, const v1::SignalRunRequest* req,
                                            v1::SignalRunResponse* resp) {
  return ServeRpc("SignalRun", [&]() -> Status {
    std::string ns;
    Status s = validator_.Namespace(req->namespace_(), &ns);
    if (!s.ok()) return s;
    if (s = validator_.Identifier("workflow_id", req->workflow_id(), true); !s.ok()) return s;
    if (s = validator_.Name("signal_name", req->signal_name()); !s.ok()) return s;
    if (s = validator_.Json("payload_json", req->payload_json(), true); !s.ok()) return s;
    if (s = validator_.Identifier("dedup_id", req->dedup_id(), false); !s.ok()) return s;
    if (s = validator_.Identifier("identity", req->identity(), false); !s.ok()) return s;
    bool accepted = false;
    s = scheduler_.SignalRun(ns, req->workflow_id(), req->signal_name(), req->payload_json(),
                             req->dedup_id(), validator_.Actor(req->identity()), &accepted);
    if (!s.ok()) return s;
    resp->set_accepted(accepted);
    return Status::Ok();
  });
}

grpc::Status WorkflowServiceImpl::CancelRun(grpc::ServerContext*, const v1::CancelRunRequest* req,
                                            v1::CancelRunResponse* resp) {
  return ServeRpc("CancelRun", [&]() -> Status {
    std::string ns;
    Status s = validator_.Namespace(req->namespace_(), &ns);
    if (!s.ok()) return s;
    if (s = validator_.Identifier("workflow_id", req->workflow_id(), true); !s.ok()) return s;
    if (s = validator_.Text("reason", req->reason()); !s.ok()) return s;
    if (s = validator_.Identifier("identity", req->identity(), false); !s.ok()) return s;
    persistence::RunRow run;
    s = scheduler_.CancelRun(ns, req->workflow_id(), req->reason(),
                             validator_.Actor(req->identity()), &run);
    if (!s.ok()) return s;
    ToProto(run, resp->mutable_run());
    return Status::Ok();
  });
}

}  // namespace gridflow::engine
