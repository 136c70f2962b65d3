// RequestValidator: checks what callers send before anything touches state. Every failure is
// INVALID_ARGUMENT naming the field (or NOT_FOUND for an unknown namespace), and changes nothing.
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "common/status.h"
#include "persistence/connection_pool.h"

namespace gridflow::engine {

struct ApiLimits {
  size_t max_payload_bytes = 2 * 1024 * 1024;  // run input, task result, signal payload, details
  size_t max_definition_bytes = 1024 * 1024;
  size_t max_id_bytes = 256;     // workflow ids, dedup ids, identities
  size_t max_text_bytes = 4096;  // error messages, reasons
};

class RequestValidator {
 public:
  static constexpr const char* kDefaultNamespace = "default";
  static constexpr const char* kAnonymous = "anonymous";

  RequestValidator(persistence::ConnectionPool& pool, ApiLimits limits)
      : pool_(pool), limits_(limits) {}

  const ApiLimits& limits() const { return limits_; }

  // "" means the default namespace; NOT_FOUND for one that does not exist (known ones are cached).
  Status Namespace(const std::string& requested, std::string* resolved);
  // An identifier chosen by callers (workflow id, dedup id): 1..max_id_bytes bytes, no control
  // characters. `required`: whether empty is an error.
  Status Identifier(const char* field, const std::string& value, bool required) const;
  // A name in definitions' naming rules (signal names, queues, task types).
  Status Name(const char* field, const std::string& value) const;
  // JSON text within the payload limit. Empty is allowed (means null) when `allow_empty`.
  Status Json(const char* field, const std::string& text, bool allow_empty) const;
  Status Text(const char* field, const std::string& text) const;
  // A task id as the API carries it (decimal text) to its number.
  Status TaskId(const std::string& text, int64_t* id) const;
  // The actor to record: the caller's identity, or "anonymous".
  std::string Actor(const std::string& identity) const;

 private:
  persistence::ConnectionPool& pool_;
  const ApiLimits limits_;
  std::mutex mu_;
  std::set<std::string> known_namespaces_;
};

}  // namespace gridflow::engine
