#include "gateway/client/json_writer.h"

#include <gtest/gtest.h>

namespace tchatator::client {
namespace {

TEST(JsonWriterTest, WritesNestedValuesWithCommas) {
  JsonWriter json;
  json.BeginObject().Key("count").Int(2).Key("has_more").Bool(false).Key("messages").BeginArray();
  json.BeginObject().Key("id").Int(1).Key("modified_at").Null().EndObject();
  json.BeginObject().Key("id").Int(2).EndObject();
  json.EndArray().EndObject();
  EXPECT_EQ(std::move(json).Finish(),
            "{\"count\":2,\"has_more\":false,\"messages\":[{\"id\":1,\"modified_at\":null},"
            "{\"id\":2}]}\n");
}

TEST(JsonWriterTest, QuotesStrings) {
  EXPECT_EQ(JsonQuote("a\"b\\c\nd\te\x01"), "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
  EXPECT_EQ(JsonQuote("ça"), "\"ça\"");
  EXPECT_EQ(JsonQuote("\xff"), "\"\xEF\xBF\xBD\"");
  EXPECT_EQ(JsonQuote("\x1b[31m"), "\"\\u001b[31m\"");
}

}  // namespace
}  // namespace tchatator::client
