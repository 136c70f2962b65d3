#include "common/json_text.h"

namespace gridflow {
namespace {

Status Invalid(std::string_view field, const std::string& message) {
  return Status::InvalidArgument(std::string(field) + ": " + message);
}

// nlohmann's messages end with "; last read: '<token>'", which may be a whole oversized string:
// keep the description only.
// nlohmann's message without its "[json.exception...]" tag and its "last read" echo.
std::string ParseErrorMessage(const nlohmann::json::exception& e) {
  std::string message = e.what();
  if (const size_t pos = message.find("; last read"); pos != std::string::npos) {
    message.resize(pos);
  }
  if (const size_t pos = message.find("] "); pos != std::string::npos) message.erase(0, pos + 2);
  return QuotePrefix(message, 200);
}

}  // namespace

int JsonNestingDepth(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > deepest) {
          deepest = depth;
          if (deepest > limit) return limit + 1;
        }
        break;
      case ']':
      case '}':
        --depth;
        break;
      default:
        break;
    }
  }
  return deepest;
}

std::string QuotePrefix(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t end = max_bytes;
  // Step back over UTF-8 continuation bytes so a character is never cut in half.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
    --end;
  return std::string(text.substr(0, end)) + "...";
}

Status ParseJsonText(std::string_view field, std::string_view text, const JsonLimits& limits,
                     nlohmann::json* out) {
  if (text.size() > limits.max_bytes) {
    return Invalid(field, "is " + std::to_string(text.size()) + " bytes; the limit is " +
                              std::to_string(limits.max_bytes) + " bytes");
  }
  if (JsonNestingDepth(text, limits.max_depth) > limits.max_depth) {
    return Invalid(field, "is nested more than " + std::to_string(limits.max_depth) +
                              " levels deep (arrays and objects inside one another); that is "
                              "the limit");
  }
  bool has_nul = false;
  const auto find_nul = [&has_nul](int, nlohmann::json::parse_event_t event,
                                   nlohmann::json& value) {
    if ((event == nlohmann::json::parse_event_t::value ||
         event == nlohmann::json::parse_event_t::key) &&
        value.is_string() && value.get_ref<const std::string&>().find('\0') != std::string::npos) {
      has_nul = true;
    }
    return true;
  };
  try {
    *out = nlohmann::json::parse(text, find_nul);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range for a number beyond double's range ("1e400"): found by
    // fuzz/fuzz_json_text.cc; before, it ended the process.
    return Invalid(field, "is not valid JSON: " + ParseErrorMessage(e));
  }
  if (has_nul) return Invalid(field, "must not contain the character U+0000 (\\u0000)");
  return Status::Ok();
}

size_t JsonTextSize(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::object: {
      size_t bytes = 2 + (value.empty() ? 0 : value.size() - 1);  // {} and commas
      for (const auto& [key, member] : value.items())
        bytes += key.size() + 3 + JsonTextSize(member);  // "key":
      return bytes;
    }
    case nlohmann::json::value_t::array: {
      size_t bytes = 2 + (value.empty() ? 0 : value.size() - 1);
      for (const auto& element : value)
        bytes += JsonTextSize(element);
      return bytes;
    }
    case nlohmann::json::value_t::string:
      return value.get_ref<const std::string&>().size() + 2;
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: {
      const int64_t n = value.is_number_unsigned() ? 0 : value.get<int64_t>();
      uint64_t magnitude = value.is_number_unsigned()
                               ? value.get<uint64_t>()
                               : (n < 0 ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n));
      size_t digits = n < 0 ? 2 : 1;
      while (magnitude >= 10) {
        magnitude /= 10;
        ++digits;
      }
      return digits;
    }
    case nlohmann::json::value_t::number_float:
      return 24;  // the longest a double is written; a budget may count high
    case nlohmann::json::value_t::boolean:
      return value.get<bool>() ? 4 : 5;
    default:
      return 4;  // null, or nothing
  }
}

std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace gridflow
