#include "gateway/client/key_decoder.h"

#include "gateway/client/utf8_text.h"

namespace tchatator::client {
namespace {

size_t AnnouncedLength(unsigned char lead) {
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;
}

Key Code(KeyCode code) { return Key{code, ""}; }

// The key of a complete CSI sequence ESC [ params final.
Key CsiKey(std::string_view params, char final_byte) {
  const bool ctrl = params.ends_with(";5") || params.ends_with(";3");  // Ctrl or Alt
  switch (final_byte) {
    case 'A':
      return Code(KeyCode::kUp);
    case 'B':
      return Code(KeyCode::kDown);
    case 'C':
      return Code(ctrl ? KeyCode::kWordRight : KeyCode::kRight);
    case 'D':
      return Code(ctrl ? KeyCode::kWordLeft : KeyCode::kLeft);
    case 'H':
      return Code(KeyCode::kHome);
    case 'F':
      return Code(KeyCode::kEnd);
    case '~':
      if (params == "1" || params == "7") return Code(KeyCode::kHome);
      if (params == "4" || params == "8") return Code(KeyCode::kEnd);
      if (params == "3") return Code(KeyCode::kDelete);
      return Code(KeyCode::kIgnored);
    default:
      return Code(KeyCode::kIgnored);
  }
}

}  // namespace

void KeyDecoder::Feed(std::string_view bytes) { pending_.append(bytes); }

std::optional<Key> KeyDecoder::Next() {
  if (pending_.empty()) return std::nullopt;
  const auto lead = static_cast<unsigned char>(pending_[0]);
  size_t used = 1;
  Key key;
  const bool was_after_cr = after_cr_;
  after_cr_ = false;
  if (lead == 0x1B) {
    if (pending_.size() < 2) return std::nullopt;
    const char second = pending_[1];
    if (second == '[') {
      // CSI: parameter bytes 0x30-0x3F, intermediates 0x20-0x2F, a final 0x40-0x7E.
      size_t i = 2;
      while (i < pending_.size() && pending_[i] >= 0x20 && pending_[i] <= 0x3F) ++i;
      if (i >= pending_.size()) return std::nullopt;
      key = CsiKey(std::string_view(pending_).substr(2, i - 2), pending_[i]);
      used = i + 1;
    } else if (second == 'O') {
      if (pending_.size() < 3) return std::nullopt;
      key = CsiKey("", pending_[2]);
      used = 3;
    } else if (second == 'b' || second == 'B') {
      key = Code(KeyCode::kWordLeft);
      used = 2;
    } else if (second == 'f' || second == 'F') {
      key = Code(KeyCode::kWordRight);
      used = 2;
    } else if (second == 0x7F || second == 0x08) {
      key = Code(KeyCode::kKillWordBack);
      used = 2;
    } else {
      key = Code(KeyCode::kIgnored);  // Alt+key: unused; a lone ESC goes with it
      used = 2;
    }
  } else if (lead >= 0x80) {
    const size_t length = AnnouncedLength(lead);
    if (pending_.size() < length) return std::nullopt;
    const size_t real = Utf8SequenceLength(pending_, 0);
    if (real == 1) {
      key = Code(KeyCode::kIgnored);  // not UTF-8: dropped
    } else {
      key = Key{KeyCode::kText, pending_.substr(0, real)};
    }
    used = real;
  } else {
    switch (lead) {
      case '\r':
        key = Code(KeyCode::kEnter);
        after_cr_ = true;
        break;
      case '\n':
        if (was_after_cr) {  // the LF of a CR LF: the Enter was already given
          pending_.erase(0, 1);
          return Next();
        }
        key = Code(KeyCode::kEnter);
        break;
      case 0x01:
        key = Code(KeyCode::kHome);
        break;
      case 0x02:
        key = Code(KeyCode::kLeft);
        break;
      case 0x03:
        key = Code(KeyCode::kInterrupt);
        break;
      case 0x04:
        key = Code(KeyCode::kCtrlD);
        break;
      case 0x05:
        key = Code(KeyCode::kEnd);
        break;
      case 0x06:
        key = Code(KeyCode::kRight);
        break;
      case 0x08:
      case 0x7F:
        key = Code(KeyCode::kBackspace);
        break;
      case '\t':
        key = Code(KeyCode::kTab);
        break;
      case 0x0B:
        key = Code(KeyCode::kKillToEnd);
        break;
      case 0x0C:
        key = Code(KeyCode::kClearScreen);
        break;
      case 0x0E:
        key = Code(KeyCode::kDown);
        break;
      case 0x10:
        key = Code(KeyCode::kUp);
        break;
      case 0x14:
        key = Code(KeyCode::kTranspose);
        break;
      case 0x15:
        key = Code(KeyCode::kKillToStart);
        break;
      case 0x17:
        key = Code(KeyCode::kKillWordBack);
        break;
      default:
        key = lead < 0x20 ? Code(KeyCode::kIgnored)
                          : Key{KeyCode::kText, std::string(1, static_cast<char>(lead))};
    }
  }
  pending_.erase(0, used);
  return key;
}

}  // namespace tchatator::client
