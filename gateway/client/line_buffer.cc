#include "gateway/client/line_buffer.h"

#include <vector>

#include "gateway/client/utf8_text.h"

namespace tchatator::client {
namespace {

bool IsWordByte(char c) { return c != ' ' && c != '\t'; }

}  // namespace

size_t LineBuffer::NextBoundary(size_t pos) const {
  if (pos >= text_.size()) return text_.size();
  return pos + Utf8SequenceLength(text_, pos);
}

size_t LineBuffer::PreviousBoundary(size_t pos) const { return Utf8PreviousBoundary(text_, pos); }

void LineBuffer::Set(std::string text) {
  text_ = std::move(text);
  cursor_ = text_.size();
}

void LineBuffer::Insert(std::string_view text) {
  text_.insert(cursor_, text);
  cursor_ += text.size();
}

bool LineBuffer::Backspace() {
  if (cursor_ == 0) return false;
  const size_t start = PreviousBoundary(cursor_);
  text_.erase(start, cursor_ - start);
  cursor_ = start;
  return true;
}

bool LineBuffer::Delete() {
  if (cursor_ >= text_.size()) return false;
  text_.erase(cursor_, NextBoundary(cursor_) - cursor_);
  return true;
}

void LineBuffer::Left() { cursor_ = PreviousBoundary(cursor_); }

void LineBuffer::Right() { cursor_ = NextBoundary(cursor_); }

void LineBuffer::WordLeft() {
  while (cursor_ > 0 && !IsWordByte(text_[cursor_ - 1])) --cursor_;
  while (cursor_ > 0 && IsWordByte(text_[cursor_ - 1])) cursor_ = PreviousBoundary(cursor_);
}

void LineBuffer::WordRight() {
  while (cursor_ < text_.size() && !IsWordByte(text_[cursor_])) ++cursor_;
  while (cursor_ < text_.size() && IsWordByte(text_[cursor_])) cursor_ = NextBoundary(cursor_);
}

void LineBuffer::KillToEnd() { text_.erase(cursor_); }

void LineBuffer::KillToStart() {
  text_.erase(0, cursor_);
  cursor_ = 0;
}

void LineBuffer::KillWordBack() {
  const size_t end = cursor_;
  WordLeft();
  text_.erase(cursor_, end - cursor_);
}

void LineBuffer::Transpose() {
  if (text_.empty() || cursor_ == 0) return;
  if (cursor_ == text_.size()) cursor_ = PreviousBoundary(cursor_);
  const size_t before = PreviousBoundary(cursor_);
  const size_t after = NextBoundary(cursor_);
  const std::string first = text_.substr(before, cursor_ - before);
  const std::string second = text_.substr(cursor_, after - cursor_);
  text_.replace(before, after - before, second + first);
  cursor_ = after;
}

RenderedLine RenderLine(const LineBuffer& buffer, size_t prompt_columns, size_t columns) {
  const std::string& text = buffer.text();
  // Characters as (offset, width).
  struct Char {
    size_t offset;
    size_t width;
  };
  std::vector<Char> chars;
  size_t cursor_index = 0;
  for (size_t pos = 0; pos < text.size(); pos += Utf8SequenceLength(text, pos)) {
    if (pos == buffer.cursor()) cursor_index = chars.size();
    chars.push_back({pos, static_cast<size_t>(CharColumns(Utf8Decode(text, pos)))});
  }
  if (buffer.cursor() >= text.size()) cursor_index = chars.size();

  size_t room = columns > prompt_columns + 1 ? columns - prompt_columns - 1 : 1;
  // First visible character: as far left as possible with the cursor still in view
  // (the cursor needs one column of its own when it is at the end).
  size_t first = 0;
  auto width_between = [&chars](size_t from, size_t to) {
    size_t width = 0;
    for (size_t i = from; i < to; ++i) width += chars[i].width;
    return width;
  };
  const size_t cursor_cell = cursor_index < chars.size() ? chars[cursor_index].width : 1;
  while (first < cursor_index && width_between(first, cursor_index) + cursor_cell > room) ++first;
  size_t last = first;
  size_t width = 0;
  while (last < chars.size() && width + chars[last].width <= room) width += chars[last++].width;

  RenderedLine out;
  const size_t begin = first < chars.size() ? chars[first].offset : text.size();
  const size_t end = last < chars.size() ? chars[last].offset : text.size();
  out.visible = text.substr(begin, end - begin);
  out.cursor_column = prompt_columns + width_between(first, cursor_index);
  return out;
}

}  // namespace tchatator::client
