#include "gateway/client/message_formatter.h"

#include <cstdlib>

#include <gtest/gtest.h>

#include "gateway/client/local_time.h"
#include "gateway/client/utf8_text.h"

namespace tchatator::client {
namespace {

class MessageFormatterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC0", 1);
    tzset();
    formatter_.SetName(7, "Bob's Bakery");
  }
  void TearDown() override {
    unsetenv("TZ");
    tzset();
  }

  static Record MessageRecord(int64_t id, int64_t sender, int64_t recipient,
                              std::string direction, std::string content) {
    Record r;
    r.Add("message-id", std::to_string(id));
    r.Add("sender-id", std::to_string(sender));
    r.Add("recipient-id", std::to_string(recipient));
    r.Add("direction", std::move(direction));
    r.Add("sent-at", "2026-11-26T10:15:00Z");
    r.Add("read", "yes");
    r.Add("content", std::move(content));
    return r;
  }

  const std::time_t now_ = *ParseRfc3339("2026-11-26T12:00:00Z");
  MessageFormatter formatter_{3, Style(false)};
};

TEST_F(MessageFormatterTest, TellsMyMessagesFromThePeers) {
  EXPECT_EQ(formatter_.Message(MessageRecord(12, 3, 7, "sent", "Bonjour"), now_),
            "#12  10:15  moi : Bonjour\n");
  EXPECT_EQ(formatter_.Message(MessageRecord(13, 7, 3, "received", "Salut"), now_),
            "#13  10:15  Bob's Bakery : Salut\n");
  EXPECT_EQ(formatter_.Message(MessageRecord(14, 9, 3, "received", "?"), now_),
            "#14  10:15  #9 : ?\n");
}

TEST_F(MessageFormatterTest, ShowsRecipientsWhenConversationsAreMixed) {
  EXPECT_EQ(formatter_.Message(MessageRecord(12, 3, 7, "sent", "x"), now_, true),
            "#12  10:15  moi → Bob's Bakery : x\n");
  EXPECT_EQ(formatter_.Message(MessageRecord(13, 7, 3, "received", "y"), now_, true),
            "#13  10:15  Bob's Bakery → moi : y\n");
}

TEST_F(MessageFormatterTest, IndentsContinuationLinesAndNotesEdits) {
  Record r = MessageRecord(12, 3, 7, "sent", "un\ndeux");
  r.Add("modified-at", "2026-11-26T11:45:00Z");
  r.Add("modified-ago", "15 min");
  EXPECT_EQ(formatter_.Message(r, now_),
            "#12  10:15  moi : un\n"
            "                  deux  (modifié il y a 15 min)\n");
  EXPECT_EQ(ModifiedNote(MessageRecord(1, 3, 7, "sent", "")), "");
}

TEST_F(MessageFormatterTest, NeverPassesControlSequencesToTheTerminal) {
  const std::string shown =
      formatter_.Message(MessageRecord(13, 7, 3, "received", "\x1b[2Jboom\x07\tok"), now_);
  EXPECT_EQ(shown.find('\x1b'), std::string::npos);
  EXPECT_EQ(shown.find('\x07'), std::string::npos);
  EXPECT_NE(shown.find("?[2Jboom?    ok"), std::string::npos);
  EXPECT_EQ(Printable("a\xc2\x9b" "b\xff"), "a?b\xEF\xBF\xBD");
}

TEST_F(MessageFormatterTest, ColoursOnlyWhenEnabled) {
  MessageFormatter coloured(3, Style(true));
  const std::string shown = coloured.Message(MessageRecord(12, 3, 7, "sent", "x"), now_);
  EXPECT_NE(shown.find("\x1b[1;32mmoi\x1b[0m"), std::string::npos);
  EXPECT_EQ(StripAnsi(shown), "#12  10:15  moi : x\n");
}

TEST_F(MessageFormatterTest, ListsConversationsWithUnreadCounts) {
  Record bob;
  bob.Add("peer-id", "7");
  bob.Add("peer-name", "Bob's Bakery");
  bob.Add("peer-role", "pro");
  bob.Add("last-message-id", "13");
  bob.Add("last-at", "2026-11-26T10:15:00Z");
  bob.Add("unread", "2");
  Record carol;
  carol.Add("peer-id", "12");
  carol.Add("peer-name", "Carol");
  carol.Add("peer-role", "pro");
  carol.Add("last-at", "2026-11-25T09:00:00Z");
  carol.Add("unread", "0");
  EXPECT_EQ(formatter_.Conversations({bob, carol}, {{12, 1}}, now_),
            "Conversations :\n"
            "  #7   Bob's Bakery (pro)  2 non lus  dernier message 10:15\n"
            "  #12  Carol (pro)         1 non lu   dernier message hier 09:00\n");
  EXPECT_NE(formatter_.Conversations({}, {}, now_).find("Aucune conversation"),
            std::string::npos);
  // Nothing unread: no empty column.
  EXPECT_EQ(formatter_.Conversations({carol}, {}, now_),
            "Conversations :\n"
            "  #12  Carol (pro)  dernier message hier 09:00\n");
}

TEST_F(MessageFormatterTest, DescribesChanges) {
  Record deleted;
  deleted.Add("change", "message_deleted");
  deleted.Add("message-id", "5");
  EXPECT_EQ(formatter_.Change(deleted, now_), "message #5 supprimé par son auteur\n");
  Record added = MessageRecord(6, 7, 3, "received", "coucou");
  EXPECT_EQ(formatter_.Change(added, now_), "#6  10:15  Bob's Bakery → moi : coucou\n");
}

TEST_F(MessageFormatterTest, WritesMessagesAsJson) {
  JsonWriter json;
  WriteMessageJson(json, MessageRecord(12, 3, 7, "sent", "a\"b\nc"));
  EXPECT_EQ(std::move(json).Finish(),
            "{\"id\":12,\"sender_id\":3,\"recipient_id\":7,\"direction\":\"sent\","
            "\"sent_at\":\"2026-11-26T10:15:00Z\",\"modified_at\":null,\"modified_ago\":null,"
            "\"read\":true,\"content\":\"a\\\"b\\nc\"}\n");
}

}  // namespace
}  // namespace tchatator::client
