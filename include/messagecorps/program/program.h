// messagecorps/program/program.h — what a program builds from its shared options before it
// builds its own parts: one client configuration (carrying the logger and metrics), the logger,
// the metrics, the envelope, and the stop path (stop.h).
//
//   CLI::App app{"mcorps-store: ..."};
//   program::ProgramOptions options;
//   program::AddProgramOptions(app, options);
//   ... the program's own options ...
//   CLI11_PARSE(app, argc, argv);
//   auto p = program::Program::Start("store", options);
//   if (!p.ok()) return program::Fail("mcorps-store", p.status());
//   RouterConfig rc;  rc.client = (*p)->client();  ...
//   return (*p)->Finish(router.Run((*p)->stop_token()));
//
// Ownership: a Program owns its StopSignals (so at most one Program lives at a time) and shares
// the logger and metrics with every client built from client(). Threads: the accessors may be
// called from any thread.
//
// Tracing (messagecorps/tracing.h): Start() reads the OTEL_* environment (a malformed value is
// logged through the program's logger and the program runs without tracing: tracing never stops
// messaging); destroying the Program exports the queued spans and stops exporting
// (tracing::Shutdown). Declare the Program before the clients, as above, so their last spans end
// first; a program that does not use Program declares a tracing::ShutdownAtExit instead.
#pragma once

#include <memory>
#include <stop_token>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "messagecorps/client_config.h"
#include "messagecorps/envelope.h"
#include "messagecorps/program/options.h"
#include "messagecorps/program/stop.h"

namespace messagecorps {
class Metrics;
}

namespace messagecorps::program {

class Program {
 public:
  // `name` is the program's short name ("store"): the logger's and metrics' name and the default
  // envelope service. Errors (all usage errors, nothing started): as MakeClientConfig,
  // MakeLogger, MakeEnvelope. Installs the stop signals.
  static absl::StatusOr<std::unique_ptr<Program>> Start(
      std::string_view name, const ProgramOptions& options,
      std::string_view default_log_level = "info");

  const std::string& name() const { return name_; }
  // The one client configuration: give it (or a copy) to every client; logger and metrics set.
  const ClientConfig& client() const { return client_; }
  const std::shared_ptr<spdlog::logger>& logger() const { return logger_; }
  const std::shared_ptr<Metrics>& metrics() const { return metrics_; }
  const EnvelopeSettings& envelope() const { return envelope_; }
  const MetricsOptions& metrics_options() const { return metrics_options_; }

  std::stop_token stop_token() const { return stop_.token(); }
  void RequestStop() { stop_.RequestStop(); }
  // The signal that stopped the program, 0 when none did.
  int stop_signal() const { return stop_.signal(); }

  // The exit code for how the program ended, logging a failure: OK -> kExitOk,
  // kInvalidArgument -> kExitUsage, anything else -> kExitRuntime.
  int Finish(const absl::Status& result) const;

  // Exports the queued spans and stops span export (see the file comment); waits at most 5 s.
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

 private:
  Program() = default;
  std::string name_;
  ClientConfig client_;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<Metrics> metrics_;
  EnvelopeSettings envelope_;
  MetricsOptions metrics_options_;
  StopSignals stop_;
};

// Prints "<program>: error: <message>" on stderr; returns kExitUsage (kInvalidArgument,
// kNotFound: a bad option, a missing file) or kExitRuntime.
int Fail(std::string_view program, const absl::Status& status);

}  // namespace messagecorps::program
