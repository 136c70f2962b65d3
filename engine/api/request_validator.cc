#include "engine/api/request_validator.h"

#include <google/protobuf/util/time_util.h>

#include <charconv>
#include <nlohmann/json.hpp>
#include <regex>

#include "common/json_text.h"
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
  for (unsigned char c : *resolved) {
    if (c < 0x20 || c == 0x7F) return Invalid("namespace", "must not contain control characters");
  }
  std::optional<persistence::NamespaceRow> row;
  Status s = persistence::Transact(pool_, "check namespace", [&](pqxx::work& txn) {
    row = persistence::FindNamespace(txn, *resolved);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  if (!row) return Status::NotFound("namespace '" + *resolved + "' does not exist");
  Remember(*row);
  return Status::Ok();
}

Status RequestValidator::AcceptsNewWork(const std::string& namespace_name) {
  std::lock_guard lock(mu_);
  const auto it = known_namespaces_.find(namespace_name);
  if (it == known_namespaces_.end() || !it->second.deprecated) return Status::Ok();
  return Status::FailedPrecondition("namespace '" + namespace_name +
                                    "' is deprecated and takes no new runs or definitions (" +
                                    it->second.reason + ")");
}

std::string RequestValidator::TimeZoneOf(const std::string& namespace_name) {
  std::lock_guard lock(mu_);
  const auto it = known_namespaces_.find(namespace_name);
  return it == known_namespaces_.end() ? "" : it->second.time_zone;
}

void RequestValidator::Remember(const persistence::NamespaceRow& row) {
  std::lock_guard lock(mu_);
  known_namespaces_[row.name] = {row.deprecated_at.has_value(), row.deprecated_reason.value_or(""),
                                 row.time_zone};
}

Status RequestValidator::RefreshNamespaces() {
  std::vector<persistence::NamespaceRow> rows;
  Status s = persistence::Transact(pool_, "read namespaces", [&](pqxx::work& txn) {
    rows = persistence::ListNamespaces(txn, true);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  for (const auto& row : rows)
    Remember(row);
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

Status RequestValidator::ObjectId(const char* field, const std::string& value) {
  static const std::regex kId("[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}");
  if (!std::regex_match(value, kId)) {
    return Status::InvalidArgument(
        std::string(field) +
        ": must be 1 to 100 characters: letters, digits, '_', '.', ':', '-', starting with a "
        "letter or digit");
  }
  return Status::Ok();
}

Status RequestValidator::Name(const char* field, const std::string& value) const {
  if (value.empty()) return Invalid(field, "is required");
  if (!dsl::IsValidName(value)) {
    return Invalid(field, "'" + QuotePrefix(value) +
                              "' is not a valid name (a letter, then letters, digits, "
                              "'_', '-' or '.'; at most 128 characters)");
  }
  return Status::Ok();
}

Status RequestValidator::Json(const char* field, const std::string& text, bool allow_empty,
                              nlohmann::json* value) const {
  if (text.empty()) {
    if (value != nullptr) *value = nullptr;
    return allow_empty ? Status::Ok() : Invalid(field, "is required");
  }
  nlohmann::json parsed;
  Status s = ParseJsonText(field, text, {limits_.max_payload_bytes, limits_.max_json_depth},
                           value != nullptr ? value : &parsed);
  return s;
}

Status RequestValidator::Text(const char* field, const std::string& text) const {
  if (text.size() > limits_.max_text_bytes) {
    return Invalid(field, "is longer than " + std::to_string(limits_.max_text_bytes) + " bytes");
  }
  return Status::Ok();
}

Status RequestValidator::Timestamp(const char* field, const google::protobuf::Timestamp& value,
                                   TimePoint* out) const {
  using google::protobuf::util::TimeUtil;
  if (value.seconds() < TimeUtil::kTimestampMinSeconds ||
      value.seconds() > TimeUtil::kTimestampMaxSeconds || value.nanos() < 0 ||
      value.nanos() > 999'999'999) {
    return Invalid(field,
                   "is not a valid timestamp (0001-01-01T00:00:00Z to "
                   "9999-12-31T23:59:59Z, nanos 0 to 999999999)");
  }
  *out = TimePoint(Micros(value.seconds() * 1'000'000 + value.nanos() / 1000));
  return Status::Ok();
}

Status RequestValidator::NonNegativeDuration(const char* field,
                                             const google::protobuf::Duration& value,
                                             Millis* out) const {
  using google::protobuf::util::TimeUtil;
  if (value.seconds() < 0 || value.nanos() < 0) return Invalid(field, "must not be negative");
  if (value.seconds() > TimeUtil::kDurationMaxSeconds || value.nanos() > 999'999'999) {
    return Invalid(field, "is not a valid duration");
  }
  *out = Millis(value.seconds() * 1000 + value.nanos() / 1'000'000);
  return Status::Ok();
}

Status RequestValidator::TaskId(const std::string& text, int64_t* id) const {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *id);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || *id <= 0) {
    return Invalid("task_id", "'" + QuotePrefix(text) + "' is not a task id");
  }
  return Status::Ok();
}

std::string RequestValidator::WorkerName(const std::string& identity) const {
  return identity.empty() ? kAnonymous : identity;
}

}  // namespace gridflow::engine
