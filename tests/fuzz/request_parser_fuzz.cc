// libFuzzer target for the text protocol's request parser (contract section 2.1).
//
// Feeds the input to RequestParser three ways (in one piece, one byte at a time, and
// in chunks cut at pseudo-random points derived from the input), each with the default
// limits and with small ones, and checks that:
//   - the three ways yield the same sequence of outcomes (command + params, or error
//     token + close flag) and leave the parser in the same InRequest() state;
//   - NeedMore is only returned once the input is consumed, and Next makes progress;
//   - after a ParseError with close, nothing else comes out;
//   - every Request is well formed (allowed canonical keys, required keys present,
//     valid UTF-8, content framed to its message-length), every error token is one of
//     the contract's, and error messages are one line.
// Any violation aborts, which libFuzzer reports as a crash.
//
// Built with -DTCHATATOR_FUZZ_REPLAY it is a plain program (no libFuzzer) whose main()
// runs each file given (or each file in each directory given) through the target, so
// CTest can replay the corpus with any compiler.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/utf8.h"
#include "gateway/commands.h"
#include "gateway/request_parser.h"

namespace tchatator::gateway {
namespace {

[[noreturn]] void Fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "request_parser_fuzz: invariant violated: %s %s\n", what,
               detail.c_str());
  std::fflush(stderr);
  std::abort();
}

void Check(bool ok, const char* what, const std::string& detail = {}) {
  if (!ok) Fail(what, detail);
}

bool IsContractToken(std::string_view token) {
  static constexpr std::string_view kTokens[] = {
      "unknown-command", "missing-parameter", "unknown-parameter",
      "duplicate-parameter", "bad-value", "length-mismatch",
      "content-too-long", "empty-content", "request-too-large",
      "incomplete-request"};
  for (std::string_view t : kTokens) {
    if (t == token) return true;
  }
  return false;
}

bool Contains(std::span<const std::string_view> keys, std::string_view key) {
  for (std::string_view k : keys) {
    if (k == key) return true;
  }
  return false;
}

// Parses a non-negative decimal integer (digits only, saturating), or nullopt.
std::optional<size_t> ParseCount(std::string_view text) {
  if (text.empty()) return std::nullopt;
  constexpr size_t kCap = size_t{1} << 48;
  size_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = std::min(kCap, value * 10 + static_cast<size_t>(c - '0'));
  }
  return value;
}

void CheckRequest(const Request& request, const ParserLimits& limits) {
  const CommandSpec& spec = SpecOf(request.command);
  for (std::string_view key : spec.required) {
    Check(request.Find(key) != nullptr, "request lacks a required key",
          std::string(key));
  }
  for (const auto& [key, value] : request.params) {
    Check(Contains(spec.required, key) || Contains(spec.optional, key),
          "request has a key its command does not take", key);
    Check(key != "receiver-id", "request has the alias key, not the canonical one");
    Check(Utf8Length(value).has_value(), "request value is not valid UTF-8", key);
    if (key != "content") {
      Check(value.find('\n') == std::string::npos, "non-content value holds a newline",
            key);
    }
  }
  const std::string* content = request.Find("content");
  const std::string* length = request.Find("message-length");
  if (content != nullptr && length != nullptr) {
    const std::optional<size_t> n = ParseCount(*length);
    Check(n.has_value(), "request with a content framed by a bad message-length");
    Check(*n <= limits.max_content_chars, "request content over max_content_chars");
    const bool chars_match = Utf8Length(*content) == *n;
    const bool bytes_match =
        content->size() == *n && content->find('\n') == std::string::npos;
    Check(chars_match || bytes_match, "content does not match its message-length");
  } else if (content != nullptr) {
    Check(content->find('\n') == std::string::npos,
          "content without message-length spans lines");
  }
}

// One outcome, reduced to what must not depend on how the input was split.
std::string Describe(const ParseOutcome& outcome) {
  if (const auto* request = std::get_if<Request>(&outcome)) {
    std::string out = "R:";
    out += SpecOf(request->command).name;
    for (const auto& [key, value] : request->params) {
      out += '\0';
      out += key;
      out += '\0';
      out += std::to_string(value.size());
      out += ':';
      out += value;
    }
    return out;
  }
  const auto& error = std::get<ParseError>(outcome);
  return "E:" + std::string(error.error) + (error.close ? "+close" : "");
}

struct Run {
  std::vector<std::string> outcomes;
  bool in_request = false;
};

