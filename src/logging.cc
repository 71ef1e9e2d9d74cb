#include "messagecorps/logging.h"

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "messagecorps/tracing.h"

namespace messagecorps::logging {
namespace {

thread_local const LogContext* current_context = nullptr;

std::string Lowered(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return out;
}

std::string_view View(spdlog::string_view_t s) { return std::string_view(s.data(), s.size()); }

void Append(spdlog::memory_buf_t& out, std::string_view s) {
  out.append(s.data(), s.data() + s.size());
}

// `2024-05-01T12:34:56.789Z`: UTC, millisecond precision, as ECS `@timestamp` expects.
void AppendTimestamp(spdlog::log_clock::time_point time, spdlog::memory_buf_t& out) {
  using std::chrono::duration_cast;
  const auto since_epoch = time.time_since_epoch();
  auto seconds = duration_cast<std::chrono::seconds>(since_epoch);
  auto millis = duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
  if (millis < 0) {  // before 1970: floor, not truncate
    seconds -= std::chrono::seconds(1);
    millis += 1000;
  }
  const std::time_t t = static_cast<std::time_t>(seconds.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  fmt::format_to(fmt::appender(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 millis);
}

// Length of the valid UTF-8 sequence starting at s[i] (Unicode Table 3-7: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0 when it is invalid. On 0, *bad_len is the length of the
// maximal invalid subpart, which is replaced by a single U+FFFD (Unicode's recommended practice).
size_t Utf8SequenceLength(std::string_view s, size_t i, size_t* bad_len) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = byte(i);
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    *bad_len = 1;
    return 0;
  }
  for (size_t k = 1; k < len; ++k) {
    const bool in_range = i + k < s.size() && (k == 1 ? byte(i + k) >= lo && byte(i + k) <= hi
                                                      : byte(i + k) >= 0x80 && byte(i + k) <= 0xBF);
    if (!in_range) {
      *bad_len = k;
      return 0;
    }
  }
  return len;
}

// Appends `s` as a JSON string literal (with quotes). Control characters are escaped, invalid UTF-8
// becomes U+FFFD, so the output is valid JSON for any input bytes.
void AppendJsonString(spdlog::memory_buf_t& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          Append(out, "\\\"");
          break;
        case '\\':
          Append(out, "\\\\");
          break;
        case '\n':
          Append(out, "\\n");
          break;
        case '\r':
          Append(out, "\\r");
          break;
        case '\t':
          Append(out, "\\t");
          break;
        case '\b':
          Append(out, "\\b");
          break;
        case '\f':
          Append(out, "\\f");
          break;
        default:
          if (c < 0x20 || c == 0x7F) {
            const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
            out.append(esc, esc + sizeof esc);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    size_t bad_len = 0;
    const size_t len = Utf8SequenceLength(s, i, &bad_len);
    if (len == 0) {
      Append(out, kReplacement);
      i += bad_len;
    } else {
      Append(out, s.substr(i, len));
      i += len;
    }
  }
  out.push_back('"');
}

void AppendJsonField(spdlog::memory_buf_t& out, std::string_view key, std::string_view value) {
  out.push_back(',');
  AppendJsonString(out, key);
  out.push_back(':');
  AppendJsonString(out, value);
}

template <typename Int>
requires std::is_integral_v<Int>
void AppendJsonField(spdlog::memory_buf_t& out, std::string_view key, Int value) {
  out.push_back(',');
  AppendJsonString(out, key);
  fmt::format_to(fmt::appender(out), ":{}", value);
}

void CopyTruncated(std::string_view from, char* to, size_t capacity, std::string_view* view) {
  const size_t n = std::min(from.size(), capacity);
  std::copy_n(from.data(), n, to);
  *view = std::string_view(to, n);
}

}  // namespace

absl::StatusOr<Format> ParseFormat(std::string_view name) {
  const std::string lowered = Lowered(name);
  if (lowered == "console") return Format::kConsole;
  if (lowered == "json" || lowered == "ecs") return Format::kEcsJson;
  return absl::InvalidArgumentError(
      fmt::format("unknown log format '{}' (expected console, json or ecs)", name));
}

absl::StatusOr<spdlog::level::level_enum> ParseLevel(std::string_view name) {
  const std::string lowered = Lowered(name);
  using spdlog::level::level_enum;
  if (lowered == "trace") return level_enum::trace;
  if (lowered == "debug") return level_enum::debug;
  if (lowered == "info") return level_enum::info;
  if (lowered == "warn" || lowered == "warning") return level_enum::warn;
  if (lowered == "error" || lowered == "err") return level_enum::err;
  if (lowered == "critical") return level_enum::critical;
  if (lowered == "off") return level_enum::off;
  return absl::InvalidArgumentError(fmt::format(
      "unknown log level '{}' (expected trace, debug, info, warn, error, critical or off)", name));
}

Format FormatFromEnvironment() {
  const char* value = std::getenv("MCORPS_LOG_FORMAT");
  if (value == nullptr) return Format::kConsole;
  return ParseFormat(value).value_or(Format::kConsole);
}

spdlog::level::level_enum LevelFromEnvironment() {
  const char* value = std::getenv("MCORPS_LOG_LEVEL");
  if (value == nullptr) return spdlog::level::info;
  return ParseLevel(value).value_or(spdlog::level::info);
}

std::shared_ptr<spdlog::logger> MakeLogger(std::string service, Format format,
                                           spdlog::sink_ptr sink) {
  if (sink == nullptr) {
    // JSON goes to a plain sink: escape sequences would corrupt the lines Filebeat ships.
    if (format == Format::kConsole) {
      sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    } else {
      sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    }
  }
  if (format == Format::kEcsJson) {
    sink->set_formatter(std::make_unique<EcsJsonFormatter>(service));
  } else {
    sink->set_formatter(std::make_unique<ConsoleFormatter>());
  }
  auto logger = std::make_shared<spdlog::logger>(std::move(service), std::move(sink));
  logger->set_level(LevelFromEnvironment());
  return logger;
}

std::shared_ptr<spdlog::logger> MakeLoggerFromEnvironment(std::string service) {
  return MakeLogger(std::move(service), FormatFromEnvironment());
}

const LogContext* CurrentLogContext() { return current_context; }

ScopedLogContext::ScopedLogContext(std::string_view trace_id, std::string_view span_id,
                                   std::string_view topic, std::int32_t partition,
                                   std::int64_t offset)
    : previous_(current_context) {
  CopyTruncated(trace_id, trace_id_.data(), trace_id_.size(), &context_.trace_id);
  CopyTruncated(span_id, span_id_.data(), span_id_.size(), &context_.span_id);
  CopyTruncated(topic, topic_.data(), topic_.size(), &context_.topic);
  context_.partition = partition;
  context_.offset = offset;
  current_context = &context_;
}

ScopedLogContext::~ScopedLogContext() { current_context = previous_; }

void EcsJsonFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  // The ECS logging spec wants @timestamp, log.level and message first, in this order.
  Append(dest, "{\"@timestamp\":\"");
  AppendTimestamp(msg.time, dest);
  dest.push_back('"');
  AppendJsonField(dest, "log.level", View(spdlog::level::to_string_view(msg.level)));
  AppendJsonField(dest, "message", View(msg.payload));
  AppendJsonField(dest, "ecs.version", kEcsVersion);
  AppendJsonField(dest, "service.name", service_);
  AppendJsonField(dest, "log.logger", View(msg.logger_name));
  AppendJsonField(dest, "process.thread.id", msg.thread_id);
  if (!msg.source.empty()) {
    AppendJsonField(dest, "log.origin.file.name", std::string_view(msg.source.filename));
    AppendJsonField(dest, "log.origin.file.line", msg.source.line);
    if (msg.source.funcname != nullptr) {
      AppendJsonField(dest, "log.origin.function", std::string_view(msg.source.funcname));
    }
  }
  // The active OpenTelemetry span wins (its span id is what the tracing backend shows); else the
  // thread's log context, which carries the record's traceparent ids.
  std::array<char, 32> active_trace;
  std::array<char, 16> active_span;
  const bool active = tracing::ActiveIds(active_trace, active_span);
  if (active) {
    AppendJsonField(dest, "trace.id", std::string_view(active_trace.data(), active_trace.size()));
    AppendJsonField(dest, "span.id", std::string_view(active_span.data(), active_span.size()));
  }
  if (const LogContext* ctx = current_context) {
    if (!active && !ctx->trace_id.empty()) AppendJsonField(dest, "trace.id", ctx->trace_id);
    if (!active && !ctx->span_id.empty()) AppendJsonField(dest, "span.id", ctx->span_id);
    if (!ctx->topic.empty()) AppendJsonField(dest, "messagecorps.kafka.topic", ctx->topic);
    if (ctx->partition >= 0) AppendJsonField(dest, "messagecorps.kafka.partition", ctx->partition);
    if (ctx->offset >= 0) AppendJsonField(dest, "messagecorps.kafka.offset", ctx->offset);
  }
  Append(dest, "}\n");
}

