#include "tests/support/private_cluster.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <vector>

#include "tests/support/process.h"

namespace tchatator::testing {
namespace {

constexpr char kPgBin[] = "/usr/lib/postgresql/15/bin";

std::string PgBin() {
  const char* bin = std::getenv("TCHATATOR_PG_BIN");
  return bin != nullptr && *bin != '\0' ? bin : kPgBin;
}

int ExitCode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

// Makes `dir` reachable and writable by the server (user postgres when we are root).
void GiveToServer(const std::string& dir) {
  chmod(dir.c_str(), 0755);
  if (geteuid() != 0) return;
  const passwd* owner = getpwnam("postgres");
  if (owner == nullptr) throw std::runtime_error("user postgres does not exist");
  if (chown(dir.c_str(), owner->pw_uid, owner->pw_gid) != 0) {
    throw std::runtime_error("cannot chown " + dir + " to postgres");
  }
}

// Holds an exclusive flock on a file for its lifetime.
class FileLock {
 public:
  explicit FileLock(const std::string& path) : fd_(open(path.c_str(), O_CREAT | O_RDWR, 0666)) {
    if (fd_ < 0 || flock(fd_, LOCK_EX) != 0) throw std::runtime_error("cannot lock " + path);
  }
  ~FileLock() { close(fd_); }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

}  // namespace

PrivateCluster::PrivateCluster() {
  char dir_template[] = "/tmp/tchatator-pg-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = dir_template;
  data_ = dir_ + "/data";
  // The server runs as postgres: it must reach and write its directory.
  GiveToServer(dir_);
  // initdb takes seconds and every test runs in a process of its own (ctest): it runs
  // once per machine and user into a template that each cluster copies.
  const std::string template_dir = "/tmp/tchatator-pg15-template-" + std::to_string(geteuid());
  {
    FileLock lock(template_dir + ".lock");
    if (!std::filesystem::exists(template_dir + "/complete")) {
      std::error_code ignored;
      std::filesystem::remove_all(template_dir, ignored);
      std::filesystem::create_directory(template_dir);
      GiveToServer(template_dir);
      std::string out;
      const int rc = RunAsOwner(PgBin() + "/initdb -D " + template_dir +
                                    "/data -U postgres --auth=trust -E UTF8 --locale=C 2>&1",
                                &out);
      if (rc != 0) throw std::runtime_error("initdb failed in " + template_dir + ":\n" + out);
      std::ofstream(template_dir + "/complete") << "initdb done\n";
    }
  }
  // cp -a keeps the owner (postgres) and the data directory's mode 0700.
  int status = 0;
  RunCommand("cp -a " + template_dir + "/data " + data_ + " 2>&1", &status);
  if (ExitCode(status) != 0) throw std::runtime_error("cannot copy " + template_dir);
  // A port free a moment ago can be taken before the server binds it: retry.
  for (int attempt = 0;; ++attempt) {
    port_ = FreePort();
    try {
      Start();
      return;
    } catch (const std::runtime_error&) {
      if (attempt == 2) throw;
    }
  }
}

PrivateCluster::~PrivateCluster() {
  RunAsOwner(PgBin() + "/pg_ctl stop -D " + data_ + " -m immediate -w -t 30 >/dev/null 2>&1");
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string PrivateCluster::admin_url() const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=postgres";
}

void PrivateCluster::Start() {
  // setsid: a Ctrl-C at the terminal reaches the test, not the server. fsync off: the
  // tests crash daemons, never the machine.
  const std::string options = "-p " + std::to_string(port_) +
                              " -c listen_addresses=127.0.0.1 -c unix_socket_directories=" +
                              dir_ + " -c fsync=off -c max_connections=100";
  const int rc = RunAsOwner("setsid " + PgBin() + "/pg_ctl start -D " + data_ + " -l " + dir_ +
                            "/postgres.log -w -t 60 -o '" + options + "' >/dev/null 2>&1");
  if (rc != 0 || !Ready()) {
    throw std::runtime_error("PostgreSQL did not start on port " + std::to_string(port_) +
                             "; end of its log:\n" + LogTail());
  }
}

void PrivateCluster::Stop() {
  const int rc =
      RunAsOwner(PgBin() + "/pg_ctl stop -D " + data_ + " -m fast -w -t 60 >/dev/null 2>&1");
  if (rc != 0) {
    throw std::runtime_error("pg_ctl stop failed on " + data_ + "; end of its log:\n" +
                             LogTail());
  }
}

bool PrivateCluster::Ready() const {
  int status = 0;
  RunCommand(PgBin() + "/pg_isready -q -h 127.0.0.1 -p " + std::to_string(port_) +
                 " -U postgres -d postgres",
             &status);
  return ExitCode(status) == 0;
}

int PrivateCluster::RunAsOwner(const std::string& command, std::string* output) const {
  // initdb and pg_ctl refuse to run as root; `cd /`: postgres may not enter our cwd.
  const std::string full =
      geteuid() == 0 ? "cd / && runuser -u postgres -- " + command : command;
  int status = 0;
  std::string out = RunCommand(full, &status);
  if (output != nullptr) *output = std::move(out);
  return ExitCode(status);
}

std::string PrivateCluster::LogTail() const {
  std::ifstream in(dir_ + "/postgres.log");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  std::string out;
  for (size_t i = lines.size() > 20 ? lines.size() - 20 : 0; i < lines.size(); ++i) {
    out += lines[i] + "\n";
  }
  return out;
}

PrivateCluster& SharedPrivateCluster() {
  static std::unique_ptr<PrivateCluster> cluster = std::make_unique<PrivateCluster>();
  return *cluster;
}

}  // namespace tchatator::testing
