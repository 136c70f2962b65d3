#include "engine/dsl/search_attributes.h"

#include <array>
#include <cmath>

#include "common/time.h"

namespace gridflow::dsl {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<AttributeType, std::string_view>, 5> kTypes = {{
    {AttributeType::kKeyword, "keyword"},
    {AttributeType::kNumber, "number"},
    {AttributeType::kDate, "date"},
    {AttributeType::kDatetime, "datetime"},
    {AttributeType::kBool, "bool"},
}};

constexpr std::array<std::string_view, 8> kBuiltInFields = {
    "status",     "definition", "version",    "workflow_id",
    "started_by", "created_at", "updated_at", "closed_at"};

constexpr size_t kMaxAttributes = 32;

Status Error(const std::string& path, const std::string& message) {
  return Status::InvalidArgument(path + ": " + message);
}

bool IsAttributeName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  if (!(name[0] >= 'a' && name[0] <= 'z')) return false;
  for (const char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

}  // namespace

std::string_view AttributeTypeName(AttributeType type) {
  for (const auto& [t, name] : kTypes) {
    if (t == type) return name;
  }
  return "keyword";
}

std::optional<AttributeType> AttributeTypeFromName(std::string_view name) {
  for (const auto& [t, n] : kTypes) {
    if (n == name) return t;
  }
  return std::nullopt;
}

const char* AttributeTypeList() {
  return "keyword, number, date, datetime, bool";
}

bool IsBuiltInRunField(std::string_view name) {
  for (const std::string_view f : kBuiltInFields) {
    if (f == name) return true;
  }
  return false;
}

Status ParseSearchAttributes(const json& doc, std::vector<SearchAttribute>* out) {
  out->clear();
  const auto it = doc.find("search_attributes");
  if (it == doc.end()) return Status::Ok();
  const std::string path = "search_attributes";
  if (!it->is_object()) return Error(path, "must be an object of name: {type, value}");
  if (it->size() > kMaxAttributes) {
    return Error(path, "a definition may declare at most " + std::to_string(kMaxAttributes) +
                           " search attributes");
  }
  for (const auto& [name, spec] : it->items()) {
    const std::string p = path + "." + name;
    if (!IsAttributeName(name)) {
      return Error(p,
                   "a search attribute's name is a lower-case letter, then lower-case letters, "
                   "digits or '_'; at most 64 characters");
    }
    if (IsBuiltInRunField(name)) {
      return Error(p,
                   "is a field of every run (status, definition, version, workflow_id, "
                   "started_by, created_at, updated_at, closed_at); choose another name");
    }
    if (!spec.is_object()) return Error(p, "must be an object {\"type\": ..., \"value\": ...}");
    for (const auto& [key, unused] : spec.items()) {
      if (key != "type" && key != "value" && key != "description") {
        return Error(p + "." + key, "unknown field (allowed here: type, value, description)");
      }
    }
    SearchAttribute attribute;
    attribute.name = name;
    const auto type = spec.find("type");
    if (type == spec.end()) return Error(p + ".type", "is required");
    const auto parsed =
        type->is_string() ? AttributeTypeFromName(type->get<std::string>()) : std::nullopt;
    if (!parsed) return Error(p + ".type", std::string("must be one of ") + AttributeTypeList());
    attribute.type = *parsed;
    const auto value = spec.find("value");
    if (value == spec.end()) {
      return Error(p + ".value",
                   "is required (a template over the run data, e.g. "
                   "\"=$/input/" +
                       name + "\")");
    }
    if (Status s = Template::Compile(*value, p + ".value", &attribute.value); !s.ok()) return s;
    out->push_back(std::move(attribute));
  }
  return Status::Ok();
}

std::optional<json> AttributeValue(AttributeType type, const json& value) {
  switch (type) {
    case AttributeType::kKeyword:
      if (value.is_string()) {
        const std::string& s = value.get_ref<const std::string&>();
        if (s.size() > kMaxKeywordBytes) return std::nullopt;
        return value;
      }
      if (value.is_number() || value.is_boolean()) return json(value.dump());
      return std::nullopt;
    case AttributeType::kNumber:
      if (!value.is_number()) return std::nullopt;
      if (!std::isfinite(value.get<double>())) return std::nullopt;
      return value;
    case AttributeType::kDate:
      if (!value.is_string() || !ParseDate(value.get<std::string>())) return std::nullopt;
      return value;
    case AttributeType::kDatetime: {
      if (!value.is_string()) return std::nullopt;
      const auto t = ParseTimestamp(value.get<std::string>());
      if (!t) return std::nullopt;
      return json(FormatRfc3339(*t));
    }
    case AttributeType::kBool:
      if (!value.is_boolean()) return std::nullopt;
      return value;
  }
  return std::nullopt;
}

}  // namespace gridflow::dsl
