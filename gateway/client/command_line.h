#ifndef TCHATATOR_GATEWAY_CLIENT_COMMAND_LINE_H_
#define TCHATATOR_GATEWAY_CLIENT_COMMAND_LINE_H_

// The command line of `tchatator`. Pure: words in, options or a usage error out.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tchatator::client {

// Where the gateway listens.
struct Endpoint {
  std::string host = "127.0.0.1";
  int port = 4242;
};

// "HOST:PORT", "[IPV6]:PORT" or "HOST" (port 4242); nullopt when malformed.
std::optional<Endpoint> ParseEndpoint(std::string_view text);
// "HOST:PORT", with brackets around an IPv6 address.
std::string EndpointText(const Endpoint& endpoint);

enum class Mode { kInteractive, kSend, kUnread, kHistory, kHelp, kVersion };
enum class ColorChoice { kAuto, kAlways, kNever };

struct Options {
  Mode mode = Mode::kInteractive;
  Endpoint server;
  std::string key_file;            // empty: TCHATATOR_API_KEY, then a prompt
  bool json = false;               // scriptable commands: JSON on stdout
  ColorChoice color = ColorChoice::kAuto;
  int64_t to = 0;                  // send: the recipient
  std::optional<std::string> text; // send: the words given; nullopt: read stdin
  int64_t with = 0;                // history: the peer (0: every conversation)
  int64_t before = 0;              // history: only messages before this id (0: latest)
};

struct ParsedCommandLine {
  Options options;
  std::string error;  // non-empty: a usage error, to print with the usage text
};

// Parses the words after the program name. `default_server` (from TCHATATOR_SERVER,
// may be empty) is used when --server is not given.
ParsedCommandLine ParseCommandLine(const std::vector<std::string>& args,
                                   std::string_view default_server = "");

// The --help text.
std::string UsageText();

}  // namespace tchatator::client

#endif  // TCHATATOR_GATEWAY_CLIENT_COMMAND_LINE_H_
