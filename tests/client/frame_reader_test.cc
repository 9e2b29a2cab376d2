#include "gateway/client/frame_reader.h"

#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

namespace tchatator::client {
namespace {

// Feeds `bytes` in pieces of `step` bytes and collects every frame.
std::vector<Frame> ReadAll(std::string_view bytes, size_t step, std::string* error = nullptr) {
  FrameReader reader;
  std::vector<Frame> frames;
  for (size_t pos = 0; pos < bytes.size(); pos += step) {
    reader.Feed(bytes.substr(pos, step));
    for (;;) {
      FrameOutcome outcome = reader.Next();
      if (std::holds_alternative<NeedMoreBytes>(outcome)) break;
      if (auto* failure = std::get_if<FrameError>(&outcome)) {
        if (error != nullptr) *error = failure->message;
        return frames;
      }
      frames.push_back(std::get<Frame>(std::move(outcome)));
    }
  }
  return frames;
}

TEST(FrameReaderTest, ReadsASimpleResponse) {
  const std::vector<Frame> frames = ReadAll("200/OK\ntoken:abc\nuser-id:7\nrole:pro\n\n", 1000);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_TRUE(frames[0].ok());
  EXPECT_FALSE(frames[0].is_event);
  EXPECT_EQ(frames[0].status_line, "200/OK");
  EXPECT_EQ(frames[0].Get("token"), "abc");
  EXPECT_EQ(frames[0].GetInt("user-id"), 7);
  EXPECT_EQ(frames[0].Get("missing"), "");
  EXPECT_TRUE(frames[0].records.empty());
}

TEST(FrameReaderTest, ReadsAnErrorWithRetryAfterAndValuesWithColons) {
  const std::vector<Frame> frames = ReadAll(
      "426/TOOMRQ\nerror:rate-limited\nmessage:slow: down\nretry-after:42\n\n", 3);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].code, 426);
  EXPECT_EQ(frames[0].Get("message"), "slow: down");
  EXPECT_EQ(frames[0].GetInt("retry-after"), 42);
}

const char kHistory[] =
    "200/OK\r\n"
    "count:2\r\n"
    "has-more:no\r\n"
    "message-id:17\r\n"
    "sender-id:3\r\n"
    "recipient-id:7\r\n"
    "direction:received\r\n"
    "sent-at:2026-11-26T10:15:00Z\r\n"
    "read:yes\r\n"
    "message-length:24\r\n"
    "content:Bonjour, comment ça va ?\r\n"
    "message-id:18\r\n"
    "sender-id:7\r\n"
    "recipient-id:3\r\n"
    "direction:sent\r\n"
    "sent-at:2026-11-26T10:16:00Z\r\n"
    "modified-at:2026-11-26T10:17:00Z\r\n"
    "modified-ago:quelques minutes\r\n"
    "read:no\r\n"
    "message-length:21\r\n"
    "content:ligne 1\r\nmessage-id:99\r\n"
    "\r\n";

TEST(FrameReaderTest, SplitsRecordsAndCountsContentInCharactersAtEverySplit) {
  for (size_t step = 1; step <= sizeof kHistory; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const std::vector<Frame> frames = ReadAll(kHistory, step);
    ASSERT_EQ(frames.size(), 1u);
    const Frame& f = frames[0];
    EXPECT_EQ(f.GetInt("count"), 2);
    EXPECT_EQ(f.Get("has-more"), "no");
    ASSERT_EQ(f.records.size(), 2u);
    EXPECT_EQ(f.records[0].Get("content"), "Bonjour, comment ça va ?");
    EXPECT_EQ(f.records[0].GetInt("sender-id"), 3);
    // A multi-line content that looks like a record start stays content.
    EXPECT_EQ(f.records[1].Get("content"), "ligne 1\nmessage-id:99");
    EXPECT_EQ(f.records[1].Get("modified-ago"), "quelques minutes");
  }
}

TEST(FrameReaderTest, ReadsEventsBetweenResponses) {
  const std::string bytes =
      "EVENT\nchange:new_message\nmessage-id:5\nsender-id:2\nrecipient-id:1\n"
      "direction:received\nsent-at:2026-11-26T10:15:00Z\nread:yes\nmessage-length:2\n"
      "content:é\n\n\n"
      "200/OK\n\n"
      "EVENT\nchange:message_deleted\nmessage-id:5\n\n";
  for (size_t step : {1u, 7u, 1000u}) {
    const std::vector<Frame> frames = ReadAll(bytes, step);
    ASSERT_EQ(frames.size(), 3u);
    EXPECT_TRUE(frames[0].is_event);
    ASSERT_EQ(frames[0].records.size(), 1u);
    EXPECT_EQ(frames[0].records[0].Get("change"), "new_message");
    EXPECT_EQ(frames[0].records[0].GetInt("message-id"), 5);
    EXPECT_EQ(frames[0].records[0].Get("content"), "é\n");
    EXPECT_TRUE(frames[1].ok());
    EXPECT_TRUE(frames[2].is_event);
    ASSERT_EQ(frames[2].records.size(), 1u);
    EXPECT_EQ(frames[2].records[0].Get("change"), "message_deleted");
  }
}

