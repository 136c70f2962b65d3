#include "persistence/member_store.h"

#include <pqxx/connection>
#include <pqxx/result>

#include "persistence/statements.h"

namespace gridflow::persistence {

void PrepareMemberStatements(pqxx::connection& c) {
  c.prepare(
      "member_register",
      "INSERT INTO members (id, address, hostname, pid, version) VALUES ($1, $2, $3, $4, $5) "
      "ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address, hostname = EXCLUDED.hostname, "
      "pid = EXCLUDED.pid, version = EXCLUDED.version, started_at = gf_now(), "
      "heartbeat_at = gf_now(), draining = false, stopped_at = NULL, busy = false");
  c.prepare(
      "member_beat",
      "WITH beat AS (UPDATE members SET heartbeat_at = gf_now(), waiting_polls = $2::jsonb, "
      "busy = $3 WHERE id = $1 RETURNING id) "
      "SELECT (SELECT count(*) FROM beat) + (SELECT count(*) FROM members WHERE id <> $1 "
      "AND busy AND stopped_at IS NULL AND heartbeat_at > gf_now() - $4 * interval '1 second')");
  c.prepare("member_announce", std::string("SELECT pg_notify('") + kMemberChannel + "', $1)");
  c.prepare("member_draining", "UPDATE members SET draining = true WHERE id = $1");
  c.prepare("member_stopped",
            "UPDATE members SET draining = true, stopped_at = gf_now() WHERE id = $1");
  c.prepare("member_list",
            "SELECT id, address, hostname, pid, version, started_at, heartbeat_at, draining, "
            "stopped_at, extract(epoch FROM gf_now() - heartbeat_at)::float8, waiting_polls::text "
            "FROM members ORDER BY heartbeat_at DESC");
}

void RegisterMember(pqxx::transaction_base& txn, const MemberRow& m) {
  txn.exec_prepared("member_register", m.id, m.address, m.hostname, m.pid, m.version);
}

int BeatMember(pqxx::transaction_base& txn, const std::string& member_id,
               const std::string& waiting_polls_json, bool busy, double alive_within_seconds) {
  return txn
      .exec_prepared1("member_beat", member_id, waiting_polls_json, busy, alive_within_seconds)[0]
      .as<int>();
}

void AnnounceMemberLoad(pqxx::transaction_base& txn, const std::string& member_id) {
  txn.exec_prepared("member_announce", member_id);
}

void MarkMemberDraining(pqxx::transaction_base& txn, const std::string& member_id) {
  txn.exec_prepared("member_draining", member_id);
}

void MarkMemberStopped(pqxx::transaction_base& txn, const std::string& member_id) {
  txn.exec_prepared("member_stopped", member_id);
}

std::vector<MemberRow> ListMembers(pqxx::transaction_base& txn) {
  std::vector<MemberRow> members;
  for (const pqxx::row& r : txn.exec_prepared("member_list")) {
    MemberRow m;
    m.id = r[0].as<std::string>();
    m.address = r[1].as<std::string>();
    m.hostname = r[2].as<std::string>();
    m.pid = r[3].as<int>();
    m.version = r[4].as<std::string>();
    m.started_at = Timestamp(r[5]);
    m.heartbeat_at = Timestamp(r[6]);
    m.draining = r[7].as<bool>();
    m.stopped_at = OptionalTimestamp(r[8]);
    m.seconds_since_heartbeat = r[9].as<double>();
    m.waiting_polls_json = r[10].as<std::string>();
    members.push_back(std::move(m));
  }
  return members;
}

}  // namespace gridflow::persistence
