#include "gateway/client/interactive_shell.h"

#include <algorithm>
#include <set>

#include "common/numbers.h"
#include "gateway/client/command_line.h"
#include "gateway/client/error_description.h"
#include "gateway/client/local_time.h"
#include "gateway/client/utf8_text.h"

namespace tchatator::client {
namespace {

// An id as people type it: "12" or "#12".
std::optional<int64_t> ParseTypedId(std::string_view text) {
  if (text.starts_with('#')) text.remove_prefix(1);
  return ParsePositive(text);
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string FirstLine(const std::string& text) {
  const size_t newline = text.find('\n');
  return newline == std::string::npos ? text : text.substr(0, newline) + " …";
}

}  // namespace

InteractiveShell::InteractiveShell(ChatClient& client, Terminal& terminal, ShellSettings settings)
    : client_(client),
      terminal_(terminal),
      settings_(settings),
      editor_(terminal),
      formatter_(client.identity().user_id, Style(settings.color)) {}

// ------------------------------------------------------------------------ output

void InteractiveShell::Say(const std::string& text) {
  editor_.Print(text.empty() || text.back() == '\n' ? text : text + "\n");
}

void InteractiveShell::Notice(const std::string& text) {
  Say(formatter_.style().Notice("● " + text));
}

void InteractiveShell::NoteConnection(const Reply& reply) {
  if (reply.transport_failed()) {
    if (!offline_) {
      Say(formatter_.style().Error("Connexion perdue : " + reply.transport_error +
                                   ". Nouvelle tentative à la prochaine commande."));
    }
    offline_ = true;
    return;
  }
  if (offline_) Say(formatter_.style().Dim("Connexion rétablie."));
  offline_ = false;
  offline_ticks_ = 0;
  if (client_.TakeReconnected() && live_ == Live::kEvents && !client_.subscribed()) {
    // The new connection refused SUBSCRIBE: fall back to polling.
    live_ = Live::kPollConversations;
  }
}

bool InteractiveShell::Check(const Reply& reply) {
  if (reply.transport_failed()) {
    // Asked for by the person: always say why nothing happened.
    Say(formatter_.style().Error("Pas de réponse : " + reply.transport_error + "."));
    offline_ = true;
    return false;
  }
  NoteConnection(reply);
  if (reply.ok()) return true;
  Say(formatter_.style().Error(reply.frame.status_line + " " + DescribeError(reply.frame, Now())));
  return false;
}

std::string InteractiveShell::PeerTitle(int64_t user_id) const {
  const std::string id = "#" + std::to_string(user_id);
  if (!formatter_.KnowsName(user_id)) return id;
  std::string details = id;
  if (auto it = roles_.find(user_id); it != roles_.end() && !it->second.empty()) {
    details = Printable(it->second) + ", " + id;
  }
  return formatter_.NameOf(user_id) + " (" + details + ")";
}

std::string InteractiveShell::Prompt() const {
  const Style& style = formatter_.style();
  if (peer_ == 0) return style.Bold("tchatator") + "> ";
  // A long name would leave little room to type: keep its first 20 characters.
  std::string name = formatter_.NameOf(peer_);
  size_t end = 0;
  for (int characters = 0; end < name.size() && characters < 20; ++characters) {
    end += Utf8SequenceLength(name, end);
  }
  if (end < name.size()) name = name.substr(0, end) + "…";
  return style.Peer(name) + "> ";
}

bool InteractiveShell::CanRestrict() const {
  const std::string& role = client_.identity().role;
  return role == "pro" || role == "admin";
}

void InteractiveShell::Remember(const Record& message) {
  if (const std::optional<int64_t> id = message.GetInt("message-id")) {
    shown_[*id] = message;
    if (oldest_shown_ == 0 || *id < oldest_shown_) oldest_shown_ = *id;
  }
}

bool InteractiveShell::LearnUser(int64_t user_id) {
  if (user_id == client_.identity().user_id || formatter_.KnowsName(user_id)) return true;
  const Reply info = client_.UserInfo(user_id);
  if (!Check(info)) return false;
  formatter_.SetName(user_id, info.frame.Get("name"));
  roles_[user_id] = info.frame.Get("role");
  return true;
}

void InteractiveShell::LearnConversations(const std::vector<Record>& conversations) {
  conversations_ = conversations;
  server_unread_.clear();
  for (const Record& c : conversations) {
    const int64_t peer = c.GetInt("peer-id").value_or(0);
    if (peer == 0) continue;
    if (c.Has("peer-name")) formatter_.SetName(peer, c.Get("peer-name"));
    if (c.Has("peer-role")) roles_[peer] = c.Get("peer-role");
    server_unread_[peer] = c.GetInt("unread").value_or(0);
  }
}

int64_t InteractiveShell::IdArgument(const std::string& text, bool default_to_peer,
                                     const char* usage) {
  if (text.empty()) {
    if (default_to_peer && peer_ != 0) return peer_;
    Say(std::string("Usage : ") + usage);
    return 0;
  }
  const std::optional<int64_t> id = ParseTypedId(text);
  if (!id) {
    Say("« " + Printable(text) + " » n'est pas un identifiant. Usage : " + usage);
    return 0;
  }
  return *id;
}

// ------------------------------------------------------------------------ main loop

int InteractiveShell::Run() {
  // Raw mode before anything is shown: keys typed from then on are all kept (Ctrl-D
  // typed in the terminal's line mode would be lost on the switch).
  terminal_.EnterRaw();
  const int64_t me = client_.identity().user_id;
  const Reply self = client_.UserInfo(me);
  const std::string my_name = self.ok() ? Printable(self.frame.Get("name")) : "";
  const Style& style = formatter_.style();
  Say("Bienvenue " + style.Me(my_name.empty() ? "#" + std::to_string(me) : my_name) + " (" +
      client_.identity().role + ", #" + std::to_string(me) + ") — connecté à " +
      EndpointText(client_.endpoint()) + ".");
  Say(style.Dim("Tapez /aide pour la liste des commandes, /quitter pour sortir."));

  SetUpLiveUpdates();
  ShowConversations();

  Background background;
  background.fd = [this] { return client_.fd(); };
  background.on_readable = [this] { OnSocketReadable(); };
  background.period = [this]() -> std::chrono::milliseconds {
    // Live events need only a keep-alive; otherwise poll.
    return live_ == Live::kEvents ? settings_.keepalive_period : settings_.poll_period;
  };
  background.on_tick = [this] { OnTick(); };
  editor_.SetBackground(std::move(background));

  while (!quit_) {
    std::string line;
    // In a conversation a message typed is shown once sent, formatted like the others:
    // the typed line does not stay on screen (commands do).
    const bool in_conversation = peer_ != 0;
    const LineEditor::Result result = editor_.ReadLine(
        Prompt(), &line, "", [in_conversation](const std::string& typed) {
          return in_conversation &&
                 ParseShellCommand(typed, true).verb == ShellVerb::kText;
        });
    if (result == LineEditor::Result::kEof) {
      Quit();
      break;
    }
    if (result == LineEditor::Result::kInterrupted) {
      if (!hinted_quit_) Say(style.Dim("(/quitter ou Ctrl-D pour sortir)"));
      hinted_quit_ = true;
      continue;
    }
    editor_.AddHistory(line);
    Execute(ParseShellCommand(line, peer_ != 0));
    ShowEvents();
  }
  terminal_.LeaveRaw();
  return kExitOk;
}

void InteractiveShell::Execute(const ShellCommand& command) {
  switch (command.verb) {
    case ShellVerb::kNone:
      return;
    case ShellVerb::kText:
      SendText(peer_, command.rest);
      return;
    case ShellVerb::kHelp:
      Help();
      return;
    case ShellVerb::kConversations:
      ShowConversations();
      return;
    case ShellVerb::kOpen:
      Open(command.rest);
      return;
    case ShellVerb::kMore:
      ShowHistoryPage(true);
      return;
    case ShellVerb::kRefresh:
      if (peer_ != 0) {
        Open(std::to_string(peer_));
      } else {
        ShowConversations();
      }
      return;
    case ShellVerb::kWrite:
      Write(command.rest);
      return;
    case ShellVerb::kEdit:
      Edit(command.rest);
      return;
    case ShellVerb::kDelete:
      Delete(command.rest);
      return;
    case ShellVerb::kUnread:
      Unread();
      return;
    case ShellVerb::kWho:
      Who(command.rest);
      return;
    case ShellVerb::kBlock:
    case ShellVerb::kUnblock:
    case ShellVerb::kBan:
    case ShellVerb::kUnban:
      Restrict(command.verb, command.rest);
      return;
    case ShellVerb::kClose:
      CloseConversation();
      return;
    case ShellVerb::kQuit:
      Quit();
      return;
    case ShellVerb::kUnknown:
      if (command.word == "/") {
        Say("Ouvrez d'abord une conversation (/ouvrir ID) pour envoyer un message.");
      } else {
        Say("Commande inconnue : " + Printable(command.word) + ". Tapez /aide.");
      }
      return;
  }
}

void InteractiveShell::Help() {
  std::string text =
      "Commandes (le / est facultatif hors conversation) :\n"
      "  /conversations, /c        vos conversations et leurs messages non lus\n"
      "  /ouvrir ID|NOM, /o        ouvrir la conversation avec un utilisateur\n"
      "  /plus, /p                 messages plus anciens de la conversation ouverte\n"
      "  /actualiser, /r           afficher à nouveau la conversation (ou la liste)\n"
      "  /ecrire [ID] [TEXTE], /w  écrire ; sans texte, plusieurs lignes terminées par\n"
      "                            une ligne contenant seulement « . »\n"
      "  /modifier ID [TEXTE], /e  modifier un de vos messages\n"
      "  /supprimer ID, /d         supprimer un de vos messages\n"
      "  /nonlus, /u               relever les messages non lus\n"
      "  /qui ID                   nom et rôle d'un utilisateur\n";
  if (CanRestrict()) {
    text +=
        "  /bloquer [ID] [HEURES]    bloquer un utilisateur (durée par défaut du serveur)\n"
        "  /debloquer [ID]           lever un blocage\n"
        "  /bannir [ID]              bannir un utilisateur (sans limite de durée)\n"
        "  /debannir [ID]            lever un bannissement\n";
  }
  text +=
      "  /fermer                   fermer la conversation\n"
      "  /aide                     cette aide\n"
      "  /quitter, /q, Ctrl-D      se déconnecter et sortir\n"
      "Dans une conversation, une ligne qui ne commence pas par / est envoyée telle\n"
      "quelle (« //texte » envoie « /texte »). Les heures sont locales.\n"
      "Édition : ←/→, Début/Fin, Ctrl-A/E, Ctrl-W/U/K, ↑/↓ pour l'historique.\n";
  Say(text);
}

// ------------------------------------------------------------------------ conversations

void InteractiveShell::ShowConversations() {
  const Reply reply = client_.GetConversations();
  if (!Check(reply)) return;
  LearnConversations(reply.frame.records);
  std::map<int64_t, int64_t> extra;
  for (const auto& [peer, messages] : stash_) {
    if (!messages.empty()) extra[peer] = static_cast<int64_t>(messages.size());
  }
  std::string text = formatter_.Conversations(conversations_, extra, Now());
  if (!conversations_.empty() && peer_ == 0) {
    text += formatter_.style().Dim("/ouvrir ID pour lire une conversation.") + "\n";
  }
  Say(text);
}

void InteractiveShell::Open(const std::string& argument) {
  const auto [word, ignored] = SplitFirstWord(argument);
  if (word.empty()) {
    Say("Usage : /ouvrir ID ou /ouvrir NOM (voir /conversations)");
    return;
  }
  // Keep the list fresh: names, roles and the server's unread counts.
  const Reply list = client_.GetConversations();
  if (!Check(list)) return;
  LearnConversations(list.frame.records);

  int64_t target = ParseTypedId(word).value_or(0);
  if (target == 0) {
    // A name, or a part of one, among the conversations.
    const std::string wanted = Lower(argument);
    std::vector<int64_t> matches;
    for (const Record& c : conversations_) {
      if (Lower(c.Get("peer-name")).find(wanted) != std::string::npos) {
        matches.push_back(c.GetInt("peer-id").value_or(0));
      }
    }
    if (matches.empty()) {
      Say("Aucune conversation avec « " + Printable(argument) +
          " ». Pour écrire à quelqu'un de nouveau : /ouvrir ID.");
      return;
    }
    if (matches.size() > 1) {
      std::string names;
      for (int64_t id : matches) names += "\n  " + formatter_.Describe(id);
      Say("Plusieurs conversations correspondent :" + names);
      return;
    }
    target = matches.front();
  }
  if (target == client_.identity().user_id) {
    Say("C'est vous : choisissez quelqu'un d'autre.");
    return;
  }
  if (!LearnUser(target)) return;

  // Received messages still unread are not in the history: fetch them first (they are
  // then read, and in the history). Other conversations' ones are kept for later.
  if (server_unread_[target] > 0) {
    const Reply unread = client_.GetUnread();
    if (!Check(unread)) return;
    for (const Record& m : unread.frame.records) {
      stash_[m.GetInt("sender-id").value_or(0)].push_back(m);
    }
    server_unread_.clear();
  }

  const Reply history = client_.GetHistory(target, 0);
  if (!Check(history)) return;
  peer_ = target;
  shown_.clear();
  oldest_shown_ = 0;
  has_more_ = history.frame.Get("has-more") == "yes";

  std::set<int64_t> fresh;
  for (const Record& m : stash_[target]) fresh.insert(m.GetInt("message-id").value_or(0));
  stash_.erase(target);

  const Style& style = formatter_.style();
  std::string text = style.Bold("── Conversation avec " + PeerTitle(target) + " ──") + "\n";
  if (has_more_) text += style.Dim("(/plus pour les messages plus anciens)") + "\n";
  const std::time_t now = Now();
  bool marked = false;
  for (const Record& m : history.frame.records) {
    if (!marked && fresh.contains(m.GetInt("message-id").value_or(0))) {
      text += style.Notice("── nouveaux messages ──") + "\n";
      marked = true;
    }
    text += formatter_.Message(m, now);
    Remember(m);
  }
  if (history.frame.records.empty()) text += style.Dim("Aucun message pour l'instant.") + "\n";
  text += style.Dim("Tapez votre message puis Entrée ; /ecrire pour plusieurs lignes ; "
                    "/fermer pour revenir.") + "\n";
  Say(text);
}

void InteractiveShell::ShowHistoryPage(bool older) {
  if (peer_ == 0) {
    Say("Aucune conversation ouverte : /ouvrir ID.");
    return;
  }
  if (older && !has_more_) {
    Say(formatter_.style().Dim("C'est le début de la conversation."));
    return;
  }
  const Reply history = client_.GetHistory(peer_, older ? oldest_shown_ : 0);
  if (!Check(history)) return;
  has_more_ = history.frame.Get("has-more") == "yes";
  const Style& style = formatter_.style();
  std::string text = style.Dim("── messages plus anciens ──") + "\n";
  const std::time_t now = Now();
  for (const Record& m : history.frame.records) {
    text += formatter_.Message(m, now);
    Remember(m);
  }
  text += style.Dim(has_more_ ? "(/plus pour remonter encore)" : "(début de la conversation)") +
          "\n";
  Say(text);
}

void InteractiveShell::CloseConversation() {
  if (peer_ == 0) {
    Say("Aucune conversation ouverte.");
    return;
  }
  peer_ = 0;
  shown_.clear();
  ShowConversations();
}

// ------------------------------------------------------------------------ writing

std::optional<std::string> InteractiveShell::Compose(const std::string& intro,
                                                     const std::string& initial) {
  Say(formatter_.style().Dim(intro + " Terminez par une ligne contenant seulement « . » "
                             "(Ctrl-C pour annuler)."));
  std::vector<std::string> lines;
  std::string first = initial.find('\n') == std::string::npos ? initial : "";
  for (;;) {
    std::string line;
    const LineEditor::Result result =
        editor_.ReadLine(formatter_.style().Dim("… "), &line, lines.empty() ? first : "");
    if (result == LineEditor::Result::kInterrupted) {
      Say("Annulé.");
      return std::nullopt;
    }
    if (result == LineEditor::Result::kEof || line == ".") break;
    editor_.AddHistory(line);  // a refused message can be typed again with Up
    lines.push_back(line == ".." ? "." : line);
  }
  std::string text;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) text += '\n';
    text += lines[i];
  }
  if (text.find_first_not_of(" \t\n") == std::string::npos) {
    Say("Message vide : rien n'a été envoyé.");
    return std::nullopt;
  }
  return text;
}

