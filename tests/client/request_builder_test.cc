#include "gateway/client/request_builder.h"

#include <gtest/gtest.h>

namespace tchatator::client {
namespace {

TEST(RequestBuilderTest, CountsContentInCharactersAndEndsWithAnEmptyLine) {
  // The seed's example: 24 characters, 25 bytes.
  EXPECT_EQ(RequestBuilder("SEND_MSG")
                .Param("token", "t")
                .Param("recipient-id", int64_t{7})
                .Content("Bonjour, comment ça va ?")
                .Finish(),
            "SEND_MSG\ntoken:t\nrecipient-id:7\nmessage-length:24\n"
            "content:Bonjour, comment ça va ?\n\n");
}

TEST(RequestBuilderTest, MultiLineContentCountsEachNewlineOnce) {
  EXPECT_EQ(RequestBuilder("UPDT_MSG").Content("a\r\nb\nc\rd").Finish(),
            "UPDT_MSG\nmessage-length:7\ncontent:a\nb\nc\nd\n\n");
}

TEST(RequestBuilderTest, ParameterValuesNeverSpanLines) {
  EXPECT_EQ(RequestBuilder("LOGIN").Param("api-token", "ab\ncd\r").Finish(),
            "LOGIN\napi-token:ab cd \n\n");
  EXPECT_EQ(RequestBuilder("PING").Finish(), "PING\n\n");
}

TEST(RequestBuilderTest, NormalizeNewlines) {
  EXPECT_EQ(NormalizeNewlines("x\r\ny\r"), "x\ny\n");
  EXPECT_EQ(NormalizeNewlines(""), "");
}

}  // namespace
}  // namespace tchatator::client
