#include "gateway/request_parser.h"

#include "common/utf8.h"

#include <charconv>
#include <cstring>
#include <utility>

namespace tchatator::gateway {
namespace {

// Parses a non-negative decimal integer with no sign, space or leading '+'.
std::optional<size_t> ParseCount(std::string_view text) {
  size_t value = 0;
  if (text.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

bool IsRequired(const CommandSpec& spec, std::string_view key) {
  for (std::string_view k : spec.required) {
    if (k == key) return true;
  }
  return false;
}

bool IsAllowed(const CommandSpec& spec, std::string_view key) {
  if (IsRequired(spec, key)) return true;
  for (std::string_view k : spec.optional) {
    if (k == key) return true;
  }
  return false;
}

}  // namespace

const std::string* Request::Find(std::string_view key) const {
  auto it = params.find(key);
  return it == params.end() ? nullptr : &it->second;
}

RequestParser::RequestParser(ParserLimits limits) : limits_(limits) {}

bool RequestParser::InRequest() const {
  return state_ == State::kParams || state_ == State::kContent || reprocess_ ||
         (state_ != State::kClosed && !line_.empty());
}

std::string_view RequestParser::CurrentCommand() const {
  const bool under_way = state_ == State::kParams || state_ == State::kContent;
  return under_way && spec_ != nullptr ? spec_->name : "-";
}

void RequestParser::Reset() {
  if (state_ == State::kClosed) return;
  state_ = State::kIdle;
  line_.clear();
  reprocess_ = false;
  pending_line_.clear();
  spec_ = nullptr;
  request_ = Request{};
  error_.reset();
  content_started_ = false;
  content_chars_ = 0;
}

ParseOutcome RequestParser::Next(std::string_view& input) {
  while (true) {
    if (state_ == State::kClosed) {
      input = {};
      return NeedMore{};
    }
    if (reprocess_) {
      reprocess_ = false;
      std::string line = std::move(pending_line_);
      pending_line_.clear();
      if (std::optional<ParseOutcome> out = OnLine(line)) return *std::move(out);
      continue;
    }
    if (input.empty()) return NeedMore{};
    const void* nl = std::memchr(input.data(), '\n', input.size());
    const size_t take =
        nl == nullptr ? input.size() : static_cast<const char*>(nl) - input.data();
    // A '\r' that ends the line (the "\r\n" ending the contract accepts) is not counted:
    // one more byte may wait if it is a '\r', which the next must then end.
    const size_t length = line_.size() + take;
    const bool ends_with_cr =
        take > 0 ? input[take - 1] == '\r' : (!line_.empty() && line_.back() == '\r');
    if (length > limits_.max_line_bytes &&
        !(length == limits_.max_line_bytes + 1 && ends_with_cr)) {
      ParseError error{"request-too-large", "line longer than the limit", true,
                       CurrentCommand()};
      state_ = State::kClosed;
      input = {};
      line_.clear();
      return error;
    }
    line_.append(input.data(), take);
    if (nl == nullptr) {
      input = {};
      return NeedMore{};
    }
    input.remove_prefix(take + 1);
    std::string line = std::move(line_);
    line_.clear();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (std::optional<ParseOutcome> out = OnLine(line)) return *std::move(out);
  }
}

std::optional<ParseOutcome> RequestParser::OnLine(std::string_view line) {
  switch (state_) {
    case State::kIdle:
      return OnCommandLine(line);
    case State::kParams:
      return OnParamLine(line);
    case State::kContent:
      return OnContentLine(line);
    case State::kDiscard:
      if (line.empty()) {
        state_ = State::kIdle;
      } else if (line.find(':') == std::string_view::npos) {
        state_ = State::kIdle;
        return OnCommandLine(line);
      }
      return std::nullopt;
    case State::kClosed:
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<ParseOutcome> RequestParser::OnCommandLine(std::string_view line) {
  if (line.empty()) return std::nullopt;
  const CommandSpec* spec =
      line.find(':') == std::string_view::npos ? FindCommand(line) : nullptr;
  if (spec == nullptr) {
    // A key:value line with no command, or a name we do not know: answer once, then
    // drop the parameters that follow it.
    state_ = State::kDiscard;
    return ParseError{"unknown-command", "unknown command"};
  }
  spec_ = spec;
  request_ = Request{spec->command, {}};
  error_.reset();
  state_ = State::kParams;
  if (spec->required.empty() && spec->optional.empty()) return Finish();
  return std::nullopt;
}

void RequestParser::Fail(std::string_view error, std::string message) {
  // Only ever about the request whose command line set spec_.
  if (!error_) error_ = ParseError{error, std::move(message), false, spec_->name};
}

std::optional<ParseOutcome> RequestParser::OnParamLine(std::string_view line) {
  if (line.empty()) return Finish();
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    // The client moved on to the next command before finishing this request.
    pending_line_ = std::string(line);
    reprocess_ = true;
    ParseOutcome out = Finish();
    if (std::holds_alternative<Request>(out)) {
      out = ParseError{"missing-parameter", "request ended before all its parameters", false,
                       spec_->name};
    }
    return out;
  }
  const std::string_view key = CanonicalKey(line.substr(0, colon));
  const std::string_view value = line.substr(colon + 1);
  if (key == "content" && spec_->has_content) {
    if (request_.params.contains(key)) Fail("duplicate-parameter", "parameter given twice");
    return BeginContent(value);
  }
  if (!Utf8Length(line)) Fail("bad-value", "request is not valid UTF-8");
  if (!IsAllowed(*spec_, key)) {
    Fail("unknown-parameter", "unknown parameter for this command");
  } else if (!request_.params.try_emplace(std::string(key), value).second) {
    Fail("duplicate-parameter", "parameter given twice");
  } else if (key == "message-length" && !ParseCount(value)) {
    Fail("bad-value", "message-length must be a whole number");
  }
  if (!spec_->has_content && request_.params.size() ==
                                 spec_->required.size() + spec_->optional.size()) {
    return Finish();
  }
  return std::nullopt;
}

std::optional<ParseOutcome> RequestParser::BeginContent(std::string_view first_line) {
  const std::string* length_text = request_.Find("message-length");
  const std::optional<size_t> first_chars = Utf8Length(first_line);
  if (!first_chars) Fail("bad-value", "request is not valid UTF-8");
  std::string& content = request_.params["content"];
  if (length_text == nullptr) {
    content = first_line;
    return Finish();
  }
  const std::optional<size_t> target = ParseCount(*length_text);
  if (!target) {
    Fail("bad-value", "message-length must be a whole number");
    content = first_line;
    return Finish();
  }
  content_target_ = *target;
  content_discard_ = content_target_ > limits_.max_content_chars;
  // Clients that count bytes: a first line of exactly N bytes is the whole content.
  if (first_line.size() == content_target_) {
    if (content_discard_) {
      Fail("content-too-long", "message too long");
    } else {
      content = first_line;
    }
    return Finish();
  }
  state_ = State::kContent;
  return OnContentLine(first_line);
}

std::optional<ParseOutcome> RequestParser::OnContentLine(std::string_view line) {
  std::string& content = request_.params["content"];
  // Every line after the first adds the line break before it.
  const bool first = !content_started_;
  const std::optional<size_t> chars = Utf8Length(line);
  if (!chars) Fail("bad-value", "request is not valid UTF-8");
  // Invalid bytes still count one character each, so framing stays deterministic.
  size_t line_chars = chars.value_or(line.size());
  if (!chars) {
    line_chars = 0;
    for (char c : line) line_chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }
  const size_t total = content_chars_ + (first ? 0 : 1) + line_chars;
  content_started_ = true;
  if (total > content_target_) {
    Fail("length-mismatch", "content longer than message-length");
    return Finish();
  }
  if (!content_discard_) {
    if (!first) content.push_back('\n');
    content.append(line);
  }
  content_chars_ = total;
  if (total == content_target_) {
    if (content_discard_) Fail("content-too-long", "message too long");
    return Finish();
  }
  return std::nullopt;
}

ParseOutcome RequestParser::Finish() {
  state_ = State::kIdle;
  content_started_ = false;
  content_chars_ = 0;
  if (!error_) {
    for (std::string_view key : spec_->required) {
      if (!request_.params.contains(key)) {
        Fail("missing-parameter", "a required parameter is missing");
        break;
      }
    }
  }
  if (error_) {
    ParseError error = *std::move(error_);
    error_.reset();
    return error;
  }
  return std::move(request_);
}

}  // namespace tchatator::gateway
