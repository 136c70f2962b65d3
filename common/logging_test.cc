#include "common/logging.h"

#include <gtest/gtest.h>

namespace gridflow {
namespace {

TEST(RedactConnectionString, HidesPasswordsInBothForms) {
  EXPECT_EQ(RedactConnectionString("postgresql://gf:s3cret@db:5432/gridflow"),
            "postgresql://gf:***@db:5432/gridflow");
  EXPECT_EQ(RedactConnectionString("host=a,b user=gf password=s3cret dbname=gridflow"),
            "host=a,b user=gf password=*** dbname=gridflow");
  EXPECT_EQ(RedactConnectionString("host=a password='with space' dbname=x"),
            "host=a password=*** dbname=x");
  EXPECT_EQ(RedactConnectionString("postgresql://gf@db/gridflow"), "postgresql://gf@db/gridflow");
}

TEST(ConfigureLogging, RejectsUnknownLevelAndFormat) {
  EXPECT_EQ(ConfigureLogging("test", "loud", "text").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ConfigureLogging("test", "info", "xml").code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(ConfigureLogging("test", "info", "json").ok());
  EXPECT_TRUE(ConfigureLogging("test", "warn", "text").ok());
}

TEST(LogContextFields, TheLeadingRunContextBecomesFields) {
  using Fields = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(LogContextFields("run=0b1c task=42 step=submit failed for good: x (run=zz)"),
            (Fields{{"run_id", "0b1c"}, {"task_id", "42"}, {"step", "submit"}}));
  EXPECT_EQ(LogContextFields("task=7: heartbeat failed"), (Fields{{"task_id", "7"}}));
  EXPECT_EQ(LogContextFields("run=a workflow_id=bid-1 started"),
            (Fields{{"run_id", "a"}, {"workflow_id", "bid-1"}}));
  EXPECT_TRUE(LogContextFields("draining: no new long-polls").empty());
}

}  // namespace
}  // namespace gridflow