void InteractiveShell::Write(const std::string& argument) {
  auto [word, rest] = SplitFirstWord(argument);
  int64_t recipient = peer_;
  std::string text = argument;
  if (const std::optional<int64_t> id = ParseTypedId(word)) {
    recipient = *id;
    text = rest;
  }
  if (recipient == 0) {
    Say("Usage : /ecrire ID [TEXTE] (ou ouvrez une conversation)");
    return;
  }
  if (recipient == client_.identity().user_id) {
    Say("Vous ne pouvez pas vous écrire à vous-même.");
    return;
  }
  if (text.empty()) {
    if (!LearnUser(recipient)) return;
    std::optional<std::string> composed =
        Compose("Message pour " + formatter_.Describe(recipient) + ".", "");
    if (!composed) return;
    text = std::move(*composed);
  }
  SendText(recipient, text);
}

void InteractiveShell::SendText(int64_t recipient, const std::string& text) {
  if (recipient == 0) return;
  if (!IsValidUtf8(text)) {
    Say("Ce texte n'est pas de l'UTF-8 valide : rien n'a été envoyé.");
    return;
  }
  const Reply reply = client_.SendMessage(recipient, text);
  if (!Check(reply)) {
    Say(formatter_.style().Dim("(rien n'a été envoyé ; ↑ retrouve votre texte)"));
    return;
  }
  Record sent;
  sent.Add("message-id", reply.frame.Get("message-id"));
  sent.Add("sender-id", std::to_string(client_.identity().user_id));
  sent.Add("recipient-id", std::to_string(recipient));
  sent.Add("direction", "sent");
  sent.Add("sent-at", reply.frame.Get("sent-at"));
  sent.Add("content", text);
  if (recipient == peer_) {
    Remember(sent);
    Say(formatter_.Message(sent, Now()));
  } else {
    LearnUser(recipient);
    Say("Message #" + reply.frame.Get("message-id") + " envoyé à " +
        formatter_.Describe(recipient) + ".");
  }
}

