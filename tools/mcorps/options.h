// mcorps: what the commands share — exit codes, error output, connection options (-b -X -F -v
// --timeout), the type options (--descriptors --proto-path --proto --registry) and stop signals.
#pragma once

#include <chrono>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "messagecorps/client_config.h"
#include "messagecorps/program/options.h"
#include "messagecorps/string_view.h"

namespace CLI {
class App;
}
namespace spdlog {
class logger;
}

namespace mcorps {

// kcat's exit codes, shared by every program.
using messagecorps::program::kExitOk;
using messagecorps::program::kExitRuntime;
using messagecorps::program::kExitUsage;

// Prints "mcorps: error: <message>" on stderr and returns `exit_code`.
int Fail(int exit_code, std::string_view message);
int Fail(int exit_code, const absl::Status& status);

struct ConnectionOptions {
  // -b, -X, -F: the options every messagecorps program shares, with their one precedence
  // (messagecorps/program/options.h).
  messagecorps::program::ClientOptions client;
  int verbosity = 0;            // -v: info, -vv: debug
  double timeout_seconds = 10;  // --timeout: metadata and admin calls
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

// The program's one stop path (messagecorps/program/stop.h): SIGINT/SIGTERM request a stop that
// long-running commands poll, so they stop cleanly (flush, commit, summary) instead of dying
// mid-write; a second signal ends the process at once (exit 128 + signal). SIGPIPE is ignored (a
// closed stdout is an EPIPE write error). InstallStopHandler once, first thing in main.
void InstallStopHandler();
bool StopRequested();
std::stop_token StopToken();

// Parses "1500ms", "30s", "5m", "2h", "1d" (a bare number is seconds). kInvalidArgument otherwise.
absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);

}  // namespace mcorps
