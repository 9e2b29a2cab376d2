#include "common/log.h"

#include <cstdio>
#include <mutex>

#include "common/strings.h"
#include "common/time_text.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tchatator {
namespace {

struct LogState {
  std::mutex mu;
  FILE* file = nullptr;  // nullptr: standard error
  bool verbose = false;
};

LogState& State() {
  static LogState* state = new LogState;
  return *state;
}

}  // namespace

bool Log::Configure(const std::string& path, bool verbose) {
  LogState& state = State();
  FILE* file = nullptr;
  if (!path.empty()) {
    file = std::fopen(path.c_str(), "a");
    if (file == nullptr) return false;
  }
  std::lock_guard lock(state.mu);
  if (state.file != nullptr) std::fclose(state.file);
  state.file = file;
  state.verbose = verbose;
  return true;
}

void Log::Write(std::string_view user, std::string_view ip, std::string_view text) {
  std::string line = StrCat(UtcTimeText(absl::Now(), /*milliseconds=*/true), " user=", user,
                            " ip=", ip, " ", text);
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
  }
  line.push_back('\n');
  LogState& state = State();
  std::lock_guard lock(state.mu);
  if (state.file != nullptr) {
    std::fwrite(line.data(), 1, line.size(), state.file);
    std::fflush(state.file);
  }
  if (state.file == nullptr || state.verbose) {
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
}

}  // namespace tchatator
