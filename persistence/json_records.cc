#include "persistence/json_records.h"

#include <cstdio>

namespace gridflow::persistence {
namespace {

void AppendQuoted(std::string& out, std::string_view s) {
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned char>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

}  // namespace

JsonRecords& JsonRecords::Add() {
  text_ += count_ == 0 ? "{" : "},{";
  ++count_;
  first_field_ = true;
  return *this;
}

JsonRecords& JsonRecords::Key(std::string_view key) {
  if (!first_field_) text_ += ',';
  first_field_ = false;
  AppendQuoted(text_, key);
  text_ += ':';
  return *this;
}

JsonRecords& JsonRecords::Text(std::string_view key, std::string_view value) {
  Key(key);
  AppendQuoted(text_, value);
  return *this;
}

JsonRecords& JsonRecords::NullableText(std::string_view key,
                                       const std::optional<std::string>& value) {
  if (!value) {
    Key(key);
    text_ += "null";
    return *this;
  }
  return Text(key, std::string_view(*value));
}

JsonRecords& JsonRecords::Int(std::string_view key, int64_t value) {
  Key(key);
  text_ += std::to_string(value);
  return *this;
}

JsonRecords& JsonRecords::Int(std::string_view key, const std::optional<int64_t>& value) {
  Key(key);
  text_ += value ? std::to_string(*value) : "null";
  return *this;
}

JsonRecords& JsonRecords::Bool(std::string_view key, bool value) {
  Key(key);
  text_ += value ? "true" : "false";
  return *this;
}

JsonRecords& JsonRecords::Json(std::string_view key, std::string_view json_text) {
  Key(key);
  text_ += json_text;
  return *this;
}

JsonRecords& JsonRecords::NullableJson(std::string_view key,
                                       const std::optional<std::string>& json_text) {
  Key(key);
  text_ += json_text ? std::string_view(*json_text) : std::string_view("null");
  return *this;
}

}  // namespace gridflow::persistence
