#include "core-service/chat_service.h"

#include "common/strings.h"
#include "core-service/proto_convert.h"

namespace tchatator::core {

template <typename Body>
grpc::ServerUnaryReactor* ChatService::Authenticated(grpc::CallbackServerContext* context,
                                                     std::string_view method, Body body) {
  return runner_.Run(context, method,
                     [this, context, body = std::move(body)](std::string& user) -> absl::Status {
                       absl::StatusOr<Caller> caller = logic_.Authenticate(BearerToken(*context));
                       if (!caller.ok()) return caller.status();
                       user = StrCat(caller->user_id);
                       return body(*caller);
                     });
}

void ChatService::Fill(const storage::Message& message, const Caller& caller,
                       v1::Message& out) const {
  out.set_message_id(message.id);
  out.set_sender_id(message.sender_id);
  out.set_recipient_id(message.recipient_id);
  out.set_direction(message.sender_id == caller.user_id ? v1::DIRECTION_SENT
                                                        : v1::DIRECTION_RECEIVED);
  ToTimestamp(message.sent_at, *out.mutable_sent_at());
  if (message.modified_at) {
    ToTimestamp(*message.modified_at, *out.mutable_modified_at());
    out.set_modified_ago(ModifiedAgo(logic_.clock().Now() - *message.modified_at));
  }
  out.set_read(message.read);
  out.set_content(message.content);
}

grpc::ServerUnaryReactor* ChatService::Login(grpc::CallbackServerContext* context,
                                             const v1::LoginRequest* request,
                                             v1::LoginResponse* response) {
  return runner_.Run(context, "Login", [this, request, response](std::string& user) {
    absl::StatusOr<LoginResult> result = logic_.Login(request->api_key());
    if (!result.ok()) return result.status();
    user = StrCat(result->user.id);
    response->set_token(result->token);
    response->set_user_id(result->user.id);
    response->set_role(ToProtoRole(result->user.role));
    ToTimestamp(result->expires_at, *response->mutable_expires_at());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ChatService::Logout(grpc::CallbackServerContext* context,
                                              const v1::LogoutRequest*, v1::LogoutResponse*) {
  return Authenticated(context, "Logout",
                       [this](const Caller& caller) { return logic_.Logout(caller); });
}

grpc::ServerUnaryReactor* ChatService::SendMessage(grpc::CallbackServerContext* context,
                                                   const v1::SendMessageRequest* request,
                                                   v1::SendMessageResponse* response) {
  return Authenticated(context, "SendMessage", [this, request, response](const Caller& caller) {
    absl::StatusOr<storage::Message> message =
        logic_.Send(caller, request->recipient_id(), request->content());
    if (!message.ok()) return message.status();
    response->set_message_id(message->id);
    ToTimestamp(message->sent_at, *response->mutable_sent_at());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ChatService::UpdateMessage(grpc::CallbackServerContext* context,
                                                     const v1::UpdateMessageRequest* request,
                                                     v1::UpdateMessageResponse* response) {
  return Authenticated(context, "UpdateMessage", [this, request, response](const Caller& caller) {
    absl::StatusOr<storage::Message> message =
        logic_.Update(caller, request->message_id(), request->content());
    if (!message.ok()) return message.status();
    response->set_message_id(message->id);
    ToTimestamp(message->modified_at.value_or(message->sent_at),
                *response->mutable_modified_at());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ChatService::DeleteMessage(grpc::CallbackServerContext* context,
                                                     const v1::DeleteMessageRequest* request,
                                                     v1::DeleteMessageResponse* response) {
  return Authenticated(context, "DeleteMessage", [this, request, response](const Caller& caller) {
    if (absl::Status s = logic_.Delete(caller, request->message_id()); !s.ok()) return s;
    response->set_message_id(request->message_id());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ChatService::ListUnread(grpc::CallbackServerContext* context,
                                                  const v1::ListUnreadRequest*,
                                                  v1::ListUnreadResponse* response) {
  return Authenticated(context, "ListUnread", [this, response](const Caller& caller) {
    absl::StatusOr<std::vector<storage::Message>> messages = logic_.TakeUnread(caller);
    if (!messages.ok()) return messages.status();
    for (const storage::Message& m : *messages) Fill(m, caller, *response->add_messages());
    return absl::OkStatus();
  });
}

}  // namespace tchatator::core
