#ifndef TCHATATOR_GATEWAY_CLIENT_API_KEY_H_
#define TCHATATOR_GATEWAY_CLIENT_API_KEY_H_

// Where the API key comes from: --key-file PATH (its first line), else the environment
// variable TCHATATOR_API_KEY, else a prompt on the terminal that does not echo.

#include <string>

namespace tchatator::client {

struct ApiKey {
  std::string value;
  std::string origin;  // for messages: "le fichier X", "TCHATATOR_API_KEY", "la saisie"
  std::string error;   // non-empty: no key could be had
};

ApiKey LoadApiKey(const std::string& key_file);

}  // namespace tchatator::client

#endif  // TCHATATOR_GATEWAY_CLIENT_API_KEY_H_
