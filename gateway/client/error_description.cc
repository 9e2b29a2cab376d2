#include "gateway/client/error_description.h"

#include <cstdio>

#include "gateway/client/local_time.h"

namespace tchatator::client {
namespace {

// " jusqu'au 27/11/2026 à 10:15 (dans 3 h 05 min)" for an `until:` value.
std::string Until(const Frame& frame, std::time_t now) {
  const std::string until = frame.Get("until");
  if (until.empty()) return "";
  const std::optional<std::time_t> time = ParseRfc3339(until);
  if (!time) return " jusqu'au " + until;
  std::string out = " jusqu'au " + FormatDateTime(*time);
  if (*time > now) out += " (dans " + FormatDuration(*time - now) + ")";
  return out;
}

// The server's own words, for tokens this client does not know.
std::string ServerWords(const Frame& frame) {
  const std::string message = frame.Get("message");
  const std::string error = frame.Get("error");
  if (message.empty() && error.empty()) return "";
  if (message.empty()) return " (" + error + ")";
  if (error.empty()) return " (" + message + ")";
  return " (" + error + " : " + message + ")";
}

}  // namespace

ExitCode ExitCodeForStatus(int code) {
  switch (code) {
    case 200:
      return kExitOk;
    case 401:
    case 403:
      return kExitDenied;
    case 404:
      return kExitNotFound;
    case 416:
      return kExitBadRequest;
    case 426:
      return kExitRateLimited;
    case 503:
      return kExitUnavailable;
    default:
      return kExitOther;
  }
}

std::string FormatDuration(int64_t seconds) {
  if (seconds < 0) seconds = 0;
  char out[64];
  if (seconds < 60) {
    std::snprintf(out, sizeof out, "%lld s", static_cast<long long>(seconds));
  } else if (seconds < 3600) {
    std::snprintf(out, sizeof out, "%lld min %02lld s", static_cast<long long>(seconds / 60),
                  static_cast<long long>(seconds % 60));
  } else {
    std::snprintf(out, sizeof out, "%lld h %02lld min", static_cast<long long>(seconds / 3600),
                  static_cast<long long>(seconds % 3600 / 60));
  }
  return out;
}

std::string DescribeError(const Frame& frame, std::time_t now) {
  const std::string error = frame.Get("error");
  switch (frame.code) {
    case 401:
      return "session invalide ou expirée : reconnectez-vous";
    case 403:
      if (error == "invalid-api-key") return "clé API refusée : cette clé ne correspond à aucun compte";
      if (error == "banned") {
        const std::string until = Until(frame, now);
        return "vous êtes banni" + (until.empty() ? std::string(" (sans limite de durée)") : until) +
               " : action refusée";
      }
      if (error == "blocked") return "vous êtes bloqué" + Until(frame, now) + " : envoi refusé";
      if (error == "not-owner") {
        return "ce message n'est pas le vôtre : seul son auteur peut le modifier ou le supprimer";
      }
      if (error == "recipient-not-allowed") {
        return "destinataire non autorisé : un membre écrit aux professionnels, un "
               "professionnel aux membres";
      }
      if (error == "forbidden") return "action non autorisée pour votre rôle";
      return "accès refusé" + ServerWords(frame);
    case 404:
      if (error == "unknown-message") return "message introuvable (inexistant ou supprimé)";
      if (error == "unknown-user") return "utilisateur inconnu";
      return "introuvable" + ServerWords(frame);
    case 416:
      if (error == "content-too-long") return "message trop long" + ServerWords(frame);
      if (error == "empty-content") return "message vide : rien n'a été envoyé";
      if (error == "bad-value") return "valeur refusée par le serveur" + ServerWords(frame);
      return "requête refusée par le serveur" + ServerWords(frame);
    case 426: {
      const std::optional<int64_t> retry = frame.GetInt("retry-after");
      if (!retry) return "trop de messages envoyés : réessayez plus tard";
      return "trop de messages envoyés : réessayez dans " + FormatDuration(*retry) + " (à " +
             FormatClock(now + *retry) + ")";
    }
    case 500:
      if (error == "not-implemented") return "fonction pas encore disponible sur ce serveur";
      return "erreur interne du serveur" + ServerWords(frame);
    case 503:
      return "service momentanément indisponible : réessayez dans quelques instants";
    default:
      return "réponse inattendue " + frame.status_line + ServerWords(frame);
  }
}

}  // namespace tchatator::client
