#include "cli/definition_diff.h"

#include <set>

namespace gridflow::cli {
namespace {

using json = nlohmann::json;

// Whether `list` is a list of objects with distinct string names.
bool IsNamedList(const json& list) {
  if (!list.is_array() || list.empty()) return false;
  std::set<std::string> names;
  for (const json& item : list) {
    if (!item.is_object() || !item.contains("name") || !item["name"].is_string()) return false;
    if (!names.insert(item["name"].get<std::string>()).second) return false;
  }
  return true;
}

const json* FindNamed(const json& list, const std::string& name) {
  for (const json& item : list)
    if (item["name"] == name) return &item;
  return nullptr;
}

json Names(const json& list) {
  json names = json::array();
  for (const json& item : list)
    names.push_back(item["name"]);
  return names;
}

std::string Join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

void Diff(const json& a, const json& b, const std::string& path, std::vector<JsonChange>* out) {
  if (a == b) return;
  if (a.is_object() && b.is_object()) {
    for (const auto& [key, value] : a.items()) {
      if (!b.contains(key)) {
        out->push_back({JsonChange::Kind::kRemoved, Join(path, key), value, nullptr});
      } else {
        Diff(value, b[key], Join(path, key), out);
      }
    }
    for (const auto& [key, value] : b.items()) {
      if (!a.contains(key))
        out->push_back({JsonChange::Kind::kAdded, Join(path, key), nullptr, value});
    }
    return;
  }
  if (IsNamedList(a) && IsNamedList(b)) {
    for (const json& item : a) {
      const std::string name = item["name"];
      const std::string item_path = path + "[" + name + "]";
      if (const json* other = FindNamed(b, name)) {
        Diff(item, *other, item_path, out);
      } else {
        out->push_back({JsonChange::Kind::kRemoved, item_path, item, nullptr});
      }
    }
    for (const json& item : b) {
      const std::string name = item["name"];
      if (FindNamed(a, name) == nullptr) {
        out->push_back({JsonChange::Kind::kAdded, path + "[" + name + "]", nullptr, item});
      }
    }
    // The same names in another order: the order itself changed.
    json kept_a = json::array(), kept_b = json::array();
    for (const json& name : Names(a))
      if (FindNamed(b, name) != nullptr) kept_a.push_back(name);
    for (const json& name : Names(b))
      if (FindNamed(a, name) != nullptr) kept_b.push_back(name);
    if (kept_a != kept_b) {
      out->push_back({JsonChange::Kind::kChanged, path + " (order)", Names(a), Names(b)});
    }
    return;
  }
  out->push_back({JsonChange::Kind::kChanged, path, a, b});
}

}  // namespace

std::vector<JsonChange> DiffDefinitions(const json& a, const json& b) {
  std::vector<JsonChange> changes;
  json left = a, right = b;
  // The version always differs; it is what the caller asked to compare.
  if (left.is_object()) left.erase("version");
  if (right.is_object()) right.erase("version");
  Diff(left, right, "", &changes);
  return changes;
}

const char* ChangeKindName(JsonChange::Kind kind) {
  switch (kind) {
    case JsonChange::Kind::kAdded:
      return "added";
    case JsonChange::Kind::kRemoved:
      return "removed";
    case JsonChange::Kind::kChanged:
      return "changed";
  }
  return "changed";
}

}  // namespace gridflow::cli