void InteractiveShell::Edit(const std::string& argument) {
  auto [word, text] = SplitFirstWord(argument);
  const int64_t id = IdArgument(word, false, "/modifier ID [NOUVEAU TEXTE]");
  if (id == 0) return;
  const auto known = shown_.find(id);
  if (known != shown_.end() && !formatter_.IsMine(known->second)) {
    Say("Le message #" + std::to_string(id) + " n'est pas le vôtre : seul son auteur peut le "
        "modifier.");
    return;
  }
  if (text.empty()) {
    std::string old;
    if (known != shown_.end()) {
      old = known->second.Get("content");
      if (old.find('\n') != std::string::npos) {
        Say(formatter_.style().Dim("Texte actuel :") + "\n" + Printable(old));
      }
    }
    std::optional<std::string> composed =
        Compose("Nouveau texte du message #" + std::to_string(id) + ".", old);
    if (!composed) return;
    text = std::move(*composed);
  }
  const Reply reply = client_.UpdateMessage(id, text);
  if (!Check(reply)) return;
  if (known != shown_.end()) {
    Record updated;
    for (const Field& f : known->second.fields()) {
      if (f.key != "content" && f.key != "message-length" && f.key != "modified-at" &&
          f.key != "modified-ago") {
        updated.Add(f.key, f.value);
      }
    }
    updated.Add("modified-at", reply.frame.Get("modified-at"));
    updated.Add("modified-ago", "quelques secondes");
    updated.Add("content", text);
    shown_[id] = updated;
    Say(formatter_.Message(updated, Now()));
  } else {
    Say("Message #" + std::to_string(id) + " modifié.");
  }
}

