#include "options.h"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "messagecorps/logging.h"
#include "messagecorps/program/stop.h"

namespace mcorps {

namespace {

messagecorps::program::StopSignals* g_stop = nullptr;  // owned by InstallStopHandler's static

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
  messagecorps::program::AddClientOptions(command, options.client);
  for (const char* name : {"-b", "-X", "-F"}) command.get_option(name)->group("Connection");
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
  auto config = messagecorps::program::MakeClientConfig(options.client);
  if (!config.ok()) return config.status();
  config->logger = ToolLogger(options.verbosity);
  return config;
}

void InstallStopHandler() {
  static messagecorps::program::StopSignals stop;
  g_stop = &stop;
}

bool StopRequested() { return g_stop != nullptr && g_stop->stop_requested(); }

std::stop_token StopToken() { return g_stop != nullptr ? g_stop->token() : std::stop_token(); }

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
