// RunState: where a run is, persisted as JSON in runs.state and changed only under the run's lock.
//
// A run executes as frames: the root frame runs the definition's top-level steps; a parallel
// step starts one frame per branch, a foreach step one frame per iteration. Each frame is at one
// step and waits for at most one thing. Every time a frame enters a step it draws a fresh
// activation number; tasks, timers and child runs carry (frame, activation), so an outcome that
// arrives for a step the frame has already left is recognised as stale and only recorded.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "engine/scheduler/kinds.h"

namespace gridflow::engine {

struct Wait {
  WaitKind kind = WaitKind::kNone;
  int64_t activation = 0;
  bool has_timer = false;           // task: a deadline timer; signal: a timeout timer
  std::string signal;               // signal
  std::vector<std::string> frames;  // branches, foreach: child frames still running
  nlohmann::json outputs;           // branches: {branch: output}; foreach: [output per item]
  nlohmann::json items;             // foreach
  int64_t next_item = 0;            // foreach: the next item to start
  int64_t done = 0;                 // foreach: iterations finished
  std::string child_run_id;         // child_run
  std::string child_workflow_id;    // child_run
};

struct Frame {
  std::string id;
  int block = 0;
  std::string parent;  // "" for the root frame
  std::string branch;  // a parallel branch: its name
  int64_t index = -1;  // a foreach iteration: its index
  std::string key;     // path for ids and keys: "" (root), "[3]", "[3][1]", "{branch}"
  std::string step;    // the current step; "" once the frame's block ended
  Wait wait;
  nlohmann::json locals;  // foreach iterations: {"item", "index", "<step>": output}; else null
  nlohmann::json last_output;
  std::map<std::string, int64_t> visits;  // how often each step was entered in this frame
};

// A completed step's compensation, kept until the run ends.
struct Compensation {
  std::string step;
  nlohmann::json input;   // evaluated when the step completed
  std::string key;        // idempotency key of the step's execution
  std::string iteration;  // the foreach iteration of the step ("[3]"), "" outside one
};

// The run is running its compensations before it closes.
struct Unwinding {
  bool active = false;
  std::string outcome;     // "FAILED" or "CANCELLED"
  nlohmann::json failure;  // for FAILED
  int64_t next = -1;       // index into compensations of the one running (counting down)
  int64_t activation = 0;  // of the compensation task in flight
  nlohmann::json failed_compensations = nlohmann::json::array();
};

struct RunState {
  int64_t next_activation = 1;
  int64_t next_frame = 1;
  std::map<std::string, Frame> frames;
  std::vector<Compensation> compensations;
  Unwinding unwinding;
  std::string cancel_requested_by;
  std::string cancel_reason;
  int depth = 0;  // 0 for a run started by a client; a child run is its parent's depth + 1
  // The run's deadline (microseconds since the epoch), 0 without one: caps every task's
  // dispatch deadline.
  int64_t deadline_us = 0;
};

// The stored form: the members whose values differ from a default-constructed RunState's.
nlohmann::json ToJson(const RunState& state);
// Every member written out, as engines before 2026-12-07 stored a state; reads the same.
nlohmann::json ToJsonWithDefaults(const RunState& state);
// INTERNAL when the document is not a run state (it was written by this engine; corruption).
Status FromJson(const nlohmann::json& doc, RunState* state);

}  // namespace gridflow::engine