std::unique_ptr<spdlog::formatter> EcsJsonFormatter::clone() const {
  return std::make_unique<EcsJsonFormatter>(service_);
}

void ConsoleFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  AppendTimestamp(msg.time, dest);
  Append(dest, " [");
  msg.color_range_start = dest.size();
  Append(dest, View(spdlog::level::to_string_view(msg.level)));
  msg.color_range_end = dest.size();
  Append(dest, "] ");
  if (msg.logger_name.size() != 0) {
    Append(dest, View(msg.logger_name));
    Append(dest, ": ");
  }
  Append(dest, View(msg.payload));
  std::array<char, 32> active_trace;
  std::array<char, 16> active_span;
  const bool active = tracing::ActiveIds(active_trace, active_span);
  if (active) {
    Append(dest, " trace.id=");
    Append(dest, std::string_view(active_trace.data(), active_trace.size()));
    Append(dest, " span.id=");
    Append(dest, std::string_view(active_span.data(), active_span.size()));
  }
  if (const LogContext* ctx = current_context) {
    if (!active && !ctx->trace_id.empty()) {
      Append(dest, " trace.id=");
      Append(dest, ctx->trace_id);
    }
    if (!active && !ctx->span_id.empty()) {
      Append(dest, " span.id=");
      Append(dest, ctx->span_id);
    }
    if (!ctx->topic.empty()) {
      Append(dest, " kafka=");
      Append(dest, ctx->topic);
      if (ctx->partition >= 0) fmt::format_to(fmt::appender(dest), "/{}", ctx->partition);
      if (ctx->offset >= 0) fmt::format_to(fmt::appender(dest), "@{}", ctx->offset);
    }
  }
  dest.push_back('\n');
}

