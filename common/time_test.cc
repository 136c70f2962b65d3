#include "common/time.h"

#include <gtest/gtest.h>

namespace gridflow {
namespace {

TEST(FormatRfc3339, PrintsUtcWithMicroseconds) {
  EXPECT_EQ(FormatRfc3339(TimePoint(Micros(0))), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatRfc3339(TimePoint(Micros(1795616922123456))), "2026-11-25T14:28:42.123456Z");
}

int64_t Micro(std::string_view text) {
  const auto t = ParseTimestamp(text);
  return t ? t->time_since_epoch().count() : -1;
}

TEST(ParseTimestamp, ReadsRfc3339AndPostgresOutput) {
  EXPECT_EQ(Micro("1970-01-01 00:00:00+00"), 0);
  EXPECT_EQ(Micro("1970-01-01 00:00:01.5+00"), 1'500'000);
  EXPECT_EQ(Micro("2026-11-25 14:28:42.123456+00"), 1795616922123456);
  EXPECT_EQ(Micro("2026-11-25T14:28:42.123456Z"), 1795616922123456);
  EXPECT_EQ(Micro("2026-11-25t15:28:42.123456789+01:00"), 1795616922123456);
  EXPECT_EQ(Micro("2026-11-25T09:28:42.123456-05"), 1795616922123456);
}

TEST(ParseTimestamp, RejectsWhatIsNotAnInstant) {
  for (const char* bad :
       {"yesterday", "2026-13-25 14:28:42+00", "2026-02-29T00:00:00Z", "2026-11-25T24:00:00Z",
        "2026-11-25T14:28:42", "2026-11-25T14:28:42.Z", "2026-11-25T14:28:42+1:00",
        "2026-11-25T14:28:42+01:0x", "0000-01-01T00:00:00Z", "2026-11-25T14:28:42Zjunk", ""}) {
    EXPECT_FALSE(ParseTimestamp(bad).has_value()) << bad;
  }
}

TEST(ParseDate, ReadsRealDatesOnly) {
  EXPECT_EQ(ParseDate("1970-01-02"), 1);
  EXPECT_EQ(FormatDate(*ParseDate("2100-12-31")), "2100-12-31");
  EXPECT_FALSE(ParseDate("2026-02-30").has_value());
  EXPECT_FALSE(ParseDate("2026-2-3").has_value());
  EXPECT_FALSE(ParseDate("+026-02-03").has_value());
}

}  // namespace
}  // namespace gridflow
