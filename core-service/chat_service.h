#ifndef TCHATATOR_CORE_SERVICE_CHAT_SERVICE_H_
#define TCHATATOR_CORE_SERVICE_CHAT_SERVICE_H_

#include "core-service/change_feed.h"
#include "core-service/chat_logic.h"
#include "core-service/rpc_runner.h"
#include "tchatator/v1/chat.grpc.pb.h"

namespace tchatator::core {

// tchatator.v1.ChatService: decodes requests, authenticates the bearer token, calls
// ChatLogic on the worker pool, encodes answers. No rule lives here.
class ChatService final : public v1::ChatService::CallbackService {
 public:
  // Without a feed, Subscribe answers UNIMPLEMENTED.
  ChatService(ChatLogic& logic, RpcRunner& runner, ChangeFeed* feed)
      : logic_(logic), runner_(runner), feed_(feed) {}

  grpc::ServerUnaryReactor* Login(grpc::CallbackServerContext* context,
                                  const v1::LoginRequest* request,
                                  v1::LoginResponse* response) override;
  grpc::ServerUnaryReactor* Logout(grpc::CallbackServerContext* context,
                                   const v1::LogoutRequest* request,
                                   v1::LogoutResponse* response) override;
  grpc::ServerUnaryReactor* SendMessage(grpc::CallbackServerContext* context,
                                        const v1::SendMessageRequest* request,
                                        v1::SendMessageResponse* response) override;
  // Calls beyond this many make the whole SendMessages INVALID_ARGUMENT (bad-request).
  static constexpr int kMaxSendCalls = 256;
  grpc::ServerUnaryReactor* SendMessages(grpc::CallbackServerContext* context,
                                         const v1::SendMessagesRequest* request,
                                         v1::SendMessagesResponse* response) override;
  grpc::ServerUnaryReactor* UpdateMessage(grpc::CallbackServerContext* context,
                                          const v1::UpdateMessageRequest* request,
                                          v1::UpdateMessageResponse* response) override;
  grpc::ServerUnaryReactor* DeleteMessage(grpc::CallbackServerContext* context,
                                          const v1::DeleteMessageRequest* request,
                                          v1::DeleteMessageResponse* response) override;
  grpc::ServerUnaryReactor* ListUnread(grpc::CallbackServerContext* context,
                                       const v1::ListUnreadRequest* request,
                                       v1::ListUnreadResponse* response) override;
  grpc::ServerUnaryReactor* ListHistory(grpc::CallbackServerContext* context,
                                        const v1::ListHistoryRequest* request,
                                        v1::ListHistoryResponse* response) override;
  grpc::ServerUnaryReactor* ListConversations(grpc::CallbackServerContext* context,
                                              const v1::ListConversationsRequest* request,
                                              v1::ListConversationsResponse* response) override;
  grpc::ServerUnaryReactor* GetUser(grpc::CallbackServerContext* context,
                                    const v1::GetUserRequest* request,
                                    v1::User* response) override;
  grpc::ServerUnaryReactor* Block(grpc::CallbackServerContext* context,
                                  const v1::RestrictRequest* request,
                                  v1::RestrictResponse* response) override;
  grpc::ServerUnaryReactor* Unblock(grpc::CallbackServerContext* context,
                                    const v1::LiftRequest* request,
                                    v1::LiftResponse* response) override;
  grpc::ServerWriteReactor<v1::Change>* Subscribe(grpc::CallbackServerContext* context,
                                                  const v1::SubscribeRequest* request) override;
  grpc::ServerUnaryReactor* PollChanges(grpc::CallbackServerContext* context,
                                        const v1::PollChangesRequest* request,
                                        v1::PollChangesResponse* response) override;
  grpc::ServerUnaryReactor* Ban(grpc::CallbackServerContext* context,
                                const v1::RestrictRequest* request,
                                v1::RestrictResponse* response) override;
  grpc::ServerUnaryReactor* Unban(grpc::CallbackServerContext* context,
                                  const v1::LiftRequest* request,
                                  v1::LiftResponse* response) override;

 private:
  // Runs `body(caller)` on a worker for the session named by the call's bearer token,
  // once found; the call ends with what it returns.
  template <typename Body>
  grpc::ServerUnaryReactor* Authenticated(grpc::CallbackServerContext* context,
                                          std::string_view method, Body body);
  // As Authenticated for a body that never blocks: `body(caller, finish)` runs where the
  // session look-up ended and calls `finish` once, from any thread.
  template <typename Body>
  grpc::ServerUnaryReactor* AuthenticatedAsync(grpc::CallbackServerContext* context,
                                               std::string_view method, Body body);
  // One SendMessage for the session `token`: fills `response` (which, like `request`,
  // must live until then), then calls `finish` once, from any thread. A session this core
  // has seen is not looked up (ChatLogic::AuthenticateToSendAsync). Not stored if its
  // statement has not started by `deadline` (ChatLogic::SendAsync).
  void Send(std::string_view token, const v1::SendMessageRequest& request,
            absl::Time deadline, v1::SendMessageResponse* response,
            RpcRunner::Finisher finish);
  grpc::ServerUnaryReactor* Restrict(grpc::CallbackServerContext* context,
                                     std::string_view method, storage::RestrictionKind kind,
                                     const v1::RestrictRequest* request,
                                     v1::RestrictResponse* response);
  grpc::ServerUnaryReactor* Lift(grpc::CallbackServerContext* context, std::string_view method,
                                 storage::RestrictionKind kind, const v1::LiftRequest* request,
                                 v1::LiftResponse* response);
  // The message as `caller` sees it.
  void Fill(const storage::Message& message, const Caller& caller, v1::Message& out) const;

  ChatLogic& logic_;
  RpcRunner& runner_;
  ChangeFeed* feed_;
};

}  // namespace tchatator::core

#endif  // TCHATATOR_CORE_SERVICE_CHAT_SERVICE_H_
