#include "gateway/client/script_runner.h"

#include <unistd.h>

#include <iostream>
#include <iterator>
#include <set>

#include "gateway/client/api_key.h"
#include "gateway/client/error_description.h"
#include "gateway/client/json_writer.h"
#include "gateway/client/utf8_text.h"

namespace tchatator::client {
namespace {

void Out(std::string_view text) { std::cout << text << std::flush; }

int UsageError(const std::string& message) {
  std::cerr << "tchatator: " << message << "\n";
  return kExitUsage;
}

// The text of `send`: the words given, or all of standard input (one final newline
// dropped, as `echo` adds one).
std::string ReadStandardInput() {
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (text.ends_with("\r\n")) {
    text.resize(text.size() - 2);
  } else if (text.ends_with('\n')) {
    text.pop_back();
  }
  return text;
}

// An error of the text (before anything is sent), or "".
std::string CheckText(const std::string& text) {
  if (!IsValidUtf8(text)) return "le texte n'est pas de l'UTF-8 valide";
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return "message vide : rien à envoyer";
  return "";
}

}  // namespace

int ReportFailure(const Reply& reply, std::time_t now, const std::string& context) {
  if (reply.transport_failed()) {
    std::cerr << "tchatator: " << reply.transport_error << "\n";
    return kExitUnavailable;
  }
  std::cerr << reply.frame.status_line << "\n";
  std::string explanation = DescribeError(reply.frame, now);
  const std::string token = reply.frame.Get("error");
  if (!token.empty()) explanation += " [" + token + "]";
  if (!context.empty()) explanation += "\n" + context;
  std::cerr << "tchatator: " << explanation << "\n";
  return ExitCodeForStatus(reply.frame.code);
}

ScriptRunner::ScriptRunner(const Options& options, bool color)
    : options_(options), formatter_(0, Style(color)), now_(std::time(nullptr)) {}

int ScriptRunner::Run() {
  std::string inline_error;
  if (options_.mode == Mode::kSend && options_.text) {
    inline_error = CheckText(*options_.text);
    if (!inline_error.empty()) return UsageError(inline_error);
  }
  const ApiKey key = LoadApiKey(options_.key_file);
  if (!key.error.empty()) return UsageError(key.error);

  ChatClient client(options_.server, key.value);
  const Reply login = client.Login();
  if (!login.ok()) {
    std::string context;
    if (login.frame.Get("error") == "invalid-api-key") {
      context = "tchatator: clé lue dans " + key.origin + " ; vérifiez-la (tchatator-admin user " +
                "regen-key en donne une nouvelle)";
    }
    return ReportFailure(login, now_, context);
  }
  formatter_.SetMyId(client.identity().user_id);

  int status = kExitOther;
  switch (options_.mode) {
    case Mode::kSend:
      status = Send(client);
      break;
    case Mode::kUnread:
      status = Unread(client);
      break;
    case Mode::kHistory:
      status = History(client);
      break;
    default:
      break;
  }
  client.Disconnect();
  return status;
}

void ScriptRunner::LearnNames(ChatClient& client, const std::vector<Record>& records) {
  std::set<int64_t> ids;
  for (const Record& r : records) {
    for (const char* key : {"sender-id", "recipient-id"}) {
      const int64_t id = r.GetInt(key).value_or(0);
      if (id > 0 && id != formatter_.my_id()) ids.insert(id);
    }
  }
  for (int64_t id : ids) {
    const Reply info = client.UserInfo(id);
    if (info.ok()) formatter_.SetName(id, info.frame.Get("name"));
  }
}

int ScriptRunner::Send(ChatClient& client) {
  std::string text;
  if (options_.text) {
    text = *options_.text;
  } else {
    if (isatty(STDIN_FILENO) == 1) {
      std::cerr << "Tapez le message (plusieurs lignes possibles), puis Ctrl-D.\n";
    }
    text = ReadStandardInput();
    const std::string error = CheckText(text);
    if (!error.empty()) return UsageError(error);
  }
  const Reply reply = client.SendMessage(options_.to, text);
  if (!reply.ok()) return ReportFailure(reply, now_);
  if (options_.json) {
    JsonWriter json;
    json.BeginObject()
        .Key("message_id")
        .Int(reply.frame.GetInt("message-id").value_or(0))
        .Key("sent_at")
        .String(reply.frame.Get("sent-at"))
        .EndObject();
    Out(std::move(json).Finish());
  } else {
    Out(reply.frame.Get("message-id") + "\n");
  }
  return kExitOk;
}

int ScriptRunner::Unread(ChatClient& client) {
  const Reply reply = client.GetUnread();
  if (!reply.ok()) return ReportFailure(reply, now_);
  const std::vector<Record>& messages = reply.frame.records;
  if (options_.json) {
    JsonWriter json;
    json.BeginObject().Key("count").Int(static_cast<int64_t>(messages.size()));
    json.Key("messages").BeginArray();
    for (const Record& m : messages) WriteMessageJson(json, m);
    json.EndArray().EndObject();
    Out(std::move(json).Finish());
    return kExitOk;
  }
  if (messages.empty()) {
    if (isatty(STDOUT_FILENO) == 1) Out("Aucun message non lu.\n");
    return kExitOk;
  }
  LearnNames(client, messages);
  std::string out;
  for (const Record& m : messages) out += formatter_.Message(m, now_);
  Out(out);
  return kExitOk;
}

int ScriptRunner::History(ChatClient& client) {
  if (options_.with > 0 && options_.with == client.identity().user_id) {
    return UsageError("--with : c'est votre propre identifiant");
  }
  const Reply reply = client.GetHistory(options_.with, options_.before);
  if (!reply.ok()) return ReportFailure(reply, now_);
  const std::vector<Record>& messages = reply.frame.records;
  const bool has_more = reply.frame.Get("has-more") == "yes";
  if (options_.json) {
    JsonWriter json;
    json.BeginObject().Key("count").Int(static_cast<int64_t>(messages.size()));
    json.Key("has_more").Bool(has_more);
    json.Key("messages").BeginArray();
    for (const Record& m : messages) WriteMessageJson(json, m);
    json.EndArray().EndObject();
    Out(std::move(json).Finish());
    return kExitOk;
  }
  const bool tty = isatty(STDOUT_FILENO) == 1;
  if (messages.empty()) {
    if (tty) Out("Aucun message.\n");
    return kExitOk;
  }
  LearnNames(client, messages);
  std::string out;
  for (const Record& m : messages) out += formatter_.Message(m, now_, options_.with == 0);
  if (has_more && tty) {
    std::string more = "tchatator history";
    if (options_.with > 0) more += " --with " + std::to_string(options_.with);
    more += " --before " + messages.front().Get("message-id");
    out += formatter_.style().Dim("(messages plus anciens : " + more + ")") + "\n";
  }
  Out(out);
  return kExitOk;
}

}  // namespace tchatator::client
