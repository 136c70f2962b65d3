#include "engine/dsl/search_attributes.h"

#include <gtest/gtest.h>

#include <limits>

#include "engine/dsl/definition.h"

namespace gridflow::dsl {
namespace {

using nlohmann::json;

json WithAttributes(const json& attributes) {
  return {{"name", "bid"},
          {"version", 1},
          {"search_attributes", attributes},
          {"steps", json::array({{{"name", "s"}, {"kind", "task"}, {"task_type", "t"}}})}};
}

std::string ErrorOf(const json& attributes) {
  Definition def;
  const Status s = Definition::FromJson(WithAttributes(attributes), &def);
  return s.ok() ? "" : s.message();
}

TEST(SearchAttributes, ADefinitionDeclaresTypedAttributesInNameOrder) {
  Definition def;
  ASSERT_TRUE(Definition::FromJson(
                  WithAttributes({{"market", {{"type", "keyword"}, {"value", "=$/input/market"}}},
                                  {"delivery_day", {{"type", "date"}, {"value", "=$/input/day"}}},
                                  {"flag", {{"type", "bool"}, {"value", true}}}}),
                  &def)
                  .ok());
  ASSERT_EQ(def.search_attributes().size(), 3u);
  EXPECT_EQ(def.search_attributes()[0].name, "delivery_day");
  EXPECT_EQ(def.search_attributes()[0].type, AttributeType::kDate);
  EXPECT_EQ(def.search_attributes()[2].name, "market");
  EXPECT_TRUE(def.search_attributes()[1].value.constant());

  Definition none;
  ASSERT_TRUE(Definition::FromJson(WithAttributes(json::object()), &none).ok());
  EXPECT_TRUE(none.search_attributes().empty());
}

TEST(SearchAttributes, BadDeclarationsNameThePath) {
  EXPECT_EQ(ErrorOf(json::array()), "search_attributes: must be an object of name: {type, value}");
  EXPECT_EQ(ErrorOf({{"Market", {{"type", "keyword"}, {"value", 1}}}}),
            "search_attributes.Market: a search attribute's name is a lower-case letter, then "
            "lower-case letters, digits or '_'; at most 64 characters");
  EXPECT_EQ(ErrorOf({{"status", {{"type", "keyword"}, {"value", 1}}}}),
            "search_attributes.status: is a field of every run (status, definition, version, "
            "workflow_id, started_by, created_at, updated_at, closed_at); choose another name");
  EXPECT_EQ(ErrorOf({{"market", {{"type", "text"}, {"value", 1}}}}),
            "search_attributes.market.type: must be one of keyword, number, date, datetime, bool");
  EXPECT_EQ(ErrorOf({{"market", {{"type", "keyword"}}}}),
            "search_attributes.market.value: is required (a template over the run data, e.g. "
            "\"=$/input/market\")");
  EXPECT_EQ(ErrorOf({{"market", {{"type", "keyword"}, {"value", 1}, {"index", true}}}}),
            "search_attributes.market.index: unknown field (allowed here: type, value, "
            "description)");
  EXPECT_EQ(ErrorOf({{"market", {{"type", "keyword"}, {"value", "=$/input/market +"}}}})
                .rfind("search_attributes.market.value", 0),
            0u);
  json many = json::object();
  for (int i = 0; i < 33; ++i)
    many["a" + std::to_string(i)] = {{"type", "number"}, {"value", i}};
  EXPECT_EQ(ErrorOf(many),
            "search_attributes: a definition may declare at most 32 search attributes");
}

TEST(SearchAttributes, ValuesAreKeptOnlyWhenOfTheirType) {
  EXPECT_EQ(AttributeValue(AttributeType::kKeyword, "DE-LU"), json("DE-LU"));
  EXPECT_EQ(AttributeValue(AttributeType::kKeyword, 7), json("7"));
  EXPECT_EQ(AttributeValue(AttributeType::kKeyword, std::string(257, 'x')), std::nullopt);
  EXPECT_EQ(AttributeValue(AttributeType::kKeyword, json::array()), std::nullopt);
  EXPECT_EQ(AttributeValue(AttributeType::kNumber, 12.5), json(12.5));
  EXPECT_EQ(AttributeValue(AttributeType::kNumber, "12.5"), std::nullopt);
  EXPECT_EQ(AttributeValue(AttributeType::kDate, "2026-12-03"), json("2026-12-03"));
  EXPECT_EQ(AttributeValue(AttributeType::kDate, "2026-02-30"), std::nullopt);
  EXPECT_EQ(AttributeValue(AttributeType::kDatetime, "2026-12-03T12:00:00+01:00"),
            json("2026-12-03T11:00:00.000000Z"));
  EXPECT_EQ(AttributeValue(AttributeType::kDatetime, "noon"), std::nullopt);
  EXPECT_EQ(AttributeValue(AttributeType::kBool, true), json(true));
  EXPECT_EQ(AttributeValue(AttributeType::kBool, "true"), std::nullopt);
  EXPECT_EQ(AttributeValue(AttributeType::kNumber, nullptr), std::nullopt);
}

}  // namespace
}  // namespace gridflow::dsl
