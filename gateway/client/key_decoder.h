#ifndef TCHATATOR_GATEWAY_CLIENT_KEY_DECODER_H_
#define TCHATATOR_GATEWAY_CLIENT_KEY_DECODER_H_

// Turns the bytes a terminal in raw mode sends into keys: UTF-8 characters, control
// keys (Ctrl-A, Ctrl-W...) and escape sequences (arrows, Home, End, Delete, Alt-b...).
// Pure.

#include <optional>
#include <string>
#include <string_view>

namespace tchatator::client {

enum class KeyCode {
  kText,          // `text` holds one UTF-8 character
  kEnter,
  kBackspace,
  kDelete,
  kCtrlD,         // end of input on an empty line, else Delete
  kInterrupt,     // Ctrl-C
  kLeft,
  kRight,
  kUp,
  kDown,
  kHome,
  kEnd,
  kWordLeft,      // Alt-b, Ctrl-Left
  kWordRight,     // Alt-f, Ctrl-Right
  kKillToEnd,     // Ctrl-K
  kKillToStart,   // Ctrl-U
  kKillWordBack,  // Ctrl-W, Alt-Backspace
  kTranspose,     // Ctrl-T
  kClearScreen,   // Ctrl-L
  kTab,
  kIgnored,       // a key or sequence the editor does not use
};

struct Key {
  KeyCode code = KeyCode::kIgnored;
  std::string text;
};

class KeyDecoder {
 public:
  void Feed(std::string_view bytes);
  // The next complete key, or nullopt when the bytes so far end inside a sequence.
  std::optional<Key> Next();
  // True when bytes are waiting (a sequence begun, e.g. a lone ESC).
  bool HasPending() const { return !pending_.empty(); }
  // Gives up on a sequence that did not complete (a lone ESC key): drops it.
  void DropPending() { pending_.clear(); }

 private:
  std::string pending_;
  bool after_cr_ = false;  // the last key was a CR: a LF right after it is the same Enter
};

}  // namespace tchatator::client

#endif  // TCHATATOR_GATEWAY_CLIENT_KEY_DECODER_H_
