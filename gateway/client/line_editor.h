#ifndef TCHATATOR_GATEWAY_CLIENT_LINE_EDITOR_H_
#define TCHATATOR_GATEWAY_CLIENT_LINE_EDITOR_H_

// A small line editor (no readline): Emacs-style keys, arrows, Home/End, history with
// Up/Down, UTF-8 aware, horizontal scrolling of long lines. While it waits for keys it
// also watches one more file descriptor (the gateway's socket, for live events) and a
// timer, so that what arrives is printed above the line being typed, which is then
// drawn again. When the input is not a terminal it reads plain lines.

#include <chrono>
#include <deque>
#include <functional>
#include <string>
#include <string_view>

#include "gateway/client/key_decoder.h"
#include "gateway/client/line_buffer.h"
#include "gateway/client/terminal.h"

namespace tchatator::client {

// What the editor watches besides the keyboard while it waits.
struct Background {
  std::function<int()> fd;               // the descriptor to watch now (-1: none)
  std::function<void()> on_readable;     // called when it is readable
  std::function<std::chrono::milliseconds()> period;  // > 0: on_tick() this often
  std::function<void()> on_tick;
};

class LineEditor {
 public:
  explicit LineEditor(Terminal& terminal);

  enum class Result { kLine, kEof, kInterrupted };

  // Shows `prompt` (it may hold colour sequences) and reads one line into `*line`,
  // starting from `initial`. kEof: Ctrl-D on an empty line or the input ended;
  // kInterrupted: Ctrl-C. Once Enter is pressed the line stays on screen, unless
  // `erase_if` says otherwise for it (it is then shown again in another form).
  Result ReadLine(std::string_view prompt, std::string* line, std::string_view initial = "",
                  const std::function<bool(const std::string&)>& erase_if = nullptr);

  // Prints whole lines; while a line is being edited they go above it, and it is drawn
  // again below them.
  void Print(std::string_view text);

  // Remembers `line` for Up/Down (not empty lines, not a repeat of the last one).
  void AddHistory(std::string_view line);

  void SetBackground(Background background) { background_ = std::move(background); }

 private:
  Result ReadTerminalLine(std::string* line,
                          const std::function<bool(const std::string&)>& erase_if);
  Result ReadPlainLine(std::string* line);
  // Waits for input, serving the background meanwhile. Returns the bytes read from
  // the input ("" at end of input); `timeout_ms` >= 0 bounds the wait (then returns
  // with `*timed_out`).
  std::string WaitForInput(int timeout_ms, bool* timed_out, bool* eof);
  // Handles one key; returns true when the line is finished with `*result`.
  bool OnKey(const Key& key, Result* result);
  void Refresh();
  void HistoryMove(int delta);

  Terminal& terminal_;
  bool interactive_;
  KeyDecoder decoder_;
  LineBuffer buffer_;
  std::string prompt_;
  size_t prompt_columns_ = 0;
  bool editing_ = false;
  std::deque<std::string> history_;
  size_t history_index_ = 0;
  std::string history_saved_;  // the line being typed before moving into history
  std::string plain_pending_;  // bytes of plain input after the last line
  bool plain_eof_ = false;
  Background background_;
  std::chrono::steady_clock::time_point next_tick_;
};

}  // namespace tchatator::client

#endif  // TCHATATOR_GATEWAY_CLIENT_LINE_EDITOR_H_
