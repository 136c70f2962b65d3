#include "engine/definitions/definition_registry.h"

#include <spdlog/spdlog.h>

#include "persistence/attribute_store.h"
#include "persistence/definition_store.h"
#include "persistence/dispatch_control_store.h"
#include "persistence/transaction.h"

namespace gridflow::engine {
namespace {

std::string CacheKey(const std::string& ns, const std::string& name, int version) {
  return ns + '\0' + name + '\0' + std::to_string(version);
}

std::string Describe(const std::string& name, int version) {
  return "definition '" + name + "'" + (version == 0 ? "" : " version " + std::to_string(version));
}

// A step's circuit_breaker configures its task type's breaker in the namespace (the last
// definition registered wins; an operator's configuration is never replaced).
void ConfigureBreakers(pqxx::transaction_base& txn, const std::string& namespace_name,
                       const dsl::Definition& def) {
  for (const dsl::Step& step : def.steps()) {
    if (step.kind != dsl::StepKind::kTask || !step.task.circuit_breaker) continue;
    const dsl::CircuitBreakerPolicy& p = *step.task.circuit_breaker;
    persistence::SetBreaker(
        txn, namespace_name, step.task.task_type,
        persistence::BreakerConfig{p.failure_rate, p.min_attempts, p.window, p.cool_down},
        "definition " + def.name() + " v" + std::to_string(def.version()), false);
  }
}

// Fixes the types of the definition's search attributes in the namespace; a name another
// definition declared with another type is refused (the transaction rolls back).
Status DeclareSearchAttributes(pqxx::transaction_base& txn, const std::string& namespace_name,
                               const dsl::Definition& def) {
  if (def.search_attributes().empty()) return Status::Ok();
  std::vector<std::pair<std::string, std::string>> types;
  for (const dsl::SearchAttribute& a : def.search_attributes())
    types.emplace_back(a.name, std::string(dsl::AttributeTypeName(a.type)));
  const auto conflict = persistence::DeclareAttributeTypes(
      txn, namespace_name, Describe(def.name(), def.version()), types);
  if (!conflict) return Status::Ok();
  std::string declared;
  for (const auto& [name, type] : types) {
    if (name == conflict->name) declared = type;
  }
  return Status::InvalidArgument(
      "search_attributes." + conflict->name + ".type: '" + conflict->name + "' is a " +
      conflict->existing_type + " attribute in namespace '" + namespace_name + "' (declared by " +
      conflict->declared_by + "), not a " + declared + "; use another name");
}

}  // namespace

Status DefinitionRegistry::Register(const std::string& namespace_name, std::string_view json_text,
                                    const std::string& identity, bool candidate,
                                    persistence::DefinitionRow* stored, bool* created) {
  auto def = std::make_shared<dsl::Definition>();
  Status s = dsl::Definition::Parse(json_text, def.get());
  if (!s.ok()) return s;

  persistence::DefinitionRow row;
  row.namespace_name = namespace_name;
  row.name = def->name();
  row.version = def->version();
  row.body_json = def->canonical_json();
  row.created_by = identity;
  row.withheld = candidate;
  persistence::DefinitionInsert outcome{};
  s = persistence::Transact(pool_, "register definition", [&](pqxx::work& txn) {
    outcome = persistence::InsertDefinition(txn, row, stored);
    if (outcome != persistence::DefinitionInsert::kInserted) return Status::Ok();
    ConfigureBreakers(txn, namespace_name, *def);
    return DeclareSearchAttributes(txn, namespace_name, *def);
  });
  if (!s.ok()) return s;
  *created = outcome == persistence::DefinitionInsert::kInserted;
  if (outcome == persistence::DefinitionInsert::kDifferentContent) {
    return Status::AlreadyExists(Describe(def->name(), def->version()) +
                                 " is already registered with different content; versions are "
                                 "immutable, register version " +
                                 std::to_string(def->version() + 1) + " or later instead");
  }
  if (*created) {
    spdlog::info("registered {} in namespace {}", Describe(def->name(), def->version()),
                 namespace_name);
  }
  Cache(CacheKey(namespace_name, def->name(), def->version()), def);
  return Status::Ok();
}

Status DefinitionRegistry::Get(const std::string& namespace_name, const std::string& name,
                               int version, persistence::DefinitionRow* out) {
  bool found = false;
  Status s = persistence::Transact(pool_, "get definition", [&](pqxx::work& txn) {
    auto row = persistence::FindDefinition(txn, namespace_name, name, version);
    found = row.has_value();
    if (found) *out = std::move(*row);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  if (!found) {
    return Status::NotFound(Describe(name, version) + " is not registered in namespace '" +
                            namespace_name + "'");
  }
  return Status::Ok();
}

Status DefinitionRegistry::List(const std::string& namespace_name, const std::string& name,
                                const std::string& after_name, int after_version, int limit,
                                std::vector<persistence::DefinitionRow>* out) {
  return persistence::Transact(pool_, "list definitions", [&](pqxx::work& txn) {
    *out =
        persistence::ListDefinitions(txn, namespace_name, name, after_name, after_version, limit);
    return Status::Ok();
  });
}

Status DefinitionRegistry::Resolve(pqxx::transaction_base& txn, const std::string& namespace_name,
                                   const std::string& name, int version,
                                   std::shared_ptr<const dsl::Definition>* out) {
  return ResolveRouted(txn, namespace_name, name, version, std::nullopt, out, nullptr);
}

Status DefinitionRegistry::ResolveForStart(pqxx::transaction_base& txn,
                                           const std::string& namespace_name,
                                           const std::string& name, int version,
                                           const std::string& workflow_id,
                                           std::shared_ptr<const dsl::Definition>* out,
                                           std::string* reason) {
  *reason = "requested";
  Status s = ResolveRouted(txn, namespace_name, name, version, workflow_id, out, reason);
  if (s.ok() && version == 0) NoteLatestStarted(namespace_name, *out, *reason);
  return s;
}

void DefinitionRegistry::NoteLatestStarted(const std::string& namespace_name,
                                           std::shared_ptr<const dsl::Definition> def,
                                           const std::string& reason) {
  const int start_class = def->StartClass();
  const std::string key = CacheKey(namespace_name, def->name(), 0);
  std::lock_guard lock(mu_);
  latest_start_class_[key] = start_class;
  if (reason == "latest") {
    latest_started_[key] = std::move(def);
  } else {
    latest_started_.erase(key);  // a rollout routes starts: each must ask the database
  }
}

std::shared_ptr<const dsl::Definition> DefinitionRegistry::KnownForStart(
    const std::string& namespace_name, const std::string& name, int version, bool* routed) {
  *routed = version == 0;
  const std::string key = CacheKey(namespace_name, name, version);
  if (version != 0) return Cached(key);
  std::lock_guard lock(mu_);
  const auto it = latest_started_.find(key);
  return it == latest_started_.end() ? nullptr : it->second;
}

int DefinitionRegistry::StartClassHint(const std::string& namespace_name, const std::string& name,
                                       int version) {
  const std::string key = CacheKey(namespace_name, name, version);
  if (version == 0) {
    std::lock_guard lock(mu_);
    const auto it = latest_start_class_.find(key);
    return it == latest_start_class_.end() ? dsl::kDefaultPriority : it->second;
  }
  const auto def = Cached(key);
  return def ? def->StartClass() : dsl::kDefaultPriority;
}

Status DefinitionRegistry::ResolveRouted(pqxx::transaction_base& txn,
                                         const std::string& namespace_name, const std::string& name,
                                         int version, const std::optional<std::string>& workflow_id,
                                         std::shared_ptr<const dsl::Definition>* out,
                                         std::string* reason) {
  if (version == 0) {  // the latest: its number is read every time, its body only once
    const auto latest =
        persistence::LatestDefinitionVersion(txn, namespace_name, name, workflow_id, reason);
    if (!latest) {
      return Status::NotFound(Describe(name, version) + " is not registered in namespace '" +
                              namespace_name + "' (or only as a withheld candidate)");
    }
    version = *latest;
  }
  if (auto cached = Cached(CacheKey(namespace_name, name, version))) {
    *out = std::move(cached);
    return Status::Ok();
  }
  const auto row = persistence::FindDefinition(txn, namespace_name, name, version);
  if (!row) {
    return Status::NotFound(Describe(name, version) + " is not registered in namespace '" +
                            namespace_name + "'");
  }
  auto def = std::make_shared<dsl::Definition>();
  Status s = dsl::Definition::Parse(row->body_json, def.get());
  if (!s.ok()) {
    // Stored definitions were validated on registration; failing now means a newer engine stored
    // something this one cannot read.
    return Status::FailedPrecondition(Describe(name, row->version) +
                                      " cannot be read by this engine version: " + s.message());
  }
  Cache(CacheKey(namespace_name, name, row->version), def);
  *out = std::move(def);
  return Status::Ok();
}

std::shared_ptr<const dsl::Definition> DefinitionRegistry::Cached(const std::string& key) {
  std::lock_guard lock(mu_);
  const auto it = cache_.find(key);
  return it == cache_.end() ? nullptr : it->second;
}

void DefinitionRegistry::Cache(const std::string& key, std::shared_ptr<const dsl::Definition> def) {
  std::lock_guard lock(mu_);
  cache_.emplace(key, std::move(def));
}

}  // namespace gridflow::engine
