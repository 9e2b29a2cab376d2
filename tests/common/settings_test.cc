// Unit tests of the configuration table (contract section 4): the generated file, the
// defaults, the file syntax, the environment overrides and the operator-facing texts.

#include "common/settings.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

#ifndef TCHATATOR_CONF_PATH
#error "TCHATATOR_CONF_PATH must name deploy/tchatator.conf in the source tree"
#endif

namespace tchatator {
namespace {

using Env = std::map<std::string, std::string>;

// A file under the test's temporary directory, removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(std::string_view text) {
    static int counter = 0;
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    path_ = testing::TempDir() + "settings_" + info->test_suite_name() + "_" + info->name() +
            "_" + std::to_string(++counter) + ".conf";
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << text;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// Expects `file_text` to be refused with InvalidArgument naming `path:line` and `key`.
void ExpectRefused(const std::string& file_text, int line, std::string_view key) {
  TempFile file(file_text);
  const absl::StatusOr<Settings> settings = LoadSettings(file.path(), {});
  ASSERT_FALSE(settings.ok()) << "accepted:\n" << file_text;
  EXPECT_EQ(settings.status().code(), absl::StatusCode::kInvalidArgument) << settings.status();
  const std::string message = Message(settings.status());
  EXPECT_NE(message.find(file.path() + ":" + std::to_string(line)), std::string::npos)
      << message;
  EXPECT_NE(message.find(key), std::string::npos) << message;
}

// ---------------------------------------------------------------------------
// The table and the generated file

TEST(ConfigKeysTest, NamesAreUniqueAndEachKeyHasOneField) {
  std::set<std::string_view> names;
  for (const KeySpec& spec : ConfigKeys()) {
    EXPECT_TRUE(names.insert(spec.name).second) << "duplicate key " << spec.name;
    EXPECT_FALSE(spec.doc.empty()) << spec.name;
    const bool is_string = spec.min > spec.max;
    EXPECT_EQ(spec.string_field != nullptr, is_string) << spec.name;
    EXPECT_EQ(spec.int_field != nullptr, !is_string) << spec.name;
  }
}

TEST(ConfigKeysTest, ContainsEveryKeyTheContractNames) {
  for (std::string_view name :
       {"port", "listen-backlog", "core-address", "idle-timeout-seconds",
        "request-timeout-seconds", "max-line-bytes", "max-connections", "max-connections-per-ip",
        "grpc-port", "database-url", "admin-api-key", "max-message-length",
        "max-messages-per-minute", "max-messages-per-hour", "history-block-size",
        "block-duration-hours", "session-ttl-hours", "log-file"}) {
    bool found = false;
    for (const KeySpec& spec : ConfigKeys()) found = found || spec.name == name;
    EXPECT_TRUE(found) << "missing key " << name;
  }
}

TEST(RenderConfigFileTest, DeployConfIsTheRenderedFile) {
  std::ifstream in(TCHATATOR_CONF_PATH, std::ios::binary);
  ASSERT_TRUE(in) << "cannot read " << TCHATATOR_CONF_PATH
                  << "; create it with: build/bin/tchatator-core --print-config > "
                     "deploy/tchatator.conf";
  std::ostringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), RenderConfigFile())
      << "deploy/tchatator.conf differs from the key table in common/settings.cc; "
         "regenerate it with: build/bin/tchatator-core --print-config > deploy/tchatator.conf";
}

TEST(RenderConfigFileTest, EveryKeyAppearsExactlyOnceAtItsDefault) {
  const std::vector<std::string> lines = Lines(RenderConfigFile());
  size_t settings_lines = 0;
  for (const std::string& line : lines) {
    if (!line.empty() && line.front() != '#') ++settings_lines;
  }
  EXPECT_EQ(settings_lines, ConfigKeys().size());
  for (const KeySpec& spec : ConfigKeys()) {
    const std::string expected = std::string(spec.name) + "=" + std::string(spec.default_value);
    const std::string prefix = std::string(spec.name) + "=";
    int exact = 0;
    int with_name = 0;
    for (const std::string& line : lines) {
      if (line == expected) ++exact;
      if (line.starts_with(prefix)) ++with_name;
    }
    EXPECT_EQ(exact, 1) << expected;
    EXPECT_EQ(with_name, 1) << spec.name;
  }
}

