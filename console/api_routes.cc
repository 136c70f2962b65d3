#include "console/api_routes.h"

#include <charconv>
#include <optional>

#include "cli/definition_diff.h"
#include "cli/format.h"
#include "common/json_text.h"
#include "console/http_reply.h"

namespace gridflow::console {
namespace {

// Histories longer than this are shown cut (the reply says so); gridflowctl exports them whole.
constexpr int kMaxHistoryPages = 20;
constexpr int kHistoryPageSize = 1000;
constexpr size_t kMaxActionBody = 256 * 1024;

std::string Param(const httplib::Request& req, const char* name) {
  return req.has_param(name) ? req.get_param_value(name) : std::string();
}

// A non-negative integer query parameter; nullopt (after replying 400) when it is not one.
std::optional<int> IntParam(const httplib::Request& req, httplib::Response& res, const char* name) {
  const std::string text = Param(req, name);
  if (text.empty()) return 0;
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 0) {
    ReplyError(res, 400, "INVALID_ARGUMENT",
               std::string(name) + ": expected a non-negative integer, got '" +
                   QuotePrefix(text, 32) + "'");
    return std::nullopt;
  }
  return value;
}

// The workflow id every run route names with ?id= (ids contain '/': child runs).
std::optional<std::string> RunId(const httplib::Request& req, httplib::Response& res) {
  std::string id = Param(req, "id");
  if (id.empty()) {
    ReplyError(res, 400, "INVALID_ARGUMENT", "id: the workflow id is required");
    return std::nullopt;
  }
  return id;
}

// An action's JSON body (an object); nullopt after replying 400 when it is not one.
std::optional<nlohmann::json> ActionBody(const httplib::Request& req, httplib::Response& res) {
  if (req.body.empty()) return nlohmann::json::object();
  nlohmann::json body;
  const Status parsed = ParseJsonText("body", req.body, {kMaxActionBody, 16}, &body);
  if (!parsed.ok()) {
    ReplyError(res, 400, "INVALID_ARGUMENT", parsed.message());
    return std::nullopt;
  }
  if (!body.is_object()) {
    ReplyError(res, 400, "INVALID_ARGUMENT", "body: expected a JSON object");
    return std::nullopt;
  }
  return body;
}

// A string member of an action body ("" when absent); nullopt after replying 400 when it is
// present but not a string.
std::optional<std::string> TextField(const nlohmann::json& body, httplib::Response& res,
                                     const char* name) {
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    ReplyError(res, 400, "INVALID_ARGUMENT", std::string(name) + ": expected a string");
    return std::nullopt;
  }
  return it->get<std::string>();
}

bool ParseStatusFilter(const std::string& text, v1::RunStatus* status) {
  if (text.empty()) {
    *status = v1::RUN_STATUS_UNSPECIFIED;
    return true;
  }
  std::string upper;
  for (char c : text)
    upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return v1::RunStatus_Parse("RUN_STATUS_" + upper, status);
}

class Routes {
 public:
  Routes(std::shared_ptr<EngineClient> engine, CallerOf caller_of)
      : engine_(std::move(engine)), caller_of_(std::move(caller_of)) {}

  void ListNamespaces(const httplib::Request& req, httplib::Response& res) {
    v1::ListNamespacesRequest request;
    v1::ListNamespacesResponse response;
    Answer(res, engine_->namespaces().ListNamespaces(Context(req).get(), request, &response),
           response);
  }

  void ListRuns(const httplib::Request& req, httplib::Response& res) {
    v1::ListRunsRequest request;
    request.set_namespace_(Param(req, "namespace"));
    v1::RunStatus status;
    if (!ParseStatusFilter(Param(req, "status"), &status)) {
      return ReplyError(res, 400, "INVALID_ARGUMENT",
                        "status: unknown run status '" + QuotePrefix(Param(req, "status"), 32) +
                            "' (running, cancelling, compensating, completed, failed, cancelled, "
                            "terminated)");
    }
    request.set_status(status);
    request.set_definition_name(Param(req, "definition"));
    request.set_workflow_id_contains(Param(req, "workflow_id"));
    request.set_query(Param(req, "query"));
    request.set_task_queue(Param(req, "task_queue"));
    request.set_order_by(Param(req, "order_by"));
    request.set_page_token(Param(req, "page_token"));
    const std::optional<int> page_size = IntParam(req, res, "page_size");
    if (!page_size) return;
    request.set_page_size(*page_size);
    for (const char* param : {"since", "until"}) {
      const std::string text = Param(req, param);
      if (text.empty()) continue;  // (touching the field would set it: mutable_ creates it)
      const auto instant = cli::ParseInstant(text);
      if (!instant) {
        return ReplyError(res, 400, "INVALID_ARGUMENT",
                          std::string(param) + ": expected an RFC 3339 time, a date or a " +
                              "duration ago (2h), got '" + QuotePrefix(text, 32) + "'");
      }
      *(param == std::string("since") ? request.mutable_created_after()
                                      : request.mutable_created_before()) = *instant;
    }
    v1::ListRunsResponse response;
    Answer(res, engine_->workflows().ListRuns(Context(req).get(), request, &response), response);
  }

