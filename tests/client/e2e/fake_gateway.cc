#include "tests/client/e2e/fake_gateway.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace tchatator::client_test {
namespace {

void WriteAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

}  // namespace

FakeGateway::FakeGateway(Answer answer) : answer_(std::move(answer)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listen_fd_, 4) != 0) {
    throw std::runtime_error("fake gateway: cannot listen");
  }
  socklen_t length = sizeof addr;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &length);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

FakeGateway::~FakeGateway() {
  stop_ = true;
  thread_.join();
}

void FakeGateway::Push(const std::string& frame) {
  std::lock_guard lock(mutex_);
  if (client_fd_ >= 0) WriteAll(client_fd_, frame);
}

std::vector<std::string> FakeGateway::Commands() {
  std::lock_guard lock(mutex_);
  return commands_;
}

void FakeGateway::Serve() {
  std::string buffer;
  while (!stop_) {
    int fd;
    {
      std::lock_guard lock(mutex_);
      fd = client_fd_;
    }
    if (fd < 0) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const int accepted = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      std::lock_guard lock(mutex_);
      client_fd_ = accepted;
      buffer.clear();
      continue;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char chunk[4096];
    const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) {
      std::lock_guard lock(mutex_);
      close(client_fd_);
      client_fd_ = -1;
      continue;
    }
    buffer.append(chunk, static_cast<size_t>(n));
    // Requests end with an empty line (the client always sends one); the tests send
    // no content holding an empty line.
    size_t end;
    while ((end = buffer.find("\n\n")) != std::string::npos) {
      const std::string request = buffer.substr(0, end + 1);
      buffer.erase(0, end + 2);
      std::string command;
      std::map<std::string, std::string> params;
      size_t start = 0;
      for (size_t newline; (newline = request.find('\n', start)) != std::string::npos;
           start = newline + 1) {
        const std::string line = request.substr(start, newline - start);
        if (command.empty()) {
          command = line;
          continue;
        }
        const size_t colon = line.find(':');
        if (colon != std::string::npos) params[line.substr(0, colon)] = line.substr(colon + 1);
      }
      const std::string response = answer_(command, params);
      std::lock_guard lock(mutex_);
      commands_.push_back(command);
      WriteAll(client_fd_, response);
      if (command == "DISCONNECTED") {
        close(client_fd_);
        client_fd_ = -1;
        buffer.clear();
        break;
      }
    }
  }
  // Stop listening first, so that the client's reconnection is refused rather than
  // accepted by a socket about to close.
  close(listen_fd_);
  listen_fd_ = -1;
  std::lock_guard lock(mutex_);
  if (client_fd_ >= 0) close(client_fd_);
  client_fd_ = -1;
}

}  // namespace tchatator::client_test