std::unique_ptr<spdlog::formatter> ConsoleFormatter::clone() const {
  return std::make_unique<ConsoleFormatter>();
}

spdlog::level::level_enum RdKafkaLogLevel(int syslog_level) {
  if (syslog_level <= 2) return spdlog::level::critical;  // emerg, alert, crit
  if (syslog_level == 3) return spdlog::level::err;
  if (syslog_level == 4) return spdlog::level::warn;
  if (syslog_level <= 6) return spdlog::level::info;  // notice, info
  return spdlog::level::debug;
}

void LogFromRdKafka(spdlog::logger& logger, int level, const char* fac, const char* buf) noexcept {
  try {
    logger.log(RdKafkaLogLevel(level), "rdkafka {}: {}", fac != nullptr ? fac : "",
               buf != nullptr ? buf : "");
  } catch (...) {
    // Nothing may escape into librdkafka's C threads; a log line is not worth a crash.
  }
}

void LogReceived(spdlog::logger& logger, std::string_view topic, std::int32_t partition,
                 std::int64_t offset, std::string_view uuid, double timestamp) {
  if (!logger.should_log(spdlog::level::debug)) return;
  const LogContext* outer = current_context;
  ScopedLogContext ctx(outer != nullptr ? outer->trace_id : std::string_view(),
                       outer != nullptr ? outer->span_id : std::string_view(), topic, partition,
                       offset);
  logger.debug("received topic={} partition={} offset={} uuid={} timestamp={:.6f}", topic,
               partition, offset, uuid, timestamp);
}

}  // namespace messagecorps::logging
