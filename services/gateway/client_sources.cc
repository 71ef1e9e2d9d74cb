#include "gateway/client_sources.h"

#include <cstdlib>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace messagecorps::gateway {
namespace {

using Properties = std::map<std::string, std::string>;

// Adds `file`'s properties over `into`. `origin` names the source in errors.
absl::Status MergeFile(const std::string& file, std::string_view origin, Properties* into) {
  absl::StatusOr<Properties> props = ReadPropertiesFile(file);
  if (!props.ok()) {
    return absl::Status(props.status().code(),
                        absl::StrCat(std::string(origin), ": ", props.status().message()));
  }
  for (auto& [key, value] : *props) (*into)[key] = std::move(value);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ClientConfig> LoadClientConfig(const ClientConfigSources& sources) {
  Properties props;
  if (sources.use_environment) {
    const char* env = std::getenv(kClientConfigEnvironmentVariable);
    if (env != nullptr && *env != '\0') {
      if (absl::Status s =
              MergeFile(env, absl::StrCat("$", kClientConfigEnvironmentVariable), &props);
          !s.ok()) {
        return s;
      }
    }
  }
  for (const std::string& file : sources.property_files) {
    if (absl::Status s = MergeFile(file, "-F", &props); !s.ok()) return s;
  }
  for (const std::string& kv : sources.properties) {
    absl::StatusOr<std::pair<std::string, std::string>> p = ParseProperty(kv);
    if (!p.ok()) return absl::InvalidArgumentError(absl::StrCat("-X: ", p.status().message()));
    props[p->first] = p->second;
  }
  ClientConfig config;
  std::string from_properties;
  for (const char* key : {"bootstrap.servers", "metadata.broker.list"}) {
    auto it = props.find(key);
    if (it == props.end()) continue;
    if (from_properties.empty()) from_properties = it->second;
    props.erase(it);
  }
  if (!sources.brokers.empty()) {
    config.brokers = sources.brokers;
  } else if (!from_properties.empty()) {
    config.brokers = from_properties;
  } else if (const char* env =
                 sources.use_environment ? std::getenv("MESSAGECORPS_BROKERS") : nullptr;
             env != nullptr && *env != '\0') {
    config.brokers = env;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("no brokers: pass --brokers, bootstrap.servers in a properties file (-F, $",
                     kClientConfigEnvironmentVariable, ") or -X, or set $MESSAGECORPS_BROKERS"));
  }
  config.properties = std::move(props);
  return config;
}

}  // namespace messagecorps::gateway
