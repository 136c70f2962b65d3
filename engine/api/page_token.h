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
// The answer to a page_token that DecodePageToken refused.
Status BadPageToken();
// A decimal field of a decoded token; false when it is not one.
bool ParsePageInt64(const std::string& text, int64_t* out);

}  // namespace gridflow::engine
