#include "engine/dsl/expression.h"

#include <gtest/gtest.h>

#include "common/json_text.h"
#include "engine/dsl/template.h"

namespace gridflow::dsl {
namespace {

using nlohmann::json;

const json kData = json::parse(R"({
  "input": {"delivery_day": "2026-11-26", "market": "EPEX-DE-LU", "mw": 12.5, "mode": "auto",
            "odd key": 1, "a/b": 2, "a-b": 3},
  "forecast": {"forecast_mw": [10, 20, 30], "quarter_hours": 3},
  "flags": [true, false]
})");

json Eval(const std::string& text, const json& scope = kData, const json* overlay = nullptr) {
  Expression e;
  const Status parsed = Expression::Parse(text, &e);
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.message();
  EvalContext c;
  c.scope = &scope;
  c.overlay = overlay;
  c.now = TimePoint(Micros(1795616922123456));  // 2026-11-25T14:28:42.123456Z
  json out;
  const Status s = e.Evaluate(c, &out);
  EXPECT_TRUE(s.ok()) << text << ": " << s.message();
  return out;
}

std::string EvalError(const std::string& text) {
  Expression e;
  Status s = Expression::Parse(text, &e);
  if (!s.ok()) return "parse: " + s.message();
  EvalContext c;
  c.scope = &kData;
  c.limits.max_steps = 10'000;
  json out;
  s = e.Evaluate(c, &out);
  return s.ok() ? "" : s.message();
}

TEST(Expression, PointersMembersAndIndexes) {
  EXPECT_EQ(Eval("$/input/delivery_day"), "2026-11-26");
  EXPECT_EQ(Eval("$/forecast/forecast_mw/1"), 20);
  EXPECT_EQ(Eval("$/forecast/forecast_mw[2]"), 30);
  EXPECT_EQ(Eval("$/forecast.quarter_hours"), 3);
  EXPECT_EQ(Eval("$/input/a~1b"), 2);
  EXPECT_EQ(Eval("$/input/a-b"), 3);
  EXPECT_EQ(Eval("$/input['odd key']"), 1);
  EXPECT_EQ(Eval("$/missing/deeper"), nullptr);
  EXPECT_EQ(Eval("$/forecast/forecast_mw[9]"), nullptr);
  EXPECT_EQ(Eval("$").size(), 3u);
}

TEST(Expression, OverlayShadowsTheScope) {
  const json overlay = {{"item", {{"qh", 7}}}, {"input", "shadowed"}};
  EXPECT_EQ(Eval("$/item/qh", kData, &overlay), 7);
  EXPECT_EQ(Eval("$/input", kData, &overlay), "shadowed");
  EXPECT_EQ(Eval("$/forecast/quarter_hours", kData, &overlay), 3);
  EXPECT_EQ(Eval("$", kData, &overlay)["item"]["qh"], 7);
}

TEST(Expression, ArithmeticComparisonAndLogic) {
  EXPECT_EQ(Eval("1 + 2 * 3"), 7);
  EXPECT_EQ(Eval("(1 + 2) * 3"), 9);
  EXPECT_EQ(Eval("7 / 2"), 3.5);
  EXPECT_EQ(Eval("8 / 2"), 4);
  EXPECT_EQ(Eval("7 % 3"), 1);
  EXPECT_EQ(Eval("-$/input/mw + 0.5"), -12.0);
  EXPECT_EQ(Eval("'a' + \"b\""), "ab");
  EXPECT_EQ(Eval("[1, 2] + [3]"), json::parse("[1,2,3]"));
  EXPECT_EQ(Eval("$/input/mw > 10 && $/input/mode == 'auto'"), true);
  EXPECT_EQ(Eval("!($/input/mw >= 20) || false"), true);
  EXPECT_EQ(Eval("'2026-11-25' < '2026-11-26'"), true);
  EXPECT_EQ(Eval("1 == 1.0"), true);
  EXPECT_EQ(Eval("null == $/missing"), true);
  EXPECT_EQ(Eval("false && (1 / 0 == 1)"), false);  // short circuit
}

TEST(Expression, Functions) {
  EXPECT_EQ(Eval("len($/forecast/forecast_mw)"), 3);
  EXPECT_EQ(Eval("sum($/forecast/forecast_mw)"), 60);
  EXPECT_EQ(Eval("max(1, 5, 3)"), 5);
  EXPECT_EQ(Eval("min($/forecast/forecast_mw)"), 10);
  EXPECT_EQ(Eval("round(2.345, 2)"), 2.35);
  EXPECT_EQ(Eval("round(2.5)"), 3);
  EXPECT_EQ(Eval("contains($/input/market, 'DE')"), true);
  EXPECT_EQ(Eval("contains([1, 2], 3)"), false);
  EXPECT_EQ(Eval("concat('qh-', 7)"), "qh-7");
  EXPECT_EQ(Eval("upper($/input/mode)"), "AUTO");
  EXPECT_EQ(Eval("default($/missing, 42)"), 42);
  EXPECT_EQ(Eval("if($/input/mw > 100, 'big', 'small')"), "small");
  EXPECT_EQ(Eval("range(3)"), json::parse("[0,1,2]"));
  EXPECT_EQ(Eval("substr('abcdef', 2, 3)"), "cde");
  EXPECT_EQ(Eval("number('12.5') + 1"), 13.5);
  EXPECT_EQ(Eval("string(12)"), "12");
}

TEST(Expression, RevisionIsTheRunsSettlementRevisionOrNull) {
  EXPECT_EQ(Eval("revision()"), nullptr);
  EXPECT_EQ(Eval("revision().number"), nullptr);
  const json revision = {{"period", "2026-11-24"}, {"number", 2}, {"supersedes", "settle-r1"}};
  Expression e;
  ASSERT_TRUE(
      Expression::Parse("concat(revision().period, '/r', string(revision().number))", &e).ok());
  EvalContext c;
  c.scope = &kData;
  c.revision = &revision;
  json out;
  ASSERT_TRUE(e.Evaluate(c, &out).ok());
  EXPECT_EQ(out, "2026-11-24/r2");
  EXPECT_NE(EvalError("revision(1)").find("revision() takes 0 arguments, not 1"), std::string::npos)
      << EvalError("revision(1)");
}

TEST(Expression, TimeFunctions) {
  EXPECT_EQ(Eval("now()"), "2026-11-25T14:28:42.123456Z");
  EXPECT_EQ(Eval("date_add('2026-03-01', -1)"), "2026-02-28");
  // SDAC gate closure: 12:00 Brussels the day before delivery (CET in winter, CEST in summer).
  EXPECT_EQ(Eval("gate_closure('EPEX-DE-LU', '2026-11-26')"), "2026-11-25T11:00:00.000000Z");
  EXPECT_EQ(Eval("gate_closure('EPEX-DE-LU', '2026-07-01')"), "2026-06-30T10:00:00.000000Z");
  EXPECT_EQ(Eval("time_add(gate_closure('EPEX-FR', '2026-11-26'), '-30m')"),
            "2026-11-25T10:30:00.000000Z");
  EXPECT_EQ(Eval("local_time('2026-11-26', '00:00', 'Europe/Berlin')"),
            "2026-11-25T23:00:00.000000Z");
  EXPECT_EQ(Eval("to_zone('2026-11-25T11:00:00Z', 'Europe/Brussels')"),
            "2026-11-25T12:00:00+01:00");
  EXPECT_EQ(Eval("local_date('2026-11-25T23:30:00Z', 'Europe/Berlin')"), "2026-11-26");
  EXPECT_EQ(Eval("seconds_between('2026-11-25T11:00:00Z', '2026-11-25T11:30:00+00:00')"), 1800);
  EXPECT_EQ(Eval("instant('2026-11-25T12:00:00+01:00')"), "2026-11-25T11:00:00.000000Z");
  EXPECT_EQ(Eval("duration_ms('1h30m')"), 5'400'000);
}

TEST(Expression, QuarterHoursFollowDaylightSaving) {
  EXPECT_EQ(Eval("len(quarter_hours('2026-11-26', 'Europe/Berlin'))"), 96);
  EXPECT_EQ(Eval("len(quarter_hours('2026-03-29', 'Europe/Berlin'))"), 92);   // spring forward
  EXPECT_EQ(Eval("len(quarter_hours('2026-10-25', 'Europe/Berlin'))"), 100);  // fall back
  const json spring = Eval("quarter_hours('2026-03-29', 'Europe/Berlin')");
  EXPECT_EQ(spring[0]["start"], "2026-03-28T23:00:00.000000Z");
  EXPECT_EQ(spring[8]["start"], "2026-03-29T01:00:00.000000Z");  // 03:00 CEST follows 01:45 CET
  EXPECT_EQ(spring[91]["end"], "2026-03-29T22:00:00.000000Z");
}

TEST(Expression, DstEdgesOfLocalTime) {
  // 02:30 does not exist on 2026-03-29 in Berlin: moved forward by the gap (03:30 CEST).
  EXPECT_EQ(Eval("local_time('2026-03-29', '02:30', 'Europe/Berlin')"),
            "2026-03-29T01:30:00.000000Z");
  // 02:30 happens twice on 2026-10-25: the first (CEST) one.
  EXPECT_EQ(Eval("local_time('2026-10-25', '02:30', 'Europe/Berlin')"),
            "2026-10-25T00:30:00.000000Z");
}

TEST(Expression, ParseErrorsNameTheColumn) {
  EXPECT_EQ(EvalError("1 +"), "parse: column 4: unexpected end of expression");
  EXPECT_EQ(EvalError("(1 + 2"), "parse: column 7: expected ')', found 'end of expression'");
  EXPECT_EQ(EvalError("frobnicate(1)"),
            "parse: column 1: unknown function 'frobnicate' (see docs/dsl.md)");
  EXPECT_EQ(EvalError("len(1, 2)"), "parse: column 1: len() takes 1 argument, not 2");
  EXPECT_EQ(EvalError("'open"), "parse: column 1: unterminated string");
  EXPECT_EQ(EvalError("1 # 2"), "parse: column 3: unexpected character '#'");
  EXPECT_EQ(EvalError("1 2"), "parse: column 3: unexpected '2' after the expression");
  EXPECT_EQ(EvalError("$/a~2"),
            "parse: column 4: '~' in a pointer must be '~0' (for ~) or '~1' (for /)");
  // Literal time zones, markets, dates and durations are checked when the expression is parsed.
  EXPECT_EQ(
      EvalError("local_time($/d, '12:00', 'Europe/Atlantis')"),
      "parse: column 26: local_time(): unknown time zone 'Europe/Atlantis' (use an IANA name such "
      "as Europe/Berlin)");
  EXPECT_EQ(EvalError("gate_closure('MOON', $/d)")
                .rfind("parse: column 14: gate_closure(): unknown market 'MOON'", 0),
            0u);
  EXPECT_EQ(EvalError("date_add('2026-02-30', 1)"),
            "parse: column 10: date_add(): '2026-02-30' is not a date (YYYY-MM-DD)");
  EXPECT_EQ(EvalError("time_add(now(), '30 minutes')"),
            "parse: column 17: time_add(): '30 minutes' is not a duration");
  EXPECT_EQ(
      EvalError(std::string(100, '(') + "1" + std::string(100, ')')).rfind("parse: column", 0), 0u);
}

TEST(Expression, EvaluationErrorsNameTheColumn) {
  EXPECT_EQ(EvalError("1 + 'a'"),
            "column 3: '+' needs two numbers, two strings or two arrays, not number and string");
  EXPECT_EQ(EvalError("1 / 0"), "column 3: division by zero");
  EXPECT_EQ(EvalError("!1"), "column 1: '!' needs a boolean, not number");
  EXPECT_EQ(EvalError("$/input/mw && true"), "column 12: '&&' needs booleans, not number");
  EXPECT_EQ(EvalError("gate_closure($/input/market, '2026-13-01')").rfind("parse: column 30", 0),
            0u);
  const json zone_data = {{"zone", "Mars/Olympus"}};
  EXPECT_EQ(
      EvalError("local_time('2026-11-26', '12:00', $/input/mode)"),
      "column 1: local_time(): unknown time zone 'auto' (use an IANA name such as Europe/Berlin)");
  EXPECT_EQ(EvalError("9223372036854775807 + 1"), "column 21: integer overflow");
}

TEST(Expression, EvaluationIsBounded) {
  EXPECT_EQ(EvalError("range(100000)"), "column 1: range(): evaluation took too many steps");
  EXPECT_EQ(EvalError("len(range(200000))"),
            "column 5: range(): the count must be between 0 and 100000");
  Expression long_one;
  EXPECT_FALSE(Expression::Parse(std::string(Expression::kMaxLength + 1, '1'), &long_one).ok());
}

// Chains as long as the length limit allows build trees that evaluation would recurse over.
TEST(Expression, LongChainsAreRefusedNotRecursedOver) {
  const auto chain = [](const std::string& first, const std::string& link, int n) {
    std::string text = first;
    for (int i = 0; i < n; ++i)
      text += link;
    return text;
  };
  for (const std::string& text :
       {chain("1", "+1", 4000), chain("$/a", "[0]", 2000), chain("$/a", ".b", 4000),
        chain("(", "(", 100) + "1" + std::string(101, ')'), chain("-", "-", 100) + "1",
        chain("!", "!", 100) + "true", chain("len(", "len(", 100) + "1" + std::string(101, ')')}) {
    Expression e;
    const Status s = Expression::Parse(text, &e);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << text.substr(0, 40);
    EXPECT_NE(s.message().find("nested too deeply"), std::string::npos) << s.message();
  }
  Expression fine;
  EXPECT_TRUE(Expression::Parse(chain("1", "+1", 200), &fine).ok());
}

TEST(Template, EvaluatesExpressionLeavesAndEscapes) {
  Template t;
  ASSERT_TRUE(
      Template::Compile(
          json::parse(R"json({"day": "=$/input/delivery_day", "n": "=len($/forecast/forecast_mw)",
      "nested": ["=$/input/mw * 2", "plain"], "literal": "==not an expression"})json"),
          "input", &t)
          .ok());
  EvalContext c;
  c.scope = &kData;
  json out;
  ASSERT_TRUE(t.Evaluate(c, &out).ok());
  EXPECT_EQ(out, json::parse(R"({"day": "2026-11-26", "n": 3, "nested": [25.0, "plain"],
                                 "literal": "=not an expression"})"));

