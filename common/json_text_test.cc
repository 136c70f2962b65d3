#include "common/json_text.h"

#include <gtest/gtest.h>

namespace gridflow {
namespace {

Status Check(std::string_view text, JsonLimits limits = {}) {
  nlohmann::json value;
  return ParseJsonText("input_json", text, limits, &value);
}

TEST(JsonText, DepthIsMeasuredWithoutParsing) {
  EXPECT_EQ(JsonNestingDepth("1", 64), 0);
  EXPECT_EQ(JsonNestingDepth(R"({"a":[{"b":[]}]})", 64), 4);
  EXPECT_EQ(JsonNestingDepth(R"({"a":"[[[[\"[[["})", 64), 1);  // brackets inside strings
  const std::string deep = std::string(1'000'000, '[');
  EXPECT_EQ(JsonNestingDepth(deep, 64), 65);
}

TEST(JsonText, DeepNestingIsRefusedBeforeAnyRecursiveWork) {
  // 60,000 levels crashed a replica (a stack overflow copying the parsed value).
  const std::string deep = std::string(60'000, '[') + std::string(60'000, ']');
  const Status s = Check(deep);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message().rfind("input_json: is nested more than 64 levels deep", 0), 0u)
      << s.message();
  EXPECT_LT(s.message().size(), 200u);
  const std::string objects = [] {
    std::string text;
    for (int i = 0; i < 65; ++i)
      text += "{\"a\":";
    return text + "1" + std::string(65, '}');
  }();
  EXPECT_EQ(Check(objects).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Check(std::string(64, '[') + std::string(64, ']')).ok());
}

TEST(JsonText, ErrorsNameTheFieldAndQuoteLittle) {
  const Status bad_utf8 = Check("\"abc\xff\xfe\"");
  EXPECT_EQ(bad_utf8.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad_utf8.message().rfind("input_json: is not valid JSON", 0), 0u) << bad_utf8.message();

  const Status nul = Check(R"({"a":"x\u0000y"})");
  EXPECT_EQ(nul.message(), "input_json: must not contain the character U+0000 (\\u0000)");

  // An unterminated 1 MB string is not echoed back.
  const Status long_string = Check("\"" + std::string(1'000'000, 'x'));
  EXPECT_EQ(long_string.code(), StatusCode::kInvalidArgument);
  EXPECT_LT(long_string.message().size(), 300u) << long_string.message().substr(0, 400);

  // Found by fuzzing: a number beyond double's range threw out_of_range past the handler.
  const Status huge = Check("[1, 999e492]");
  EXPECT_EQ(huge.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(huge.message().rfind("input_json: is not valid JSON: number overflow", 0), 0u)
      << huge.message();

  JsonLimits small;
  small.max_bytes = 10;
  EXPECT_EQ(Check("[1,2,3,4,5,6,7]", small).message(),
            "input_json: is 15 bytes; the limit is 10 bytes");
}

TEST(JsonText, QuotePrefixCutsOnCharacterBoundaries) {
  EXPECT_EQ(QuotePrefix("short"), "short");
  EXPECT_EQ(QuotePrefix(std::string(100, 'a'), 8), "aaaaaaaa...");
  EXPECT_EQ(QuotePrefix("ab\xc3\xa9\xc3\xa9", 3), "ab...");  // é is two bytes
}

}  // namespace
}  // namespace gridflow

TEST(JsonText, TextSizeIsWhatDumpWritesWithoutEscapes) {
  for (const char* text :
       {R"({})", R"([])", R"({"a":1,"b":[true,false,null],"c":"text","d":{"e":-42}})",
        R"([0,9,10,-1,-10,18446744073709551615,-9223372036854775808])", R"("")",
        R"({"nested":[[[]],{"x":{}}],"s":"a b c"})"}) {
    const nlohmann::json value = nlohmann::json::parse(text);
    EXPECT_EQ(gridflow::JsonTextSize(value), gridflow::DumpJson(value).size()) << text;
  }
  // A double is counted at its longest: a budget may count high, never low.
  const nlohmann::json curve = nlohmann::json::parse("[0.25,1e300,-3.5]");
  EXPECT_GE(gridflow::JsonTextSize(curve), gridflow::DumpJson(curve).size());
}
