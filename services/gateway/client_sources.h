// The gateway's Kafka client configuration, merged from its command line and its environment the
// way every program of the project is meant to read it: -X, -F, $MESSAGECORPS_CLIENT_CONFIG,
// --brokers / bootstrap.servers / $MESSAGECORPS_BROKERS, with one precedence. The shared library
// function with this contract (messagecorps::LoadClientConfig) is being written on another branch;
// when it lands, this file goes and gateway_options.cc calls it instead.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "messagecorps/client_config.h"

namespace messagecorps::gateway {

// Names of the environment variables read (unless `use_environment` is false).
inline constexpr const char* kClientConfigEnvironmentVariable = "MESSAGECORPS_CLIENT_CONFIG";

struct ClientConfigSources {
  std::string brokers;                      // --brokers
  std::vector<std::string> property_files;  // -F FILE, in the order given
  std::vector<std::string> properties;      // -X key=value, in the order given
  // Read $MESSAGECORPS_CLIENT_CONFIG and $MESSAGECORPS_BROKERS (false: tests that must not).
  bool use_environment = true;
};

// One client configuration for the gateway's producer, admin client and every subscription's
// consumer. For each librdkafka property the first of these that sets it wins:
//   1. -X key=value (a later -X of the same key over an earlier one)
//   2. -F files (a later file over an earlier one)
//   3. the properties file named by $MESSAGECORPS_CLIENT_CONFIG
//   4. the library's defaults for the client's kind, applied when the client is built.
// The broker list: --brokers when given, else bootstrap.servers (or metadata.broker.list) from
// 1-3, else $MESSAGECORPS_BROKERS; it is returned in `brokers`, and the properties then carry no
// bootstrap.servers. Logger and metrics are left for the caller.
// Errors name their source and never a property's value (it may be a secret): kNotFound for a
// file that cannot be read (the environment variable is named for its file); kInvalidArgument for
// a malformed line (FILE:LINE) or -X, and when no broker list is found anywhere.
absl::StatusOr<ClientConfig> LoadClientConfig(const ClientConfigSources& sources);

}  // namespace messagecorps::gateway