TEST(RenderConfigFileTest, RenderedFileLoadsToTheDefaults) {
  TempFile file(RenderConfigFile());
  const absl::StatusOr<Settings> settings = LoadSettings(file.path(), {});
  ASSERT_TRUE(settings.ok()) << settings.status();
  const absl::StatusOr<Settings> defaults = LoadSettings("", {});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  for (const KeySpec& spec : ConfigKeys()) {
    if (spec.int_field != nullptr) {
      EXPECT_EQ((*settings).*spec.int_field, (*defaults).*spec.int_field) << spec.name;
    } else {
      EXPECT_EQ((*settings).*spec.string_field, (*defaults).*spec.string_field) << spec.name;
    }
  }
}

// ---------------------------------------------------------------------------
// LoadSettings

TEST(LoadSettingsTest, DefaultsAreTheContractsDefaults) {
  const absl::StatusOr<Settings> settings = LoadSettings("", {});
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->port, 4242);
  EXPECT_EQ(settings->grpc_port, 50051);
  EXPECT_EQ(settings->max_message_length, 1000);
  EXPECT_EQ(settings->max_messages_per_minute, 12);
  EXPECT_EQ(settings->max_messages_per_hour, 90);
  EXPECT_EQ(settings->history_block_size, 20);
  EXPECT_EQ(settings->block_duration_hours, 24);
  EXPECT_EQ(settings->request_timeout_seconds, 10);
  EXPECT_EQ(settings->max_line_bytes, 16384);
  EXPECT_GE(settings->max_connections_per_ip, 64);
}

TEST(LoadSettingsTest, DefaultsAreTheTablesDefaults) {
  const absl::StatusOr<Settings> settings = LoadSettings("", {});
  ASSERT_TRUE(settings.ok()) << settings.status();
  for (const KeySpec& spec : ConfigKeys()) {
    if (spec.int_field != nullptr) {
      EXPECT_EQ(std::to_string((*settings).*spec.int_field), spec.default_value) << spec.name;
    } else {
      EXPECT_EQ((*settings).*spec.string_field, spec.default_value) << spec.name;
    }
  }
}

TEST(LoadSettingsTest, FileWithCommentsBlankLinesAndSpaces) {
  TempFile file(
      "# a comment\n"
      "   # an indented comment, port=1\n"
      "\n"
      "   \t\n"
      "port = 5000\n"
      "max-messages-per-minute=30\n"
      "\tmax-messages-per-hour =\t100  \n"
      "core-address = dns:///core:50051\n"
      "history-block-size=5\r\n"
      "log-file=/var/log/tchatator.log\n"
      "admin-api-key=\n");
  const absl::StatusOr<Settings> settings = LoadSettings(file.path(), {});
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->port, 5000);
  EXPECT_EQ(settings->max_messages_per_minute, 30);
  EXPECT_EQ(settings->max_messages_per_hour, 100);
  EXPECT_EQ(settings->core_address, "dns:///core:50051");
  EXPECT_EQ(settings->history_block_size, 5);
  EXPECT_EQ(settings->log_file, "/var/log/tchatator.log");
  EXPECT_EQ(settings->admin_api_key, "");
  // Keys the file does not name keep their defaults.
  EXPECT_EQ(settings->grpc_port, 50051);
  EXPECT_EQ(settings->max_message_length, 1000);
}

TEST(LoadSettingsTest, LaterLineWins) {
  TempFile file("port=5000\nport=5001\n");
  const absl::StatusOr<Settings> settings = LoadSettings(file.path(), {});
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->port, 5001);
}

