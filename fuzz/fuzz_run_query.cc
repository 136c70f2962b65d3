// Any text as a run query (ListRuns.query, docs/search.md): parsed or refused with
// INVALID_ARGUMENT, never a crash; a parsed query has only whitelisted operators and
// values that are never empty lists.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "engine/api/run_query.h"

namespace {

void Check(const gridflow::persistence::RunCondition& c) {
  using Kind = gridflow::persistence::RunCondition::Kind;
  switch (c.kind) {
    case Kind::kAnd:
    case Kind::kOr:
      if (c.operands.size() < 2) std::abort();
      break;
    case Kind::kNot:
      if (c.operands.size() != 1) std::abort();
      break;
    case Kind::kCompare:
      if (c.values.size() != 1) std::abort();
      if (c.op != "=" && c.op != "!=" && c.op != "<" && c.op != "<=" && c.op != ">" &&
          c.op != ">=") {
        std::abort();
      }
      break;
    case Kind::kIn:
      if (c.values.empty()) std::abort();
      break;
  }
  for (const auto& operand : c.operands)
    Check(operand);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::map<std::string, std::string> kTypes = {{"market", "keyword"},
                                                            {"delivery_day", "date"},
                                                            {"volume_mw", "number"},
                                                            {"gate", "datetime"},
                                                            {"accepted", "bool"}};
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  gridflow::persistence::RunCondition condition;
  const gridflow::Status s = gridflow::engine::ParseRunQuery(text, kTypes, &condition);
  if (s.ok()) {
    Check(condition);
  } else if (s.code() != gridflow::StatusCode::kInvalidArgument) {
    std::abort();
  }
  return 0;
}