bool InteractiveShell::Confirm(const std::string& question) {
  std::string answer;
  const LineEditor::Result result = editor_.ReadLine(question + " (o/N) ", &answer);
  if (result != LineEditor::Result::kLine) return false;
  const std::string lower = Lower(answer);
  return lower == "o" || lower == "oui" || lower == "y" || lower == "yes";
}

void InteractiveShell::Delete(const std::string& argument) {
  const auto [word, ignored] = SplitFirstWord(argument);
  const int64_t id = IdArgument(word, false, "/supprimer ID");
  if (id == 0) return;
  const auto known = shown_.find(id);
  std::string what = "le message #" + std::to_string(id);
  if (known != shown_.end()) {
    if (!formatter_.IsMine(known->second) && client_.identity().role != "admin") {
      Say("Le message #" + std::to_string(id) + " n'est pas le vôtre : seul son auteur peut le "
          "supprimer.");
      return;
    }
    what += " (« " + Printable(FirstLine(known->second.Get("content"))) + " »)";
  }
  if (!Confirm("Supprimer " + what + " ?")) {
    Say("Rien n'a été supprimé.");
    return;
  }
  const Reply reply = client_.DeleteMessage(id);
  if (!Check(reply)) return;
  shown_.erase(id);
  Say("Message #" + std::to_string(id) + " supprimé.");
}

