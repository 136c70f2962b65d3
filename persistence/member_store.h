// Engine replicas' membership: each replica upserts its row and beats; rows of replicas that died
// stay with an old heartbeat, for operators to see.
#pragma once

#include <string>
#include <vector>

#include <pqxx/transaction_base>

#include "persistence/rows.h"

namespace gridflow::persistence {

// NOTIFY channel on which a replica announces that it turned busy or idle (payload: its member id),
// so that the others recount the busy replicas at once rather than at their next heartbeat.
inline constexpr const char* kMemberChannel = "gridflow_members";

// Inserts or refreshes the member row (started now, not draining).
void RegisterMember(pqxx::transaction_base& txn, const MemberRow& member);
// Refreshes the heartbeat, the replica's waiting long-polls per queue (JSON object) and whether it
// is `busy` applying calls; returns how many replicas are busy — this one, whatever it reports,
// and every other not stopped that reported busy within `alive_within_seconds`.
int BeatMember(pqxx::transaction_base& txn, const std::string& member_id,
               const std::string& waiting_polls_json, bool busy, double alive_within_seconds);
// Announces on kMemberChannel, at commit, that this member's busy state changed.
void AnnounceMemberLoad(pqxx::transaction_base& txn, const std::string& member_id);
void MarkMemberDraining(pqxx::transaction_base& txn, const std::string& member_id);
void MarkMemberStopped(pqxx::transaction_base& txn, const std::string& member_id);
// Every member, most recent heartbeat first.
std::vector<MemberRow> ListMembers(pqxx::transaction_base& txn);

}  // namespace gridflow::persistence
