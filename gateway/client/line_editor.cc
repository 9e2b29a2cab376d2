#include "gateway/client/line_editor.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "gateway/client/utf8_text.h"

namespace tchatator::client {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kHistoryLimit = 500;
// How long a lone ESC may wait for the rest of its sequence.
constexpr int kEscapeWaitMs = 50;

}  // namespace

LineEditor::LineEditor(Terminal& terminal)
    : terminal_(terminal), interactive_(terminal.interactive()) {}

void LineEditor::AddHistory(std::string_view line) {
  if (line.empty() || (!history_.empty() && history_.back() == line)) return;
  history_.emplace_back(line);
  if (history_.size() > kHistoryLimit) history_.pop_front();
}

void LineEditor::Print(std::string_view text) {
  if (!editing_ || !interactive_) {
    terminal_.Write(text);
    return;
  }
  terminal_.Write("\r\x1b[K");
  terminal_.Write(text);
  if (!text.empty() && text.back() != '\n') terminal_.Write("\n");
  Refresh();
}

void LineEditor::Refresh() {
  const RenderedLine rendered = RenderLine(buffer_, prompt_columns_, terminal_.Columns());
  std::string out = "\r" + prompt_ + rendered.visible + "\x1b[K\r";
  if (rendered.cursor_column > 0) out += "\x1b[" + std::to_string(rendered.cursor_column) + "C";
  terminal_.Write(out);
}

std::string LineEditor::WaitForInput(int timeout_ms, bool* timed_out, bool* eof) {
  *timed_out = false;
  *eof = false;
  const Clock::time_point wait_deadline =
      timeout_ms >= 0 ? Clock::now() + std::chrono::milliseconds(timeout_ms)
                      : Clock::time_point::max();
  for (;;) {
    const std::chrono::milliseconds period =
        background_.period ? background_.period() : std::chrono::milliseconds(0);
    const bool ticking = period.count() > 0 && background_.on_tick;
    Clock::time_point deadline = wait_deadline;
    if (ticking) {
      if (next_tick_ == Clock::time_point()) next_tick_ = Clock::now() + period;
      next_tick_ = std::min(next_tick_, Clock::now() + period);  // the period may shrink
      deadline = std::min(deadline, next_tick_);
    }
    int wait_ms = -1;
    if (deadline != Clock::time_point::max()) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      wait_ms = left < 0 ? 0 : static_cast<int>(left);
    }
    const int extra_fd = background_.fd ? background_.fd() : -1;
    pollfd fds[2] = {{terminal_.in_fd(), POLLIN, 0}, {extra_fd, POLLIN, 0}};
    const int ready = poll(fds, extra_fd >= 0 ? 2 : 1, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      *eof = true;
      return "";
    }
    if (extra_fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0 &&
        background_.on_readable) {
      background_.on_readable();
    }
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      char chunk[4096];
      const ssize_t n = read(terminal_.in_fd(), chunk, sizeof chunk);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        *eof = true;
        return "";
      }
      return std::string(chunk, static_cast<size_t>(n));
    }
    const Clock::time_point now = Clock::now();
    if (ticking && now >= next_tick_) {
      next_tick_ = now + period;
      background_.on_tick();
    }
    if (now >= wait_deadline) {
      *timed_out = true;
      return "";
    }
  }
}

void LineEditor::HistoryMove(int delta) {
  if (delta < 0) {
    if (history_index_ == 0) return;
    if (history_index_ == history_.size()) history_saved_ = buffer_.text();
    --history_index_;
    buffer_.Set(history_[history_index_]);
  } else {
    if (history_index_ >= history_.size()) return;
    ++history_index_;
    buffer_.Set(history_index_ == history_.size() ? history_saved_ : history_[history_index_]);
  }
}

