// messagecorps/client_config.h — what every Kafka client (producer, consumer, admin) is built from,
// and how a program gets one configuration for all the clients it opens (LoadClientConfig: -X, -F,
// $MESSAGECORPS_CLIENT_CONFIG, $MESSAGECORPS_BROKERS, with one precedence).
//
// `properties` accepts any librdkafka configuration property (CONFIGURATION.md of librdkafka) and
// is applied last, so it overrides every default messagecorps chooses. Misconfiguration (an unknown
// property, a bad value, no brokers) makes the client's Create() fail with kInvalidArgument naming
// the property; nothing is thrown.
//
// Value type; copy freely. The logger and metrics are shared with the client that is built from it.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace spdlog {
class logger;
}

namespace messagecorps {

class Metrics;

struct ClientConfig {
  // bootstrap.servers. Empty: $MESSAGECORPS_BROKERS, else Create() fails with kInvalidArgument.
  std::string brokers;
  // Any librdkafka property; overrides messagecorps' defaults.
  std::map<std::string, std::string> properties;
  // Where the client and librdkafka log. Null: spdlog's default logger.
  std::shared_ptr<spdlog::logger> logger;
  // Counters and librdkafka statistics gauges. Null: none kept.
  std::shared_ptr<Metrics> metrics;
  // librdkafka statistics.interval.ms feeding `metrics`; 0 disables.
  std::chrono::milliseconds statistics_interval{0};
};

// Environment variables every program reads (see LoadClientConfig).
inline constexpr const char* kBrokersEnvironmentVariable = "MESSAGECORPS_BROKERS";
inline constexpr const char* kClientConfigEnvironmentVariable = "MESSAGECORPS_CLIENT_CONFIG";

// The broker list to use: `configured` if set, else $MESSAGECORPS_BROKERS; kInvalidArgument if
// neither.
absl::StatusOr<std::string> ResolveBrokers(const std::string& configured);
// The broker list a client built from `config` dials: properties["bootstrap.servers"] (applied
// last, so it wins; e.g. from a properties file), else ResolveBrokers(config.brokers).
absl::StatusOr<std::string> ResolveBrokers(const ClientConfig& config);

// Where a program's client configuration comes from: its command line and its environment.
struct ClientConfigSources {
  std::string brokers;                      // --brokers / -b
  std::vector<std::string> property_files;  // -F FILE, in the order given
  std::vector<std::string> properties;      // -X key=value, in the order given
  // Read $MESSAGECORPS_CLIENT_CONFIG and $MESSAGECORPS_BROKERS (false: tests that must not).
  bool use_environment = true;
};

// One client configuration for everything a program opens (producers, consumers, the Router's
// producer and dead letters, admin clients), merged from `sources`. For each librdkafka property
// the first of these that sets it wins:
//   1. -X key=value (a later -X of the same key over an earlier one)
//   2. -F files (a later file over an earlier one)
//   3. the properties file named by $MESSAGECORPS_CLIENT_CONFIG
//   4. messagecorps' defaults for the client's kind (producer.h, consumer.h), applied when the
//      client is built
// metadata.broker.list counts as bootstrap.servers. The broker list: --brokers when given, else
// bootstrap.servers from 1-3 in that order, else $MESSAGECORPS_BROKERS; it is returned in
// `brokers` and removed from the properties (so --brokers wins over a file's bootstrap.servers).
// The logger, metrics and statistics interval are left for the caller to set.
// Errors, each naming its source: kNotFound for a file that cannot be opened (for the
// environment variable's file, the variable is named); kInvalidArgument for a malformed line
// (FILE:LINE) or -X, and when no broker list is found anywhere. Messages never repeat a secret.
absl::StatusOr<ClientConfig> LoadClientConfig(const ClientConfigSources& sources);

// Reads a kcat-style properties file: `key=value` per line, `#` comments, blank lines ignored.
// Errors name the file and line (kInvalidArgument), or kNotFound for a missing file; a file larger
// than kMaxPropertiesFileBytes is kInvalidArgument (a configuration file is small; this refuses
// e.g. a device or a log file given by mistake before reading it all).
absl::StatusOr<std::map<std::string, std::string>> ReadPropertiesFile(const std::string& path);

// The parser ReadPropertiesFile uses, on text in memory. Keys and values are trimmed of spaces,
// tabs and carriage returns; a later line for a key replaces an earlier one. kInvalidArgument
// (reason kInvalidConfig), "<source_name>:<line>: ...", for a line without '=', an empty key, or a
// NUL byte (librdkafka would silently cut the value there).
absl::StatusOr<std::map<std::string, std::string>> ParsePropertiesText(
    std::string_view text, std::string_view source_name = "<properties>");
inline constexpr size_t kMaxPropertiesFileBytes = 1 << 20;

// Parses "key=value" (the CLI's -X); kInvalidArgument without '=' or with an empty key. The error
// message never repeats text that may hold a secret (see IsSecretProperty).
absl::StatusOr<std::pair<std::string, std::string>> ParseProperty(const std::string& key_value);

// Secrets. A property is secret when its value must never be shown: sasl.password,
// ssl.key.password, ssl.key.pem, ssl.keystore.password, sasl.oauthbearer.client.secret,
// sasl.oauthbearer.config, and any key (case-insensitive) containing "password", "secret",
// "passphrase", "key.pem" or "private.key". The library uses these everywhere it shows a
// property or text librdkafka wrote: refused properties in error messages, librdkafka's log lines
// and error callbacks routed into spdlog, client creation errors; programs use them for config
// dumps and their own output.
bool IsSecretProperty(std::string_view key);
// The text shown in place of a secret value.
inline constexpr std::string_view kRedacted = "[redacted]";
// `value`, or kRedacted when `key` is secret.
std::string RedactedValue(std::string_view key, std::string_view value);
// `text` with every secret value of `properties` (values of at least 4 characters: shorter ones
// would garble unrelated text) replaced by kRedacted.
std::string RedactSecrets(std::string_view text,
                          const std::map<std::string, std::string>& properties);

}  // namespace messagecorps
