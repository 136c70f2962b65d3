// Membership: this replica's row in the members table, kept fresh by a heartbeat, so operators
// see every replica, its age and whether it drains. Members are reported, never trusted: no
// decision in Gridflow depends on another replica being alive.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/duration.h"
#include "common/periodic_task.h"
#include "common/status.h"
#include "persistence/connection_pool.h"
#include "persistence/rows.h"

namespace gridflow::engine {

class Membership {
 public:
  // What each heartbeat reports: the replica's waiting long-polls per "<namespace>/<queue>".
  using WaitingPolls = std::function<std::map<std::string, int>()>;
  // Whether this replica applied calls since the last heartbeat; told after each heartbeat how
  // many replicas are busy, this one included (a hint for sharing the database's capacity, never
  // for correctness). A replica turning busy or idle announces it, and the others beat at once,
  // so a step from idle to load is shared within milliseconds, not heartbeats.
  struct Load {
    std::function<bool()> busy;
    std::function<void(int replicas)> busy_replicas;
  };

  Membership(persistence::ConnectionPool& pool, std::string member_id, std::string address,
             Millis heartbeat_interval, WaitingPolls waiting_polls, Load load = {});

  const std::string& member_id() const { return member_id_; }
  Millis heartbeat_interval() const { return heartbeat_interval_; }

  // Heartbeating within three intervals (two missed beats are tolerated) and not stopped.
  bool IsAlive(const persistence::MemberRow& member) const;
  // Every member the database knows, most recent heartbeat first, and the schema version.
  Status ReadCluster(std::vector<persistence::MemberRow>* members, int* schema_version);
  // Registers this replica and starts beating.
  Status Join();
  void MarkDraining();
  // This replica began applying calls again: if its last beat reported it idle, beat now.
  void OnTurningBusy();
  // A replica announced that it turned busy or idle (an empty id: announcements may have been
  // missed): beat now, to learn how many are busy.
  void OnPeerLoadChanged(const std::string& member_id);
  // Stops beating and records the stop.
  void Leave();

 private:
  void Beat();
  double AliveWithinSeconds() const;

  persistence::ConnectionPool& pool_;
  const std::string member_id_;
  const std::string address_;
  const Millis heartbeat_interval_;
  const WaitingPolls waiting_polls_;
  const Load load_;
  std::atomic<bool> reported_busy_{false};                  // what the last beat reported
  std::chrono::steady_clock::time_point last_full_beat_{};  // heartbeat thread only
  PeriodicTask heartbeat_;
};

// A member id unique to this process: "<hostname>-<pid>-<random hex>".
std::string MakeMemberId();

}  // namespace gridflow::engine
