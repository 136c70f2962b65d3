#include "engine/api/page_token.h"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace gridflow::engine {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Base64UrlEncode(std::string_view in) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : in) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(buffer >> bits) & 0x3F];
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (6 - bits)) & 0x3F];
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view in) {
  std::array<int, 256> value{};
  value.fill(-1);
  for (size_t i = 0; i < kAlphabet.size(); ++i)
    value[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int>(i);
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : in) {
    if (value[c] < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<uint32_t>(value[c]);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

}  // namespace

std::string EncodePageToken(std::string_view kind, const std::vector<std::string>& fields) {
  std::string plain(kind);
  for (const std::string& f : fields) {
    plain += '\n';
    plain += f;
  }
  return Base64UrlEncode(plain);
}

std::optional<std::vector<std::string>> DecodePageToken(std::string_view kind,
                                                        std::string_view token,
                                                        size_t field_count) {
  const auto plain = Base64UrlDecode(token);
  if (!plain) return std::nullopt;
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = plain->find('\n', start);
    parts.push_back(
        plain->substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (parts.size() != field_count + 1 || parts[0] != kind) return std::nullopt;
  parts.erase(parts.begin());
  return parts;
}

Status PageSize(int requested, int default_size, int* size) {
  if (requested < 0) return Status::InvalidArgument("page_size: must not be negative");
  *size = requested == 0 ? default_size : std::min(requested, kMaxPageSize);
  return Status::Ok();
}

Status BadPageToken() {
  return Status::InvalidArgument(
      "page_token: not a token returned by this method (pass next_page_token unchanged)");
}

bool ParsePageInt64(const std::string& text, int64_t* out) {
  try {
    size_t used = 0;
    *out = std::stoll(text, &used);
    return used == text.size();
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace gridflow::engine