TEST(LoadSettingsTest, BoundsAreInclusive) {
  TempFile file("port=65535\nmax-messages-per-minute=0\nmax-messages-per-hour=0\n"
                "max-line-bytes=256\n");
  const absl::StatusOr<Settings> settings = LoadSettings(file.path(), {});
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->port, 65535);
  EXPECT_EQ(settings->max_messages_per_minute, 0);
  EXPECT_EQ(settings->max_messages_per_hour, 0);
  EXPECT_EQ(settings->max_line_bytes, 256);
}

TEST(LoadSettingsTest, UnknownKeyIsRefusedWithFileLineAndKey) {
  ExpectRefused("# comment\nport=4242\nno-such-key=1\n", 3, "no-such-key");
}

TEST(LoadSettingsTest, KeysAreCaseSensitive) {
  ExpectRefused("PORT=4242\n", 1, "PORT");
}

TEST(LoadSettingsTest, LineWithoutEqualsIsRefused) {
  TempFile file("port=4242\n\nport 4243\n");
  const absl::StatusOr<Settings> settings = LoadSettings(file.path(), {});
  ASSERT_FALSE(settings.ok());
  EXPECT_EQ(settings.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Message(settings.status()).find(file.path() + ":3"), std::string::npos)
      << settings.status();
}

TEST(LoadSettingsTest, OutOfRangeValuesAreRefused) {
  ExpectRefused("port=0\n", 1, "port");
  ExpectRefused("port=65536\n", 1, "port");
  ExpectRefused("\nmax-line-bytes=255\n", 2, "max-line-bytes");
  ExpectRefused("max-messages-per-minute=-1\n", 1, "max-messages-per-minute");
  ExpectRefused("history-block-size=0\n", 1, "history-block-size");
  ExpectRefused("grpc-port=99999999999999999999999\n", 1, "grpc-port");
}

TEST(LoadSettingsTest, NonNumericValuesAreRefused) {
  ExpectRefused("port=abc\n", 1, "port");
  ExpectRefused("port=12abc\n", 1, "port");
  ExpectRefused("port=\n", 1, "port");
  ExpectRefused("port=4.5\n", 1, "port");
  ExpectRefused("port=0x10\n", 1, "port");
  ExpectRefused("max-messages-per-minute=1 2\n", 1, "max-messages-per-minute");
}

TEST(LoadSettingsTest, AddressesAreOneWordAndTheAdminKeyHasNoTrailingComment) {
  // A trailing comment (only whole lines are comments) or a stray space would become
  // part of the value: an admin key nobody typed, a target gRPC cannot use.
  ExpectRefused("admin-api-key=abc # the key\n", 1, "admin-api-key");
  ExpectRefused("port=4242\ncore-address=127.0.0.1:50051 # main core\n", 2, "core-address");
  ExpectRefused("core-address=127.0.0.1:50051#x\n", 1, "core-address");
  ExpectRefused("core-address=\n", 1, "core-address");
  ExpectRefused("listen-address=0.0.0.0 127.0.0.1\n", 1, "listen-address");
  ExpectRefused("listen-address=\n", 1, "listen-address");
  // An IP address: the gateway resolves no host name (gRPC, in the core, would).
  ExpectRefused("listen-address=localhost\n", 1, "listen-address");
  ExpectRefused("listen-address=127.0.0.256\n", 1, "listen-address");
  ExpectRefused("listen-address=[::1]\n", 1, "listen-address");
  const absl::StatusOr<Settings> name =
      LoadSettings("", Env{{"TCHATATOR_LISTEN_ADDRESS", "localhost"}});
  EXPECT_EQ(Message(name.status()),
            "TCHATATOR_LISTEN_ADDRESS: listen-address must be an IP address such as 0.0.0.0, "
            "127.0.0.1 or :: (a host name is not resolved)");
  for (const std::string address : {"0.0.0.0", "127.0.0.2", "::", "::1", "fe80::1"}) {
    const absl::StatusOr<Settings> ip =
        LoadSettings("", Env{{"TCHATATOR_LISTEN_ADDRESS", address}});
    ASSERT_TRUE(ip.ok()) << address << ": " << ip.status();
    EXPECT_EQ(ip->listen_address, address);
  }
  ExpectRefused("admin-api-key=abc\t# the key\n", 1, "admin-api-key");
  // A passphrase may hold spaces and '#', not a space then '#'.
  const absl::StatusOr<Settings> passphrase =
      LoadSettings("", Env{{"TCHATATOR_ADMIN_API_KEY", "correct horse#battery staple"}});
  ASSERT_TRUE(passphrase.ok()) << passphrase.status();
  EXPECT_EQ(passphrase->admin_api_key, "correct horse#battery staple");
  // Where spaces belong, they stay; an empty admin key disables it, as documented.
  TempFile file("database-url=host=db port=5432 dbname=tchatator\n"
                "log-file=/var/log/my logs/core.log\n"
                "admin-api-key=\n");
  const absl::StatusOr<Settings> settings = LoadSettings(file.path(), {});
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->database_url, "host=db port=5432 dbname=tchatator");
  EXPECT_EQ(settings->log_file, "/var/log/my logs/core.log");
  EXPECT_EQ(settings->admin_api_key, "");
  // The same rule for the environment.
  const absl::StatusOr<Settings> from_env =
      LoadSettings("", Env{{"TCHATATOR_CORE_ADDRESS", "core:50051 "}});
  EXPECT_EQ(from_env.status().code(), absl::StatusCode::kInvalidArgument) << from_env.status();
}

