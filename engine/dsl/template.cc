#include "engine/dsl/template.h"

#include "common/json_text.h"

namespace gridflow::dsl {

using nlohmann::json;

namespace {

// Walks `node`, compiling expression leaves and unescaping "==" ones in `doc`.
Status Walk(json& node, const json::json_pointer& at, const std::string& path,
            std::vector<std::pair<json::json_pointer, Expression>>* out) {
  if (node.is_object()) {
    for (auto& [key, value] : node.items()) {
      if (Status s = Walk(value, at / key, path, out); !s.ok()) return s;
    }
  } else if (node.is_array()) {
    for (size_t i = 0; i < node.size(); ++i) {
      if (Status s = Walk(node[i], at / i, path, out); !s.ok()) return s;
    }
  } else if (node.is_string()) {
    const std::string& text = node.get_ref<const std::string&>();
    if (text.rfind("==", 0) == 0) {
      node = text.substr(1);
    } else if (text.rfind('=', 0) == 0) {
      Expression e;
      if (Status s = Expression::Parse(std::string_view(text).substr(1), &e); !s.ok()) {
        return Status::InvalidArgument(path + at.to_string() + ": " + s.message());
      }
      out->emplace_back(at, std::move(e));
    }
  }
  return Status::Ok();
}

}  // namespace

Status Template::Compile(const json& doc, const std::string& path, Template* out) {
  Template t;
  t.present_ = true;
  t.doc_ = doc;
  if (Status s = Walk(t.doc_, json::json_pointer(), path, &t.expressions_); !s.ok()) return s;
  *out = std::move(t);
  return Status::Ok();
}

Status Template::Evaluate(const EvalContext& context, json* out) const {
  if (!present_) {
    *out = MergedScope(context);
    return Status::Ok();
  }
  json result = doc_;
  for (const auto& [at, expression] : expressions_) {
    json value;
    if (Status s = expression.Evaluate(context, &value); !s.ok()) {
      return Status::InvalidArgument((at.empty() ? std::string("") : at.to_string() + ": ") +
                                     s.message());
    }
    if (at.empty()) {
      result = std::move(value);
    } else {
      result[at] = std::move(value);
    }
  }
  *out = std::move(result);
  return Status::Ok();
}

Status Template::EvaluateText(const EvalContext& context, std::string* out) const {
  const bool no_overlay =
      context.overlay == nullptr || !context.overlay->is_object() || context.overlay->empty();
  if (!present_ && no_overlay) {
    *out = context.scope != nullptr ? DumpJson(*context.scope) : std::string("{}");
    return Status::Ok();
  }
  json value;
  if (Status s = Evaluate(context, &value); !s.ok()) return s;
  *out = DumpJson(value);
  return Status::Ok();
}

}  // namespace gridflow::dsl
