#include "common/duration.h"

#include <gtest/gtest.h>

namespace gridflow {
namespace {

TEST(ParseDuration, ReadsEveryUnitAndCombinations) {
  EXPECT_EQ(ParseDuration("250ms"), Millis(250));
  EXPECT_EQ(ParseDuration("30s"), Millis(30'000));
  EXPECT_EQ(ParseDuration("5m"), Millis(300'000));
  EXPECT_EQ(ParseDuration("1h30m"), Millis(5'400'000));
  EXPECT_EQ(ParseDuration("2d"), Millis(172'800'000));
  EXPECT_EQ(ParseDuration("1m500ms"), Millis(60'500));
  EXPECT_EQ(ParseDuration("0s"), Millis(0));
}

TEST(ParseDuration, RejectsMalformedText) {
  for (const char* bad :
       {"", "5", "s", "-5s", "5x", "1.5s", "5m1h", "5s5s", "1 h", "99999999999999999999s"}) {
    EXPECT_EQ(ParseDuration(bad), std::nullopt) << bad;
  }
}

TEST(FormatDuration, RoundTrips) {
  for (int64_t ms : {0LL, 1LL, 999LL, 1'000LL, 61'001LL, 5'400'000LL, 90'061'001LL}) {
    EXPECT_EQ(ParseDuration(FormatDuration(Millis(ms))), Millis(ms)) << ms;
  }
  EXPECT_EQ(FormatDuration(Millis(5'400'000)), "1h30m");
  EXPECT_EQ(FormatDuration(Millis(250)), "250ms");
}

}  // namespace
}  // namespace gridflow
