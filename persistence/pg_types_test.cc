#include "persistence/pg_types.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace gridflow::persistence {
namespace {

TEST(ParseTimestamp, ReadsPostgresUtcOutput) {
  EXPECT_EQ(ToEpochMicros(ParseTimestamp("1970-01-01 00:00:00+00")), 0);
  EXPECT_EQ(ToEpochMicros(ParseTimestamp("1970-01-01 00:00:01.5+00")), 1'500'000);
  EXPECT_EQ(ToEpochMicros(ParseTimestamp("2026-11-25 14:28:42.123456+00")), 1795616922123456);
}

TEST(ParseTimestamp, RejectsOtherZonesAndGarbage) {
  EXPECT_THROW(ParseTimestamp("2026-11-25 14:28:42+01"), std::invalid_argument);
  EXPECT_THROW(ParseTimestamp("2026-13-25 14:28:42+00"), std::invalid_argument);
  EXPECT_THROW(ParseTimestamp("yesterday"), std::invalid_argument);
}

TEST(ToTextArray, QuotesAndEscapes) {
  EXPECT_EQ(ToTextArray({}), "{}");
  EXPECT_EQ(ToTextArray({"a", "b c"}), "{\"a\",\"b c\"}");
  EXPECT_EQ(ToTextArray({"q\"x", "back\\slash", "{,}"}), "{\"q\\\"x\",\"back\\\\slash\",\"{,}\"}");
}

}  // namespace
}  // namespace gridflow::persistence