TEST(LoadSettingsTest, TheAdminKeyIsPrintableAscii) {
  // It travels in a gRPC header: tchatator-admin could never send a key with a line break
  // (a Kubernetes Secret made of a file that ends in one), a control or non-ASCII byte.
  ExpectRefused("admin-api-key=abc\x7f\n", 1, "admin-api-key");
  ExpectRefused("admin-api-key=cl\xc3\xa9-secr\xc3\xa8te\n", 1, "admin-api-key");
  ExpectRefused("admin-api-key=a\tb\n", 1, "admin-api-key");
  for (const std::string key : {"KeyWithNewline123\n", "Key\rWith\x01"}) {
    const absl::StatusOr<Settings> from_env =
        LoadSettings("", Env{{"TCHATATOR_ADMIN_API_KEY", key}});
    EXPECT_EQ(from_env.status().code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_NE(Message(from_env.status()).find("printable ASCII"), std::string::npos)
        << from_env.status();
    // The refusal does not show the secret.
    EXPECT_EQ(Message(from_env.status()).find("KeyWith"), std::string::npos)
        << from_env.status();
  }
  const absl::StatusOr<Settings> edges =
      LoadSettings("", Env{{"TCHATATOR_ADMIN_API_KEY", "!~key with spaces~!"}});
  ASSERT_TRUE(edges.ok()) << edges.status();
  EXPECT_EQ(edges->admin_api_key, "!~key with spaces~!");
}

TEST(LoadSettingsTest, ADirectoryIsNoConfigurationFile) {
  const absl::StatusOr<Settings> settings = LoadSettings(testing::TempDir(), {});
  EXPECT_EQ(settings.status().code(), absl::StatusCode::kNotFound) << settings.status();
}

TEST(LoadSettingsTest, AByteOrderMarkIsNoPartOfTheFirstKey) {
  TempFile file("\xEF\xBB\xBFport=5000\n");
  const absl::StatusOr<Settings> settings = LoadSettings(file.path(), {});
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->port, 5000);
  // Only at the very start of the file.
  ExpectRefused("port=5000\n\xEF\xBB\xBFport=5001\n", 2, "port");
}

TEST(LoadSettingsTest, MissingFileIsNotFound) {
  const std::string path = testing::TempDir() + "settings_no_such_file.conf";
  std::remove(path.c_str());
  const absl::StatusOr<Settings> settings = LoadSettings(path, {});
  ASSERT_FALSE(settings.ok());
  EXPECT_EQ(settings.status().code(), absl::StatusCode::kNotFound) << settings.status();
  EXPECT_NE(Message(settings.status()).find(path), std::string::npos) << settings.status();
}

