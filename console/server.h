// gridflow-console's HTTP side: the web UI (assets built into the binary) and the JSON API it
// calls (docs/console.md lists the routes). Every API call becomes a gridflow.v1 call made with
// the signed-in user's token; state-changing calls need the session's CSRF token.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "common/status.h"
#include "console/engine_client.h"
#include "console/session.h"

namespace httplib {
class Server;
}

namespace gridflow::console {

struct ConsoleOptions {
  std::string listen_host = "127.0.0.1";
  int listen_port = 8080;                   // 0: any free port (tests)
  std::string tls_cert_file, tls_key_file;  // both or neither: serve HTTPS
  bool secure_cookies = false;              // Secure cookies behind a TLS-terminating proxy
  std::chrono::seconds session_ttl{12 * 3600};
  int threads = 16;
};

class ConsoleServer {
 public:
  ConsoleServer(ConsoleOptions options, SessionKeys keys, std::shared_ptr<EngineClient> engine);
  ~ConsoleServer();

  // Binds the port and serves on a thread of its own. INVALID_ARGUMENT / UNAVAILABLE naming the
  // TLS files or the address when it cannot.
  Status Start();
  int port() const { return port_; }
  // Stops accepting, finishes the requests in flight, joins the thread.
  void Stop();

 private:
  void AddRoutes();

  ConsoleOptions options_;
  SessionKeys keys_;
  std::shared_ptr<EngineClient> engine_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace gridflow::console
