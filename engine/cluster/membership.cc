#include "engine/cluster/membership.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <random>

#include "persistence/member_store.h"
#include "persistence/migrations.h"
#include "persistence/transaction.h"

namespace gridflow::engine {
namespace {

std::string Hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

}  // namespace

std::string MakeMemberId() {
  std::random_device random;
  char suffix[9];
  std::snprintf(suffix, sizeof suffix, "%08x", random());
  return Hostname() + "-" + std::to_string(getpid()) + "-" + suffix;
}

Membership::Membership(persistence::ConnectionPool& pool, std::string member_id,
                       std::string address, Millis heartbeat_interval, WaitingPolls waiting_polls,
                       Load load)
    : pool_(pool),
      member_id_(std::move(member_id)),
      address_(std::move(address)),
      heartbeat_interval_(heartbeat_interval),
      waiting_polls_(std::move(waiting_polls)),
      load_(std::move(load)),
      heartbeat_("membership heartbeat", heartbeat_interval, [this] { Beat(); }) {}

Status Membership::Join() {
  persistence::MemberRow me;
  me.id = member_id_;
  me.address = address_;
  me.hostname = Hostname();
  me.pid = static_cast<int>(getpid());
  me.version = GRIDFLOW_VERSION;
  Status s = persistence::Transact(pool_, "join membership", [&](pqxx::work& txn) {
    persistence::RegisterMember(txn, me);
    return Status::Ok();
  });
  if (s.ok()) heartbeat_.Start();
  return s;
}

double Membership::AliveWithinSeconds() const {
  return 3.0 * std::chrono::duration<double>(heartbeat_interval_).count();
}

bool Membership::IsAlive(const persistence::MemberRow& member) const {
  return !member.stopped_at && member.seconds_since_heartbeat < AliveWithinSeconds();
}

Status Membership::ReadCluster(std::vector<persistence::MemberRow>* members, int* schema_version) {
  return persistence::Transact(pool_, "read cluster", [&](pqxx::work& txn) {
    *members = persistence::ListMembers(txn);
    *schema_version = persistence::RecordedSchemaVersion(txn);
    return Status::Ok();
  });
}

void Membership::Beat() {
  const nlohmann::json waiting = waiting_polls_ ? waiting_polls_() : std::map<std::string, int>{};
  const auto now = std::chrono::steady_clock::now();
  bool busy = load_.busy && load_.busy();
  // A beat sooner than an interval after the last one that could report idle (woken by this
  // replica turning busy or by another's announcement) sees too short a window: a replica
  // between two batches would look idle. It may report busy, never idle — else replicas woken
  // by each other's announcements could flap and announce back and forth.
  const bool full = now - last_full_beat_ >= heartbeat_interval_;
  if (!full && reported_busy_) busy = true;
  const bool changed = busy != reported_busy_;
  int busy_replicas = 0;
  Status s = persistence::Transact(pool_, "membership heartbeat", [&](pqxx::work& txn) {
    busy_replicas =
        persistence::BeatMember(txn, member_id_, waiting.dump(), busy, AliveWithinSeconds());
    if (changed) persistence::AnnounceMemberLoad(txn, member_id_);
    return Status::Ok();
  });
  if (!s.ok()) {
    spdlog::warn("membership heartbeat failed: {}", s.ToString());
    return;
  }
  reported_busy_ = busy;
  if (full) last_full_beat_ = now;
  if (load_.busy_replicas) load_.busy_replicas(busy_replicas);
}

void Membership::OnTurningBusy() {
  // Called once per heartbeat window at most (the committer's first batch since TakeBusy).
  if (!reported_busy_) heartbeat_.Wake();
}

void Membership::OnPeerLoadChanged(const std::string& member_id) {
  if (member_id != member_id_) heartbeat_.Wake();
}

void Membership::MarkDraining() {
  Status s = persistence::Transact(pool_, "mark draining", [&](pqxx::work& txn) {
    persistence::MarkMemberDraining(txn, member_id_);
    return Status::Ok();
  });
  if (!s.ok()) spdlog::warn("could not mark this replica draining: {}", s.ToString());
}

void Membership::Leave() {
  heartbeat_.Stop();
  Status s = persistence::Transact(pool_, "leave membership", [&](pqxx::work& txn) {
    persistence::MarkMemberStopped(txn, member_id_);
    if (reported_busy_) persistence::AnnounceMemberLoad(txn, member_id_);  // its share is free
    return Status::Ok();
  });
  if (!s.ok()) spdlog::warn("could not record this replica's stop: {}", s.ToString());
}

}  // namespace gridflow::engine
