// Every definition shipped under examples/ is valid.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/dsl/definition.h"

namespace gridflow::dsl {
namespace {

TEST(Examples, EveryShippedDefinitionIsValid) {
  int checked = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(GRIDFLOW_EXAMPLES_DIR)) {
    if (entry.path().filename() != "definition.json") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    Definition def;
    const Status s = Definition::Parse(text.str(), &def);
    EXPECT_TRUE(s.ok()) << entry.path() << ": " << s.message();
    ++checked;
  }
  EXPECT_GE(checked, 3);
}

}  // namespace
}  // namespace gridflow::dsl
