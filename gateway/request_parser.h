#ifndef TCHATATOR_GATEWAY_REQUEST_PARSER_H_
#define TCHATATOR_GATEWAY_REQUEST_PARSER_H_

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "gateway/commands.h"

namespace tchatator::gateway {

// One complete, well-framed request. Values are exactly what the client sent (a
// trailing '\r' removed); `content` holds the message text with '\n' line breaks.
struct Request {
  Command command;
  std::map<std::string, std::string, std::less<>> params;  // canonical keys

  // The value of `key`, or nullptr.
  const std::string* Find(std::string_view key) const;
};

// A request that cannot be served, answered 416/MISFMT with `error`.
struct ParseError {
  std::string_view error;  // contract token: unknown-command, missing-parameter, ...
  std::string message;     // for people; never contains client text
  bool close = false;      // answer, then close the connection
  std::string_view command = "-";  // its command's name, once that was recognised (logs)
};

// Nothing complete yet: feed more bytes.
struct NeedMore {};

using ParseOutcome = std::variant<NeedMore, Request, ParseError>;

struct ParserLimits {
  size_t max_line_bytes = 16384;    // a longer line: request-too-large, close
  size_t max_content_chars = 16384; // a longer message-length: content discarded,
                                    // content-too-long
};

// Incremental parser of the text protocol's requests (contract section 2.1). Pure: no
// I/O, no clock. Feed it bytes in any split; it yields one outcome at a time, in order:
// each request the client sent ends as exactly one Request or one ParseError.
class RequestParser {
 public:
  explicit RequestParser(ParserLimits limits = {});

  // Consumes bytes from the front of `input` up to the end of the next outcome and
  // returns it; returns NeedMore once all of `input` is consumed without an outcome.
  // After a ParseError with `close`, the parser consumes and ignores everything.
  ParseOutcome Next(std::string_view& input);

  // True while a request has begun (its command line or any byte of a line was
  // received) and has not yet ended: what the request timeout watches.
  bool InRequest() const;

  // The name of the command of the request under way ("SEND_MSG"), once its command
  // line was recognised; "-" otherwise (for the logs, which never show client text).
  std::string_view CurrentCommand() const;

  // Drops the request under way and any partial line (after a request timeout).
  void Reset();

 private:
  enum class State { kIdle, kParams, kContent, kDiscard, kClosed };

  // Handles one complete line (without its '\n' and trailing '\r'). Returns an outcome
  // when that line ends a request; sets `reprocess_` when the line must be read again
  // as a command line.
  std::optional<ParseOutcome> OnLine(std::string_view line);
  std::optional<ParseOutcome> OnCommandLine(std::string_view line);
  std::optional<ParseOutcome> OnParamLine(std::string_view line);
  std::optional<ParseOutcome> OnContentLine(std::string_view line);
  std::optional<ParseOutcome> BeginContent(std::string_view first_line);
  ParseOutcome Finish();
  void Fail(std::string_view error, std::string message);

  ParserLimits limits_;
  State state_ = State::kIdle;
  std::string line_;           // bytes of the current line so far
  bool reprocess_ = false;     // the last line must be read again in kIdle
  std::string pending_line_;   // that line
  const CommandSpec* spec_ = nullptr;
  Request request_;
  std::optional<ParseError> error_;  // first error of the request under way
  size_t content_target_ = 0;        // message-length, in characters
  size_t content_chars_ = 0;         // characters of content so far
  bool content_discard_ = false;     // message-length too large: count, do not keep
  bool content_started_ = false;     // the first content line was taken
};

}  // namespace tchatator::gateway

#endif  // TCHATATOR_GATEWAY_REQUEST_PARSER_H_
