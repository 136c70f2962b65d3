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

}  // namespace
}  // namespace gridflow
