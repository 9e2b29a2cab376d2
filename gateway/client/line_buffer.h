#ifndef TCHATATOR_GATEWAY_CLIENT_LINE_BUFFER_H_
#define TCHATATOR_GATEWAY_CLIENT_LINE_BUFFER_H_

// The line being edited: UTF-8 text and a cursor that always sits between characters,
// with the usual Emacs-style moves; and how to show it in a terminal row (scrolling
// sideways when it is wider than the row). Pure.

#include <cstddef>
#include <string>
#include <string_view>

namespace tchatator::client {

class LineBuffer {
 public:
  const std::string& text() const { return text_; }
  size_t cursor() const { return cursor_; }  // a byte offset
  bool empty() const { return text_.empty(); }

  // Replaces the text; the cursor goes to its end.
  void Set(std::string text);
  void Insert(std::string_view text);
  bool Backspace();  // false when nothing was deleted
  bool Delete();
  void Left();
  void Right();
  void Home() { cursor_ = 0; }
  void End() { cursor_ = text_.size(); }
  void WordLeft();
  void WordRight();
  void KillToEnd();
  void KillToStart();
  void KillWordBack();
  // Swaps the characters around the cursor (Ctrl-T).
  void Transpose();

 private:
  size_t NextBoundary(size_t pos) const;
  size_t PreviousBoundary(size_t pos) const;

  std::string text_;
  size_t cursor_ = 0;
};

// What to draw after the prompt: the part of the line that fits and the cursor's
// column counted from the row's start.
struct RenderedLine {
  std::string visible;
  size_t cursor_column = 0;
};

// Fits `buffer` into a row of `columns` columns after a prompt of `prompt_columns`
// columns, keeping the cursor in view. The last column stays free (no auto-wrap).
RenderedLine RenderLine(const LineBuffer& buffer, size_t prompt_columns, size_t columns);

}  // namespace tchatator::client

#endif  // TCHATATOR_GATEWAY_CLIENT_LINE_BUFFER_H_
