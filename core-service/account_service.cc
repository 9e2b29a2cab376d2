#include "core-service/account_service.h"

#include "core-service/errors.h"
#include "core-service/proto_convert.h"

namespace tchatator::core {

template <typename Body>
grpc::ServerUnaryReactor* AccountService::AsAdmin(grpc::CallbackServerContext* context,
                                                  std::string_view method, Body body) {
  return runner_.Run(context, method,
                     [this, context, body = std::move(body)](std::string& user) -> absl::Status {
                       absl::Status s =
                           logic_.AuthorizeAdmin(BearerToken(*context), PeerIp(*context));
                       if (!s.ok()) return s;
                       user = "admin-key";
                       return body();
                     });
}

grpc::ServerUnaryReactor* AccountService::CreateUser(grpc::CallbackServerContext* context,
                                                     const v1::CreateUserRequest* request,
                                                     v1::CreateUserResponse* response) {
  return AsAdmin(context, "CreateUser", [this, request, response]() -> absl::Status {
    std::optional<storage::Role> role = FromProtoRole(request->role());
    if (!role) return Error(absl::StatusCode::kInvalidArgument, "bad-value", "unknown role");
    absl::StatusOr<NewAccount> account = logic_.CreateUser(*role, request->name());
    if (!account.ok()) return account.status();
    response->set_user_id(account->user_id);
    response->set_api_key(account->api_key);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AccountService::RegenerateApiKey(
    grpc::CallbackServerContext* context, const v1::RegenerateApiKeyRequest* request,
    v1::RegenerateApiKeyResponse* response) {
  return AsAdmin(context, "RegenerateApiKey",
                 [this, context, request, response]() -> absl::Status {
    absl::StatusOr<NewAccount> account =
        logic_.RegenerateApiKey(request->user_id(), CommitBy(*context));
    if (!account.ok()) return account.status();
    response->set_user_id(account->user_id);
    response->set_api_key(account->api_key);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AccountService::GetUser(grpc::CallbackServerContext* context,
                                                  const v1::GetUserRequest* request,
                                                  v1::User* response) {
  return AsAdmin(context, "GetUser", [this, request, response]() -> absl::Status {
    absl::StatusOr<storage::User> user = logic_.GetUser(request->user_id());
    if (!user.ok()) return user.status();
    response->set_user_id(user->id);
    response->set_name(user->name);
    response->set_role(ToProtoRole(user->role));
    return absl::OkStatus();
  });
}

}  // namespace tchatator::core
