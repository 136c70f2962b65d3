// Messages between runs (a child run's end to its parent, a parent's cancellation to a child).
// A transition of one run never locks another run: it leaves a message, and the receiving run's
// own transition applies it (right after the commit, or by the engines' message loop).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <pqxx/transaction_base>

#include "persistence/rows.h"

namespace gridflow::persistence {

int64_t InsertMessage(pqxx::transaction_base& txn, const std::string& run_id,
                      const std::string& kind, const std::string& payload_json);

struct PendingMessage {
  int64_t message_id = 0;
  std::string run_id;
};
// Unprocessed messages, oldest first; no locks taken.
std::vector<PendingMessage> FindPendingMessages(pqxx::transaction_base& txn, int limit);
// SELECT ... FOR UPDATE; nullopt when gone.
std::optional<MessageRow> LockMessage(pqxx::transaction_base& txn, int64_t message_id);
void MarkMessageProcessed(pqxx::transaction_base& txn, int64_t message_id);

}  // namespace gridflow::persistence