TEST(LoadSettingsTest, EnvironmentBeatsTheFile) {
  TempFile file("max-messages-per-minute=30\nmax-messages-per-hour=200\n");
  const absl::StatusOr<Settings> settings =
      LoadSettings(file.path(), Env{{"TCHATATOR_MAX_MESSAGES_PER_MINUTE", "5"}});
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->max_messages_per_minute, 5);
  EXPECT_EQ(settings->max_messages_per_hour, 200);  // the file still applies
}

TEST(LoadSettingsTest, EnvironmentWithoutFile) {
  const absl::StatusOr<Settings> settings =
      LoadSettings("", Env{{"TCHATATOR_PORT", "7000"},
                           {"TCHATATOR_DATABASE_URL", "postgresql://db/chat"},
                           {"TCHATATOR_LOG_FILE", "/tmp/x.log"}});
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->port, 7000);
  EXPECT_EQ(settings->database_url, "postgresql://db/chat");
  EXPECT_EQ(settings->log_file, "/tmp/x.log");
}

TEST(LoadSettingsTest, UnrelatedVariablesAreIgnored) {
  const absl::StatusOr<Settings> settings =
      LoadSettings("", Env{{"TCHATATOR_API_KEY", "not a number"},
                           {"TCHATATOR_TEST_PG", "postgresql://x"},
                           {"TCHATATOR_PORTS", "abc"},
                           {"TCHATATOR_", "abc"},
                           {"PORT", "1"},
                           {"tchatator_port", "1"},
                           {"HOME", "/root"}});
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->port, 4242);
}

TEST(LoadSettingsTest, BadEnvironmentValueIsRefused) {
  for (const char* value : {"abc", "70000", "", "-5"}) {
    const absl::StatusOr<Settings> settings = LoadSettings("", Env{{"TCHATATOR_PORT", value}});
    ASSERT_FALSE(settings.ok()) << "accepted TCHATATOR_PORT=" << value;
    EXPECT_EQ(settings.status().code(), absl::StatusCode::kInvalidArgument) << settings.status();
    EXPECT_NE(Message(settings.status()).find("TCHATATOR_PORT"), std::string::npos)
        << settings.status();
  }
}

TEST(LoadSettingsTest, EveryKeyHasAWorkingEnvironmentVariable) {
  for (const KeySpec& spec : ConfigKeys()) {
    // A value other than the default that every key accepts.
    const std::string value =
        spec.int_field != nullptr
            ? std::to_string(spec.min == std::stoll(std::string(spec.default_value)) ? spec.max
                                                                                     : spec.min)
            : std::string(spec.name == "listen-address" ? "10.0.0.7" : "from-env");
    const absl::StatusOr<Settings> settings =
        LoadSettings("", Env{{EnvironmentName(spec.name), value}});
    ASSERT_TRUE(settings.ok()) << spec.name << ": " << settings.status();
    if (spec.int_field != nullptr) {
      EXPECT_EQ(std::to_string((*settings).*spec.int_field), value) << spec.name;
    } else {
      EXPECT_EQ((*settings).*spec.string_field, value) << spec.name;
    }
  }
}

TEST(UnknownEnvironmentNamesTest, ListsTheTchatatorVariablesThatNameNoKey) {
  EXPECT_EQ(UnknownEnvironmentNames(Env{{"TCHATATOR_PORT", "1"},
                                        {"TCHATATOR_MAX_MESSAGE_PER_MINUTE", "3"},
                                        {"TCHATATOR_TEST_PG", "host=x"},
                                        {"PATH", "/bin"},
                                        {"tchatator_port", "2"}}),
            (std::vector<std::string>{"TCHATATOR_MAX_MESSAGE_PER_MINUTE", "TCHATATOR_TEST_PG"}));
  EXPECT_TRUE(UnknownEnvironmentNames(Env{{"TCHATATOR_LOG_FILE", ""}}).empty());
}

