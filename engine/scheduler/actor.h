// Actor: who caused an event. The principal is what the engine authenticated (a token's name, a
// client certificate, "anonymous": engine/auth/principal.h) and becomes the event's actor; the
// identity the client claimed (a worker's name, a user's login) is kept beside it, in the
// payload as "client_identity", because nothing proves it.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace gridflow::engine {

struct Actor {
  std::string principal;
  std::string client_identity;  // "" when the client sent none

  // `payload` with "client_identity" added when there is one.
  nlohmann::json Detailed(nlohmann::json payload) const {
    if (!client_identity.empty()) payload["client_identity"] = client_identity;
    return payload;
  }
  // For logs and "by" columns: "token:ops (anna)", or the principal alone.
  std::string Describe() const {
    return client_identity.empty() ? principal : principal + " (" + client_identity + ")";
  }
};

}  // namespace gridflow::engine
