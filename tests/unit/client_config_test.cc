// Client configuration: secret properties are recognised and never shown (item 4 of issue 12);
// bootstrap.servers from the properties counts as the broker list.
// One client configuration for a program: properties text and files, -X,
// $MESSAGECORPS_CLIENT_CONFIG and $MESSAGECORPS_BROKERS merged with the precedence client_config.h
// states; errors name their source and never repeat a value. No broker: clients are only built,
// never connected.
#include "messagecorps/client_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "messagecorps/admin.h"
#include "messagecorps/consumer.h"
#include "messagecorps/error.h"
#include "messagecorps/producer.h"

namespace messagecorps {
namespace {

using Properties = std::map<std::string, std::string>;

// Sets or unsets an environment variable for one test; restores it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

class ClientConfigFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("client-config-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  std::filesystem::path dir_;
  // No stray environment from the machine running the tests.
  ScopedEnv no_env_file_{kClientConfigEnvironmentVariable, nullptr};
  ScopedEnv no_env_brokers_{kBrokersEnvironmentVariable, nullptr};
};

TEST(ClientConfigSecrets, NamedAndPatternKeysAreSecret) {
  for (const char* key :
       {"sasl.password", "ssl.key.password", "ssl.key.pem", "ssl.keystore.password",
        "sasl.oauthbearer.client.secret", "sasl.oauthbearer.config", "SASL.PASSWORD",
        "my.db.password", "some.secret.thing", "ssl_key",
        "sasl.oauthbearer.assertion.private.key.passphrase"}) {
    EXPECT_TRUE(IsSecretProperty(key)) << key;
  }
  for (const char* key :
       {"bootstrap.servers", "sasl.username", "sasl.mechanisms", "security.protocol",
        "ssl.ca.location", "ssl.certificate.location", "ssl.key.location", "client.id"}) {
    EXPECT_FALSE(IsSecretProperty(key)) << key;
  }
}

TEST(ClientConfigSecrets, RedactedValueAndRedactSecrets) {
  EXPECT_EQ(RedactedValue("sasl.password", "hunter2hunter2"), kRedacted);
  EXPECT_EQ(RedactedValue("sasl.username", "alice"), "alice");
  const std::map<std::string, std::string> props = {
      {"sasl.password", "s3cr3t-pw"}, {"sasl.username", "alice"}, {"ssl.key.password", "abc"}};
  EXPECT_EQ(RedactSecrets("login alice/s3cr3t-pw failed; again s3cr3t-pw", props),
            "login alice/[redacted] failed; again [redacted]");
  // Values under 4 characters are left alone (they would garble unrelated text).
  EXPECT_EQ(RedactSecrets("abc", props), "abc");
}

TEST(ClientConfigSecrets, MalformedPropertyIsNotEchoedWhenItMayHoldASecret) {
  auto bad = ParseProperty("sasl.password:hunter2-the-password");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(std::string(bad.status().message()).find("hunter2"), std::string::npos) << bad.status();
  auto other = ParseProperty("client.id:x");
  ASSERT_FALSE(other.ok());
  EXPECT_NE(std::string(other.status().message()).find("client.id:x"), std::string::npos);
}

// A value librdkafka refuses: the error names the property, not the value, when it is secret.
TEST(ClientConfigSecrets, RefusedSecretValueIsNotEchoed) {
  ProducerConfig config;
  config.brokers = "127.0.0.1:1";
  // ssl.key.password is a string property; a secret one with a value librdkafka refuses at once:
  // ssl.keystore.password is accepted too. An unknown property whose name contains "password"
  // is refused, and its value must not appear.
  config.properties["no.such.password"] = "Very-Secret-Value-1";
  auto producer = Producer::Create(config);
  ASSERT_FALSE(producer.ok());
  const std::string message(producer.status().message());
  EXPECT_EQ(message.find("Very-Secret-Value-1"), std::string::npos) << message;
  EXPECT_NE(message.find("no.such.password"), std::string::npos) << message;
  EXPECT_EQ(GetErrorReason(producer.status()), ErrorReason::kInvalidConfig);
}

// A misspelt key (unknown to librdkafka) may carry a secret: its value is never shown. A known,
// non-secret key with a bad value is shown with it (that helps find the mistake).
TEST(ClientConfigSecrets, UnknownKeysValueIsHiddenKnownKeysBadValueIsShown) {
  ProducerConfig typo;
  typo.brokers = "127.0.0.1:1";
  typo.properties["sasl.pasword"] = "Very-Secret-Value-2";
  auto a = Producer::Create(typo);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(std::string(a.status().message()).find("Very-Secret-Value-2"), std::string::npos)
      << a.status();
  EXPECT_NE(std::string(a.status().message()).find("sasl.pasword=[redacted]"), std::string::npos)
      << a.status();

  ProducerConfig bad;
  bad.brokers = "127.0.0.1:1";
  bad.properties["acks"] = "sometimes";
  auto b = Producer::Create(bad);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(std::string(b.status().message()).find("acks=sometimes"), std::string::npos)
      << b.status();
}

TEST(ClientConfigBrokers, BootstrapServersPropertyIsTheBrokerList) {
  unsetenv("MESSAGECORPS_BROKERS");
  ClientConfig config;
  EXPECT_FALSE(ResolveBrokers(config).ok());
  config.properties["bootstrap.servers"] = "127.0.0.1:9093";
  ASSERT_TRUE(ResolveBrokers(config).ok());
  EXPECT_EQ(*ResolveBrokers(config), "127.0.0.1:9093");
  config.brokers = "127.0.0.1:9092";  // the property is applied last: it wins
  EXPECT_EQ(*ResolveBrokers(config), "127.0.0.1:9093");
}

TEST_F(ClientConfigFiles, PrecedenceIsXThenFilesThenTheEnvironmentFile) {
  const std::string env_file = Write("env.properties",
                                     "linger.ms=1\n"
                                     "acks=1\n"
                                     "client.id=from-env\n"
                                     "security.protocol=SSL\n");
  const std::string first = Write("first.properties",
                                  "acks=0\n"
                                  "client.id=from-first\n");
  const std::string second = Write("second.properties", "client.id=from-second\n");
  ScopedEnv env(kClientConfigEnvironmentVariable, env_file.c_str());
  ClientConfigSources sources;
  sources.brokers = "b:1";
  sources.property_files = {first, second};
  sources.properties = {"linger.ms=7", "linger.ms=8"};
  auto config = LoadClientConfig(sources);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->properties, (Properties{{"linger.ms", "8"},            // -X, the last one
                                            {"acks", "0"},                 // -F over the env file
                                            {"client.id", "from-second"},  // a later -F wins
                                            {"security.protocol", "SSL"}}));  // env file only
  EXPECT_EQ(config->brokers, "b:1");
  EXPECT_EQ(config->logger, nullptr);  // left for the program
}

TEST_F(ClientConfigFiles, BrokersComeFromTheFlagThenThePropertiesThenTheEnvironment) {
  const std::string env_file = Write("env.properties", "bootstrap.servers=env-file:1\n");
  const std::string file = Write("f.properties", "bootstrap.servers=file:1\n");
  ScopedEnv env_brokers(kBrokersEnvironmentVariable, "env-var:1");
  ClientConfigSources sources;
  EXPECT_EQ(LoadClientConfig(sources)->brokers, "env-var:1");
  {
    ScopedEnv env(kClientConfigEnvironmentVariable, env_file.c_str());
    EXPECT_EQ(LoadClientConfig(sources)->brokers, "env-file:1");
    sources.property_files = {file};
    EXPECT_EQ(LoadClientConfig(sources)->brokers, "file:1");
    sources.properties = {"metadata.broker.list=x:1"};  // the alias counts too
    EXPECT_EQ(LoadClientConfig(sources)->brokers, "x:1");
    sources.properties = {"bootstrap.servers=x:2"};
    EXPECT_EQ(LoadClientConfig(sources)->brokers, "x:2");
    sources.brokers = "flag:1";
    auto config = LoadClientConfig(sources);
    EXPECT_EQ(config->brokers, "flag:1");
    // One place for the list: not among the properties as well.
    EXPECT_EQ(config->properties.count("bootstrap.servers"), 0u);
    EXPECT_EQ(config->properties.count("metadata.broker.list"), 0u);
  }
}

TEST_F(ClientConfigFiles, ErrorsNameTheirSource) {
  ClientConfigSources sources;
  EXPECT_EQ(LoadClientConfig(sources).status().code(), absl::StatusCode::kInvalidArgument)
      << "no brokers anywhere";
  sources.brokers = "b:1";
  {
    ScopedEnv env(kClientConfigEnvironmentVariable, (dir_ / "missing.properties").c_str());
    auto missing = LoadClientConfig(sources);
    EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
    EXPECT_NE(missing.status().message().find("MESSAGECORPS_CLIENT_CONFIG="),
              absl::string_view::npos)
        << missing.status();
    // Tests (and tools that must not) can ignore the environment.
    sources.use_environment = false;
    EXPECT_TRUE(LoadClientConfig(sources).ok());
    sources.use_environment = true;
  }
  sources.property_files = {Write("bad.properties", "a=1\nsasl.password hunter2\n")};
  auto bad = LoadClientConfig(sources);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("bad.properties:2:"), absl::string_view::npos);
  EXPECT_EQ(bad.status().message().find("hunter2"), absl::string_view::npos);
  sources.property_files = {(dir_ / "nope").string()};
  EXPECT_EQ(LoadClientConfig(sources).status().code(), absl::StatusCode::kNotFound);
  sources.property_files.clear();
  sources.properties = {"no-equals-sign"};
  auto x = LoadClientConfig(sources);
  EXPECT_EQ(x.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(x.status().message().find("-X"), absl::string_view::npos);
}

TEST_F(ClientConfigFiles, ClientsTakeTheirBrokersFromTheProperties) {
  ClientConfig config;
  config.properties["bootstrap.servers"] = "127.0.0.1:1";
  EXPECT_EQ(ResolveBrokers(config).value_or(""), "127.0.0.1:1");
  auto admin = AdminClient::Create(config);
  ASSERT_TRUE(admin.ok()) << admin.status();
  EXPECT_EQ((*admin)->brokers(), "127.0.0.1:1");
  config.brokers = "127.0.0.1:2";  // the property is applied last: it wins (LoadClientConfig
                                   // removes it, so --brokers wins there)
  EXPECT_EQ(ResolveBrokers(config).value_or(""), "127.0.0.1:1");
  ProducerConfig producer_config{config, {}};
  EXPECT_TRUE(Producer::Create(producer_config).ok());
  EXPECT_EQ(ResolveBrokers(ClientConfig{}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace messagecorps
