// Any bytes as a JSON payload (run input, task result, signal): the checks the API runs before
// parsing (size, nesting depth, UTF-8) answer with a Status; what they accept parses.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/json_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  gridflow::JsonLimits limits;
  limits.max_bytes = 4096;
  limits.max_depth = 16;
  nlohmann::json value;
  const gridflow::Status s = gridflow::ParseJsonText("input_json", text, limits, &value);
  if (s.ok() && gridflow::JsonNestingDepth(text, 64) > limits.max_depth) std::abort();
  (void)gridflow::QuotePrefix(text);
  return 0;
}
