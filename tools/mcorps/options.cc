#include "options.h"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "messagecorps/logging.h"

namespace mcorps {

namespace {

std::atomic<int> stop_signals{0};

void OnStopSignal(int signal) {
  if (stop_signals.fetch_add(1) > 0) {
    std::signal(signal, SIG_DFL);
    std::raise(signal);
  }
}

}  // namespace

int Fail(int exit_code, std::string_view message) {
  std::fprintf(stderr, "mcorps: error: %.*s\n", static_cast<int>(message.size()), message.data());
  return exit_code;
}

int Fail(int exit_code, const absl::Status& status) {
  return Fail(exit_code, std::string_view(status.message().data(), status.message().size()));
}

std::chrono::milliseconds ConnectionOptions::timeout() const {
  return std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
}

void AddConnectionOptions(CLI::App& command, ConnectionOptions& options) {
  command
      .add_option("-b,--brokers", options.brokers,
                  "Bootstrap brokers host:port,... (default: $MESSAGECORPS_BROKERS)")
      ->group("Connection");
  command
      .add_option("-X,--property", options.properties,
                  "librdkafka property key=value (repeatable; overrides -F)")
      ->group("Connection");
  command.add_option("-F,--config-file", options.config_file, "librdkafka properties file")
      ->group("Connection")
      ->check(CLI::ExistingFile);
  command
      .add_option("--timeout", options.timeout_seconds,
                  "Seconds to wait for metadata and admin answers")
      ->capture_default_str()
      ->group("Connection")
      ->check(CLI::PositiveNumber);
  command
      .add_flag("-v,--verbose", options.verbosity, "More logging on stderr (-v info, -vv debug)")
      ->group("Connection");
}

std::shared_ptr<spdlog::logger> ToolLogger(int verbosity) {
  auto logger =
      messagecorps::logging::MakeLogger("mcorps", messagecorps::logging::Format::kConsole);
  if (verbosity >= 2) {
    logger->set_level(spdlog::level::debug);
  } else if (verbosity == 1) {
    logger->set_level(spdlog::level::info);
  } else if (const char* env = std::getenv("MCORPS_LOG_LEVEL"); env && *env) {
    logger->set_level(messagecorps::logging::LevelFromEnvironment());
  } else {
    logger->set_level(spdlog::level::warn);
  }
  return logger;
}

absl::StatusOr<messagecorps::ClientConfig> MakeClientConfig(const ConnectionOptions& options) {
  messagecorps::ClientConfig config;
  config.brokers = options.brokers;
  if (!options.config_file.empty()) {
    auto file = messagecorps::ReadPropertiesFile(options.config_file);
    if (!file.ok()) return file.status();
    config.properties = *std::move(file);
  }
  for (const std::string& property : options.properties) {
    auto kv = messagecorps::ParseProperty(property);
    if (!kv.ok()) return absl::InvalidArgumentError(absl::StrCat("-X: ", kv.status().message()));
    config.properties[kv->first] = kv->second;
  }
  // bootstrap.servers from -F or -X counts as a broker list too.
  auto brokers = messagecorps::ResolveBrokers(config);
  if (!brokers.ok()) {
    return absl::InvalidArgumentError(
        "no brokers: give -b host:port, bootstrap.servers in -F/-X, or set MESSAGECORPS_BROKERS");
  }
  config.brokers = *brokers;
  config.logger = ToolLogger(options.verbosity);
  return config;
}

void InstallStopHandler() {
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);
  // A closed stdout (`| head`) shows up as EPIPE from the write, so a consumer can still commit
  // and close cleanly; librdkafka's sockets want SIGPIPE ignored too.
  std::signal(SIGPIPE, SIG_IGN);
}

bool StopRequested() { return stop_signals.load() > 0; }

absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  struct Unit {
    std::string_view suffix;
    double ms;
  };
  // Longest suffixes first so "ms" is not read as "s".
  static constexpr Unit kUnits[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
  double factor = 1000;
  std::string_view number = text;
  for (const Unit& unit : kUnits) {
    if (text.size() > unit.suffix.size() && text.ends_with(unit.suffix)) {
      number = text.substr(0, text.size() - unit.suffix.size());
      factor = unit.ms;
      break;
    }
  }
  double value = 0;
  if (!absl::SimpleAtod(absl::string_view(number.data(), number.size()), &value) || value < 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid duration '",
                                                   absl::string_view(text.data(), text.size()),
                                                   "' (examples: 500ms, 30s, 5m, 2h, 1d)"));
  }
  return std::chrono::milliseconds(static_cast<int64_t>(value * factor));
}

}  // namespace mcorps
