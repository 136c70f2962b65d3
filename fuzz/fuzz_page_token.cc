// Any text as a page token: decoded or refused, never more; and a token made of decoded fields
// decodes to the same fields.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "engine/api/page_token.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view token(reinterpret_cast<const char*>(data), size);
  for (const size_t fields : {1u, 2u, 3u}) {
    const auto decoded = gridflow::engine::DecodePageToken("runs", token, fields);
    if (!decoded) continue;
    const std::string again = gridflow::engine::EncodePageToken("runs", *decoded);
    const auto round = gridflow::engine::DecodePageToken("runs", again, fields);
    if (!round || *round != *decoded) std::abort();
  }
  return 0;
}