TEST(FrameReaderTest, ChangeListsHoldOneRecordPerChange) {
  const std::vector<Frame> frames = ReadAll(
      "200/OK\ncount:2\nchange:message_deleted\nmessage-id:4\nchange:message_updated\n"
      "message-id:6\nsender-id:2\nmessage-length:1\ncontent:x\n\n",
      5);
  ASSERT_EQ(frames.size(), 1u);
  ASSERT_EQ(frames[0].records.size(), 2u);
  EXPECT_EQ(frames[0].records[0].GetInt("message-id"), 4);
  EXPECT_EQ(frames[0].records[1].Get("content"), "x");
}

TEST(FrameReaderTest, ConversationsAreRecordsAndTopLevelMessageIdIsNot) {
  std::vector<Frame> frames = ReadAll(
      "200/OK\ncount:2\npeer-id:7\npeer-name:Bob\nunread:2\nlast-message-id:9\n"
      "peer-id:8\npeer-name:Carol\nunread:0\n\n"
      "200/OK\nmessage-id:12\nsent-at:2026-11-26T10:15:00Z\n\n",
      2);
  ASSERT_EQ(frames.size(), 2u);
  ASSERT_EQ(frames[0].records.size(), 2u);
  EXPECT_EQ(frames[0].records[0].GetInt("last-message-id"), 9);
  EXPECT_EQ(frames[0].records[1].Get("peer-name"), "Carol");
  EXPECT_TRUE(frames[1].records.empty());
  EXPECT_EQ(frames[1].GetInt("message-id"), 12);
}

TEST(FrameReaderTest, ToleratesAContentLongerThanItsLength) {
  const std::vector<Frame> frames =
      ReadAll("200/OK\ncount:1\nmessage-id:1\nmessage-length:3\ncontent:abcdef\n\n", 1);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].records[0].Get("content"), "abcdef");
}

TEST(FrameReaderTest, InvalidBytesInContentCountAsOneCharacterEach) {
  const std::vector<Frame> frames =
      ReadAll("200/OK\ncount:1\nmessage-id:1\nmessage-length:3\ncontent:\xff\xfe!\n\n", 1);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].records[0].Get("content"), "\xff\xfe!");
}

TEST(FrameReaderTest, GarbageIsAnErrorAndStaysOne) {
  FrameReader reader;
  reader.Feed("hello world\n");
  EXPECT_TRUE(std::holds_alternative<FrameError>(reader.Next()));
  reader.Feed("200/OK\n\n");
  EXPECT_TRUE(std::holds_alternative<FrameError>(reader.Next()));

  std::string error;
  ReadAll("200/OK\nno colon here\n\n", 100, &error);
  EXPECT_FALSE(error.empty());
}

TEST(FrameReaderTest, InFrameTellsAPartialFrame) {
  FrameReader reader;
  EXPECT_FALSE(reader.InFrame());
  reader.Feed("\n");
  EXPECT_TRUE(std::holds_alternative<NeedMoreBytes>(reader.Next()));
  EXPECT_FALSE(reader.InFrame());
  reader.Feed("200/OK\nkey:va");
  EXPECT_TRUE(std::holds_alternative<NeedMoreBytes>(reader.Next()));
  EXPECT_TRUE(reader.InFrame());
  reader.Feed("lue\n\n");
  FrameOutcome outcome = reader.Next();
  ASSERT_TRUE(std::holds_alternative<Frame>(outcome));
  EXPECT_EQ(std::get<Frame>(outcome).Get("key"), "value");
  EXPECT_FALSE(reader.InFrame());
}

TEST(FrameReaderTest, ALargeAnswerIsReadInOnePass) {
  std::string bytes = "200/OK\ncount:5000\n";
  for (int i = 1; i <= 5000; ++i) {
    bytes += "message-id:" + std::to_string(i) + "\nmessage-length:5\ncontent:a\nb\nc\n";
  }
  bytes += "\n";
  const std::vector<Frame> frames = ReadAll(bytes, 4096);
  ASSERT_EQ(frames.size(), 1u);
  ASSERT_EQ(frames[0].records.size(), 5000u);
  EXPECT_EQ(frames[0].records[4999].Get("content"), "a\nb\nc");
}

}  // namespace
}  // namespace tchatator::client
