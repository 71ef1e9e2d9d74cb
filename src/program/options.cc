#include "messagecorps/program/options.h"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "messagecorps/logging.h"
#include "messagecorps/string_view.h"

namespace messagecorps::program {

void AddClientOptions(CLI::App& app, ClientOptions& options) {
  app.add_option("-b,--brokers", options.brokers,
                 "bootstrap servers HOST:PORT,... (default: bootstrap.servers from -F/-X/"
                 "$MESSAGECORPS_CLIENT_CONFIG, else $MESSAGECORPS_BROKERS)");
  app.add_option("-X,--property", options.properties,
                 "librdkafka property key=value for every client (repeatable; wins over -F)");
  app.add_option("-F,--config-file", options.config_files,
                 "librdkafka properties file (repeatable; a later one wins; wins over "
                 "$MESSAGECORPS_CLIENT_CONFIG)");
}

void AddLogOptions(CLI::App& app, LogOptions& options) {
  app.add_option("--log-level", options.level,
                 "trace, debug, info, warn, error, critical, off (default $MCORPS_LOG_LEVEL)");
  app.add_flag("-v", options.verbosity, "more logging: -v info, -vv debug");
}

void AddMetricsOptions(CLI::App& app, MetricsOptions& options) {
  app.add_option("--metrics-port", options.port, "serve /metrics and /api/stats on this port");
  app.add_option("--metrics-host", options.host, "address for --metrics-port");
}

void AddEnvelopeOptions(CLI::App& app, EnvelopeOptions& options) {
  app.add_option("--service", options.service,
                 "sending service in the envelope (default $LOG_TAG_SERVICE, else the program)");
  app.add_option("--environment", options.environment,
                 "PRODUCTION, DEVELOPMENT or STAGING (default $ENVIRONMENT, else DEVELOPMENT)");
}

void AddProgramOptions(CLI::App& app, ProgramOptions& options) {
  AddClientOptions(app, options.client);
  AddLogOptions(app, options.log);
  AddMetricsOptions(app, options.metrics);
  AddEnvelopeOptions(app, options.envelope);
}

absl::StatusOr<ClientConfig> MakeClientConfig(const ClientOptions& options) {
  ClientConfigSources sources;
  sources.brokers = options.brokers;
  sources.property_files = options.config_files;
  sources.properties = options.properties;
  return LoadClientConfig(sources);
}

absl::StatusOr<std::shared_ptr<spdlog::logger>> MakeLogger(std::string_view name,
                                                           const LogOptions& options,
                                                           std::string_view default_level) {
  std::string level_name;
  std::string origin;
  const char* env = std::getenv("MCORPS_LOG_LEVEL");
  if (!options.level.empty()) {
    level_name = options.level;
    origin = "--log-level";
  } else if (options.verbosity > 0) {
    level_name = options.verbosity == 1 ? "info" : "debug";
  } else if (env != nullptr && *env != '\0') {
    level_name = env;
    origin = "MCORPS_LOG_LEVEL";
  } else {
    level_name = std::string(default_level);
    origin = "default level";
  }
  auto level = logging::ParseLevel(level_name);
  if (!level.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": ", level.status().message()));
  }
  auto logger = logging::MakeLoggerFromEnvironment(std::string(name));
  logger->set_level(*level);
  return logger;
}

absl::StatusOr<EnvelopeSettings> MakeEnvelope(const EnvelopeOptions& options,
                                              std::string_view program) {
  auto settings = EnvelopeSettings::FromEnvironment();
  if (!settings.ok()) return settings.status();
  const char* tag = std::getenv("LOG_TAG_SERVICE");
  if (!options.service.empty()) {
    settings->service = options.service;
  } else if (tag == nullptr || *tag == '\0') {
    settings->service = std::string(program);
  }
  if (!options.environment.empty()) {
    std::string upper = options.environment;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!protobuf::common::Environment_Parse(upper, &settings->environment)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--environment ", options.environment,
          ": not an environment name (PRODUCTION, DEVELOPMENT, STAGING or UNKNOWN_ENVIRONMENT)"));
    }
  }
  return settings;
}

}  // namespace messagecorps::program
