// DefinitionRegistry: registers, reads and caches workflow definitions.
// A (namespace, name, version) is immutable once registered, so parsed definitions are cached for
// the life of the process and every replica's cache stays correct without invalidation.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <pqxx/transaction_base>

#include "common/status.h"
#include "engine/dsl/definition.h"
#include "persistence/connection_pool.h"
#include "persistence/rows.h"

namespace gridflow::engine {

class DefinitionRegistry {
 public:
  explicit DefinitionRegistry(persistence::ConnectionPool& pool) : pool_(pool) {}

  // Validates and stores a definition. Same content as an existing version: OK, created = false.
  // Different content: ALREADY_EXISTS. Invalid: INVALID_ARGUMENT with the offending path.
  // `candidate`: the new version is withheld from "latest" until a rollout promotes it
  // (docs/rollouts.md).
  Status Register(const std::string& namespace_name, std::string_view json_text,
                  const std::string& identity, bool candidate, persistence::DefinitionRow* stored,
                  bool* created);

  // version 0: the latest. NOT_FOUND when absent.
  Status Get(const std::string& namespace_name, const std::string& name, int version,
             persistence::DefinitionRow* out);

  Status List(const std::string& namespace_name, const std::string& name,
              const std::string& after_name, int after_version, int limit,
              std::vector<persistence::DefinitionRow>* out);

  // The parsed definition, from the cache or read through `txn`. version 0: the latest.
  Status Resolve(pqxx::transaction_base& txn, const std::string& namespace_name,
                 const std::string& name, int version, std::shared_ptr<const dsl::Definition>* out);
  // The same for a new run: version 0 is the version the latest routes `workflow_id` to (a canary
  // rollout, docs/rollouts.md); *reason says why ("requested", "latest", the rollout's routing).
  Status ResolveForStart(pqxx::transaction_base& txn, const std::string& namespace_name,
                         const std::string& name, int version, const std::string& workflow_id,
                         std::shared_ptr<const dsl::Definition>* out, std::string* reason);

  // The class of the tasks a new run of (name, version) is handed at once
  // (dsl::Definition::StartClass), as far as this replica knows without reading the database:
  // version 0 is the latest this replica last resolved for a start; kDefaultPriority when it knows
  // none. Only for ordering work (an urgent start jumps the group-commit queue), never for what a
  // run does.
  int StartClassHint(const std::string& namespace_name, const std::string& name, int version);
  // Records `def` as the latest version of its name a start resolved (for StartClassHint and
  // KnownForStart); `reason` is why the start got it (ResolveForStart).
  void NoteLatestStarted(const std::string& namespace_name,
                         std::shared_ptr<const dsl::Definition> def, const std::string& reason);
  // The definition a start of (name, version) gets as far as this replica knows, without reading
  // the database: a cached version when one is asked for; for version 0 the latest a start last
  // resolved, when no rollout routed it (*routed = true: the database must confirm it is still
  // the latest). nullptr when it knows none.
  std::shared_ptr<const dsl::Definition> KnownForStart(const std::string& namespace_name,
                                                       const std::string& name, int version,
                                                       bool* routed);

 private:
  Status ResolveRouted(pqxx::transaction_base& txn, const std::string& namespace_name,
                       const std::string& name, int version,
                       const std::optional<std::string>& workflow_id,
                       std::shared_ptr<const dsl::Definition>* out, std::string* reason);
  std::shared_ptr<const dsl::Definition> Cached(const std::string& key);
  void Cache(const std::string& key, std::shared_ptr<const dsl::Definition> def);

  persistence::ConnectionPool& pool_;
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const dsl::Definition>> cache_;
  // Per namespace and name (the key of version 0): the start class of the latest resolved.
  std::unordered_map<std::string, int> latest_start_class_;
  // The same key: the latest a start resolved, when it was the plain latest (no rollout).
  std::unordered_map<std::string, std::shared_ptr<const dsl::Definition>> latest_started_;
};

}  // namespace gridflow::engine
