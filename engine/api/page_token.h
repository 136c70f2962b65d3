// Opaque page tokens (AIP-158): a keyset cursor, base64url-encoded with a kind prefix so a token
// from one List method is refused by another. Clients must treat them as opaque.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gridflow::engine {

// Encodes `fields` (which must not contain '\n') under `kind` ("runs", "defs", "history").
std::string EncodePageToken(std::string_view kind, const std::vector<std::string>& fields);
// nullopt when `token` is not a token of `kind` with `field_count` fields.
std::optional<std::vector<std::string>> DecodePageToken(std::string_view kind,
                                                        std::string_view token, size_t field_count);

// A List request's page_size: 0 means `default_size`; more than kMaxPageSize is cut to it;
// negative is INVALID_ARGUMENT.
inline constexpr int kMaxPageSize = 1000;
Status PageSize(int requested, int default_size, int* size);
// The most the items of one page may add up to, in encoded bytes. gRPC clients refuse an answer
// over 4 MiB unless told otherwise, so a page of large runs or events ends before page_size and
// its token continues after the last item sent; a page always holds at least one item.
inline constexpr size_t kPageByteBudget = size_t{3} * 1024 * 1024;
// Whether a page holding `items` items of `page_bytes` in all takes one more of `item_bytes`.
inline bool PageHasRoom(size_t page_bytes, size_t item_bytes, int items) {
  return items == 0 || page_bytes + item_bytes <= kPageByteBudget;
}
// The answer to a page_token that DecodePageToken refused.
Status BadPageToken();
// A decimal field of a decoded token; false when it is not one.
bool ParsePageInt64(const std::string& text, int64_t* out);

}  // namespace gridflow::engine
