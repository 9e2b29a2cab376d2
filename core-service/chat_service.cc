#include "core-service/chat_service.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "grpcpp/alarm.h"

#include "common/strings.h"
#include "core-service/proto_convert.h"
#include "core-service/subscription.h"
#include "storage/combiner.h"

namespace tchatator::core {

template <typename Body>
grpc::ServerUnaryReactor* ChatService::AuthenticatedAsync(grpc::CallbackServerContext* context,
                                                          std::string_view method, Body body) {
  return runner_.RunAsync(
      context, method, [this, context, body = std::move(body)](RpcRunner::Finisher finish) {
        logic_.AuthenticateAsync(
            BearerToken(*context),
            [body, finish = std::move(finish)](absl::StatusOr<Caller> caller) {
              if (!caller.ok()) return finish("", caller.status());
              body(*std::move(caller), finish);
            });
      });
}

template <typename Body>
grpc::ServerUnaryReactor* ChatService::Authenticated(grpc::CallbackServerContext* context,
                                                     std::string_view method, Body body) {
  return AuthenticatedAsync(
      context, method,
      [this, body = std::move(body)](Caller caller, const RpcRunner::Finisher& finish) {
        runner_.Post([body, finish, caller = std::move(caller)] {
          finish(StrCat(caller.user_id), body(caller));
        });
      });
}

void ChatService::Fill(const storage::Message& message, const Caller& caller,
                       v1::Message& out) const {
  FillMessage(message, caller.user_id, logic_.clock().Now(), out);
}

grpc::ServerUnaryReactor* ChatService::Login(grpc::CallbackServerContext* context,
                                             const v1::LoginRequest* request,
                                             v1::LoginResponse* response) {
  return runner_.Run(context, "Login", [this, context, request, response](std::string& user) {
    absl::StatusOr<LoginResult> result = logic_.Login(request->api_key(), ClientIp(*context));
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
  return runner_.Run(context, "Logout", [this, context](std::string& user) -> absl::Status {
    absl::StatusOr<int64_t> ended = logic_.Logout(BearerToken(*context));
    if (!ended.ok()) return ended.status();
    user = StrCat(*ended);
    return absl::OkStatus();
  });
}

void ChatService::Send(std::string_view token, const v1::SendMessageRequest& request,
                       absl::Time deadline, v1::SendMessageResponse* response,
                       RpcRunner::Finisher finish) {
  // The busiest call: no worker thread waits for its database round trips (a session
  // this core has not seen yet is looked up, then the send's batch checks the session
  // and stores); each step runs where the previous one's batch ended.
  logic_.AuthenticateToSendAsync(
      token, [this, &request, deadline, response,
              finish = std::move(finish)](absl::StatusOr<Caller> caller) {
        if (!caller.ok()) return finish("", caller.status());
        logic_.SendAsync(*caller, request.recipient_id(), request.content(), deadline,
                         [response, user = StrCat(caller->user_id),
                          finish](absl::StatusOr<storage::Message> message) {
                           if (message.ok()) {
                             response->set_message_id(message->id);
                             ToTimestamp(message->sent_at, *response->mutable_sent_at());
                           }
                           // As for a session looked up: no user for one not in force.
                           finish(absl::IsUnauthenticated(message.status()) ? "" : user,
                                  message.status());
                         });
      });
}

grpc::ServerUnaryReactor* ChatService::SendMessage(grpc::CallbackServerContext* context,
                                                   const v1::SendMessageRequest* request,
                                                   v1::SendMessageResponse* response) {
  return runner_.RunAsync(
      context, "SendMessage", [this, context, request, response](RpcRunner::Finisher finish) {
        Send(BearerToken(*context), *request, FromSystemTime(context->deadline()), response,
             std::move(finish));
      });
}

namespace {

// What a failed SendMessage would have answered, into its SendMessages outcome.
void SetFailure(const absl::Status& status, v1::SendMessageOutcome& outcome) {
  GrpcError error = ToGrpcError(status);
  outcome.set_code(static_cast<int32_t>(error.code));
  outcome.set_message(std::move(error.message));
  outcome.set_error(std::move(error.token));
  outcome.set_retry_after(std::move(error.retry_after));
  outcome.set_until(std::move(error.until));
}

// One SendMessages call while its sends run. The RPC ends with its last send, or just
// before its deadline with the sends still running answered DEADLINE_EXCEEDED (as their
// own SendMessage calls would have been): one slow send must not cost the others their
// answers. The sends work on copies of their requests, which outlive the RPC.
struct SendMessagesCall {
  explicit SendMessagesCall(const v1::SendMessagesRequest& r) : request(r) {
    sent.resize(static_cast<size_t>(request.calls_size()));
    answered.resize(sent.size());
    for (int i = 0; i < request.calls_size(); ++i) outcomes.add_outcomes();
  }

  // Under mu: ends the RPC with the outcomes so far.
  void FinishLocked() {
    for (int i = 0; i < outcomes.outcomes_size(); ++i) {
      if (answered[static_cast<size_t>(i)]) continue;
      SetFailure(absl::DeadlineExceededError("the send did not end before the call's deadline"),
                 *outcomes.mutable_outcomes(i));
    }
    response->Swap(&outcomes);
    reactor->Finish(grpc::Status::OK);
    reactor = nullptr;
  }

  const v1::SendMessagesRequest request;
  std::vector<v1::SendMessageResponse> sent;  // each send's own response
  grpc::Alarm before_deadline;
  std::mutex mu;
  int pending = 0;                                // guarded by mu
  grpc::ServerUnaryReactor* reactor = nullptr;    // guarded by mu; null once finished
  v1::SendMessagesResponse* response = nullptr;   // guarded by mu
  v1::SendMessagesResponse outcomes;              // guarded by mu
  std::vector<bool> answered;                     // guarded by mu
};

}  // namespace

grpc::ServerUnaryReactor* ChatService::SendMessages(grpc::CallbackServerContext* context,
                                                    const v1::SendMessagesRequest* request,
                                                    v1::SendMessagesResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const int n = request->calls_size();
  if (n > kMaxSendCalls) {
    const absl::Status refused = Error(absl::StatusCode::kInvalidArgument, "bad-request",
                                       StrCat("more than ", kMaxSendCalls, " calls"));
    RpcRunner::LogCall("SendMessages", "", ClientIp(*context), "", refused);
    reactor->Finish(ToGrpcStatus(refused, *context));
    return reactor;
  }
  if (n == 0) {
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  auto call = std::make_shared<SendMessagesCall>(*request);
  call->reactor = reactor;
  call->response = response;
  call->pending = n;
  const auto deadline = context->deadline();
  const auto now = std::chrono::system_clock::now();
  // When the sends still running are answered DEADLINE_EXCEEDED: none may be stored
  // after that.
  absl::Time answer_by = absl::InfiniteFuture();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    // Early enough for the answer to reach the caller before it gives up, even from a
    // busy machine.
    const auto margin = std::min<std::chrono::system_clock::duration>(
        std::chrono::milliseconds(250),
        std::max(deadline - now, std::chrono::system_clock::duration::zero()) / 4);
    // A weak reference: the alarm is part of the call, which its sends own.
    answer_by = absl::FromChrono(deadline - margin);
    std::weak_ptr<SendMessagesCall> weak = call;
    call->before_deadline.Set(deadline - margin, [weak](bool fired) {
      std::shared_ptr<SendMessagesCall> alive = weak.lock();
      if (!fired || !alive) return;
      std::lock_guard lock(alive->mu);
      if (alive->reactor != nullptr) alive->FinishLocked();
    });
  }
  // Every send queued before a batch takes any: the RPC ends with its last send, so its
  // sends should share batches rather than spread over several in a row.
  storage::HeldBatches held([this](std::function<void()> task) { runner_.Post(std::move(task)); });
  for (int i = 0; i < n; ++i) {
    const v1::SendMessageCall& c = call->request.calls(i);
    std::string ip = IpAddressIn(c.client_ip());
    if (ip.empty()) ip = ClientIp(*context);
    Send(c.token(), c.request(), answer_by, &call->sent[static_cast<size_t>(i)],
         [call, i, ip = std::move(ip), request_id = RequestIdIn(c.request_id())](
             const std::string& user, const absl::Status& status) {
           RpcRunner::LogCall("SendMessage", user, ip, request_id, status);
           std::lock_guard lock(call->mu);
           if (call->reactor == nullptr) return;  // answered DEADLINE_EXCEEDED already
           call->answered[static_cast<size_t>(i)] = true;
           v1::SendMessageOutcome& outcome = *call->outcomes.mutable_outcomes(i);
           if (status.ok()) {
             outcome.set_code(grpc::StatusCode::OK);
             outcome.mutable_response()->Swap(&call->sent[static_cast<size_t>(i)]);
           } else {
             SetFailure(status, outcome);
           }
           if (--call->pending == 0) {
             call->FinishLocked();
             call->before_deadline.Cancel();
           }
         });
  }
  return reactor;
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
  return Authenticated(context, "DeleteMessage",
                       [this, context, request, response](const Caller& caller) {
    absl::Status s = logic_.Delete(caller, request->message_id(), CommitBy(*context));
    if (!s.ok()) return s;
    response->set_message_id(request->message_id());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ChatService::ListUnread(grpc::CallbackServerContext* context,
                                                  const v1::ListUnreadRequest*,
                                                  v1::ListUnreadResponse* response) {
  return Authenticated(context, "ListUnread", [this, context, response](const Caller& caller) {
    absl::StatusOr<std::vector<storage::Message>> messages =
        logic_.TakeUnread(caller, CommitBy(*context));
    if (!messages.ok()) return messages.status();
    for (const storage::Message& m : *messages) Fill(m, caller, *response->add_messages());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ChatService::ListHistory(grpc::CallbackServerContext* context,
                                                   const v1::ListHistoryRequest* request,
                                                   v1::ListHistoryResponse* response) {
  return Authenticated(context, "ListHistory", [this, request, response](const Caller& caller) {
    absl::StatusOr<ChatLogic::HistoryBlock> block =
        logic_.History(caller, request->user_id(), request->before_id());
    if (!block.ok()) return block.status();
    for (const storage::Message& m : block->messages) Fill(m, caller, *response->add_messages());
    response->set_has_more(block->has_more);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ChatService::ListConversations(
    grpc::CallbackServerContext* context, const v1::ListConversationsRequest*,
    v1::ListConversationsResponse* response) {
  return Authenticated(context, "ListConversations", [this, response](const Caller& caller) {
    absl::StatusOr<std::vector<storage::Conversation>> list = logic_.Conversations(caller);
    if (!list.ok()) return list.status();
    for (const storage::Conversation& c : *list) {
      v1::Conversation& out = *response->add_conversations();
      out.set_peer_id(c.peer.id);
      out.set_peer_name(c.peer.name);
      out.set_peer_role(ToProtoRole(c.peer.role));
      out.set_last_message_id(c.last_message_id);
      ToTimestamp(c.last_at, *out.mutable_last_at());
      out.set_unread(c.unread);
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ChatService::GetUser(grpc::CallbackServerContext* context,
                                               const v1::GetUserRequest* request,
                                               v1::User* response) {
  return Authenticated(context, "GetUser", [this, request, response](const Caller&) {
    absl::StatusOr<storage::User> user = logic_.GetUser(request->user_id());
    if (!user.ok()) return user.status();
    response->set_user_id(user->id);
    response->set_name(user->name);
    response->set_role(ToProtoRole(user->role));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ChatService::Restrict(grpc::CallbackServerContext* context,
                                                std::string_view method,
                                                storage::RestrictionKind kind,
                                                const v1::RestrictRequest* request,
                                                v1::RestrictResponse* response) {
  return Authenticated(context, method, [this, kind, request, response](const Caller& caller) {
    absl::StatusOr<std::optional<absl::Time>> until =
        logic_.Restrict(caller, request->user_id(), kind, request->duration_hours());
    if (!until.ok()) return until.status();
    response->set_user_id(request->user_id());
    if (*until) ToTimestamp(**until, *response->mutable_until());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ChatService::Lift(grpc::CallbackServerContext* context,
                                            std::string_view method,
                                            storage::RestrictionKind kind,
                                            const v1::LiftRequest* request,
                                            v1::LiftResponse* response) {
  return Authenticated(context, method, [this, kind, request, response](const Caller& caller) {
    if (absl::Status s = logic_.Lift(caller, request->user_id(), kind); !s.ok()) return s;
    response->set_user_id(request->user_id());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ChatService::Block(grpc::CallbackServerContext* context,
                                             const v1::RestrictRequest* request,
                                             v1::RestrictResponse* response) {
  return Restrict(context, "Block", storage::RestrictionKind::kBlock, request, response);
}

grpc::ServerUnaryReactor* ChatService::Ban(grpc::CallbackServerContext* context,
                                           const v1::RestrictRequest* request,
                                           v1::RestrictResponse* response) {
  return Restrict(context, "Ban", storage::RestrictionKind::kBan, request, response);
}

grpc::ServerUnaryReactor* ChatService::Unblock(grpc::CallbackServerContext* context,
                                               const v1::LiftRequest* request,
                                               v1::LiftResponse* response) {
  return Lift(context, "Unblock", storage::RestrictionKind::kBlock, request, response);
}

grpc::ServerUnaryReactor* ChatService::Unban(grpc::CallbackServerContext* context,
                                             const v1::LiftRequest* request,
                                             v1::LiftResponse* response) {
  return Lift(context, "Unban", storage::RestrictionKind::kBan, request, response);
}

grpc::ServerWriteReactor<v1::Change>* ChatService::Subscribe(
    grpc::CallbackServerContext* context, const v1::SubscribeRequest* request) {
  if (feed_ == nullptr) {
    class Refused : public grpc::ServerWriteReactor<v1::Change> {
     public:
      Refused() { Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no live delivery")); }
      void OnDone() override { delete this; }
    };
    return new Refused;
  }
  return new Subscription(context, *request, logic_, runner_, *feed_);
}

grpc::ServerUnaryReactor* ChatService::PollChanges(grpc::CallbackServerContext* context,
                                                   const v1::PollChangesRequest*,
                                                   v1::PollChangesResponse* response) {
  return Authenticated(context, "PollChanges", [this, context, response](const Caller& caller) {
    absl::StatusOr<storage::TakenChanges> taken =
        logic_.PollChanges(caller, CommitBy(*context));
    if (!taken.ok()) return taken.status();
    const absl::Time now = logic_.clock().Now();
    for (const storage::Change& c : taken->changes) {
      FillChange(c, caller.user_id, now, *response->add_changes());
    }
    response->set_has_more(taken->more);
    return absl::OkStatus();
  });
}

}  // namespace tchatator::core
