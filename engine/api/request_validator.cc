#include "engine/api/request_validator.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "engine/dsl/definition.h"
#include "persistence/definition_store.h"
#include "persistence/transaction.h"

namespace gridflow::engine {
namespace {

Status Invalid(const char* field, const std::string& message) {
  return Status::InvalidArgument(std::string(field) + ": " + message);
}

}  // namespace

Status RequestValidator::Namespace(const std::string& requested, std::string* resolved) {
  *resolved = requested.empty() ? kDefaultNamespace : requested;
  {
    std::lock_guard lock(mu_);
    if (known_namespaces_.count(*resolved) > 0) return Status::Ok();
  }
  if (resolved->size() > 63) return Invalid("namespace", "is longer than 63 characters");
  bool exists = false;
  Status s = persistence::Transact(pool_, "check namespace", [&](pqxx::work& txn) {
    exists = persistence::NamespaceExists(txn, *resolved);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  if (!exists) return Status::NotFound("namespace '" + *resolved + "' does not exist");
  std::lock_guard lock(mu_);
  known_namespaces_.insert(*resolved);
  return Status::Ok();
}

Status RequestValidator::Identifier(const char* field, const std::string& value,
                                    bool required) const {
  if (value.empty()) return required ? Invalid(field, "is required") : Status::Ok();
  if (value.size() > limits_.max_id_bytes) {
    return Invalid(field, "is longer than " + std::to_string(limits_.max_id_bytes) + " bytes");
  }
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7F) return Invalid(field, "must not contain control characters");
  }
  return Status::Ok();
}

Status RequestValidator::Name(const char* field, const std::string& value) const {
  if (value.empty()) return Invalid(field, "is required");
  if (!dsl::IsValidName(value)) {
    return Invalid(field, "'" + value +
                              "' is not a valid name (a letter, then letters, digits, "
                              "'_', '-' or '.'; at most 128 characters)");
  }
  return Status::Ok();
}

Status RequestValidator::Json(const char* field, const std::string& text, bool allow_empty) const {
  if (text.empty()) return allow_empty ? Status::Ok() : Invalid(field, "is required");
  if (text.size() > limits_.max_payload_bytes) {
    return Invalid(field, "is " + std::to_string(text.size()) + " bytes; the limit is " +
                              std::to_string(limits_.max_payload_bytes) + " bytes");
  }
  // PostgreSQL's jsonb cannot store U+0000; refuse it here rather than fail in the database.
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
  if (nlohmann::json::parse(text, find_nul, /*allow_exceptions=*/false).is_discarded()) {
    return Invalid(field, "is not valid JSON");
  }
  if (has_nul) return Invalid(field, "must not contain the character U+0000 (\\u0000)");
  return Status::Ok();
}

Status RequestValidator::Text(const char* field, const std::string& text) const {
  if (text.size() > limits_.max_text_bytes) {
    return Invalid(field, "is longer than " + std::to_string(limits_.max_text_bytes) + " bytes");
  }
  return Status::Ok();
}

Status RequestValidator::TaskId(const std::string& text, int64_t* id) const {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *id);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || *id <= 0) {
    return Invalid("task_id", "'" + text.substr(0, 64) + "' is not a task id");
  }
  return Status::Ok();
}

std::string RequestValidator::Actor(const std::string& identity) const {
  return identity.empty() ? kAnonymous : identity;
}

}  // namespace gridflow::engine
