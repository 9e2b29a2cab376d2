#include "gateway/client/command_line.h"

#include "common/numbers.h"

namespace tchatator::client {

std::optional<Endpoint> ParseEndpoint(std::string_view text) {
  Endpoint endpoint;
  std::string_view host = text;
  std::string_view port;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return std::nullopt;
      port = rest.substr(1);
      if (port.empty()) return std::nullopt;
    }
  } else if (const size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    if (text.find(':') != colon) return std::nullopt;  // bare IPv6 needs brackets
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty()) return std::nullopt;
  }
  if (host.empty()) return std::nullopt;
  endpoint.host = std::string(host);
  if (!port.empty()) {
    const std::optional<int64_t> number = ParsePositive(port);
    if (!number || *number > 65535) return std::nullopt;
    endpoint.port = static_cast<int>(*number);
  }
  return endpoint;
}

std::string EndpointText(const Endpoint& endpoint) {
  const bool v6 = endpoint.host.find(':') != std::string::npos;
  return (v6 ? "[" + endpoint.host + "]" : endpoint.host) + ":" + std::to_string(endpoint.port);
}

ParsedCommandLine ParseCommandLine(const std::vector<std::string>& args,
                                   std::string_view default_server) {
  ParsedCommandLine result;
  Options& options = result.options;
  auto fail = [&result](std::string message) {
    result.error = std::move(message);
    return result;
  };
  if (!default_server.empty()) {
    const std::optional<Endpoint> server = ParseEndpoint(default_server);
    if (!server) {
      return fail("TCHATATOR_SERVER doit être HOTE:PORT, pas '" + std::string(default_server) +
                  "'");
    }
    options.server = *server;
  }

  std::string command;
  std::vector<std::string> words;  // positional words after the command
  bool seen_to = false, seen_with = false, seen_before = false;
  bool only_words = false;         // after "--"
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (only_words || arg == "-" || !arg.starts_with("-")) {
      if (command.empty() && !only_words) {
        command = arg;
      } else {
        words.push_back(arg);
      }
      continue;
    }
    if (arg == "--") {
      only_words = true;
      continue;
    }
    // --name=value or --name value.
    std::string name = arg;
    std::optional<std::string> inline_value;
    if (const size_t eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      name = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    auto value = [&](std::string* out) -> bool {
      if (inline_value) {
        *out = *inline_value;
        return true;
      }
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    auto id_option = [&](int64_t* out, bool* seen) -> std::string {
      std::string text;
      if (!value(&text)) return "l'option " + name + " attend un identifiant";
      if (*seen) return "l'option " + name + " est donnée deux fois";
      const std::optional<int64_t> id = ParsePositive(text);
      if (!id) return name + " attend un identifiant (entier positif), pas '" + text + "'";
      *out = *id;
      *seen = true;
      return "";
    };
    auto flag = [&]() -> std::string {
      return inline_value ? "l'option " + name + " ne prend pas de valeur" : "";
    };
    std::string error;
    if (name == "-h" || name == "--help") {
      error = flag();
      options.mode = Mode::kHelp;
    } else if (name == "--version") {
      error = flag();
      options.mode = Mode::kVersion;
    } else if (name == "--server" || name == "-s") {
      std::string text;
      if (!value(&text)) return fail("l'option --server attend HOTE:PORT");
      const std::optional<Endpoint> server = ParseEndpoint(text);
      if (!server) return fail("--server attend HOTE:PORT, pas '" + text + "'");
      options.server = *server;
    } else if (name == "--key-file" || name == "-k") {
      if (!value(&options.key_file) || options.key_file.empty()) {
        return fail("l'option --key-file attend un chemin");
      }
    } else if (name == "--json") {
      error = flag();
      options.json = true;
    } else if (name == "--no-color") {
      error = flag();
      options.color = ColorChoice::kNever;
    } else if (name == "--color") {
      error = flag();
      options.color = ColorChoice::kAlways;
    } else if (name == "--to") {
      error = id_option(&options.to, &seen_to);
    } else if (name == "--with") {
      error = id_option(&options.with, &seen_with);
    } else if (name == "--before") {
      error = id_option(&options.before, &seen_before);
    } else {
      return fail("option inconnue : " + arg);
    }
    if (!error.empty()) return fail(error);
  }
  if (options.mode == Mode::kHelp || options.mode == Mode::kVersion) return result;

  if (command.empty()) {
    options.mode = Mode::kInteractive;
  } else if (command == "send") {
    options.mode = Mode::kSend;
  } else if (command == "unread") {
    options.mode = Mode::kUnread;
  } else if (command == "history") {
    options.mode = Mode::kHistory;
  } else if (command == "help") {
    options.mode = Mode::kHelp;
    return result;
  } else {
    return fail("commande inconnue : " + command);
  }

  const bool is_send = options.mode == Mode::kSend;
  const bool is_history = options.mode == Mode::kHistory;
  if (seen_to && !is_send) return fail("--to ne s'emploie qu'avec send");
  if ((seen_with || seen_before) && !is_history) {
    return fail("--with et --before ne s'emploient qu'avec history");
  }
  if (options.json && options.mode == Mode::kInteractive) {
    return fail("--json ne s'emploie qu'avec send, unread ou history");
  }
  if (is_send) {
    if (!seen_to) return fail("send attend --to ID");
    if (words.empty() || (words.size() == 1 && words[0] == "-")) {
      options.text.reset();  // read standard input
    } else {
      std::string text;
      for (const std::string& word : words) {
        if (!text.empty()) text.push_back(' ');
        text += word;
      }
      options.text = text;
    }
  } else if (!words.empty()) {
    return fail("argument inattendu : " + words[0]);
  }
  return result;
}

std::string UsageText() {
  return R"(usage : tchatator [OPTIONS]                      mode interactif
        tchatator [OPTIONS] send --to ID [TEXTE|-]   envoyer un message
        tchatator [OPTIONS] unread                   relever les messages non lus
        tchatator [OPTIONS] history [--with ID] [--before ID]
                                                     historique (20 messages par page)

Client en terminal de tchatator : parle le protocole texte à une passerelle.

Options :
  -s, --server HOTE:PORT  la passerelle (défaut : $TCHATATOR_SERVER, sinon 127.0.0.1:4242)
  -k, --key-file CHEMIN   lire la clé API dans ce fichier (première ligne)
      --json              send, unread, history : sortie JSON sur stdout
      --color, --no-color forcer ou couper les couleurs (défaut : sur un terminal,
                          sauf si NO_COLOR est défini)
  -h, --help              cette aide
      --version           la version

La clé API vient de --key-file, sinon de la variable TCHATATOR_API_KEY, sinon elle est
demandée au terminal sans être affichée.

send : le texte est fait des mots donnés après --to ID ; sans texte (ou avec -), il est
lu sur l'entrée standard (plusieurs lignes possibles). Affiche l'identifiant du message.
unread : affiche les messages non lus (ils sont alors marqués lus).
history : les messages échangés avec ID (tous sans --with), plus anciens que --before ;
les messages reçus n'y figurent qu'une fois lus (unread les relève).

Codes de sortie : 0 succès ; 1 autre erreur (500...) ; 2 usage ; 3 refusé (401/403) ;
4 introuvable (404) ; 5 requête invalide (416) ; 6 trop de messages (426) ;
7 service indisponible ou injoignable (503, connexion refusée ou perdue).
En cas d'échec, la ligne de statut (ex. 403/DENIED) et une explication vont sur stderr.
)";
}

}  // namespace tchatator::client
