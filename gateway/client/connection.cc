#include "gateway/client/connection.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <variant>

namespace tchatator::client {
namespace {

using Clock = std::chrono::steady_clock;

int MillisLeft(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

// Connects `fd` (non-blocking) to `address` within `deadline`; returns 0 or an errno.
int ConnectWithin(int fd, const addrinfo& address, Clock::time_point deadline) {
  if (connect(fd, address.ai_addr, address.ai_addrlen) == 0) return 0;
  if (errno != EINPROGRESS) return errno;
  for (;;) {
    pollfd p{fd, POLLOUT, 0};
    const int ready = poll(&p, 1, MillisLeft(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) return ETIMEDOUT;
    if (ready < 0) return errno;
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
    return error;
  }
}

std::string Cause(int error) {
  switch (error) {
    case ECONNREFUSED:
      return "connexion refusée : le serveur n'est pas démarré ou n'écoute pas sur ce port";
    case ETIMEDOUT:
      return "pas de réponse du serveur (délai dépassé)";
    case ENETUNREACH:
    case EHOSTUNREACH:
      return "machine injoignable";
    default:
      return std::strerror(error);
  }
}

}  // namespace

Connection::~Connection() { Close(); }

Connection::Connection(Connection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      last_errno_(other.last_errno_),
      reader_(std::move(other.reader_)),
      events_(std::move(other.events_)),
      responses_(std::move(other.responses_)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::exchange(other.fd_, -1);
    last_errno_ = other.last_errno_;
    reader_ = std::move(other.reader_);
    events_ = std::move(other.events_);
    responses_ = std::move(other.responses_);
  }
  return *this;
}

void Connection::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  reader_ = FrameReader();
  responses_.clear();
}

bool Connection::Open(const Endpoint& endpoint, std::chrono::milliseconds timeout,
                      std::string* error) {
  Close();  // events already received stay queued for TakeEvents()
  const std::string where = EndpointText(endpoint);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addresses = nullptr;
  const std::string port = std::to_string(endpoint.port);
  const int resolved = getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &addresses);
  if (resolved != 0) {
    *error = "impossible de joindre " + where + " : adresse inconnue (" + gai_strerror(resolved) +
             ")";
    return false;
  }
  const Clock::time_point deadline = Clock::now() + timeout;
  int last_error = ECONNREFUSED;
  for (addrinfo* a = addresses; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                          a->ai_protocol);
    if (fd < 0) {
      last_error = errno;
      continue;
    }
    last_error = ConnectWithin(fd, *a, deadline);
    if (last_error == 0) {
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      fd_ = fd;
      break;
    }
    close(fd);
  }
  freeaddrinfo(addresses);
  if (fd_ < 0) {
    *error = "impossible de joindre " + where + " : " + Cause(last_error);
    return false;
  }
  return true;
}

bool Connection::Send(std::string_view bytes, std::string* error) {
  // Requests go one at a time: a response already here answers no request of ours.
  responses_.clear();
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(30);
  while (!bytes.empty()) {
    if (fd_ < 0) {
      *error = "connexion au serveur fermée";
      return false;
    }
    const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      pollfd p{fd_, POLLOUT, 0};
      if (poll(&p, 1, MillisLeft(deadline)) == 0) {
        *error = "le serveur ne lit plus (délai dépassé)";
        Close();
        return false;
      }
      continue;
    }
    *error = std::string("connexion au serveur perdue (") + std::strerror(errno) + ")";
    Close();
    return false;
  }
  return true;
}

int Connection::ReceiveOnce() {
  char chunk[65536];
  for (;;) {
    const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      reader_.Feed(std::string_view(chunk, static_cast<size_t>(n)));
      return 1;
    }
    if (n == 0) return 0;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return -2;
    last_errno_ = errno;
    return -1;
  }
}

bool Connection::Drain(std::string* error) {
  for (;;) {
    FrameOutcome outcome = reader_.Next();
    if (std::holds_alternative<NeedMoreBytes>(outcome)) return true;
    if (auto* failure = std::get_if<FrameError>(&outcome)) {
      *error = "réponse illisible du serveur (" + failure->message + ")";
      Close();
      return false;
    }
    Frame& frame = std::get<Frame>(outcome);
    if (frame.is_event) {
      events_.push_back(std::move(frame));
    } else {
      responses_.push_back(std::move(frame));
    }
  }
}

bool Connection::ReadResponse(std::chrono::milliseconds timeout, Frame* response,
                              std::string* error) {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    if (!Drain(error)) return false;
    if (!responses_.empty()) {
      *response = std::move(responses_.front());
      responses_.pop_front();
      return true;
    }
    if (fd_ < 0) {
      *error = "connexion au serveur fermée";
      return false;
    }
    pollfd p{fd_, POLLIN, 0};
    const int ready = poll(&p, 1, MillisLeft(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      *error = "pas de réponse du serveur (délai dépassé)";
      Close();
      return false;
    }
    const int got = ReceiveOnce();
    if (got == 0) {
      *error = "le serveur a fermé la connexion";
      Close();
      return false;
    }
    if (got == -1) {
      *error = std::string("connexion au serveur perdue (") + std::strerror(last_errno_) + ")";
      Close();
      return false;
    }
  }
}

bool Connection::Pump(std::string* error) {
  if (fd_ < 0) {
    *error = "connexion au serveur fermée";
    return false;
  }
  for (;;) {
    const int got = ReceiveOnce();
    if (got == 1) continue;
    if (got == -2) break;
    // Keep what arrived before the close.
    std::string ignored;
    Drain(&ignored);
    *error = got == 0 ? "le serveur a fermé la connexion"
                      : std::string("connexion au serveur perdue (") +
                            std::strerror(last_errno_) + ")";
    Close();
    return false;
  }
  return Drain(error);
}

std::vector<Frame> Connection::TakeEvents() {
  std::vector<Frame> out(std::make_move_iterator(events_.begin()),
                         std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

bool Connection::PeerClosed() {
  if (fd_ < 0) return true;
  std::string error;
  return !Pump(&error);
}

}  // namespace tchatator::client