  Template whole;
  ASSERT_TRUE(Template::Compile("=$/forecast", "input", &whole).ok());
  ASSERT_TRUE(whole.Evaluate(c, &out).ok());
  EXPECT_EQ(out["quarter_hours"], 3);

  Template absent;
  ASSERT_TRUE(absent.Evaluate(c, &out).ok());
  EXPECT_EQ(out, kData);
}

// EvaluateText writes what Evaluate gives: the whole scope for an absent template (without the
// frame's locals: as it is; with them: merged over it), the evaluated value for a present one.
TEST(Template, EvaluateTextWritesTheValueEvaluateGives) {
  EvalContext c;
  c.scope = &kData;
  Template absent;
  std::string text;
  ASSERT_TRUE(absent.EvaluateText(c, &text).ok());
  EXPECT_EQ(text, DumpJson(kData));

  const json locals = {{"item", {{"asset", "bess"}}}, {"input", "shadowed"}};
  c.overlay = &locals;
  json merged;
  ASSERT_TRUE(absent.Evaluate(c, &merged).ok());
  ASSERT_TRUE(absent.EvaluateText(c, &text).ok());
  EXPECT_EQ(json::parse(text), merged);
  EXPECT_EQ(json::parse(text)["item"]["asset"], "bess");
  EXPECT_EQ(json::parse(text)["input"], "shadowed");
  EXPECT_EQ(json::parse(text)["forecast"], kData["forecast"]);

  const json empty = json::object();
  c.overlay = &empty;
  ASSERT_TRUE(absent.EvaluateText(c, &text).ok());
  EXPECT_EQ(text, DumpJson(kData));

  Template t;
  ASSERT_TRUE(Template::Compile(json::parse(R"({"asset": "=$/item/asset"})"), "input", &t).ok());
  c.overlay = &locals;
  ASSERT_TRUE(t.EvaluateText(c, &text).ok());
  EXPECT_EQ(text, R"({"asset":"bess"})");
  Template bad;
  ASSERT_TRUE(Template::Compile("=$/nothing/here + 1", "input", &bad).ok());
  EXPECT_FALSE(bad.EvaluateText(c, &text).ok());
}

TEST(Template, ErrorsNameTheLeaf) {
  Template t;
  const Status s = Template::Compile(json::parse(R"({"a": {"b": "=1 +"}})"), "steps[1].input", &t);
  EXPECT_EQ(s.message(), "steps[1].input/a/b: column 4: unexpected end of expression");
}

}  // namespace
}  // namespace gridflow::dsl