// ------------------------------------------------------------------------ unread, users

void InteractiveShell::Unread() {
  const Reply reply = client_.GetUnread();
  if (!Check(reply)) return;
  server_unread_.clear();
  std::map<int64_t, std::vector<Record>> by_sender = std::move(stash_);
  stash_.clear();
  for (const Record& m : reply.frame.records) {
    by_sender[m.GetInt("sender-id").value_or(0)].push_back(m);
  }
  if (by_sender.empty()) {
    Say("Aucun message non lu.");
    return;
  }
  const Style& style = formatter_.style();
  const std::time_t now = Now();
  std::string text;
  for (auto& [sender, messages] : by_sender) {
    LearnUser(sender);
    text += style.Bold("── de " + PeerTitle(sender) + " ──") + "\n";
    for (const Record& m : messages) {
      text += formatter_.Message(m, now);
      if (sender == peer_) Remember(m);
    }
  }
  Say(text);
}

void InteractiveShell::Who(const std::string& argument) {
  const auto [word, ignored] = SplitFirstWord(argument);
  const int64_t id = IdArgument(word, true, "/qui ID");
  if (id == 0) return;
  const Reply info = client_.UserInfo(id);
  if (!Check(info)) return;
  formatter_.SetName(id, info.frame.Get("name"));
  roles_[id] = info.frame.Get("role");
  Say(formatter_.style().Peer(Printable(info.frame.Get("name"))) + " — " +
      Printable(info.frame.Get("role")) + ", #" + std::to_string(id));
}

