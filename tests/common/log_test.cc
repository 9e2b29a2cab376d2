// Unit tests of the process-wide log: line format, newline folding, reopening, the
// background writer.

#include "common/log.h"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tchatator {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

class LogTest : public testing::Test {
 protected:
  void SetUp() override {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    path_ = testing::TempDir() + "log_" + info->name() + ".log";
    std::remove(path_.c_str());
    std::remove((path_ + ".1").c_str());
    ASSERT_TRUE(Log::Configure(path_, false));
  }
  void TearDown() override {
    Log::Configure("", false);  // back to standard error
    std::remove(path_.c_str());
    std::remove((path_ + ".1").c_str());
  }
  std::string path_;
};

TEST_F(LogTest, OneLineWithTimeUserIpAndFoldedText) {
  const absl::Time before = absl::Now();
  Log::Write("17", "10.0.0.1", "hello\nworld");
  Log::Flush();
  const std::string text = ReadFile(path_);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  const std::vector<std::string> lines = Lines(text);
  ASSERT_EQ(lines.size(), 1u) << text;
  const std::regex format(
      R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z user=17 ip=10\.0\.0\.1 hello world$)");
  EXPECT_TRUE(std::regex_match(lines[0], format)) << lines[0];

  // The time is now, in UTC.
  absl::Time logged;
  std::string error;
  ASSERT_TRUE(absl::ParseTime("%Y-%m-%dT%H:%M:%E3SZ", lines[0].substr(0, 24),
                              absl::UTCTimeZone(), &logged, &error))
      << error << ": " << lines[0];
  EXPECT_GE(logged, before - absl::Milliseconds(1));  // the line holds milliseconds
  EXPECT_LE(logged, absl::Now());
}

TEST_F(LogTest, CarriageReturnsAreFoldedToo) {
  Log::Write("", "", "a\r\nb\rc");
  Log::Flush();
  const std::vector<std::string> lines = Lines(ReadFile(path_));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].ends_with("Z user= ip= a  b c")) << lines[0];
}

TEST_F(LogTest, TabsAndOtherControlCharactersBecomeSpaces) {
  // As libpq words it: "FATAL:  ...\n\tIs the server running ...".
  Log::Write("u\x01", "ip\t", std::string("FATAL:  x\n\tIs it?\x1b[31m\x7f\0end", 27));
  Log::Flush();
  const std::vector<std::string> lines = Lines(ReadFile(path_));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].ends_with("Z user=u  ip=ip  FATAL:  x  Is it? [31m  end")) << lines[0];
}

TEST_F(LogTest, InfoHasNoClient) {
  Log::Info("started");
  Log::Write("3", "::1", "second");
  Log::Flush();
  const std::vector<std::string> lines = Lines(ReadFile(path_));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(lines[0].ends_with("Z user= ip= started")) << lines[0];
  EXPECT_TRUE(lines[1].ends_with("Z user=3 ip=::1 second")) << lines[1];
}

TEST_F(LogTest, ConfigureAppends) {
  Log::Info("first");
  ASSERT_TRUE(Log::Configure(path_, false));
  Log::Info("second");
  const std::vector<std::string> lines = Lines(ReadFile(path_));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(lines[0].ends_with(" first"));
  EXPECT_TRUE(lines[1].ends_with(" second"));
}

TEST_F(LogTest, ConfigureAgainReopensAfterRotation) {
  Log::Info("before rotation");
  ASSERT_EQ(std::rename(path_.c_str(), (path_ + ".1").c_str()), 0);
  Log::Write("", "", "still the old file");  // queued: Configure writes it first
  ASSERT_TRUE(Log::Configure(path_, false));
  Log::Info("after rotation");

  const std::vector<std::string> old_lines = Lines(ReadFile(path_ + ".1"));
  ASSERT_EQ(old_lines.size(), 2u);
  EXPECT_TRUE(old_lines[0].ends_with(" before rotation"));
  EXPECT_TRUE(old_lines[1].ends_with(" still the old file"));
  const std::vector<std::string> new_lines = Lines(ReadFile(path_));
  ASSERT_EQ(new_lines.size(), 1u);
  EXPECT_TRUE(new_lines[0].ends_with(" after rotation"));
}

TEST_F(LogTest, UnopenablePathKeepsThePreviousDestination) {
  EXPECT_FALSE(Log::Configure(testing::TempDir() + "no-such-dir/x/y.log", false));
  Log::Info("kept");
  const std::vector<std::string> lines = Lines(ReadFile(path_));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].ends_with(" kept"));
}

TEST_F(LogTest, InfoIsWrittenWhenItReturnsWithTheLinesQueuedBeforeIt) {
  Log::Write("5", "10.0.0.2", "queued");
  Log::Info("internal event");
  const std::vector<std::string> lines = Lines(ReadFile(path_));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(lines[0].ends_with("Z user=5 ip=10.0.0.2 queued")) << lines[0];
  EXPECT_TRUE(lines[1].ends_with("Z user= ip= internal event")) << lines[1];
}

