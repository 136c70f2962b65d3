// JsonRecords: builds the JSON array of objects that set-based statements read with
// jsonb_to_recordset(). Values that are already JSON text (payloads, run data) are spliced in as
// they are, never parsed or escaped again. A JSON null becomes SQL NULL in the recordset.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gridflow::persistence {

class JsonRecords {
 public:
  // Starts the next object.
  JsonRecords& Add();
  JsonRecords& Text(std::string_view key, std::string_view value);
  JsonRecords& NullableText(std::string_view key, const std::optional<std::string>& value);
  JsonRecords& Int(std::string_view key, int64_t value);
  JsonRecords& Int(std::string_view key, const std::optional<int64_t>& value);
  JsonRecords& Bool(std::string_view key, bool value);
  // `json_text` must be valid JSON.
  JsonRecords& Json(std::string_view key, std::string_view json_text);
  JsonRecords& NullableJson(std::string_view key, const std::optional<std::string>& json_text);

  bool empty() const { return count_ == 0; }
  size_t size() const { return count_; }
  // "[{...},{...}]" ("[]" when empty).
  std::string Finish() const { return text_ + (count_ == 0 ? "]" : "}]"); }

 private:
  JsonRecords& Key(std::string_view key);

  std::string text_ = "[";
  size_t count_ = 0;
  bool first_field_ = true;
};

}  // namespace gridflow::persistence