void InteractiveShell::Restrict(ShellVerb verb, const std::string& argument) {
  if (!CanRestrict()) {
    Say("Bloquer et bannir sont réservés aux professionnels et aux administrateurs.");
    return;
  }
  // The id comes first; the open conversation's peer is taken only when none is given.
  auto [word, rest] = SplitFirstWord(argument);
  const char* usage = verb == ShellVerb::kBlock     ? "/bloquer [ID] [HEURES]"
                      : verb == ShellVerb::kUnblock ? "/debloquer [ID]"
                      : verb == ShellVerb::kBan     ? "/bannir [ID]"
                                                    : "/debannir [ID]";
  const int64_t id = IdArgument(word, true, usage);
  if (id == 0) return;
  int64_t hours = 0;
  if (verb == ShellVerb::kBlock && !rest.empty()) {
    const std::optional<int64_t> parsed = ParseTypedId(SplitFirstWord(rest).first);
    if (!parsed) {
      Say(std::string("Durée invalide. Usage : ") + usage);
      return;
    }
    hours = *parsed;
  }
  LearnUser(id);
  Reply reply;
  switch (verb) {
    case ShellVerb::kBlock:
      reply = client_.Block(id, hours);
      break;
    case ShellVerb::kUnblock:
      reply = client_.Unblock(id);
      break;
    case ShellVerb::kBan:
      reply = client_.Ban(id);
      break;
    default:
      reply = client_.Unban(id);
      break;
  }
  if (!Check(reply)) return;
  const std::string who = formatter_.Describe(id);
  switch (verb) {
    case ShellVerb::kBlock: {
      const std::string until = reply.frame.Get("until");
      Say(who + " est bloqué" + (until.empty() ? "" : " jusqu'au " + DateTimeOf(until)) + ".");
      break;
    }
    case ShellVerb::kUnblock:
      Say(who + " n'est plus bloqué.");
      break;
    case ShellVerb::kBan:
      Say(who + " est banni.");
      break;
    default:
      Say(who + " n'est plus banni.");
      break;
  }
}

