// Any bytes as a template document (JSON with "=expression" strings): compiled and evaluated.
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/json_text.h"
#include "engine/dsl/template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // Templates come from definitions, which pass the JSON checks first (depth, UTF-8).
  nlohmann::json doc;
  if (!gridflow::ParseJsonText("input", text, gridflow::JsonLimits{}, &doc).ok()) return 0;
  gridflow::dsl::Template t;
  if (!gridflow::dsl::Template::Compile(doc, "input", &t).ok()) return 0;
  static const nlohmann::json scope = {{"input", {{"a", 1}, {"b", "x"}, {"c", {1, 2, 3}}}}};
  gridflow::dsl::EvalContext context;
  context.scope = &scope;
  nlohmann::json out;
  (void)t.Evaluate(context, &out);
  return 0;
}
