// The tamper-evident chain of a run's history, checked on the client side: from the events the
// API returns (or an export file), without trusting the engine's own computation.
//
// Link i = sha256(link i-1 || canonical content of event i), link 0 = 32 zero bytes; the
// canonical content is version 1 as docs/security.md ("Audit trail") defines it and migration
// 0008 computes it. The run's history_head must be the last link and history_length the last
// sequence number, so events deleted or appended at the end are found too.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gridflow/v1/types.pb.h"

namespace gridflow::cli {

// The link of `event` after `previous_hex` (hex; "" before the first event).
std::string ChainLink(const std::string& previous_hex, const std::string& run_id,
                      const v1::Event& event);

struct ChainVerdict {
  bool intact = false;
  int64_t events = 0;            // events checked
  int64_t first_linked_seq = 0;  // the first event with a hash (> 1 for pre-chain runs)
  int64_t broken_at = 0;         // the sequence number of the first bad link (0: none)
  std::string problem;           // what is wrong, for a person
};

ChainVerdict VerifyChain(const std::string& run_id, const std::string& history_head,
                         int64_t history_length, const std::vector<v1::Event>& events);

}  // namespace gridflow::cli
