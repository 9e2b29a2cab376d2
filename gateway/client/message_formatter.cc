#include "gateway/client/message_formatter.h"

#include <algorithm>

#include "gateway/client/local_time.h"
#include "gateway/client/utf8_text.h"

namespace tchatator::client {
namespace {

// Splits `text` at '\n'.
std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  for (;;) {
    const size_t newline = text.find('\n', start);
    if (newline == std::string_view::npos) {
      lines.push_back(text.substr(start));
      return lines;
    }
    lines.push_back(text.substr(start, newline - start));
    start = newline + 1;
  }
}

std::string PadRight(std::string text, size_t columns) {
  const size_t width = TextColumns(text);
  if (width < columns) text.append(columns - width, ' ');
  return text;
}

}  // namespace

// ------------------------------------------------------------------------ Style

std::string Style::Wrap(std::string_view code, std::string_view text) const {
  if (!enabled_) return std::string(text);
  std::string out = "\x1b[";
  out += code;
  out += 'm';
  out += text;
  out += "\x1b[0m";
  return out;
}

std::string Style::Me(std::string_view text) const { return Wrap("1;32", text); }
std::string Style::Peer(std::string_view text) const { return Wrap("1;36", text); }
std::string Style::Dim(std::string_view text) const { return Wrap("2", text); }
std::string Style::Bold(std::string_view text) const { return Wrap("1", text); }
std::string Style::Notice(std::string_view text) const { return Wrap("33", text); }
std::string Style::Error(std::string_view text) const { return Wrap("31", text); }

// ------------------------------------------------------------------------ text

std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = Utf8SequenceLength(text, pos);
    const char32_t c = Utf8Decode(text, pos);
    const auto byte = static_cast<unsigned char>(text[pos]);
    if (length == 1 && byte >= 0x80) {
      out += "\xEF\xBF\xBD";
    } else if (c == '\n') {
      out.push_back('\n');
    } else if (c == '\t') {
      out += "    ";
    } else if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0)) {
      out.push_back('?');
    } else {
      out.append(text, pos, length);
    }
    pos += length;
  }
  return out;
}

std::string ModifiedNote(const Record& message) {
  const std::string ago = message.Get("modified-ago");
  if (!ago.empty()) return "modifié il y a " + Printable(ago);
  if (message.Has("modified-at")) return "modifié";
  return "";
}

// ------------------------------------------------------------------------ formatter

void MessageFormatter::SetName(int64_t user_id, std::string name) {
  names_[user_id] = std::move(name);
}

std::string MessageFormatter::NameOf(int64_t user_id) const {
  if (user_id == my_id_) return "moi";
  auto it = names_.find(user_id);
  if (it == names_.end() || it->second.empty()) return "#" + std::to_string(user_id);
  return Printable(it->second);
}

std::string MessageFormatter::Describe(int64_t user_id) const {
  auto it = names_.find(user_id);
  if (it == names_.end() || it->second.empty()) return "#" + std::to_string(user_id);
  return Printable(it->second) + " (#" + std::to_string(user_id) + ")";
}

bool MessageFormatter::IsMine(const Record& message) const {
  const std::string direction = message.Get("direction");
  if (!direction.empty()) return direction == "sent";
  return message.GetInt("sender-id") == my_id_;
}

std::string MessageFormatter::Speaker(const Record& message, bool show_recipient,
                                      const Style& style) const {
  const bool mine = IsMine(message);
  const int64_t sender = message.GetInt("sender-id").value_or(0);
  const int64_t recipient = message.GetInt("recipient-id").value_or(0);
  const std::string me = style.Me("moi");
  if (!show_recipient) return mine ? me : style.Peer(NameOf(sender));
  if (mine) return me + " → " + style.Peer(NameOf(recipient));
  return style.Peer(NameOf(sender)) + " → " + me;
}

