#include "engine/api/run_query.h"

#include <gtest/gtest.h>

namespace gridflow::engine {
namespace {

using persistence::RunCondition;

const std::map<std::string, std::string> kTypes = {{"market", "keyword"},
                                                   {"delivery_day", "date"},
                                                   {"volume_mw", "number"},
                                                   {"gate", "datetime"},
                                                   {"accepted", "bool"}};

RunCondition Parsed(const std::string& text) {
  RunCondition c;
  const Status s = ParseRunQuery(text, kTypes, &c);
  EXPECT_TRUE(s.ok()) << text << ": " << s.ToString();
  return c;
}

std::string ErrorOf(const std::string& text) {
  RunCondition c;
  const Status s = ParseRunQuery(text, kTypes, &c);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << text;
  return s.message();
}

TEST(RunQuery, AndBindsTighterThanOrAndNotTighterThanAnd) {
  const RunCondition c = Parsed("market = 'A' OR NOT market = 'B' AND volume_mw >= 1.5e2");
  ASSERT_EQ(c.kind, RunCondition::Kind::kOr);
  ASSERT_EQ(c.operands.size(), 2u);
  EXPECT_EQ(c.operands[0].kind, RunCondition::Kind::kCompare);
  const RunCondition& both = c.operands[1];
  ASSERT_EQ(both.kind, RunCondition::Kind::kAnd);
  EXPECT_EQ(both.operands[0].kind, RunCondition::Kind::kNot);
  EXPECT_EQ(both.operands[0].operands[0].values, std::vector<std::string>{"B"});
  EXPECT_EQ(both.operands[1].op, ">=");
  EXPECT_EQ(both.operands[1].values, std::vector<std::string>{"1.5e2"});
  EXPECT_TRUE(both.operands[1].attribute);
}

TEST(RunQuery, ValuesAreCheckedAndCanonical) {
  const RunCondition c = Parsed(
      "status IN ('failed', 'Cancelled') and gate < '2026-12-03T12:00:00+01:00' and "
      "accepted <> TRUE and version = 2 and market = 'it''s'");
  ASSERT_EQ(c.operands.size(), 5u);
  EXPECT_FALSE(c.operands[0].attribute);
  EXPECT_EQ(c.operands[0].kind, RunCondition::Kind::kIn);
  EXPECT_EQ(c.operands[0].values, (std::vector<std::string>{"FAILED", "CANCELLED"}));
  EXPECT_EQ(c.operands[1].values, std::vector<std::string>{"2026-12-03T11:00:00.000000Z"});
  EXPECT_EQ(c.operands[2].op, "!=");
  EXPECT_EQ(c.operands[2].values, std::vector<std::string>{"true"});
  EXPECT_EQ(c.operands[3].type, "number");
  EXPECT_EQ(c.operands[4].values, std::vector<std::string>{"it's"});
  EXPECT_EQ(Parsed("market NOT IN ('A')").kind, RunCondition::Kind::kNot);
}

TEST(RunQuery, ErrorsNameTheColumn) {
  EXPECT_EQ(ErrorOf("  "),
            "query: column 1: is empty; write a condition such as status = 'FAILED'");
  EXPECT_EQ(ErrorOf("market == 'A'"), "query: column 8: use '=' to compare");
  EXPECT_EQ(ErrorOf("market ! 'A'"), "query: column 8: '!' must be followed by '=' (or use NOT)");
  EXPECT_EQ(ErrorOf("market = 'A' market = 'B'"),
            "query: column 14: unexpected 'market'; expected AND, OR or the end");
  EXPECT_EQ(ErrorOf("market IN 'A'"), "query: column 11: expected '(' after IN, found 'A'");
  EXPECT_EQ(ErrorOf("market IN ('A' 'B')"),
            "query: column 16: expected ',' or ')' in the IN list, found 'B'");
  EXPECT_EQ(ErrorOf("market NOT = 'A'"), "query: column 12: expected IN after NOT");
  EXPECT_EQ(ErrorOf("accepted = 'yes'"),
            "query: column 12: 'accepted' is a bool: compare it with true or false, not 'yes'");
  EXPECT_EQ(ErrorOf("gate > '2026-12-03'"),
            "query: column 8: 'gate' is a datetime: compare it with an RFC 3339 instant such as "
            "'2026-12-03T11:00:00Z', not '2026-12-03'");
  EXPECT_EQ(ErrorOf("volume_mw > 1e999"),
            "query: column 13: 'volume_mw' is a number: compare it with a number, not '1e999'");
  EXPECT_EQ(ErrorOf("AND = 'x'"), "query: column 1: expected a field name, found 'AND'");
}

TEST(RunQuery, SizeConditionsAndNestingAreBounded) {
  EXPECT_EQ(ErrorOf(std::string(4097, ' ')), "query: longer than 4096 bytes");
  std::string many = "market = 'a'";
  for (int i = 0; i < 64; ++i)
    many += " OR market = 'a'";
  // The 65th condition is refused, at its field.
  EXPECT_EQ(ErrorOf(many), "query: column " + std::to_string(many.size() - 11) +
                               ": a query may have at most 64 conditions");
  std::string deep(17, '(');
  deep += "market = 'a'" + std::string(17, ')');
  EXPECT_EQ(ErrorOf(deep), "query: column 18: parentheses and NOTs nest more than 16 deep");
  std::string nots;
  for (int i = 0; i < 17; ++i)
    nots += "NOT ";
  EXPECT_EQ(ErrorOf(nots + "market = 'a'").find("nest more than 16 deep") != std::string::npos,
            true);
}

}  // namespace
}  // namespace gridflow::engine
