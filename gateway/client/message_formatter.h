#ifndef TCHATATOR_GATEWAY_CLIENT_MESSAGE_FORMATTER_H_
#define TCHATATOR_GATEWAY_CLIENT_MESSAGE_FORMATTER_H_

// How messages, conversations and changes look on screen. Pure: records and names in,
// text out; the clock and the colours are given.

#include <cstdint>
#include <ctime>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/client/frame_reader.h"
#include "gateway/client/json_writer.h"

namespace tchatator::client {

// ANSI colours, or plain text when disabled (not a terminal, NO_COLOR, --no-color).
class Style {
 public:
  explicit Style(bool enabled = false) : enabled_(enabled) {}
  bool enabled() const { return enabled_; }

  std::string Me(std::string_view text) const;      // bold green
  std::string Peer(std::string_view text) const;    // bold cyan
  std::string Dim(std::string_view text) const;     // grey
  std::string Bold(std::string_view text) const;
  std::string Notice(std::string_view text) const;  // yellow
  std::string Error(std::string_view text) const;   // red

 private:
  std::string Wrap(std::string_view code, std::string_view text) const;
  bool enabled_;
};

class MessageFormatter {
 public:
  MessageFormatter(int64_t my_id, Style style) : my_id_(my_id), style_(style) {}

  void SetMyId(int64_t id) { my_id_ = id; }
  int64_t my_id() const { return my_id_; }
  const Style& style() const { return style_; }

  // Remembers the display name of a user.
  void SetName(int64_t user_id, std::string name);
  bool KnowsName(int64_t user_id) const { return names_.contains(user_id); }
  // "moi" for the caller, the name when known, else "#ID".
  std::string NameOf(int64_t user_id) const;
  // "Bob's Bakery (#7)" or "#7".
  std::string Describe(int64_t user_id) const;

  // True when `message` was sent by the caller.
  bool IsMine(const Record& message) const;

  // One message record as a block of lines ending with '\n':
  //   #12  10:15  moi : Bonjour, comment ça va ?
  //   #13  hier 18:02  Bob : première ligne
  //                          deuxième ligne  (modifié il y a 15 min)
  // With `show_recipient`, the speaker reads "moi → Bob" / "Bob → moi" (a view that
  // mixes conversations).
  std::string Message(const Record& message, std::time_t now, bool show_recipient = false) const;

  // The list of conversations (GET_CONVERSATIONS records), with `extra_unread` added to
  // the server's unread counts (messages this client fetched but has not shown yet).
  std::string Conversations(const std::vector<Record>& conversations,
                            const std::map<int64_t, int64_t>& extra_unread,
                            std::time_t now) const;

  // One change record (event or NEW_CHG_AVAILABLE), as a block of lines.
  std::string Change(const Record& change, std::time_t now) const;

 private:
  std::string Speaker(const Record& message, bool show_recipient, const Style& style) const;

  int64_t my_id_;
  Style style_;
  std::map<int64_t, std::string> names_;
};

// `text` made safe to print on a terminal: control characters (ESC and the rest of C0
// and C1, but not newlines) shown as '?', tabs as spaces, bytes that are not UTF-8 as
// U+FFFD. Text from other people never drives the terminal.
std::string Printable(std::string_view text);

// "modifié il y a 15 min" from a record's modified-ago; "modifié" when only modified-at
// is there; "" when the message was never edited.
std::string ModifiedNote(const Record& message);

// Writes a message record as a JSON object: id, sender_id, recipient_id, direction,
// sent_at, modified_at and modified_ago (null when never edited), read, content.
void WriteMessageJson(JsonWriter& json, const Record& message);

}  // namespace tchatator::client

#endif  // TCHATATOR_GATEWAY_CLIENT_MESSAGE_FORMATTER_H_