std::string MessageFormatter::Message(const Record& message, std::time_t now,
                                      bool show_recipient) const {
  const std::string id = "#" + message.Get("message-id");
  const std::string time = ShortTimeOf(message.Get("sent-at"), now);
  const std::string speaker = Speaker(message, show_recipient, style_);
  // The indent of continuation lines: under the text, unless that is too far right.
  const std::string plain_prefix =
      id + "  " + time + "  " + Speaker(message, show_recipient, Style()) + " : ";
  size_t indent = TextColumns(plain_prefix);
  if (indent > 32) indent = 4;

  std::string out = style_.Dim(id + "  " + time) + "  " + speaker + " : ";
  const std::string content = message.Get("content");
  const std::vector<std::string_view> lines = Lines(content);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += "\n" + std::string(indent, ' ');
    out += Printable(lines[i]);
  }
  const std::string note = ModifiedNote(message);
  if (!note.empty()) out += "  " + style_.Dim("(" + note + ")");
  out += '\n';
  return out;
}

std::string MessageFormatter::Conversations(const std::vector<Record>& conversations,
                                            const std::map<int64_t, int64_t>& extra_unread,
                                            std::time_t now) const {
  if (conversations.empty()) {
    return "Aucune conversation pour l'instant. /ecrire ID pour écrire à quelqu'un.\n";
  }
  struct Row {
    std::string id, name, unread, last;
    bool has_unread;
  };
  std::vector<Row> rows;
  size_t id_width = 0, name_width = 0, unread_width = 0;
  for (const Record& c : conversations) {
    const int64_t peer = c.GetInt("peer-id").value_or(0);
    int64_t unread = c.GetInt("unread").value_or(0);
    if (auto it = extra_unread.find(peer); it != extra_unread.end()) unread += it->second;
    Row row;
    row.id = "#" + std::to_string(peer);
    row.name = Printable(c.Get("peer-name"));
    if (row.name.empty()) row.name = NameOf(peer);
    const std::string role = c.Get("peer-role");
    if (!role.empty()) row.name += " (" + Printable(role) + ")";
    row.has_unread = unread > 0;
    row.unread = unread == 0 ? "" : unread == 1 ? "1 non lu" : std::to_string(unread) + " non lus";
    row.last = ShortTimeOf(c.Get("last-at"), now);
    id_width = std::max(id_width, TextColumns(row.id));
    name_width = std::max(name_width, TextColumns(row.name));
    unread_width = std::max(unread_width, TextColumns(row.unread));
    rows.push_back(std::move(row));
  }
  std::string out = "Conversations :\n";
  for (const Row& row : rows) {
    out += "  " + style_.Dim(PadRight(row.id, id_width)) + "  " +
           style_.Peer(PadRight(row.name, name_width)) + "  ";
    if (unread_width > 0) {  // a column only when something is unread
      const std::string unread = PadRight(row.unread, unread_width);
      out += (row.has_unread ? style_.Notice(style_.Bold(unread)) : unread) + "  ";
    }
    out += style_.Dim("dernier message " + row.last) + "\n";
  }
  return out;
}

std::string MessageFormatter::Change(const Record& change, std::time_t now) const {
  const std::string kind = change.Get("change");
  if (kind == "message_deleted") {
    return style_.Dim("message #" + change.Get("message-id") + " supprimé par son auteur") + "\n";
  }
  if (kind == "message_updated") {
    return style_.Dim("message modifié :") + "\n" + Message(change, now, true);
  }
  return Message(change, now, true);
}

void WriteMessageJson(JsonWriter& json, const Record& message) {
  json.BeginObject();
  json.Key("id").Int(message.GetInt("message-id").value_or(0));
  json.Key("sender_id").Int(message.GetInt("sender-id").value_or(0));
  json.Key("recipient_id").Int(message.GetInt("recipient-id").value_or(0));
  json.Key("direction").String(message.Get("direction"));
  json.Key("sent_at").String(message.Get("sent-at"));
  json.Key("modified_at");
  if (message.Has("modified-at")) {
    json.String(message.Get("modified-at"));
  } else {
    json.Null();
  }
  json.Key("modified_ago");
  if (message.Has("modified-ago")) {
    json.String(message.Get("modified-ago"));
  } else {
    json.Null();
  }
  json.Key("read").Bool(message.Get("read") == "yes");
  json.Key("content").String(message.Get("content"));
  json.EndObject();
}

}  // namespace tchatator::client
