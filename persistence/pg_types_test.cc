#include "persistence/pg_types.h"

#include <gtest/gtest.h>

namespace gridflow::persistence {
namespace {

TEST(ToTextArray, QuotesAndEscapes) {
  EXPECT_EQ(ToTextArray({}), "{}");
  EXPECT_EQ(ToTextArray({"a", "b c"}), "{\"a\",\"b c\"}");
  EXPECT_EQ(ToTextArray({"q\"x", "back\\slash", "{,}"}), "{\"q\\\"x\",\"back\\\\slash\",\"{,}\"}");
}

}  // namespace
}  // namespace gridflow::persistence
