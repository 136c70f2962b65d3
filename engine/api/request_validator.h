// RequestValidator: checks what callers send before anything touches state. Every failure is
// INVALID_ARGUMENT naming the field (or NOT_FOUND for an unknown namespace), and changes nothing.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>
#include <nlohmann/json.hpp>

#include "common/duration.h"
#include "common/status.h"
#include "common/time.h"
#include "persistence/connection_pool.h"
#include "persistence/namespace_store.h"

namespace gridflow::engine {

struct ApiLimits {
  size_t max_payload_bytes = 2 * 1024 * 1024;  // run input, task result, signal payload, details
  size_t max_definition_bytes = 1024 * 1024;
  size_t max_id_bytes = 256;     // workflow ids, dedup ids, identities
  size_t max_text_bytes = 4096;  // error messages, reasons
  int max_json_depth = 64;       // arrays and objects inside one another, in any JSON field
  // WatchHistory streams one client (its network address) may hold open on one replica.
  int max_watches_per_client = 100;
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
  // FAILED_PRECONDITION when the (known) namespace is deprecated: no new runs or definitions.
  // Reads the cache only: a deprecation made on another replica applies here after the next
  // RefreshNamespaces().
  Status AcceptsNewWork(const std::string& namespace_name);
  // The namespace's default time zone ("" when it has none).
  std::string TimeZoneOf(const std::string& namespace_name);
  // Updates the cache with a namespace just created or changed on this replica.
  void Remember(const persistence::NamespaceRow& row);
  // Re-reads every namespace (the engine does so every few seconds).
  Status RefreshNamespaces();
  // An identifier chosen by callers (workflow id, dedup id): 1..max_id_bytes bytes, no control
  // characters. `required`: whether empty is an error.
  Status Identifier(const char* field, const std::string& value, bool required) const;
  // The id of an API object a caller names (a schedule, a batch operation): 1 to 100 letters,
  // digits, '_', '.', ':', '-', starting with a letter or digit.
  static Status ObjectId(const char* field, const std::string& value);
  // A name in definitions' naming rules (signal names, queues, task types).
  Status Name(const char* field, const std::string& value) const;
  // JSON text within the payload and depth limits (common/json_text.h). Empty is allowed (means
  // null) when `allow_empty`. The parsed value goes to *value when given.
  Status Json(const char* field, const std::string& text, bool allow_empty,
              nlohmann::json* value = nullptr) const;
  Status Text(const char* field, const std::string& text) const;
  // A protobuf Timestamp within 0001-01-01..9999-12-31 with nanos in [0, 1e9).
  Status Timestamp(const char* field, const google::protobuf::Timestamp& value,
                   TimePoint* out) const;
  // A protobuf Duration that is not negative and within protobuf's range.
  Status NonNegativeDuration(const char* field, const google::protobuf::Duration& value,
                             Millis* out) const;
  // A task id as the API carries it (decimal text) to its number.
  Status TaskId(const std::string& text, int64_t* id) const;
  // A worker's name as it claims it (the lease holder): its identity, or "anonymous".
  std::string WorkerName(const std::string& identity) const;

 private:
  persistence::ConnectionPool& pool_;
  const ApiLimits limits_;
  struct KnownNamespace {
    bool deprecated = false;
    std::string reason;
    std::string time_zone;
  };
  std::mutex mu_;
  std::map<std::string, KnownNamespace> known_namespaces_;  // guarded by mu_
};

}  // namespace gridflow::engine