TEST(EnvironmentNameTest, UpperCaseWithUnderscores) {
  EXPECT_EQ(EnvironmentName("max-line-bytes"), "TCHATATOR_MAX_LINE_BYTES");
  EXPECT_EQ(EnvironmentName("port"), "TCHATATOR_PORT");
  EXPECT_EQ(EnvironmentName("max-messages-per-minute"), "TCHATATOR_MAX_MESSAGES_PER_MINUTE");
}

// ---------------------------------------------------------------------------
// DescribeSettings and UsageText

TEST(DescribeSettingsTest, MasksSecretsAndShowsOtherValues) {
  const absl::StatusOr<Settings> settings =
      LoadSettings("", Env{{"TCHATATOR_ADMIN_API_KEY", "s3cretAdminKey"},
                           {"TCHATATOR_DATABASE_URL", "postgresql://u:hunter2@db/chat"},
                           {"TCHATATOR_MAX_MESSAGES_PER_MINUTE", "30"}});
  ASSERT_TRUE(settings.ok()) << settings.status();
  const std::string text = DescribeSettings(*settings, KeyOwner::kBoth);
  EXPECT_EQ(text.find("s3cretAdminKey"), std::string::npos) << text;
  EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
  const std::vector<std::string> lines = Lines(text);
  const std::set<std::string> set(lines.begin(), lines.end());
  EXPECT_TRUE(set.contains("admin-api-key=***")) << text;
  EXPECT_TRUE(set.contains("database-url=***")) << text;
  EXPECT_TRUE(set.contains("max-messages-per-minute=30")) << text;
  EXPECT_TRUE(set.contains("port=4242")) << text;
  EXPECT_TRUE(set.contains("core-address=127.0.0.1:50051")) << text;
  EXPECT_TRUE(set.contains("max-line-bytes=16384")) << text;
  // One line per key.
  EXPECT_EQ(lines.size(), ConfigKeys().size()) << text;
}

TEST(DescribeSettingsTest, ListsOnlyTheKeysOfTheDaemon) {
  const absl::StatusOr<Settings> settings = LoadSettings("", {});
  ASSERT_TRUE(settings.ok()) << settings.status();
  for (KeyOwner daemon : {KeyOwner::kGateway, KeyOwner::kCore}) {
    const std::vector<std::string> lines = Lines(DescribeSettings(*settings, daemon));
    for (const KeySpec& spec : ConfigKeys()) {
      const bool reads = spec.owner == KeyOwner::kBoth || spec.owner == daemon;
      int count = 0;
      for (const std::string& line : lines) {
        if (line.starts_with(std::string(spec.name) + "=")) ++count;
      }
      EXPECT_EQ(count, reads ? 1 : 0) << spec.name;
    }
  }
}

TEST(UsageTextTest, ListsEveryKeyWithItsDefault) {
  const std::string text = UsageText("tchatator-core", KeyOwner::kBoth);
  EXPECT_TRUE(text.starts_with("usage: tchatator-core ")) << text;
  for (std::string_view option :
       {"--config PATH", "--verbose", "--check-config", "--print-config", "--help"}) {
    EXPECT_NE(text.find(option), std::string::npos) << option;
  }
  for (const KeySpec& spec : ConfigKeys()) {
    const std::string entry = "  " + std::string(spec.name) + " (default '" +
                              std::string(spec.default_value) + "')";
    EXPECT_NE(text.find(entry), std::string::npos) << entry << "\n" << text;
    EXPECT_NE(text.find(spec.doc), std::string::npos) << spec.name;
  }
}

TEST(UsageTextTest, GatewayUsageListsGatewayKeysOnly) {
  const std::string text = UsageText("tchatator-gateway", KeyOwner::kGateway);
  for (const KeySpec& spec : ConfigKeys()) {
    const bool reads = spec.owner != KeyOwner::kCore;
    const std::string entry = "  " + std::string(spec.name) + " (default '";
    EXPECT_EQ(text.find(entry) != std::string::npos, reads) << spec.name;
  }
  EXPECT_NE(text.find("  port (default '4242')"), std::string::npos);
  EXPECT_EQ(text.find("grpc-port"), std::string::npos);
}

