// Unit tests of the response writer: the exact bytes of responses and events
// (contract sections 2.2, 2.4 and 2.7).

#include "gateway/response.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace tchatator::gateway {
namespace {

// The source is UTF-8: these literals are the bytes sent on the wire.
static_assert(std::string_view("ç").size() == 2);
static_assert(std::string_view("😀").size() == 4);

constexpr int64_t k20261126T101500Z = 1795688100;  // 2026-11-26T10:15:00Z
constexpr int64_t k20261126T104530Z = 1795689930;  // 2026-11-26T10:45:30Z

google::protobuf::Timestamp At(int64_t seconds, int32_t nanos = 0) {
  google::protobuf::Timestamp time;
  time.set_seconds(seconds);
  time.set_nanos(nanos);
  return time;
}

v1::Message SeedMessage() {
  v1::Message message;
  message.set_message_id(17);
  message.set_sender_id(3);
  message.set_recipient_id(7);
  message.set_direction(v1::DIRECTION_RECEIVED);
  *message.mutable_sent_at() = At(k20261126T101500Z);
  message.set_read(true);
  message.set_content("Bonjour, comment ça va ?");
  return message;
}

v1::Message EditedMessage() {
  v1::Message message;
  message.set_message_id(18);
  message.set_sender_id(7);
  message.set_recipient_id(3);
  message.set_direction(v1::DIRECTION_SENT);
  *message.mutable_sent_at() = At(k20261126T101500Z, 250000000);
  *message.mutable_modified_at() = At(k20261126T104530Z);
  message.set_modified_ago("30 min");
  message.set_read(false);
  message.set_content("Très bien,\nmerci 😀");
  return message;
}

constexpr std::string_view kSeedRecord =
    "message-id:17\n"
    "sender-id:3\n"
    "recipient-id:7\n"
    "direction:received\n"
    "sent-at:2026-11-26T10:15:00Z\n"
    "read:yes\n"
    "message-length:24\n"
    "content:Bonjour, comment ça va ?\n";

constexpr std::string_view kEditedRecord =
    "message-id:18\n"
    "sender-id:7\n"
    "recipient-id:3\n"
    "direction:sent\n"
    "sent-at:2026-11-26T10:15:00Z\n"
    "modified-at:2026-11-26T10:45:30Z\n"
    "modified-ago:30 min\n"
    "read:no\n"
    "message-length:18\n"
    "content:Très bien,\nmerci 😀\n";

// Field() and the others return an lvalue; Finish() takes the writer by rvalue.
std::string Done(ResponseWriter& writer) { return std::move(writer).Finish(); }
std::string Done(ResponseWriter&& writer) { return std::move(writer).Finish(); }

// A response without content must end with its one empty line, and hold no other.
void ExpectOneEmptyLineAtTheEnd(const std::string& response) {
  ASSERT_GE(response.size(), 2u);
  EXPECT_TRUE(response.ends_with("\n\n")) << response;
  EXPECT_FALSE(response.ends_with("\n\n\n")) << response;
  EXPECT_EQ(response.find("\n\n"), response.size() - 2) << response;
}

TEST(ResponseWriterTest, StatusLineAlone) {
  EXPECT_EQ(Done(ResponseWriter(kOk)), "200/OK\n\n");
  EXPECT_EQ(Done(ResponseWriter(kUnavailable)), "503/UNAVAIL\n\n");
}

TEST(ResponseWriterTest, Fields) {
  EXPECT_EQ(Done(ResponseWriter(kOk)
                .Field("token", "abc")
                .Field("user-id", int64_t{42})
                .Field("role", "member")
                .Field("retry-after", int64_t{-1})
                .Field("empty", "")
                .Field("url", "host:4242")
                ),
            "200/OK\n"
            "token:abc\n"
            "user-id:42\n"
            "role:member\n"
            "retry-after:-1\n"
            "empty:\n"
            "url:host:4242\n"
            "\n");
}

TEST(ResponseWriterTest, NewlinesInAFieldValueBecomeSpaces) {
  EXPECT_EQ(Done(ResponseWriter(kMisformatted)
                .Field("error", "bad-value")
                .Field("message", "a\r\nb\nc\rd\n")
                ),
            "416/MISFMT\n"
            "error:bad-value\n"
            "message:a  b c d \n"
            "\n");
}

TEST(ResponseWriterTest, TimeIsRfc3339UtcInWholeSeconds) {
  EXPECT_EQ(Done(ResponseWriter(kOk).Time("sent-at", At(k20261126T101500Z, 999999999))),
            "200/OK\nsent-at:2026-11-26T10:15:00Z\n\n");
  EXPECT_EQ(FormatTime(At(0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatTime(At(k20261126T104530Z)), "2026-11-26T10:45:30Z");
}

TEST(ResponseWriterTest, ContentCountsCodePoints) {
  EXPECT_EQ(Done(ResponseWriter(kOk).Content("Bonjour, comment ça va ?")),
            "200/OK\n"
            "message-length:24\n"
            "content:Bonjour, comment ça va ?\n"
            "\n");
}

TEST(ResponseWriterTest, MultiLineContentIsVerbatim) {
  EXPECT_EQ(Done(ResponseWriter(kOk).Content("ligne 1\nligne 2\n\nfin 😀")),
            "200/OK\n"
            "message-length:22\n"
            "content:ligne 1\nligne 2\n\nfin 😀\n"
            "\n");
}

TEST(ResponseWriterTest, ContentEndingWithANewline) {
  // The newline belongs to the content (message-length counts it); the line of the
  // content and the response then end as usual.
  EXPECT_EQ(Done(ResponseWriter(kOk).Content("a\n")),
            "200/OK\nmessage-length:2\ncontent:a\n\n\n");
}

TEST(ResponseWriterTest, EmptyContent) {
  EXPECT_EQ(Done(ResponseWriter(kOk).Content("")),
            "200/OK\nmessage-length:0\ncontent:\n\n");
}

TEST(ResponseWriterTest, InvalidUtf8ContentFallsBackToBytes) {
  EXPECT_EQ(Done(ResponseWriter(kOk).Content("a\xff" "b")),
            "200/OK\nmessage-length:3\ncontent:a\xff" "b\n\n");
}

TEST(ResponseWriterTest, RecordWithoutModification) {
  EXPECT_EQ(Done(ResponseWriter(kOk).Record(SeedMessage())),
            "200/OK\n" + std::string(kSeedRecord) + "\n");
}

TEST(ResponseWriterTest, RecordOfAnEditedMessage) {
  EXPECT_EQ(Done(ResponseWriter(kOk).Record(EditedMessage())),
            "200/OK\n" + std::string(kEditedRecord) + "\n");
}

TEST(ResponseWriterTest, SeveralRecords) {
  EXPECT_EQ(Done(ResponseWriter(kOk)
                .Field("count", int64_t{2})
                .Field("has-more", "no")
                .Record(SeedMessage())
                .Record(EditedMessage())
                ),
            "200/OK\ncount:2\nhas-more:no\n" + std::string(kSeedRecord) +
                std::string(kEditedRecord) + "\n");
}

TEST(ResponseWriterTest, EventFrame) {
  const std::string event =
      Done(ResponseWriter::Event().Field("change", "new_message").Record(SeedMessage()));
  EXPECT_EQ(event, "EVENT\nchange:new_message\n" + std::string(kSeedRecord) + "\n");
  EXPECT_TRUE(event.starts_with("EVENT\n"));
}

TEST(ResponseWriterTest, EventOfADeletedMessage) {
  EXPECT_EQ(Done(ResponseWriter::Event()
                .Field("change", "message_deleted")
                .Field("message-id", int64_t{17})
                ),
            "EVENT\nchange:message_deleted\nmessage-id:17\n\n");
}

TEST(ErrorResponseTest, StatusErrorAndMessage) {
  EXPECT_EQ(ErrorResponse(kDenied, "not-owner", "only the sender may edit this message"),
            "403/DENIED\n"
            "error:not-owner\n"
            "message:only the sender may edit this message\n"
            "\n");
  EXPECT_EQ(ErrorResponse(kMisformatted, "bad-value", "line 1\r\nline 2"),
            "416/MISFMT\n"
            "error:bad-value\n"
            "message:line 1  line 2\n"
            "\n");
}

TEST(ResponseWriterTest, EveryResponseEndsWithExactlyOneEmptyLine) {
  ExpectOneEmptyLineAtTheEnd(Done(ResponseWriter(kOk)));
  ExpectOneEmptyLineAtTheEnd(Done(ResponseWriter(kOk).Field("a", "b").Field("c", int64_t{1})));
  ExpectOneEmptyLineAtTheEnd(Done(ResponseWriter(kOk).Field("message", "x\n\ny\n")));
  ExpectOneEmptyLineAtTheEnd(Done(ResponseWriter(kOk).Content("one line")));
  ExpectOneEmptyLineAtTheEnd(Done(ResponseWriter(kOk).Record(SeedMessage())));
  ExpectOneEmptyLineAtTheEnd(Done(ResponseWriter::Event().Field("change", "x")));
  ExpectOneEmptyLineAtTheEnd(ErrorResponse(kUnauthenticated, "not-authenticated", "log in\n\n"));
  ExpectOneEmptyLineAtTheEnd(ErrorResponse(kTooManyRequests, "rate-limited", ""));
}

}  // namespace
}  // namespace tchatator::gateway