bool LineEditor::OnKey(const Key& key, Result* result) {
  switch (key.code) {
    case KeyCode::kText:
      buffer_.Insert(key.text);
      break;
    case KeyCode::kEnter:
      *result = Result::kLine;
      return true;
    case KeyCode::kCtrlD:
      if (buffer_.empty()) {
        *result = Result::kEof;
        return true;
      }
      buffer_.Delete();
      break;
    case KeyCode::kInterrupt:
      *result = Result::kInterrupted;
      return true;
    case KeyCode::kBackspace:
      buffer_.Backspace();
      break;
    case KeyCode::kDelete:
      buffer_.Delete();
      break;
    case KeyCode::kLeft:
      buffer_.Left();
      break;
    case KeyCode::kRight:
      buffer_.Right();
      break;
    case KeyCode::kUp:
      HistoryMove(-1);
      break;
    case KeyCode::kDown:
      HistoryMove(+1);
      break;
    case KeyCode::kHome:
      buffer_.Home();
      break;
    case KeyCode::kEnd:
      buffer_.End();
      break;
    case KeyCode::kWordLeft:
      buffer_.WordLeft();
      break;
    case KeyCode::kWordRight:
      buffer_.WordRight();
      break;
    case KeyCode::kKillToEnd:
      buffer_.KillToEnd();
      break;
    case KeyCode::kKillToStart:
      buffer_.KillToStart();
      break;
    case KeyCode::kKillWordBack:
      buffer_.KillWordBack();
      break;
    case KeyCode::kTranspose:
      buffer_.Transpose();
      break;
    case KeyCode::kClearScreen:
      terminal_.Write("\x1b[H\x1b[2J");
      break;
    case KeyCode::kTab:
    case KeyCode::kIgnored:
      return false;
  }
  Refresh();
  return false;
}

LineEditor::Result LineEditor::ReadTerminalLine(
    std::string* line, const std::function<bool(const std::string&)>& erase_if) {
  terminal_.EnterRaw();
  editing_ = true;
  Refresh();
  Result result = Result::kLine;
  bool done = false;
  while (!done) {
    while (!done) {
      std::optional<Key> key = decoder_.Next();
      if (!key) break;
      done = OnKey(*key, &result);
    }
    if (done) break;
    bool timed_out = false, eof = false;
    const std::string bytes =
        WaitForInput(decoder_.HasPending() ? kEscapeWaitMs : -1, &timed_out, &eof);
    if (timed_out) {
      decoder_.DropPending();  // a lone ESC
      continue;
    }
    if (eof) {
      result = buffer_.empty() ? Result::kEof : Result::kLine;
      break;
    }
    decoder_.Feed(bytes);
  }
  editing_ = false;
  *line = buffer_.text();
  if (result == Result::kLine && erase_if && erase_if(*line)) {
    terminal_.Write("\r\x1b[K");
    return result;
  }
  // Leave the whole line in the scrollback, wrapped by the terminal.
  std::string out = "\r\x1b[K" + prompt_ + buffer_.text();
  if (result == Result::kInterrupted) out += "^C";
  terminal_.Write(out + "\n");
  return result;
}

LineEditor::Result LineEditor::ReadPlainLine(std::string* line) {
  if (isatty(terminal_.out_fd()) == 1) terminal_.Write(prompt_);
  for (;;) {
    const size_t newline = plain_pending_.find('\n');
    if (newline != std::string::npos) {
      *line = plain_pending_.substr(0, newline);
      plain_pending_.erase(0, newline + 1);
      if (!line->empty() && line->back() == '\r') line->pop_back();
      return Result::kLine;
    }
    if (plain_eof_) {
      if (plain_pending_.empty()) return Result::kEof;
      *line = std::move(plain_pending_);
      plain_pending_.clear();
      return Result::kLine;
    }
    bool timed_out = false, eof = false;
    const std::string bytes = WaitForInput(-1, &timed_out, &eof);
    if (eof) plain_eof_ = true;
    plain_pending_ += bytes;
  }
}

LineEditor::Result LineEditor::ReadLine(
    std::string_view prompt, std::string* line, std::string_view initial,
    const std::function<bool(const std::string&)>& erase_if) {
  prompt_ = std::string(prompt);
  prompt_columns_ = TextColumns(StripAnsi(prompt_));
  buffer_.Set(std::string(initial));
  history_index_ = history_.size();
  history_saved_.clear();
  return interactive_ ? ReadTerminalLine(line, erase_if) : ReadPlainLine(line);
}

}  // namespace tchatator::client
