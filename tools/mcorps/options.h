// mcorps: what the commands share — exit codes, error output, connection options (-b -X -F -v
// --timeout), the type options (--descriptors --proto-path --proto --registry) and stop signals.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "messagecorps/client_config.h"
#include "messagecorps/string_view.h"

namespace CLI {
class App;
}
namespace spdlog {
class logger;
}

namespace mcorps {

// kcat's exit codes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;  // the broker, the data or the schemas said no
inline constexpr int kExitUsage = 2;    // the command line cannot be parsed or is inconsistent

// Prints "mcorps: error: <message>" on stderr and returns `exit_code`.
int Fail(int exit_code, std::string_view message);
int Fail(int exit_code, const absl::Status& status);

struct ConnectionOptions {
  std::string brokers;                  // -b; empty: $MESSAGECORPS_BROKERS
  std::vector<std::string> properties;  // -X key=value, after -F
  std::string config_file;              // -F
  int verbosity = 0;                    // -v: info, -vv: debug
  double timeout_seconds = 10;          // --timeout: metadata and admin calls
  std::chrono::milliseconds timeout() const;
};

// Adds -b -X -F -v --timeout to a command.
void AddConnectionOptions(CLI::App& command, ConnectionOptions& options);

// The logger of the tool: stderr, console format, warn by default (info with -v, debug with -vv,
// $MCORPS_LOG_LEVEL when set and no -v given).
std::shared_ptr<spdlog::logger> ToolLogger(int verbosity);

// A client configuration from the options (logger included). Errors are usage errors (exit 2):
// no brokers, a malformed -X, an unreadable or malformed -F file (named with its line).
absl::StatusOr<messagecorps::ClientConfig> MakeClientConfig(const ConnectionOptions& options);

// SIGINT/SIGTERM set a flag that long-running commands poll, so they stop cleanly (flush, commit,
// summary) instead of dying mid-write. A second signal ends the process at once. SIGPIPE is
// ignored (a closed stdout is an EPIPE write error).
void InstallStopHandler();
bool StopRequested();

// Parses "1500ms", "30s", "5m", "2h", "1d" (a bare number is seconds). kInvalidArgument otherwise.
absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);

}  // namespace mcorps
