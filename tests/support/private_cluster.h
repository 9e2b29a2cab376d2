#ifndef TCHATATOR_TESTS_SUPPORT_PRIVATE_CLUSTER_H_
#define TCHATATOR_TESTS_SUPPORT_PRIVATE_CLUSTER_H_

#include <string>

namespace tchatator::testing {

// A PostgreSQL 15 cluster of its own (in a fresh directory under /tmp, copied from a
// template that initdb makes once per machine and user; trust authentication,
// 127.0.0.1 on a free port) that a test may stop and start again, to see what the
// daemons do while the database is down. As root (CI), initdb and pg_ctl run as user
// postgres. Throws std::runtime_error, with the end of the server's log,
// when the cluster cannot be created or started.
class PrivateCluster {
 public:
  // Initialises and starts the cluster.
  PrivateCluster();
  // Stops the cluster (immediate mode) and removes its directory.
  ~PrivateCluster();
  PrivateCluster(const PrivateCluster&) = delete;
  PrivateCluster& operator=(const PrivateCluster&) = delete;

  // libpq connection string of database postgres as the superuser, for
  // StackOptions::pg_admin_url and TestDatabase(admin_url).
  std::string admin_url() const;
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }

  // Fast shutdown (clients are disconnected); returns once the server has exited.
  void Stop();
  // Starts the stopped server on the same port; returns once it accepts connections.
  void Start();
  // True when the server accepts connections.
  bool Ready() const;

 private:
  // Runs `command` as the cluster's owner; its exit status, output in `*output`.
  int RunAsOwner(const std::string& command, std::string* output = nullptr) const;
  std::string LogTail() const;

  std::string dir_;   // holds data/ (the data directory) and postgres.log
  std::string data_;
  int port_ = 0;
};

// The cluster of this test program, started on first use, removed when the program
// ends. Tests that stop it must start it again.
PrivateCluster& SharedPrivateCluster();

}  // namespace tchatator::testing

#endif  // TCHATATOR_TESTS_SUPPORT_PRIVATE_CLUSTER_H_
