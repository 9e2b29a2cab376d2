// tchatator-admin: operator commands through the core's AccountService.
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/numbers.h"
#include "common/strings.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "tchatator/v1/chat.grpc.pb.h"

namespace {

constexpr char kUsage[] =
    "usage: tchatator-admin [--core HOST:PORT] [--admin-key KEY] COMMAND\n"
    "\n"
    "  user add --role member|pro|admin --name NAME   create a user; prints user-id: and api-key:\n"
    "  user regen-key --user-id N                     new API key; old key and sessions end\n"
    "  user get --user-id N                           prints user-id:, name:, role:\n"
    "  health                                         prints status:SERVING or NOT_SERVING\n"
    "\n"
    "--core defaults to 127.0.0.1:50051; --admin-key defaults to $TCHATATOR_ADMIN_API_KEY.\n"
    "Each flag at most once, with a value: --flag VALUE or --flag=VALUE.\n"
    "Exit status: 0 done (health: serving), 1 refused, failed or not serving (reason on\n"
    "stderr), 2 bad usage.\n";

int Usage(const std::string& problem) {
  std::cerr << "tchatator-admin: " << problem << "\n" << kUsage;
  return 2;
}

std::string RoleName(tchatator::v1::Role role) {
  switch (role) {
    case tchatator::v1::ROLE_MEMBER:
      return "member";
    case tchatator::v1::ROLE_PRO:
      return "pro";
    case tchatator::v1::ROLE_ADMIN:
      return "admin";
    default:
      return "unknown";
  }
}

int Failed(const grpc::Status& status, const grpc::ClientContext& context) {
  const auto trailer = [&context](const char* key) {
    auto it = context.GetServerTrailingMetadata().find(key);
    if (it == context.GetServerTrailingMetadata().end()) return std::string();
    return std::string(it->second.data(), it->second.size());
  };
  const std::string token = trailer("tchatator-error");
  const std::string retry_after = trailer("retry-after");
  // gRPC's codes are absl's, number for number.
  std::cerr << "tchatator-admin: "
            << absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()))
            << (token.empty() ? "" : " ") << token << ": " << status.error_message()
            << (retry_after.empty() ? "" : " (retry in " + retry_after + " s)") << "\n";
  return 1;
}

// The flags each command takes (beyond --core and --admin-key).
const std::map<std::string, std::set<std::string>>& FlagsOf() {
  static const auto* flags = new std::map<std::string, std::set<std::string>>{
      {"health", {}},
      {"user add", {"role", "name"}},
      {"user regen-key", {"user-id"}},
      {"user get", {"user-id"}},
  };
  return *flags;
}

// Whether `name` is a flag of some command, or --core or --admin-key.
bool IsFlag(const std::string& name) {
  if (name == "core" || name == "admin-key") return true;
  for (const auto& [command, names] : FlagsOf()) {
    if (names.contains(name)) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::string core = "127.0.0.1:50051";
  const char* env_key = std::getenv("TCHATATOR_ADMIN_API_KEY");
  std::string admin_key = env_key != nullptr ? env_key : "";
  std::vector<std::string> words;
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (arg.starts_with("--")) {
      // --flag value, or --flag=value.
      std::string name = arg.substr(2), value;
      const size_t eq = name.find('=');
      if (eq != std::string::npos) name.resize(eq);
      // Before its value is taken: an unknown flag must not swallow the command word.
      if (!IsFlag(name)) return Usage("unknown option --" + name);
      if (eq != std::string::npos) {
        value = arg.substr(2 + eq + 1);
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return Usage(arg + " needs a value");
      }
      if (value.empty()) return Usage("--" + name + " needs a value");
      // A typo, or a second thought: either way not for us to pick one.
      if (!flags.emplace(name, value).second) return Usage("--" + name + " is given twice");
    } else {
      words.push_back(arg);
    }
  }
  if (auto it = flags.find("core"); it != flags.end()) core = it->second;
  if (auto it = flags.find("admin-key"); it != flags.end()) admin_key = it->second;
  std::string command_line;
  for (const std::string& word : words) command_line += (command_line.empty() ? "" : " ") + word;
  if (words.empty()) return Usage("expected a command");
  const auto known = FlagsOf().find(command_line);
  if (known == FlagsOf().end()) return Usage("unknown command '" + command_line + "'");
  for (const auto& [flag, value] : flags) {
    if (flag != "core" && flag != "admin-key" && !known->second.contains(flag)) {
      return Usage("'" + command_line + "' takes no --" + flag);
    }
  }
  auto channel = grpc::CreateChannel(core, grpc::InsecureChannelCredentials());
  if (command_line == "health") {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = grpc::health::v1::Health::NewStub(channel)->Check(
        &context, grpc::health::v1::HealthCheckRequest(), &response);
    if (!status.ok()) return Failed(status, context);
    const bool serving = response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
    std::cout << "status:"
              << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status())
              << "\n";
    return serving ? 0 : 1;
  }
  if (words.size() != 2 || words[0] != "user") return Usage("expected a command");

  // Checked before gRPC sees it: gRPC would abort, printing the key.
  if (!tchatator::IsPrintableAscii(admin_key)) {
    return Usage("the admin key holds a line break, a control or a non-ASCII character");
  }
  auto stub = tchatator::v1::AccountService::NewStub(channel);
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + admin_key);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));

  const std::string& command = words[1];
  if (command == "add") {
    tchatator::v1::CreateUserRequest request;
    const std::string role = flags["role"];
    if (role == "member") {
      request.set_role(tchatator::v1::ROLE_MEMBER);
    } else if (role == "pro") {
      request.set_role(tchatator::v1::ROLE_PRO);
    } else if (role == "admin") {
      request.set_role(tchatator::v1::ROLE_ADMIN);
    } else {
      return Usage("--role must be member, pro or admin");
    }
    if (flags["name"].empty()) return Usage("--name is required");
    request.set_name(flags["name"]);
    tchatator::v1::CreateUserResponse response;
    grpc::Status status = stub->CreateUser(&context, request, &response);
    if (!status.ok()) return Failed(status, context);
    std::cout << "user-id:" << response.user_id() << "\napi-key:" << response.api_key() << "\n";
    return 0;
  }
  if (command == "regen-key" || command == "get") {
    if (!flags.contains("user-id")) return Usage("--user-id is required");
    const std::optional<int64_t> parsed = tchatator::ParsePositive(flags["user-id"]);
    if (!parsed) return Usage("--user-id must be a whole number from 1 to 2^63 - 1");
    const int64_t id = *parsed;
    if (command == "get") {
      tchatator::v1::GetUserRequest request;
      request.set_user_id(id);
      tchatator::v1::User response;
      grpc::Status status = stub->GetUser(&context, request, &response);
      if (!status.ok()) return Failed(status, context);
      std::cout << "user-id:" << response.user_id() << "\nname:" << response.name()
                << "\nrole:" << RoleName(response.role()) << "\n";
      return 0;
    }
    tchatator::v1::RegenerateApiKeyRequest request;
    request.set_user_id(id);
    tchatator::v1::RegenerateApiKeyResponse response;
    grpc::Status status = stub->RegenerateApiKey(&context, request, &response);
    if (!status.ok()) return Failed(status, context);
    std::cout << "user-id:" << response.user_id() << "\napi-key:" << response.api_key() << "\n";
    return 0;
  }
  return Usage("unknown command 'user " + command + "'");
}
