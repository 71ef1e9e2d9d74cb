#include "messagecorps/program/program.h"

#include <spdlog/spdlog.h>

#include <iostream>

#include "messagecorps/metrics.h"
#include "messagecorps/string_view.h"
#include "messagecorps/tracing.h"

namespace messagecorps::program {

absl::StatusOr<std::unique_ptr<Program>> Program::Start(std::string_view name,
                                                        const ProgramOptions& options,
                                                        std::string_view default_log_level) {
  auto logger = MakeLogger(name, options.log, default_log_level);
  if (!logger.ok()) return logger.status();
  auto client = MakeClientConfig(options.client);
  if (!client.ok()) return client.status();
  auto envelope = MakeEnvelope(options.envelope, name);
  if (!envelope.ok()) return envelope.status();
  std::unique_ptr<Program> program(new Program());
  program->name_ = std::string(name);
  program->logger_ = std::move(*logger);
  program->metrics_ = std::make_shared<Metrics>(std::string(name));
  program->client_ = std::move(*client);
  program->client_.logger = program->logger_;
  program->client_.metrics = program->metrics_;
  program->envelope_ = std::move(*envelope);
  program->metrics_options_ = options.metrics;
  // OTEL_* tracing, read once per process; a bad value is logged, never fatal (tracing.h).
  if (absl::Status tracing = tracing::Init(); !tracing.ok()) {
    program->logger_->error("tracing: {} (running without tracing)", tracing.ToString());
  } else if (tracing::Enabled()) {
    program->logger_->info("tracing: exporting spans over OTLP");
  }
  return program;
}

Program::~Program() { tracing::Shutdown(); }

int Program::Finish(const absl::Status& result) const {
  if (result.ok()) return kExitOk;
  logger_->error("{}: {}", name_, result.ToString(absl::StatusToStringMode::kWithNoExtraData));
  return result.code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitRuntime;
}

int Fail(std::string_view program, const absl::Status& status) {
  std::cerr << program << ": error: " << AsStd(status.message()) << "\n";
  const bool usage = status.code() == absl::StatusCode::kInvalidArgument ||
                     status.code() == absl::StatusCode::kNotFound;
  return usage ? kExitUsage : kExitRuntime;
}

}  // namespace messagecorps::program
