#ifndef TCHATATOR_TESTS_CLIENT_E2E_FAKE_GATEWAY_H_
#define TCHATATOR_TESTS_CLIENT_E2E_FAKE_GATEWAY_H_

// A scripted stand-in for a gateway that has live delivery (SUBSCRIBE answers 200),
// which the real one does not have yet: it answers the client's requests from a
// table and writes EVENT frames when the test says so. One connection at a time.

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tchatator::client_test {

class FakeGateway {
 public:
  // `answer` maps a request (command, parameters) to the full response bytes.
  using Answer = std::function<std::string(const std::string& command,
                                           const std::map<std::string, std::string>& params)>;

  explicit FakeGateway(Answer answer);
  ~FakeGateway();
  FakeGateway(const FakeGateway&) = delete;
  FakeGateway& operator=(const FakeGateway&) = delete;

  int port() const { return port_; }
  // Writes `frame` to the connected client (never inside a response).
  void Push(const std::string& frame);
  // The commands received so far, in order.
  std::vector<std::string> Commands();

 private:
  void Serve();

  Answer answer_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;  // guards client_fd_ writes and commands_
  int client_fd_ = -1;
  std::vector<std::string> commands_;
  std::thread thread_;
};

}  // namespace tchatator::client_test

#endif  // TCHATATOR_TESTS_CLIENT_E2E_FAKE_GATEWAY_H_
