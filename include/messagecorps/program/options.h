// messagecorps/program/options.h — the options every messagecorps program shares (the services
// and mcorps), and what they turn into. One way to configure a program:
//
//   client    --brokers/-b HOST:PORT,...  -X key=value (repeatable)  -F FILE (repeatable)
//             $MESSAGECORPS_CLIENT_CONFIG=FILE  $MESSAGECORPS_BROKERS
//             precedence: -X over -F (a later file over an earlier one) over
//             $MESSAGECORPS_CLIENT_CONFIG over messagecorps' defaults; the broker list from
//             --brokers, else bootstrap.servers from those, else $MESSAGECORPS_BROKERS
//             (LoadClientConfig in client_config.h). The result reaches every client the program
//             opens: consumers, producers, the Router's output and dead-letter producer, admin.
//   logging   --log-level LEVEL, -v (info) / -vv (debug); else $MCORPS_LOG_LEVEL, else the
//             program's default; format from $MCORPS_LOG_FORMAT (logging.h)
//   metrics   --metrics-port PORT (-1: off), --metrics-host ADDRESS
//   envelope  --service NAME, --environment NAME; else $LOG_TAG_SERVICE, $ENVIRONMENT; else the
//             program's name and DEVELOPMENT (envelope.h)
//
// The Add* functions register the options on a CLI11 app (CLI/CLI.hpp, the parser every program
// uses); the Make* functions turn parsed values into library objects. Errors: kInvalidArgument
// naming the option or variable (a usage error: kExitUsage).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "messagecorps/client_config.h"
#include "messagecorps/envelope.h"

namespace CLI {
class App;
}
namespace spdlog {
class logger;
}

namespace messagecorps::program {

// kcat's exit codes, used by every program.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;  // the broker, the data or the schemas said no
inline constexpr int kExitUsage = 2;    // the command line cannot be parsed or is inconsistent

struct ClientOptions {
  std::string brokers;                    // --brokers / -b
  std::vector<std::string> properties;    // -X key=value, in order
  std::vector<std::string> config_files;  // -F FILE, in order
};

struct LogOptions {
  std::string level;  // --log-level; empty: -v, then $MCORPS_LOG_LEVEL, then the default
  int verbosity = 0;  // -v: info, -vv: debug
};

struct MetricsOptions {
  int port = -1;  // --metrics-port; -1: no /metrics server
  std::string host = "127.0.0.1";
};

struct EnvelopeOptions {
  std::string service;      // --service
  std::string environment;  // --environment (PRODUCTION, DEVELOPMENT, STAGING; any case)
};

struct ProgramOptions {
  ClientOptions client;
  LogOptions log;
  MetricsOptions metrics;
  EnvelopeOptions envelope;
};

// Registers --brokers/-b, -X, -F.
void AddClientOptions(CLI::App& app, ClientOptions& options);
// Registers --log-level and -v (repeatable).
void AddLogOptions(CLI::App& app, LogOptions& options);
// Registers --metrics-port and --metrics-host.
void AddMetricsOptions(CLI::App& app, MetricsOptions& options);
// Registers --service and --environment.
void AddEnvelopeOptions(CLI::App& app, EnvelopeOptions& options);
// All four.
void AddProgramOptions(CLI::App& app, ProgramOptions& options);

// The client configuration of the program (LoadClientConfig with the environment), without
// logger or metrics. kInvalidArgument/kNotFound as LoadClientConfig.
absl::StatusOr<ClientConfig> MakeClientConfig(const ClientOptions& options);

// A logger named `name` (logging.h's format and sink) at the level chosen as the header says.
// kInvalidArgument for an unknown level name (from the flag or the variable).
absl::StatusOr<std::shared_ptr<spdlog::logger>> MakeLogger(std::string_view name,
                                                           const LogOptions& options,
                                                           std::string_view default_level);

// Who the program says is sending. kInvalidArgument for an unknown environment name.
absl::StatusOr<EnvelopeSettings> MakeEnvelope(const EnvelopeOptions& options,
                                              std::string_view program);

}  // namespace messagecorps::program