// Feeds `chunks` to a fresh parser, calling Next until NeedMore after each chunk.
Run Feed(const std::vector<std::string_view>& chunks, const ParserLimits& limits,
         size_t total_bytes) {
  RequestParser parser(limits);
  Run run;
  bool closed = false;
  // Each '\n' can end at most two outcomes (a request and the one its line starts),
  // plus one request-too-large.
  const size_t max_outcomes = 2 * total_bytes + 2;
  for (std::string_view chunk : chunks) {
    while (true) {
      const size_t before = chunk.size();
      ParseOutcome outcome = parser.Next(chunk);
      Check(chunk.size() <= before, "Next grew its input");
      if (std::holds_alternative<NeedMore>(outcome)) {
        Check(chunk.empty(), "NeedMore with input left");
        break;
      }
      Check(!closed, "outcome after a closing error");
      if (const auto* request = std::get_if<Request>(&outcome)) {
        CheckRequest(*request, limits);
      } else {
        const auto& error = std::get<ParseError>(outcome);
        Check(IsContractToken(error.error), "unknown error token",
              std::string(error.error));
        Check(!error.message.empty(), "empty error message");
        Check(error.message.find('\n') == std::string::npos &&
                  error.message.find('\r') == std::string::npos,
              "error message spans lines");
        Check(error.close == (error.error == "request-too-large"),
              "close flag and error token disagree", std::string(error.error));
        if (error.close) closed = true;
      }
      run.outcomes.push_back(Describe(outcome));
      Check(run.outcomes.size() <= max_outcomes, "too many outcomes: Next loops");
    }
  }
  run.in_request = parser.InRequest();
  if (closed) {
    // Everything after the close is ignored.
    std::string_view more = "PING\n";
    Check(std::holds_alternative<NeedMore>(parser.Next(more)) && more.empty(),
          "parser answered after closing");
  }
  return run;
}

std::string Show(const Run& run) {
  std::string out;
  for (const std::string& o : run.outcomes) {
    for (char c : o) {
      if (c == '\0') {
        out += '|';
      } else if (c == '\n') {
        out += "\\n";
      } else {
        out += c;
      }
    }
    out += " ; ";
  }
  out += run.in_request ? "(in request)" : "(idle)";
  return out;
}

void CheckSame(const Run& expected, const Run& actual, const char* mode) {
  if (expected.outcomes != actual.outcomes || expected.in_request != actual.in_request) {
    Fail(mode, "\n  whole:  " + Show(expected) + "\n  split:  " + Show(actual));
  }
}

void FuzzWithLimits(std::string_view data, const ParserLimits& limits) {
  const Run whole = Feed({data}, limits, data.size());

  std::vector<std::string_view> bytes;
  bytes.reserve(data.size());
  for (size_t i = 0; i < data.size(); ++i) bytes.push_back(data.substr(i, 1));
  CheckSame(whole, Feed(bytes, limits, data.size()), "byte-by-byte differs from whole");

  // Chunks of pseudo-random sizes (1 to 64 bytes), from a generator seeded by the data.
  uint64_t state = 0xcbf29ce484222325u;
  for (unsigned char c : data) state = (state ^ c) * 0x100000001b3u;
  std::vector<std::string_view> chunks;
  for (size_t pos = 0; pos < data.size();) {
    state = state * 6364136223846793005u + 1442695040888963407u;
    const size_t size = 1 + static_cast<size_t>((state >> 33) % 64);
    chunks.push_back(data.substr(pos, size));
    pos += chunks.back().size();
  }
  CheckSame(whole, Feed(chunks, limits, data.size()), "random chunks differ from whole");
}

}  // namespace
}  // namespace tchatator::gateway

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tchatator::gateway::ParserLimits;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  tchatator::gateway::FuzzWithLimits(input, ParserLimits{});
  ParserLimits small;
  small.max_line_bytes = 48;
  small.max_content_chars = 24;
  tchatator::gateway::FuzzWithLimits(input, small);
  return 0;
}

#ifdef TCHATATOR_FUZZ_REPLAY

#include <filesystem>
#include <fstream>
#include <iterator>

namespace {

int ReplayFile(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return 1;
  }
  const std::string data((std::istreambuf_iterator<char>(file)),
                         std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  return 0;
}

}  // namespace

// Usage: request_parser_fuzz_replay FILE_OR_DIR...
// Runs every file (directories: every regular file in them, in name order) through
// the target. Fails if a file cannot be read or if no file was found.
int main(int argc, char** argv) {
  int files = 0;
  int errors = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      std::vector<std::filesystem::path> paths;
      for (const auto& entry : std::filesystem::directory_iterator(arg, ec)) {
        if (entry.is_regular_file()) paths.push_back(entry.path());
      }
      if (ec) {
        std::fprintf(stderr, "cannot list %s\n", arg.c_str());
        ++errors;
      }
      std::sort(paths.begin(), paths.end());
      for (const auto& path : paths) {
        errors += ReplayFile(path);
        ++files;
      }
    } else {
      errors += ReplayFile(arg);
      ++files;
    }
  }
  std::printf("replayed %d file(s), %d unreadable\n", files, errors);
  return (files == 0 || errors != 0) ? 1 : 0;
}

#endif  // TCHATATOR_FUZZ_REPLAY