TEST_F(LogTest, TheWriterThreadWritesQueuedLinesWithoutFlush) {
  Log::Write("9", "", "on its own");
  // Milliseconds in practice; the bound only keeps a broken writer from hanging the test.
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  std::string text;
  while ((text = ReadFile(path_)).empty() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  const std::vector<std::string> lines = Lines(text);
  ASSERT_EQ(lines.size(), 1u) << text;
  EXPECT_TRUE(lines[0].ends_with("Z user=9 ip= on its own")) << lines[0];
}

// Each of `threads` threads writes `count` lines "line <i> <padding>" as user <thread>.
void WriteFromThreads(int threads, int count, const std::string& padding) {
  std::vector<std::thread> running;
  for (int t = 0; t < threads; ++t) {
    running.emplace_back([t, count, &padding] {
      for (int i = 0; i < count; ++i) {
        Log::Write(absl::StrCat(t), "", absl::StrCat("line ", i, " ", padding));
      }
    });
  }
  for (std::thread& thread : running) thread.join();
}

// `lines` are exactly those of WriteFromThreads, each whole, each thread's in order.
void ExpectLinesFromThreads(const std::vector<std::string>& lines, int threads, int count,
                            const std::string& padding) {
  ASSERT_EQ(lines.size(), static_cast<size_t>(threads) * static_cast<size_t>(count));
  std::vector<int> next(static_cast<size_t>(threads), 0);
  const std::regex format(R"(^\S+Z user=(\d+) ip= line (\d+) (.*)$)");
  for (const std::string& line : lines) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, format)) << line.substr(0, 80);
    ASSERT_EQ(m[3], padding) << line.substr(0, 80);
    const int t = std::stoi(m[1]);
    ASSERT_LT(t, threads);
    ASSERT_EQ(std::stoi(m[2]), next[static_cast<size_t>(t)]) << line.substr(0, 80);
    ++next[static_cast<size_t>(t)];
  }
}

TEST_F(LogTest, LinesFromManyThreadsStayWholeAndInTheirOrder) {
  WriteFromThreads(8, 2000, "x");
  Log::Flush();
  ExpectLinesFromThreads(Lines(ReadFile(path_)), 8, 2000, "x");
}

// The core takes SIGTERM, SIGINT and SIGHUP with sigwait: delivered to the writer thread
// instead, they would end the process.
TEST_F(LogTest, TheWriterThreadBlocksEverySignal) {
  Log::Write("", "", "start the writer thread");
  Log::Flush();
  bool found = false;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::string comm = ReadFile(task.path() / "comm");
    if (comm != "tchatator-log\n") continue;
    found = true;
    std::istringstream status(ReadFile(task.path() / "status"));
    std::string line;
    uint64_t blocked = 0;
    while (std::getline(status, line)) {
      if (line.starts_with("SigBlk:")) blocked = std::stoull(line.substr(7), nullptr, 16);
    }
    for (int signal : {SIGHUP, SIGINT, SIGTERM, SIGPIPE, SIGUSR1}) {
      EXPECT_NE(blocked & (uint64_t{1} << (signal - 1)), 0u) << "signal " << signal;
    }
  }
  EXPECT_TRUE(found) << "no thread named tchatator-log";
}

TEST_F(LogTest, MegabytesQueuedAtOnceAreWrittenWholeAndInOrderWithoutFlush) {
  // The writer thread would gather for an hour: only the half-full buffer makes it write,
  // and writers wait past 4 MiB, so the threads end only if it wrote.
  Log::SetGatherTimeForTesting(std::chrono::hours(1));
  const std::string padding(160, 'p');
  WriteFromThreads(4, 25000, padding);  // about 6 MB
  EXPECT_GE(ReadFile(path_).size(), size_t{1} << 20) << "written before any Flush";
  Log::Flush();
  Log::SetGatherTimeForTesting(std::chrono::milliseconds(10));
  ExpectLinesFromThreads(Lines(ReadFile(path_)), 4, 25000, padding);
}

// In a process of its own (a death test), as a daemon returning from main would, with a
// writer thread that would wait an hour: only the exit writes the lines. The line
// logged by an exit handler that runs after the log's own is written too.
TEST_F(LogTest, QueuedLinesAreWrittenWhenTheProcessExits) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Log::SetGatherTimeForTesting(std::chrono::hours(1));
        std::atexit([] { Log::Write("2", "", "from a later exit handler"); });
        Log::Write("1", "", "last words");
        std::exit(3);
      },
      testing::ExitedWithCode(3), "");
  const std::vector<std::string> lines = Lines(ReadFile(path_));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(lines[0].ends_with("Z user=1 ip= last words")) << lines[0];
  EXPECT_TRUE(lines[1].ends_with("Z user=2 ip= from a later exit handler")) << lines[1];
}

}  // namespace
}  // namespace tchatator
