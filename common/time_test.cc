#include "common/time.h"

#include <gtest/gtest.h>

namespace gridflow {
namespace {

TEST(FormatRfc3339, PrintsUtcWithMicroseconds) {
  EXPECT_EQ(FormatRfc3339(TimePoint(Micros(0))), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatRfc3339(TimePoint(Micros(1795616922123456))), "2026-11-25T14:28:42.123456Z");
}

}  // namespace
}  // namespace gridflow
