// Any bytes as a definition: parsing and every registration check must answer (a Status), never
// crash, hang or leak; an accepted definition's canonical form parses to the same form again.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "engine/dsl/definition.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  gridflow::dsl::Definition definition;
  if (!gridflow::dsl::Definition::Parse(text, &definition).ok()) return 0;
  gridflow::dsl::Definition again;
  if (!gridflow::dsl::Definition::Parse(definition.canonical_json(), &again).ok() ||
      again.canonical_json() != definition.canonical_json()) {
    std::abort();  // registration of the canonical form must be stable
  }
  return 0;
}
