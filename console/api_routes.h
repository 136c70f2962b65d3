// The console's JSON API over the engine's gridflow.v1 API: reads (runs, a run with its history,
// queues, cluster, definitions and a diff of two versions) and operator actions (signal, cancel,
// terminate, retry). Each route makes its engine calls with the caller's token; the engine
// decides what the caller may do and records the caller in history. docs/console.md lists them.
#pragma once

#include <httplib.h>

#include <functional>
#include <memory>
#include <string>

#include "console/engine_client.h"

namespace gridflow::console {

struct Caller {
  std::string token;  // empty: anonymous
  std::string
      identity;  // sent as the calls' `identity` (a claim; the engine records its principal)
};
using CallerOf = std::function<Caller(const httplib::Request&)>;

void AddApiRoutes(httplib::Server& http, std::shared_ptr<EngineClient> engine, CallerOf caller_of);

}  // namespace gridflow::console
