#include "cli/format.h"

#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include "gridflow/v1/run_status.h"

namespace gridflow::cli {
namespace {

using google::protobuf::util::TimeUtil;

TEST(Format, ShortDurationKeepsTheTwoLargestUnits) {
  EXPECT_EQ(ShortDuration(Millis(350)), "350ms");
  EXPECT_EQ(ShortDuration(Millis(41'200)), "41s");
  EXPECT_EQ(ShortDuration(Millis(12 * 60'000 + 5'000)), "12m5s");
  EXPECT_EQ(ShortDuration(Millis(3 * 3'600'000 + 5 * 60'000 + 12'000)), "3h5m");
  EXPECT_EQ(ShortDuration(Millis(3 * 3'600'000 + 12'000)), "3h");
  EXPECT_EQ(ShortDuration(Millis(2 * 86'400'000 + 4 * 3'600'000)), "2d4h");
}

TEST(Format, TimesAreUtcForPeople) {
  google::protobuf::Timestamp t;
  ASSERT_TRUE(TimeUtil::FromString("2026-11-25T14:28:42.123456Z", &t));
  EXPECT_EQ(FormatTime(t), "2026-11-25 14:28:42Z");
  EXPECT_EQ(FormatClock(t), "14:28:42.123");
  EXPECT_EQ(FormatTime(google::protobuf::Timestamp()), "");
}

TEST(Format, InstantsAsOperatorsTypeThem) {
  EXPECT_EQ(TimeUtil::ToString(*ParseInstant("2026-11-25T12:00:00+01:00")), "2026-11-25T11:00:00Z");
  EXPECT_EQ(TimeUtil::ToString(*ParseInstant("2026-11-25")), "2026-11-25T00:00:00Z");
  const auto ago = ParseInstant("2h");
  ASSERT_TRUE(ago.has_value());
  const int64_t expected =
      TimeUtil::TimestampToMilliseconds(TimeUtil::GetCurrentTime()) - 7'200'000;
  EXPECT_NEAR(static_cast<double>(TimeUtil::TimestampToMilliseconds(*ago)),
              static_cast<double>(expected), 5000.0);
  EXPECT_FALSE(ParseInstant("yesterday").has_value());
  EXPECT_FALSE(ParseInstant("2026-13-45").has_value());
}

TEST(Format, AgoNeverPrintsANegativeAge) {
  const int64_t now = TimeUtil::TimestampToMilliseconds(TimeUtil::GetCurrentTime());
  EXPECT_EQ(Ago(TimeUtil::MillisecondsToTimestamp(now + 445)), "just now");
  EXPECT_EQ(Ago(TimeUtil::MillisecondsToTimestamp(now + 3 * 60'000 + 500)), "in 3m");
  EXPECT_EQ(Ago(TimeUtil::MillisecondsToTimestamp(now - 41'200)).substr(0, 3), "41s");
}

TEST(Format, StatusNames) {
  EXPECT_EQ(StatusName(v1::RUN_STATUS_TERMINATED), "TERMINATED");
  EXPECT_TRUE(v1::IsClosedRunStatus(v1::RUN_STATUS_TERMINATED));
  EXPECT_FALSE(v1::IsClosedRunStatus(v1::RUN_STATUS_COMPENSATING));
}

}  // namespace
}  // namespace gridflow::cli
