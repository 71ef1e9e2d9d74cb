// messagecorps/client_config.h — what every Kafka client (producer, consumer, admin) is built from.
//
// `properties` accepts any librdkafka configuration property (CONFIGURATION.md of librdkafka) and is
// applied last, so it overrides every default messagecorps chooses. Misconfiguration (an unknown
// property, a bad value, no brokers) makes the client's Create() fail with kInvalidArgument naming the
// property; nothing is thrown.
//
// Value type; copy freely. The logger and metrics are shared with the client that is built from it.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

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

// The broker list to use: `configured` if set, else $MESSAGECORPS_BROKERS; kInvalidArgument if neither.
absl::StatusOr<std::string> ResolveBrokers(const std::string& configured);

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

// Parses "key=value" (the CLI's -X); kInvalidArgument without '=' or with an empty key.
absl::StatusOr<std::pair<std::string, std::string>> ParseProperty(const std::string& key_value);

}  // namespace messagecorps