// ---------------------------------------------------------------------------
// PlanReload

TEST(PlanReloadTest, AppliesReloadableKeysAndKeepsRestartOnlyOnes) {
  const absl::StatusOr<Settings> current =
      LoadSettings("", Env{{"TCHATATOR_MAX_MESSAGES_PER_MINUTE", "3"}});
  const absl::StatusOr<Settings> loaded =
      LoadSettings("", Env{{"TCHATATOR_MAX_MESSAGES_PER_MINUTE", "5"},
                           {"TCHATATOR_GRPC_PORT", "6000"},
                           {"TCHATATOR_DATABASE_URL", "postgresql://u:hunter2@db/chat"},
                           {"TCHATATOR_ADMIN_API_KEY", "s3cretAdminKey"},
                           {"TCHATATOR_MAX_LINE_BYTES", "600"}});
  ASSERT_TRUE(current.ok() && loaded.ok());
  const ReloadPlan plan = PlanReload(*current, *loaded, KeyOwner::kCore);
  EXPECT_EQ(plan.applied.max_messages_per_minute, 5);
  EXPECT_EQ(plan.applied.admin_api_key, "s3cretAdminKey");
  EXPECT_EQ(plan.applied.max_line_bytes, 600) << "every reloadable key, even another daemon's";
  EXPECT_EQ(plan.applied.grpc_port, 50051) << "a port needs a restart";
  EXPECT_EQ(plan.applied.database_url, "postgresql://u:hunter2@db/chat")
      << "the core moves to another database on reload";
  // The core's keys only, in table order, secrets masked.
  EXPECT_EQ(plan.changed, (std::vector<std::string>{"database-url=***", "admin-api-key=***",
                                                    "max-messages-per-minute=5"}));
  EXPECT_EQ(plan.not_applied, (std::vector<std::string>{"grpc-port=6000"}));
}

TEST(PlanReloadTest, SameValuesChangeNothing) {
  const absl::StatusOr<Settings> settings = LoadSettings("", {});
  ASSERT_TRUE(settings.ok());
  const ReloadPlan plan = PlanReload(*settings, *settings, KeyOwner::kBoth);
  EXPECT_TRUE(plan.changed.empty());
  EXPECT_TRUE(plan.not_applied.empty());
  EXPECT_EQ(DescribeSettings(plan.applied, KeyOwner::kBoth),
            DescribeSettings(*settings, KeyOwner::kBoth));
}

TEST(PlanReloadTest, EveryKeyButThePortsAndTheBacklogReloadsOrIsReported) {
  // Each key changed alone lands in exactly one of the two lists of a daemon reading it.
  const absl::StatusOr<Settings> base = LoadSettings("", {});
  ASSERT_TRUE(base.ok());
  for (const KeySpec& spec : ConfigKeys()) {
    Settings loaded = *base;
    if (spec.min > spec.max) {
      loaded.*spec.string_field += "x";
    } else {
      loaded.*spec.int_field = loaded.*spec.int_field == spec.max ? spec.min : spec.max;
    }
    const ReloadPlan plan = PlanReload(*base, loaded, spec.owner);
    EXPECT_EQ(plan.changed.size() + plan.not_applied.size(), 1u) << spec.name;
    EXPECT_EQ(plan.changed.size(), spec.reloadable ? 1u : 0u) << spec.name;
    if (spec.name == "port" || spec.name == "grpc-port" || spec.name == "listen-backlog") {
      EXPECT_FALSE(spec.reloadable) << spec.name;
    }
    if (spec.name == "database-url" || spec.name == "database-pool-size") {
      EXPECT_TRUE(spec.reloadable) << spec.name << " applies on SIGHUP (issue #6)";
    }
  }
}

}  // namespace
}  // namespace tchatator