void InteractiveShell::Quit() {
  quit_ = true;
  client_.Disconnect();
  Say("À bientôt !");
}

// ------------------------------------------------------------------------ live updates

void InteractiveShell::SetUpLiveUpdates() {
  const Reply subscribe = client_.Subscribe();
  if (subscribe.ok()) {
    live_ = Live::kEvents;
    return;
  }
  const Reply changes = client_.PollChanges();
  if (changes.ok()) {
    live_ = Live::kPollChanges;
    return;
  }
  live_ = Live::kPollConversations;
  Say(formatter_.style().Dim(
      "(pas d'événements en direct sur ce serveur : les nouveaux messages sont vérifiés "
      "toutes les " + std::to_string(settings_.poll_period.count()) + " s)"));
}

void InteractiveShell::OnSocketReadable() {
  std::string error;
  if (!client_.Pump(&error)) {
    ShowEvents();
    // The gateway closed the connection (idle, restart). Without live events the next
    // request reconnects; with them, reconnect now so that they resume.
    if (live_ != Live::kEvents) return;
    std::string reconnect_error;
    if (client_.Reconnect(&reconnect_error)) {
      client_.TakeReconnected();
      if (live_ == Live::kEvents && !client_.subscribed()) live_ = Live::kPollConversations;
    } else {
      Reply failed;
      failed.transport_error = reconnect_error;
      NoteConnection(failed);
    }
  }
  ShowEvents();
}

