#include "gateway/client/api_key.h"

#include <cstdlib>
#include <fstream>
#include <optional>

#include "gateway/client/terminal.h"

namespace tchatator::client {
namespace {

std::string Trim(std::string text) {
  const char* space = " \t\r\n";
  const size_t begin = text.find_first_not_of(space);
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(space) - begin + 1);
}

}  // namespace

ApiKey LoadApiKey(const std::string& key_file) {
  ApiKey key;
  if (!key_file.empty()) {
    key.origin = "le fichier " + key_file;
    std::ifstream in(key_file);
    if (!in) {
      key.error = "impossible de lire la clé API dans " + key_file;
      return key;
    }
    std::string line;
    std::getline(in, line);
    key.value = Trim(line);
    if (key.value.empty()) key.error = "le fichier " + key_file + " ne contient pas de clé API";
    return key;
  }
  if (const char* env = std::getenv("TCHATATOR_API_KEY"); env != nullptr && *env != '\0') {
    key.origin = "TCHATATOR_API_KEY";
    key.value = Trim(env);
    if (key.value.empty()) key.error = "TCHATATOR_API_KEY est vide";
    return key;
  }
  key.origin = "la saisie";
  const std::optional<std::string> typed = Terminal::ReadSecret("Clé API : ");
  if (!typed) {
    key.error =
        "aucune clé API : donnez --key-file CHEMIN ou TCHATATOR_API_KEY, ou lancez tchatator "
        "dans un terminal";
    return key;
  }
  key.value = Trim(*typed);
  if (key.value.empty()) key.error = "clé API vide";
  return key;
}

}  // namespace tchatator::client