  // The run as DescribeRun tells it (what it is at, open tasks, timers, last failure); a run too
  // large for the console's channel, as its summary (without input, data and result).
  void DescribeRun(const httplib::Request& req, httplib::Response& res) {
    const auto id = RunId(req, res);
    if (!id) return;
    v1::DescribeRunRequest request;
    request.set_namespace_(Param(req, "namespace"));
    request.set_workflow_id(*id);
    v1::DescribeRunResponse response;
    grpc::Status status = engine_->workflows().DescribeRun(Context(req).get(), request, &response);
    if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      request.set_view(v1::RUN_VIEW_SUMMARY);
      response.Clear();
      status = engine_->workflows().DescribeRun(Context(req).get(), request, &response);
    }
    Answer(res, status, response);
  }

  // The whole history (up to kMaxHistoryPages pages), oldest first.
  void History(const httplib::Request& req, httplib::Response& res) {
    const auto id = RunId(req, res);
    if (!id) return;
    v1::GetHistoryRequest request;
    request.set_namespace_(Param(req, "namespace"));
    request.set_workflow_id(*id);
    request.set_page_size(kHistoryPageSize);
    v1::GetHistoryResponse all;
    for (int page = 0; page < kMaxHistoryPages; ++page) {
      v1::GetHistoryResponse response;
      const grpc::Status status =
          engine_->workflows().GetHistory(Context(req).get(), request, &response);
      if (!status.ok()) return ReplyGrpcError(res, status);
      all.mutable_events()->MergeFrom(response.events());
      all.set_run_status(response.run_status());
      all.set_next_page_token(response.next_page_token());
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    nlohmann::json body = MessageJson(all);
    body["truncated"] = !all.next_page_token().empty();
    ReplyJson(res, body);
  }

  void Signal(const httplib::Request& req, httplib::Response& res) {
    const auto id = RunId(req, res);
    const auto body = id ? ActionBody(req, res) : std::nullopt;
    if (!body) return;
    const auto name = TextField(*body, res, "signal_name");
    const auto payload = name ? TextField(*body, res, "payload_json") : std::nullopt;
    if (!payload) return;
    const Caller caller = caller_of_(req);
    v1::SignalRunRequest request;
    request.set_namespace_(Param(req, "namespace"));
    request.set_workflow_id(*id);
    request.set_signal_name(*name);
    request.set_payload_json(*payload);
    request.set_identity(caller.identity);
    v1::SignalRunResponse response;
    Answer(res, engine_->workflows().SignalRun(Context(caller).get(), request, &response),
           response);
  }

  // Cancel, terminate and retry share their shape: the run, a reason, the caller.
  template <typename Request, typename Response, typename Call>
  void Operate(const httplib::Request& req, httplib::Response& res, Call call) {
    const auto id = RunId(req, res);
    const auto body = id ? ActionBody(req, res) : std::nullopt;
    if (!body) return;
    const auto reason = TextField(*body, res, "reason");
    if (!reason) return;
    const Caller caller = caller_of_(req);
    Request request;
    request.set_namespace_(Param(req, "namespace"));
    request.set_workflow_id(*id);
    request.set_reason(*reason);
    request.set_identity(caller.identity);
    if constexpr (std::is_same_v<Request, v1::RetryRunRequest>) {
      const auto from_step = TextField(*body, res, "from_step");
      if (!from_step) return;
      request.set_from_step(*from_step);
    }
    Response response;
    Answer(res, call(Context(caller).get(), request, &response), response);
  }

  void Cancel(const httplib::Request& req, httplib::Response& res) {
    Operate<v1::CancelRunRequest, v1::CancelRunResponse>(
        req, res, [this](auto... a) { return engine_->workflows().CancelRun(a...); });
  }
  void Terminate(const httplib::Request& req, httplib::Response& res) {
    Operate<v1::TerminateRunRequest, v1::TerminateRunResponse>(
        req, res, [this](auto... a) { return engine_->workflows().TerminateRun(a...); });
  }
  void Retry(const httplib::Request& req, httplib::Response& res) {
    Operate<v1::RetryRunRequest, v1::RetryRunResponse>(
        req, res, [this](auto... a) { return engine_->workflows().RetryRun(a...); });
  }

  void ListQueues(const httplib::Request& req, httplib::Response& res) {
    v1::ListQueuesRequest request;
    request.set_namespace_(Param(req, "namespace"));
    v1::ListQueuesResponse response;
    Answer(res, engine_->cluster().ListQueues(Context(req).get(), request, &response), response);
  }

  void Cluster(const httplib::Request& req, httplib::Response& res) {
    v1::GetClusterStatusRequest request;
    v1::GetClusterStatusResponse response;
    Answer(res, engine_->cluster().GetClusterStatus(Context(req).get(), request, &response),
           response);
  }

  // Every version of every definition (or of ?name=), newest pages first as the engine lists.
  void ListDefinitions(const httplib::Request& req, httplib::Response& res) {
    v1::ListDefinitionsRequest request;
    request.set_namespace_(Param(req, "namespace"));
    request.set_name(Param(req, "name"));
    request.set_page_size(1000);
    request.set_page_token(Param(req, "page_token"));
    v1::ListDefinitionsResponse response;
    Answer(res, engine_->workflows().ListDefinitions(Context(req).get(), request, &response),
           response);
  }

  void GetDefinition(const httplib::Request& req, httplib::Response& res) {
    const std::optional<int> version = IntParam(req, res, "version");
    if (!version) return;
    v1::Definition definition;
    const grpc::Status status = FetchDefinition(req, Param(req, "name"), *version, &definition);
    if (!status.ok()) return ReplyGrpcError(res, status);
    ReplyMessage(res, definition);
  }

  // ?name=&from=&to=: the changes from version `from` to version `to`, as gridflowctl's
  // `definitions diff` computes them.
  void DiffDefinitions(const httplib::Request& req, httplib::Response& res) {
    const std::optional<int> from = IntParam(req, res, "from");
    const std::optional<int> to = from ? IntParam(req, res, "to") : std::nullopt;
    if (!to) return;
    if (*from == 0 || *to == 0) {
      return ReplyError(res, 400, "INVALID_ARGUMENT", "from, to: two versions are required");
    }
    v1::Definition a, b;
    grpc::Status status = FetchDefinition(req, Param(req, "name"), *from, &a);
    if (status.ok()) status = FetchDefinition(req, Param(req, "name"), *to, &b);
    if (!status.ok()) return ReplyGrpcError(res, status);
    nlohmann::json changes = nlohmann::json::array();
    for (const cli::JsonChange& change :
         cli::DiffDefinitions(nlohmann::json::parse(a.definition_json()),
                              nlohmann::json::parse(b.definition_json()))) {
      changes.push_back({{"kind", cli::ChangeKindName(change.kind)},
                         {"path", change.path},
                         {"from", change.from},
                         {"to", change.to}});
    }
    ReplyJson(res, {{"name", a.name()},
                    {"from", MessageJson(a)},
                    {"to", MessageJson(b)},
                    {"changes", changes}});
  }

 private:
  std::unique_ptr<grpc::ClientContext> Context(const httplib::Request& req) const {
    return engine_->Context(caller_of_(req).token);
  }
  std::unique_ptr<grpc::ClientContext> Context(const Caller& caller) const {
    return engine_->Context(caller.token);
  }

  grpc::Status FetchDefinition(const httplib::Request& req, const std::string& name, int version,
                               v1::Definition* definition) {
    v1::GetDefinitionRequest request;
    request.set_namespace_(Param(req, "namespace"));
    request.set_name(name);
    request.set_version(version);
    return engine_->workflows().GetDefinition(Context(req).get(), request, definition);
  }

  static void Answer(httplib::Response& res, const grpc::Status& status,
                     const google::protobuf::Message& response) {
    if (!status.ok()) return ReplyGrpcError(res, status);
    ReplyMessage(res, response);
  }

  std::shared_ptr<EngineClient> engine_;
  CallerOf caller_of_;
};

}  // namespace

