#include "console/server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "common/json_text.h"
#include "console/api_routes.h"
#include "console/assets.h"
#include "console/http_reply.h"

namespace gridflow::console {
namespace {

constexpr char kCookie[] = "gf_session";
constexpr size_t kMaxRequestBody = 1024 * 1024;
constexpr size_t kMaxTokenBytes = 4096;

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The value of cookie `name` in the request's Cookie header ("" when absent).
std::string CookieValue(const httplib::Request& req, std::string_view name) {
  const std::string header = req.get_header_value("Cookie");
  size_t at = 0;
  while (at < header.size()) {
    size_t end = header.find(';', at);
    if (end == std::string::npos) end = header.size();
    std::string_view pair(header.data() + at, end - at);
    while (!pair.empty() && pair.front() == ' ')
      pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name &&
        pair[name.size()] == '=') {
      return std::string(pair.substr(name.size() + 1));
    }
    at = end + 1;
  }
  return "";
}

// A cross-site request names another origin; a request without Origin (same-origin GETs, old
// browsers, curl) is judged by the CSRF token alone.
bool SameOrigin(const httplib::Request& req) {
  const std::string origin = req.get_header_value("Origin");
  if (origin.empty()) return true;
  const size_t scheme_end = origin.find("://");
  const std::string host = scheme_end == std::string::npos ? origin : origin.substr(scheme_end + 3);
  return host == req.get_header_value("Host");
}

bool IsJson(const httplib::Request& req) {
  return req.get_header_value("Content-Type").rfind("application/json", 0) == 0;
}

void SecurityHeaders(httplib::Response& res) {
  res.set_header("Content-Security-Policy",
                 "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                 "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("X-Frame-Options", "DENY");
}

}  // namespace

ConsoleServer::ConsoleServer(ConsoleOptions options, SessionKeys keys,
                             std::shared_ptr<EngineClient> engine)
    : options_(std::move(options)), keys_(keys), engine_(std::move(engine)) {}

ConsoleServer::~ConsoleServer() {
  Stop();
}

Status ConsoleServer::Start() {
  const bool tls = !options_.tls_cert_file.empty() || !options_.tls_key_file.empty();
  if (tls) {
    if (options_.tls_cert_file.empty() || options_.tls_key_file.empty()) {
      return Status::InvalidArgument("--tls-cert-file and --tls-key-file: give both or neither");
    }
    auto server = std::make_unique<httplib::SSLServer>(options_.tls_cert_file.c_str(),
                                                       options_.tls_key_file.c_str());
    if (!server->is_valid()) {
      return Status::InvalidArgument("--tls-cert-file, --tls-key-file: cannot load " +
                                     options_.tls_cert_file + " and " + options_.tls_key_file);
    }
    http_ = std::move(server);
    options_.secure_cookies = true;
  } else {
    http_ = std::make_unique<httplib::Server>();
  }
  const int threads = options_.threads;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_->set_payload_max_length(kMaxRequestBody);
  AddRoutes();
  if (options_.listen_port == 0) {
    port_ = http_->bind_to_any_port(options_.listen_host);
  } else {
    port_ =
        http_->bind_to_port(options_.listen_host, options_.listen_port) ? options_.listen_port : -1;
  }
  if (port_ <= 0) {
    return Status::Unavailable("--listen: cannot listen on " + options_.listen_host + ":" +
                               std::to_string(options_.listen_port));
  }
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  return Status::Ok();
}

void ConsoleServer::Stop() {
  if (http_) http_->stop();
  if (thread_.joinable()) thread_.join();
}

void ConsoleServer::AddRoutes() {
  httplib::Server& http = *http_;
  const auto session_of = [this](const httplib::Request& req) {
    return keys_.Open(CookieValue(req, kCookie), NowUnix());
  };

  // State-changing calls: JSON, from our own origin, with the session's CSRF token. Signing in
  // has no session yet; it is still held to JSON from our own origin.
  http.set_pre_routing_handler([this, session_of](const httplib::Request& req,
                                                  httplib::Response& res) {
    SecurityHeaders(res);
    if (req.path.rfind("/api/", 0) == 0) res.set_header("Cache-Control", "no-store");
    if (req.method == "GET" || req.method == "HEAD")
      return httplib::Server::HandlerResponse::Unhandled;
    if (!IsJson(req) || !SameOrigin(req)) {
      ReplyError(res, 403, "CSRF", "refused: a state-changing call must be JSON from this console");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.path == "/api/session") return httplib::Server::HandlerResponse::Unhandled;
    const std::string cookie = CookieValue(req, kCookie);
    if (!session_of(req)) {
      ReplyError(res, 401, "UNAUTHENTICATED", "sign in first (your session ended or is missing)");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!keys_.CheckCsrf(cookie, req.get_header_value("X-CSRF-Token"))) {
      ReplyError(res, 403, "CSRF", "refused: missing or wrong X-CSRF-Token; reload the page");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr error) {
        std::string what = "unknown error";
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("console: {} {}: {}", req.method, req.path, what);
        ReplyError(res, 500, "INTERNAL", "the console failed on this request; see its log");
      });

  const auto describe_session = [this](const std::string& cookie,
                                       const std::optional<Session>& session) {
    return nlohmann::json{{"signed_in", session.has_value()},
                          {"name", session ? session->name : ""},
                          {"with_token", session && !session->token.empty()},
                          {"csrf_token", session ? keys_.CsrfToken(cookie) : ""},
                          {"engine_tls", engine_->sends_tokens()}};
  };
  http.Get("/api/session",
           [session_of, describe_session](const httplib::Request& req, httplib::Response& res) {
             ReplyJson(res, describe_session(CookieValue(req, kCookie), session_of(req)));
           });

  // Sign in: {"token", "name"}. The token is checked with the engine before it is sealed.
  http.Post("/api/session", [this, describe_session](const httplib::Request& req,
                                                     httplib::Response& res) {
    nlohmann::json body;
    const Status parsed = ParseJsonText("body", req.body, {kMaxTokenBytes * 2, 4}, &body);
    if (!parsed.ok() || !body.is_object()) {
      return ReplyError(res, 400, "INVALID_ARGUMENT",
                        parsed.ok() ? "body: expected {\"token\", \"name\"}" : parsed.message());
    }
    for (const char* field : {"token", "name"}) {
      if (body.contains(field) && !body[field].is_string()) {
        return ReplyError(res, 400, "INVALID_ARGUMENT", std::string(field) + ": expected a string");
      }
    }
    Session session{body.value("token", ""), body.value("name", ""),
                    NowUnix() + options_.session_ttl.count()};
    if (session.token.size() > kMaxTokenBytes || session.name.size() > 200) {
      return ReplyError(res, 400, "INVALID_ARGUMENT", "token, name: too long");
    }
    if (!session.token.empty()) {
      if (!engine_->sends_tokens()) {
        return ReplyError(
            res, 400, "FAILED_PRECONDITION",
            "token: this console reaches the engine without TLS, and a token is "
            "only sent over TLS; sign in without one or start the console with --tls");
      }
      v1::ListNamespacesRequest probe;
      v1::ListNamespacesResponse answer;
      const grpc::Status checked = engine_->namespaces().ListNamespaces(
          engine_->Context(session.token).get(), probe, &answer);
      if (checked.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
        return ReplyError(res, 401, "UNAUTHENTICATED", "token: the engine does not accept it");
      }
      if (!checked.ok() && checked.error_code() != grpc::StatusCode::PERMISSION_DENIED) {
        return ReplyGrpcError(res, checked);
      }
    }
    const std::string cookie = keys_.Seal(session);
    res.set_header("Set-Cookie", std::string(kCookie) + "=" + cookie +
                                     "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
                                     std::to_string(options_.session_ttl.count()) +
                                     (options_.secure_cookies ? "; Secure" : ""));
    ReplyJson(res, describe_session(cookie, session));
  });

  http.Post("/api/session/end", [this](const httplib::Request&, httplib::Response& res) {
    res.set_header("Set-Cookie", std::string(kCookie) + "=; Path=/; HttpOnly; SameSite=Strict; " +
                                     "Max-Age=0" + (options_.secure_cookies ? "; Secure" : ""));
    ReplyJson(res, {{"signed_in", false}});
  });

  AddApiRoutes(http, engine_, [session_of](const httplib::Request& req) {
    const std::optional<Session> session = session_of(req);
    if (!session) return Caller{"", "gridflow-console"};
    return Caller{session->token,
                  session->name.empty() ? "gridflow-console" : "gridflow-console:" + session->name};
  });

  http.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  http.Get(R"(/[^/]*)", [](const httplib::Request& req, httplib::Response& res) {
    const Asset* asset = FindAsset(req.path);
    if (asset == nullptr) {
      res.status = 404;
      res.set_content("not found\n", "text/plain");
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_content(std::string(asset->body), std::string(asset->content_type));
  });
  http.Get(R"(/api/.*)", [](const httplib::Request& req, httplib::Response& res) {
    ReplyError(res, 404, "NOT_FOUND", "no API route " + QuotePrefix(req.path, 80));
  });
}

}  // namespace gridflow::console
