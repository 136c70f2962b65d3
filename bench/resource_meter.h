// CPU and memory of the engine replicas and of PostgreSQL while a benchmark mode runs, read from
// /proc (the benchmark runs on the same machine as what it measures).
//
// PostgreSQL's CPU is the postmaster's with all its children: live backends are read one by one;
// exited ones were reaped by the postmaster, so their time is in its cutime/cstime.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace gridflow::bench {

struct ResourceUsage {
  double engine_cores = -1;  // average cores busy over the interval; -1: not measured
  double postgres_cores = -1;
  double engine_rss_mb = -1;  // sum over replicas at the end of the interval
};

class ResourceMeter {
 public:
  // Pids may be empty: the matching figures are then not measured.
  ResourceMeter(std::vector<int> engine_pids, int postmaster_pid);

  // Starts an interval; Stop() returns the usage since the last Start().
  void Start();
  ResourceUsage Stop() const;

 private:
  struct Sample {
    std::chrono::steady_clock::time_point at;
    double engine_seconds = 0;
    double postgres_seconds = 0;
  };
  Sample Take() const;

  std::vector<int> engine_pids_;
  int postmaster_pid_;
  Sample start_;
};

}  // namespace gridflow::bench