void AddApiRoutes(httplib::Server& http, std::shared_ptr<EngineClient> engine, CallerOf caller_of) {
  auto routes = std::make_shared<Routes>(std::move(engine), std::move(caller_of));
  const auto bind = [routes](void (Routes::*handler)(const httplib::Request&, httplib::Response&)) {
    return [routes, handler](const httplib::Request& req, httplib::Response& res) {
      ((*routes).*handler)(req, res);
    };
  };
  http.Get("/api/namespaces", bind(&Routes::ListNamespaces));
  http.Get("/api/runs", bind(&Routes::ListRuns));
  http.Get("/api/run", bind(&Routes::DescribeRun));
  http.Get("/api/run/history", bind(&Routes::History));
  http.Post("/api/run/signal", bind(&Routes::Signal));
  http.Post("/api/run/cancel", bind(&Routes::Cancel));
  http.Post("/api/run/terminate", bind(&Routes::Terminate));
  http.Post("/api/run/retry", bind(&Routes::Retry));
  http.Get("/api/queues", bind(&Routes::ListQueues));
  http.Get("/api/cluster", bind(&Routes::Cluster));
  http.Get("/api/definitions", bind(&Routes::ListDefinitions));
  http.Get("/api/definition", bind(&Routes::GetDefinition));
  http.Get("/api/definitions/diff", bind(&Routes::DiffDefinitions));
}

}  // namespace gridflow::console
