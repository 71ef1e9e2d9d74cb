// Client configuration: secret properties are recognised and never shown (item 4 of issue 12);
// bootstrap.servers from the properties counts as the broker list.
#include "messagecorps/client_config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "messagecorps/consumer.h"
#include "messagecorps/error.h"
#include "messagecorps/producer.h"

namespace messagecorps {
namespace {

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

}  // namespace
}  // namespace messagecorps
