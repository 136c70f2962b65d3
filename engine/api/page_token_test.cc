#include "engine/api/page_token.h"

#include <gtest/gtest.h>

namespace gridflow::engine {
namespace {

TEST(PageToken, RoundTripsFields) {
  const std::string token = EncodePageToken("runs", {"1795616922123456", "a-b-c"});
  const auto fields = DecodePageToken("runs", token, 2);
  ASSERT_TRUE(fields.has_value());
  EXPECT_EQ((*fields)[0], "1795616922123456");
  EXPECT_EQ((*fields)[1], "a-b-c");
}

TEST(PageToken, RefusesTokensOfAnotherKindOrShapeOrGarbage) {
  const std::string token = EncodePageToken("runs", {"1", "x"});
  EXPECT_FALSE(DecodePageToken("defs", token, 2).has_value());
  EXPECT_FALSE(DecodePageToken("runs", token, 1).has_value());
  EXPECT_FALSE(DecodePageToken("runs", "not base64 !", 2).has_value());
  EXPECT_FALSE(DecodePageToken("runs", "", 2).has_value());
}

}  // namespace
}  // namespace gridflow::engine