void InteractiveShell::OnTick() {
  // Without a server, try again only every sixth tick: a connection attempt to an
  // unreachable host holds the keyboard for a while.
  if (offline_ && ++offline_ticks_ % 6 != 0) return;
  switch (live_) {
    case Live::kEvents: {
      NoteConnection(client_.Ping());
      break;
    }
    case Live::kPollChanges: {
      const Reply changes = client_.PollChanges();
      NoteConnection(changes);
      if (changes.ok()) {
        for (const Record& change : changes.frame.records) ShowChange(change);
      }
      break;
    }
    case Live::kPollConversations:
      PollConversations();
      break;
  }
  ShowEvents();
}

void InteractiveShell::ShowEvents() {
  for (const Frame& event : client_.TakeEvents()) {
    for (const Record& change : event.records) ShowChange(change);
  }
}

void InteractiveShell::ShowChange(const Record& change) {
  const std::string kind = change.Get("change");
  const int64_t id = change.GetInt("message-id").value_or(0);
  const int64_t sender = change.GetInt("sender-id").value_or(0);
  const std::time_t now = Now();
  if (kind == "message_deleted") {
    if (shown_.erase(id) > 0) Say(formatter_.Change(change, now));
    for (auto& [peer, messages] : stash_) {
      std::erase_if(messages, [id](const Record& m) { return m.GetInt("message-id") == id; });
    }
    return;
  }
  if (sender == client_.identity().user_id) return;  // our own, from another device
  LearnUser(sender);
  if (sender == peer_ && peer_ != 0) {
    const bool known = shown_.contains(id);
    Remember(change);
    if (kind == "message_updated" && known) {
      Say(formatter_.style().Dim("message modifié :") + "\n" + formatter_.Message(change, now));
    } else {
      Say(formatter_.Message(change, now));
    }
    return;
  }
  // Another conversation: keep it to show when that conversation is opened.
  std::vector<Record>& kept = stash_[sender];
  std::erase_if(kept, [id](const Record& m) { return m.GetInt("message-id") == id; });
  kept.push_back(change);
  const std::string what = kind == "message_updated" ? "Message modifié par " : "Nouveau message de ";
  Notice(what + formatter_.Describe(sender) + " : « " +
         Printable(FirstLine(change.Get("content"))) + " » — /ouvrir " + std::to_string(sender));
}

void InteractiveShell::FetchUnreadIntoConversation() {
  const Reply unread = client_.GetUnread();
  NoteConnection(unread);
  if (!unread.ok()) return;
  const std::time_t now = Now();
  std::string text;
  for (const Record& m : unread.frame.records) {
    const int64_t sender = m.GetInt("sender-id").value_or(0);
    if (sender == peer_ && peer_ != 0) {
      text += formatter_.Message(m, now);
      Remember(m);
    } else {
      stash_[sender].push_back(m);
    }
  }
  if (!text.empty()) Say(text);
}

void InteractiveShell::PollConversations() {
  const Reply reply = client_.GetConversations();
  NoteConnection(reply);
  if (!reply.ok()) return;
  const std::map<int64_t, int64_t> before = server_unread_;
  LearnConversations(reply.frame.records);
  bool fetch = false;
  for (const auto& [peer, unread] : server_unread_) {
    const auto it = before.find(peer);
    const int64_t was = it == before.end() ? 0 : it->second;
    if (unread <= was) continue;
    if (peer == peer_) {
      fetch = true;
    } else {
      const int64_t added = unread - was;
      Notice((added == 1 ? std::string("Nouveau message de ")
                         : std::to_string(added) + " nouveaux messages de ") +
             formatter_.Describe(peer) + " — /ouvrir " + std::to_string(peer));
    }
  }
  if (fetch) {
    FetchUnreadIntoConversation();
    // Everything unread was fetched: the server's counts are now zero.
    for (auto& [peer, unread] : server_unread_) unread = 0;
  }
}

}  // namespace tchatator::client
