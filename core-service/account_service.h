#ifndef TCHATATOR_CORE_SERVICE_ACCOUNT_SERVICE_H_
#define TCHATATOR_CORE_SERVICE_ACCOUNT_SERVICE_H_

#include "core-service/chat_logic.h"
#include "core-service/rpc_runner.h"
#include "tchatator/v1/chat.grpc.pb.h"

namespace tchatator::core {

// tchatator.v1.AccountService: user management for backends and operators. Every call
// needs the admin API key as its bearer token (UNAUTHENTICATED otherwise).
class AccountService final : public v1::AccountService::CallbackService {
 public:
  AccountService(ChatLogic& logic, RpcRunner& runner) : logic_(logic), runner_(runner) {}

  grpc::ServerUnaryReactor* CreateUser(grpc::CallbackServerContext* context,
                                       const v1::CreateUserRequest* request,
                                       v1::CreateUserResponse* response) override;
  grpc::ServerUnaryReactor* RegenerateApiKey(grpc::CallbackServerContext* context,
                                             const v1::RegenerateApiKeyRequest* request,
                                             v1::RegenerateApiKeyResponse* response) override;
  grpc::ServerUnaryReactor* GetUser(grpc::CallbackServerContext* context,
                                    const v1::GetUserRequest* request,
                                    v1::User* response) override;

 private:
  template <typename Body>
  grpc::ServerUnaryReactor* AsAdmin(grpc::CallbackServerContext* context,
                                    std::string_view method, Body body);

  ChatLogic& logic_;
  RpcRunner& runner_;
};

}  // namespace tchatator::core

#endif  // TCHATATOR_CORE_SERVICE_ACCOUNT_SERVICE_H_
