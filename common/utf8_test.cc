#include "common/utf8.h"

#include <gtest/gtest.h>

namespace gridflow {
namespace {

TEST(Utf8, AcceptsWellFormedText) {
  for (const char* good : {"", "plain", "D\xc3\xa9j\xc3\xa0", "\xe2\x82\xac", "\xf0\x9f\x94\x8b",
                           "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf"}) {
    EXPECT_TRUE(IsValidUtf8(good)) << good;
  }
}

TEST(Utf8, RefusesMalformedText) {
  for (const char* bad : {"\xff", "\xc0\xaf", "\xc3", "\xe2\x82", "\xed\xa0\x80",
                          "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "ok\x80", "\xe0\x80\xaf"}) {
    EXPECT_FALSE(IsValidUtf8(bad)) << bad;
  }
}

}  // namespace
}  // namespace gridflow
