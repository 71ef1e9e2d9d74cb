// messagecorps/logging.h — spdlog loggers for humans (console) and for ELK (ECS JSON lines).
//
// The original MessageCorps logged every service to the ELK stack and followed a message through
// the system by its `trace_id`. Here a logger is a plain `std::shared_ptr<spdlog::logger>` whose
// sink carries one of two formatters:
//   kConsole   `2024-05-01T12:34:56.789Z [info] capture: sent frame 7 trace.id=<32 hex> ...`
//   kEcsJson   one JSON object per line, Elastic Common Schema 8.11 (`@timestamp`, `log.level`,
//              `message`, `service.name`, `ecs.version`, `log.logger`, and when known `trace.id`,
//              `span.id`, `messagecorps.kafka.topic|partition|offset`), ready for
//              Filebeat/Logstash.
// Per-message fields come from a thread-local log context, not from global state: a handler opens a
// `ScopedLogContext` and every line it logs on that thread, through any logger using these
// formatters, carries the message's trace and Kafka coordinates.
//
// Ownership: MakeLogger returns a logger the caller owns (shared); it is NOT registered in spdlog's
// global registry, so two services in one process may use the same name. The formatters own a copy
// of the service name. ScopedLogContext copies the strings it is given (fixed-size buffers, no
// heap), so it may be built from temporaries.
//
// Thread-safety: loggers made here use the `_mt` sinks and may be shared by all threads. A
// ScopedLogContext belongs to the thread that created it and must be destroyed on that thread in
// LIFO order (it cannot be heap-allocated or moved). The log context is read while formatting, i.e.
// on the logging thread: with an spdlog *async* logger the context would be lost, so use
// synchronous loggers (as MakeLogger does) when you want trace ids in the output.
//
// Errors: ParseFormat/ParseLevel return kInvalidArgument for unknown names. Nothing here throws
// except what spdlog itself may throw from a sink (per its error handler); LogFromRdKafka never
// throws, as it runs on librdkafka's threads.
#pragma once

#include <spdlog/formatter.h>
#include <spdlog/logger.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace messagecorps::logging {

enum class Format { kConsole, kEcsJson };

// The ECS version our JSON lines declare in `ecs.version`.
inline constexpr std::string_view kEcsVersion = "8.11.0";

// "console" -> kConsole; "json" or "ecs" -> kEcsJson (case-insensitive). kInvalidArgument
// otherwise.
absl::StatusOr<Format> ParseFormat(std::string_view name);

// "trace", "debug", "info", "warn"/"warning", "error"/"err", "critical", "off" (case-insensitive).
// kInvalidArgument otherwise.
absl::StatusOr<spdlog::level::level_enum> ParseLevel(std::string_view name);

// MCORPS_LOG_FORMAT parsed by ParseFormat; kConsole when unset, empty or unknown.
Format FormatFromEnvironment();
// MCORPS_LOG_LEVEL parsed by ParseLevel; info when unset, empty or unknown.
spdlog::level::level_enum LevelFromEnvironment();

// A synchronous logger named `service` writing to `sink` (nullptr: stderr, coloured on a terminal
// in console format) with the formatter for `format`. Its level is LevelFromEnvironment(); call
// set_level() to override. The sink's formatter is replaced by ours.
std::shared_ptr<spdlog::logger> MakeLogger(std::string service, Format format,
                                           spdlog::sink_ptr sink = nullptr);
// MakeLogger(service, FormatFromEnvironment()) — what a service's main() usually wants.
std::shared_ptr<spdlog::logger> MakeLoggerFromEnvironment(std::string service);

// What the formatters add to a line logged on this thread: views into the innermost
// ScopedLogContext's buffers, valid while it lives.
struct LogContext {
  std::string_view trace_id;    // "" when unknown
  std::string_view span_id;     // "" when unknown
  std::string_view topic;       // "" when the line is not about a Kafka record
  std::int32_t partition = -1;  // < 0 when unknown
  std::int64_t offset = -1;     // < 0 when unknown
};

// The innermost live ScopedLogContext of the calling thread, or nullptr.
const LogContext* CurrentLogContext();

// Sets the calling thread's log context for its lifetime; the previous one comes back when it ends.
// An inner context replaces the outer one entirely (fields are not merged). Strings longer than the
// buffers are truncated (trace id 64, span id 32, topic 255 bytes; Kafka topics have at most 249).
class ScopedLogContext {
 public:
  explicit ScopedLogContext(std::string_view trace_id, std::string_view span_id = {},
                            std::string_view topic = {}, std::int32_t partition = -1,
                            std::int64_t offset = -1);
  ~ScopedLogContext();

  ScopedLogContext(const ScopedLogContext&) = delete;
  ScopedLogContext& operator=(const ScopedLogContext&) = delete;
  static void* operator new(std::size_t) = delete;
  static void* operator new[](std::size_t) = delete;

  const LogContext& context() const { return context_; }

 private:
  std::array<char, 64> trace_id_;
  std::array<char, 32> span_id_;
  std::array<char, 255> topic_;
  LogContext context_;
  const LogContext* previous_;
};

// Formats a record as one ECS JSON object and a newline. Strings are escaped for JSON; bytes that
// are not valid UTF-8 become U+FFFD, so every line is valid JSON whatever the message contains.
class EcsJsonFormatter final : public spdlog::formatter {
 public:
  explicit EcsJsonFormatter(std::string service) : service_(std::move(service)) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;

 private:
  std::string service_;
};

// Formats a record for a human: UTC time, level (coloured by colour sinks), logger name, message,
// then the log context's trace.id / span.id / kafka=topic/partition@offset when set.
class ConsoleFormatter final : public spdlog::formatter {
 public:
  ConsoleFormatter() = default;
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

// librdkafka's syslog levels (0 emerg .. 7 debug) as spdlog levels: 0-2 critical, 3 error, 4 warn,
// 5-6 info, 7 and above debug; negative values critical.
spdlog::level::level_enum RdKafkaLogLevel(int syslog_level);

// For librdkafka's log_cb: logs "rdkafka <fac>: <buf>" at RdKafkaLogLevel(level). Null strings are
// logged as empty. Never throws (exceptions from sinks or error handlers are swallowed).
void LogFromRdKafka(spdlog::logger& logger, int level, const char* fac, const char* buf) noexcept;

// The original's per-message receive line, at debug level: topic, partition, offset, uuid and the
// envelope timestamp (Unix seconds). The record's Kafka coordinates are also attached as
// log-context fields (keeping the current trace/span ids, if any) so the ECS line carries them as
// fields.
void LogReceived(spdlog::logger& logger, std::string_view topic, std::int32_t partition,
                 std::int64_t offset, std::string_view uuid, double timestamp);

}  // namespace messagecorps::logging
