#ifndef TCHATATOR_TESTS_FUZZ_FAKE_CORE_H_
#define TCHATATOR_TESTS_FUZZ_FAKE_CORE_H_

// A fake core-service for the session fuzz target: an in-process gRPC server
// implementing tchatator.v1.ChatService with canned, deterministic answers.
//
// Every answer is a pure function of the call: its method, the bearer token of its
// `authorization` metadata and the fields of its request (see FakeKey). Whether a call
// fails, and how, is chosen by a hash of that key; so is the payload of a success. The
// fuzz target computes the same functions from the requests it sends to predict each
// response byte for byte (field by field), and compares the calls the fake received
// with the calls the gateway had to make.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "tchatator/v1/chat.grpc.pb.h"

namespace tchatator::fuzz {

enum class Method {
  kLogin,
  kLogout,
  kSendMessage,
  kUpdateMessage,
  kDeleteMessage,
  kListUnread,
  kListHistory,
  kListConversations,
  kGetUser,
  kBlock,
  kUnblock,
  kBan,
  kUnban,
  kSubscribe,
  kPollChanges,
};

std::string_view MethodName(Method method);

// The identity of one call: method, bearer token (empty: none) and request fields, as
// one string. Two calls with the same key get the same answer.
std::string FakeKey(Method method, std::string_view token, const std::vector<std::string>& fields);

// A Subscribe: a connection's first (keyed by its after_change_id), a check of the
// session (SubscribeRequest.check_only, keyed "check"), or the stream a gateway opens
// from where another stopped (tchatator-resume metadata, keyed "resume").
enum class SubscribeMode { kFirst, kCheck, kResume };
std::string SubscribeModeName(SubscribeMode mode);
// What decides a first Subscribe of `token` and a check: the key of a first one from
// change 0. A resumed Subscribe is decided by its own key.
std::string SubscribeDecisionKey(std::string_view token);

// How the fake answers a call.
struct FakeAnswer {
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string error_token;  // trailing tchatator-error; empty: none sent
  std::string message;      // status message (never client text)
  std::string retry_after;  // trailing retry-after; empty: none sent
  std::string until;        // trailing until; empty: none sent
  uint64_t seed = 0;        // drives the payload of a success
};

// The answer to the call `key` (see FakeKey). A call without a bearer token, other than
// Login, is always UNAUTHENTICATED not-authenticated.
FakeAnswer Decide(Method method, std::string_view token, std::string_view key);

// Payloads of successful answers, from FakeAnswer::seed (and the request where the
// answer echoes it).
v1::LoginResponse LoginPayload(uint64_t seed);
v1::SendMessageResponse SendPayload(uint64_t seed);
v1::UpdateMessageResponse UpdatePayload(uint64_t seed, int64_t message_id);
std::vector<v1::Message> MessagesPayload(uint64_t seed);
bool HasMorePayload(uint64_t seed);
std::vector<v1::Conversation> ConversationsPayload(uint64_t seed);
v1::User UserPayload(uint64_t seed, int64_t user_id);
v1::RestrictResponse RestrictPayload(uint64_t seed, int64_t user_id, bool block);
std::vector<v1::Change> ChangesPayload(uint64_t seed);

// Subscribe is accepted (initial metadata tchatator-subscribed, then the changes of
// ChangesPayload(seed), then the stream stays open until cancelled) when Decide says OK
// and SubscribeEndsAtOnce(seed) is false; with it true the stream ends at once with OK
// and no initial metadata (which the gateway must treat as a refusal).
bool SubscribeEndsAtOnce(uint64_t seed);

// One call the fake received.
struct Received {
  std::string client_ip;  // x-client-ip of the call
  std::string key;        // FakeKey of the call
  bool operator==(const Received&) const = default;
};

// The fake core: started once per process on 127.0.0.1:0.
class FakeCore {
 public:
  static FakeCore& Instance();

  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

  // The calls received since the last Take, in arrival order.
  std::vector<Received> Take();

  // Subscribe streams currently open.
  int open_streams() const;

  // For the service.
  void Record(std::string client_ip, std::string key);
  void StreamOpened();
  void StreamClosed();

 private:
  FakeCore();

  class Service;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  mutable std::mutex mu_;
  std::vector<Received> received_;
  int open_streams_ = 0;
};

}  // namespace tchatator::fuzz

#endif  // TCHATATOR_TESTS_FUZZ_FAKE_CORE_H_
