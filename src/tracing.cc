#include "messagecorps/tracing.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "messagecorps/cloud_events.h"
#include "messagecorps/consumer.h"
#include "messagecorps/envelope.h"
#include "messagecorps/version.h"
#include "tracing_internal.h"

#ifdef MESSAGECORPS_HAVE_OPENTELEMETRY
#include "opentelemetry/context/runtime_context.h"
#include "opentelemetry/exporters/otlp/otlp_grpc_exporter_factory.h"
#include "opentelemetry/exporters/otlp/otlp_grpc_exporter_options.h"
#include "opentelemetry/exporters/otlp/otlp_http_exporter_factory.h"
#include "opentelemetry/exporters/otlp/otlp_http_exporter_options.h"
#include "opentelemetry/sdk/common/global_log_handler.h"
#include "opentelemetry/sdk/resource/resource.h"
#include "opentelemetry/sdk/trace/batch_span_processor_factory.h"
#include "opentelemetry/sdk/trace/batch_span_processor_options.h"
#include "opentelemetry/sdk/trace/id_generator.h"
#include "opentelemetry/sdk/trace/random_id_generator.h"
#include "opentelemetry/sdk/trace/samplers/always_off_factory.h"
#include "opentelemetry/sdk/trace/samplers/always_on_factory.h"
#include "opentelemetry/sdk/trace/samplers/parent_factory.h"
#include "opentelemetry/sdk/trace/samplers/trace_id_ratio_factory.h"
#include "opentelemetry/sdk/trace/tracer_provider.h"
#include "opentelemetry/sdk/trace/tracer_provider_factory.h"
#include "opentelemetry/trace/provider.h"
#include "opentelemetry/trace/scope.h"
#include "opentelemetry/trace/span.h"
#include "opentelemetry/trace/tracer.h"
#endif

namespace messagecorps::tracing {
namespace {

std::atomic<bool> g_enabled{false};

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

}  // namespace

bool Enabled() { return g_enabled.load(std::memory_order_relaxed); }

#ifdef MESSAGECORPS_HAVE_OPENTELEMETRY

namespace otel = opentelemetry;
namespace sdktrace = opentelemetry::sdk::trace;

namespace {

// Span ids of the next span started on this thread, when the library wants the span to carry an id
// it already put on the wire (the record's traceparent); else random.
struct PendingIds {
  bool has_span = false;
  otel::trace::SpanId span;
  bool has_trace = false;
  otel::trace::TraceId trace;
};
thread_local PendingIds tls_pending;

class WireIdGenerator final : public sdktrace::IdGenerator {
 public:
  WireIdGenerator() : sdktrace::IdGenerator(/*is_random=*/true) {}
  otel::trace::SpanId GenerateSpanId() noexcept override {
    if (tls_pending.has_span) {
      tls_pending.has_span = false;
      return tls_pending.span;
    }
    return random_.GenerateSpanId();
  }
  otel::trace::TraceId GenerateTraceId() noexcept override {
    if (tls_pending.has_trace) {
      tls_pending.has_trace = false;
      return tls_pending.trace;
    }
    return random_.GenerateTraceId();
  }

 private:
  sdktrace::RandomIdGenerator random_;
};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

template <std::size_t N>
bool FromHex(std::string_view hex, std::array<std::uint8_t, N>& out) {
  if (hex.size() != 2 * N) return false;
  for (std::size_t i = 0; i < N; ++i) {
    const int hi = HexValue(hex[2 * i]);
    const int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return true;
}

std::optional<otel::trace::TraceId> TraceIdOf(std::string_view hex) {
  std::array<std::uint8_t, 16> b{};
  if (!FromHex(hex, b)) return std::nullopt;
  otel::trace::TraceId id{otel::nostd::span<const std::uint8_t, 16>(b.data(), 16)};
  if (!id.IsValid()) return std::nullopt;
  return id;
}

std::optional<otel::trace::SpanId> SpanIdOf(std::string_view hex) {
  std::array<std::uint8_t, 8> b{};
  if (!FromHex(hex, b)) return std::nullopt;
  otel::trace::SpanId id{otel::nostd::span<const std::uint8_t, 8>(b.data(), 8)};
  if (!id.IsValid()) return std::nullopt;
  return id;
}

struct State {
  std::shared_ptr<sdktrace::TracerProvider> provider;
  otel::nostd::shared_ptr<otel::trace::Tracer> tracer;
};
State* g_state =
    nullptr;  // set once by Init before g_enabled; never freed (spans may outlive main)
std::once_flag g_init_once;
absl::Status g_init_status;

absl::StatusOr<std::unique_ptr<sdktrace::Sampler>> SamplerFromEnv() {
  std::string name = absl::AsciiStrToLower(Env("OTEL_TRACES_SAMPLER"));
  const std::string arg = Env("OTEL_TRACES_SAMPLER_ARG");
  double ratio = 1.0;
  if (!arg.empty() && (name == "traceidratio" || name == "parentbased_traceidratio")) {
    if (!absl::SimpleAtod(arg, &ratio) || !(ratio >= 0 && ratio <= 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("OTEL_TRACES_SAMPLER_ARG=", arg, ": expected a ratio in [0, 1]"));
    }
  }
  if (name.empty() || name == "parentbased_always_on") {
    return sdktrace::ParentBasedSamplerFactory::Create(
        std::shared_ptr<sdktrace::Sampler>(sdktrace::AlwaysOnSamplerFactory::Create()));
  }
  if (name == "always_on") return sdktrace::AlwaysOnSamplerFactory::Create();
  if (name == "always_off") return sdktrace::AlwaysOffSamplerFactory::Create();
  if (name == "traceidratio") return sdktrace::TraceIdRatioBasedSamplerFactory::Create(ratio);
  if (name == "parentbased_always_off") {
    return sdktrace::ParentBasedSamplerFactory::Create(
        std::shared_ptr<sdktrace::Sampler>(sdktrace::AlwaysOffSamplerFactory::Create()));
  }
  if (name == "parentbased_traceidratio") {
    return sdktrace::ParentBasedSamplerFactory::Create(std::shared_ptr<sdktrace::Sampler>(
        sdktrace::TraceIdRatioBasedSamplerFactory::Create(ratio)));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("OTEL_TRACES_SAMPLER=", name,
                   ": expected always_on, always_off, traceidratio, parentbased_always_on, "
                   "parentbased_always_off or parentbased_traceidratio"));
}

std::size_t SizeFromEnv(const char* name, std::size_t fallback) {
  std::size_t v = 0;
  const std::string s = Env(name);
  return !s.empty() && absl::SimpleAtoi(s, &v) && v > 0 ? v : fallback;
}

namespace sdklog = opentelemetry::sdk::common::internal_log;

// The SDK's own messages (an export that failed, a full span queue) go to the default spdlog
// logger, at most one line per message site every 10 s, with the count of the ones left out. The
// SDK's default handler writes a line to stderr per dropped span: under overload (more spans than
// the exporter sends; the benchmark's 500k records/s) that is a line per record, a flood that costs
// more than the span.
class ThrottledSdkLog final : public sdklog::LogHandler {
 public:
  void Handle(sdklog::LogLevel level, const char* file, int line, const char* msg,
              const otel::sdk::common::AttributeMap&) noexcept override {
    try {
      const auto now = std::chrono::steady_clock::now();
      std::uint64_t left_out = 0;
      {
        std::lock_guard<std::mutex> lock(mu_);
        // `file` is the SDK's __FILE__: a literal, so its address names the site.
        Site& site = sites_[{static_cast<const void*>(file), line}];
        if (site.logged && now - site.last < std::chrono::seconds(10)) {
          ++site.left_out;
          return;
        }
        site.logged = true;
        site.last = now;
        left_out = site.left_out;
        site.left_out = 0;
      }
      const spdlog::level::level_enum spd =
          level == sdklog::LogLevel::Error     ? spdlog::level::err
          : level == sdklog::LogLevel::Warning ? spdlog::level::warn
          : level == sdklog::LogLevel::Info    ? spdlog::level::info
                                               : spdlog::level::debug;
      if (left_out > 0) {
        spdlog::log(spd, "opentelemetry: {} ({} more like it in the last 10 s)", msg ? msg : "",
                    left_out);
      } else {
        spdlog::log(spd, "opentelemetry: {}", msg ? msg : "");
      }
    } catch (...) {  // noexcept: a logging failure is dropped
    }
  }

 private:
  struct Site {
    bool logged = false;
    std::chrono::steady_clock::time_point last;
    std::uint64_t left_out = 0;
  };
  std::mutex mu_;
  std::map<std::pair<const void*, int>, Site> sites_;
};

absl::Status InitFromEnv() {
  if (absl::AsciiStrToLower(Env("OTEL_SDK_DISABLED")) == "true") return absl::OkStatus();
  const std::string exporter = absl::AsciiStrToLower(Env("OTEL_TRACES_EXPORTER"));
  if (exporter == "none") return absl::OkStatus();
  if (Env("OTEL_EXPORTER_OTLP_ENDPOINT").empty() &&
      Env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").empty()) {
    return absl::OkStatus();  // nothing configured: off
  }
  if (!exporter.empty() && exporter != "otlp") {
    return absl::InvalidArgumentError(
        absl::StrCat("OTEL_TRACES_EXPORTER=", exporter, ": only otlp (or none) is supported"));
  }
  std::string protocol = Env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL");
  if (protocol.empty()) protocol = Env("OTEL_EXPORTER_OTLP_PROTOCOL");
  if (protocol.empty()) protocol = "http/protobuf";
  auto sampler = SamplerFromEnv();
  if (!sampler.ok()) return sampler.status();

  std::unique_ptr<sdktrace::SpanExporter> span_exporter;
  if (protocol == "grpc") {
    span_exporter = otel::exporter::otlp::OtlpGrpcExporterFactory::Create(
        otel::exporter::otlp::OtlpGrpcExporterOptions());
  } else if (protocol == "http/protobuf") {
    span_exporter = otel::exporter::otlp::OtlpHttpExporterFactory::Create(
        otel::exporter::otlp::OtlpHttpExporterOptions());
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("OTEL_EXPORTER_OTLP_PROTOCOL=", protocol, ": expected grpc or http/protobuf"));
  }

  sdktrace::BatchSpanProcessorOptions batch;
  batch.schedule_delay_millis =
      std::chrono::milliseconds(SizeFromEnv("OTEL_BSP_SCHEDULE_DELAY", 5000));
  batch.max_queue_size = SizeFromEnv("OTEL_BSP_MAX_QUEUE_SIZE", 2048);
  batch.max_export_batch_size =
      std::min(SizeFromEnv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512), batch.max_queue_size);

  // Resource::Create merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME (which win).
  otel::sdk::resource::ResourceAttributes attributes;
  std::string service = Env("LOG_TAG_SERVICE");
  if (!service.empty() && Env("OTEL_SERVICE_NAME").empty()) attributes["service.name"] = service;
  auto resource = otel::sdk::resource::Resource::Create(attributes);

  sdklog::GlobalLogHandler::SetLogHandler(
      otel::nostd::shared_ptr<sdklog::LogHandler>(new ThrottledSdkLog));
  auto* state = new State;
  state->provider = sdktrace::TracerProviderFactory::Create(
      sdktrace::BatchSpanProcessorFactory::Create(std::move(span_exporter), batch), resource,
      std::move(*sampler), std::make_unique<WireIdGenerator>());
  state->tracer = state->provider->GetTracer("messagecorps", std::string(Version()),
                                             "https://opentelemetry.io/schemas/1.30.0");
  g_state = state;
  g_enabled.store(true, std::memory_order_release);
  return absl::OkStatus();
}

otel::trace::Tracer& GetTracer() { return *g_state->tracer; }

}  // namespace

struct Span::Impl {
  explicit Impl(otel::nostd::shared_ptr<otel::trace::Span> s) : span(std::move(s)), scope(span) {}
  ~Impl() { span->End(); }  // the scope (declared after) detaches first
  otel::nostd::shared_ptr<otel::trace::Span> span;
  otel::trace::Scope scope;
};

struct SpanAccess {
  static Span Make(otel::nostd::shared_ptr<otel::trace::Span> span) {
    if (!span->GetContext().IsSampled()) return Span();  // not recorded: nothing to keep active
    return Span(std::make_unique<Span::Impl>(std::move(span)));
  }
};

bool Available() { return true; }

absl::Status Init() {
  std::call_once(g_init_once, [] { g_init_status = InitFromEnv(); });
  return g_init_status;
}

void Shutdown(std::chrono::milliseconds timeout) {
  if (!Enabled()) return;
  g_enabled.store(false, std::memory_order_relaxed);
  g_state->provider->Shutdown(timeout);
}

void ForceFlush(std::chrono::milliseconds timeout) {
  if (Enabled()) g_state->provider->ForceFlush(timeout);
}

Span::Span(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Span::~Span() = default;

void Span::SetError(const absl::Status& status) {
  if (!impl_ || status.ok()) return;
  impl_->span->SetStatus(otel::trace::StatusCode::kError, std::string(status.message()));
  impl_->span->SetAttribute("error.type", std::string(absl::StatusCodeToString(status.code())));
}

Span StartProcess(const ReceivedMessage& record, std::string_view consumer_group) {
  if (!Enabled()) return Span();
  otel::trace::StartSpanOptions options;
  options.kind = otel::trace::SpanKind::kConsumer;
  const TraceContext& trace = record.trace();
  const auto trace_id = TraceIdOf(trace.trace_id());
  const auto parent_span = SpanIdOf(trace.span_id());
  if (trace_id && parent_span) {
    options.parent = otel::trace::SpanContext(
        *trace_id, *parent_span,
        otel::trace::TraceFlags(trace.sampled() ? otel::trace::TraceFlags::kIsSampled : 0),
        /*is_remote=*/true);
  } else {
    // A record of the original (a trace id, no span): a root span in that trace.
    options.parent = otel::trace::SpanContext::GetInvalid();
    if (trace_id) {
      tls_pending.has_trace = true;
      tls_pending.trace = *trace_id;
    }
  }
  auto span = GetTracer().StartSpan(
      absl::StrCat("process ", absl::string_view(record.topic().data(), record.topic().size())),
      options);
  tls_pending.has_trace = false;
  span->SetAttribute("messaging.system", "kafka");
  span->SetAttribute("messaging.operation.type", "process");
  span->SetAttribute("messaging.operation.name", "process");
  span->SetAttribute("messaging.destination.name",
                     otel::nostd::string_view(record.topic().data(), record.topic().size()));
  span->SetAttribute("messaging.destination.partition.id", std::to_string(record.partition()));
  span->SetAttribute("messaging.kafka.offset", record.offset());
  if (auto key = record.key(); key.has_value()) {
    span->SetAttribute("messaging.kafka.message.key", std::string(*key));
  }
  if (!consumer_group.empty()) {
    span->SetAttribute("messaging.consumer.group.name", std::string(consumer_group));
  }
  // The envelope uuid: from the decoded `_message_data`, else the CloudEvents id header.
  std::string uuid;
  if (const google::protobuf::Message* m = record.message()) {
    if (const google::protobuf::Message* env = EnvelopeOf(*m)) {
      if (const auto* f = env->GetDescriptor()->FindFieldByName("uuid")) {
        uuid = env->GetReflection()->GetString(*env, f);
      }
    }
  }
  if (uuid.empty()) {
    if (auto ce_id = record.header(header::kId); ce_id.has_value()) uuid = std::string(*ce_id);
  }
  if (!uuid.empty()) span->SetAttribute("messaging.message.id", uuid);
  span->SetAttribute("messaging.message.body.size",
                     static_cast<std::int64_t>(record.value().size()));
  if (!record.decode_status().ok()) {
    span->SetAttribute("error.type",
                       std::string(absl::StatusCodeToString(record.decode_status().code())));
  }
  return SpanAccess::Make(std::move(span));
}

Span StartInternal(std::string_view name, std::string_view name_suffix) {
  if (!Enabled()) return Span();
  otel::trace::StartSpanOptions options;
  options.kind = otel::trace::SpanKind::kInternal;
  const std::string full = absl::StrCat(absl::string_view(name.data(), name.size()),
                                        absl::string_view(name_suffix.data(), name_suffix.size()));
  return SpanAccess::Make(GetTracer().StartSpan(full, options));
}

bool ActiveIds(std::array<char, 32>& trace_id, std::array<char, 16>& span_id) {
  if (!Enabled()) return false;
  const otel::trace::SpanContext ctx = otel::trace::Tracer::GetCurrentSpan()->GetContext();
  if (!ctx.IsValid()) return false;
  ctx.trace_id().ToLowerBase16(otel::nostd::span<char, 32>(trace_id.data(), 32));
  ctx.span_id().ToLowerBase16(otel::nostd::span<char, 16>(span_id.data(), 16));
  return true;
}

namespace internal {

void InitOnce() {
  static const bool logged = [] {
    absl::Status s = Init();
    if (!s.ok()) {
      spdlog::error("tracing: {} (running without tracing)", s.ToString());
    } else if (Enabled()) {
      spdlog::debug("tracing: exporting spans over OTLP");
    }
    return true;
  }();
  (void)logged;
}

Span StartPublish(std::string_view topic, const TraceContext* trace, std::string_view message_id,
                  std::optional<std::string_view> key, std::int32_t partition,
                  std::size_t body_size, std::chrono::system_clock::time_point start) {
  if (!Enabled()) return Span();
  otel::trace::StartSpanOptions options;
  options.kind = otel::trace::SpanKind::kProducer;
  if (start != std::chrono::system_clock::time_point{}) {
    // The SDK takes the duration from the steady clock: move its start back by as much.
    const auto elapsed = std::chrono::system_clock::now() - start;
    options.start_system_time = otel::common::SystemTimestamp(start);
    options.start_steady_time = otel::common::SteadyTimestamp(
        std::chrono::steady_clock::now() -
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(elapsed));
  }
  if (trace != nullptr && !trace->empty()) {
    const auto trace_id = TraceIdOf(trace->trace_id());
    const auto span_id = SpanIdOf(trace->span_id());
    if (trace_id && span_id) {
      // The span carries the id the record's traceparent names.
      tls_pending.has_span = true;
      tls_pending.span = *span_id;
      const otel::trace::SpanContext active = otel::trace::Tracer::GetCurrentSpan()->GetContext();
      if (active.IsValid() && active.trace_id() == *trace_id) {
        // Sent from inside a span of the same trace (a router handler): its child.
      } else if (auto parent = SpanIdOf(trace->parent_span_id()); parent.has_value()) {
        options.parent = otel::trace::SpanContext(
            *trace_id, *parent,
            otel::trace::TraceFlags(trace->sampled() ? otel::trace::TraceFlags::kIsSampled : 0),
            /*is_remote=*/true);
      } else {
        options.parent = otel::trace::SpanContext::GetInvalid();  // a new trace: a root span
        tls_pending.has_trace = true;
        tls_pending.trace = *trace_id;
      }
    }
  }
  auto span = GetTracer().StartSpan(
      absl::StrCat("publish ", absl::string_view(topic.data(), topic.size())), options);
  tls_pending = PendingIds{};  // unused ids (a sampler that dropped the span) must not leak
  span->SetAttribute("messaging.system", "kafka");
  span->SetAttribute("messaging.operation.type", "send");
  span->SetAttribute("messaging.operation.name", "publish");
  span->SetAttribute("messaging.destination.name",
                     otel::nostd::string_view(topic.data(), topic.size()));
  if (partition >= 0)
    span->SetAttribute("messaging.destination.partition.id", std::to_string(partition));
  if (key.has_value()) span->SetAttribute("messaging.kafka.message.key", std::string(*key));
  if (!message_id.empty()) span->SetAttribute("messaging.message.id", std::string(message_id));
  span->SetAttribute("messaging.message.body.size", static_cast<std::int64_t>(body_size));
  return SpanAccess::Make(std::move(span));
}

}  // namespace internal

#else  // no opentelemetry-cpp: tracing is unavailable and every hook is a no-op

struct Span::Impl {};
struct SpanAccess {};

bool Available() { return false; }

absl::Status Init() {
  if (!Env("OTEL_EXPORTER_OTLP_ENDPOINT").empty() ||
      !Env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").empty()) {
    if (absl::AsciiStrToLower(Env("OTEL_SDK_DISABLED")) != "true") {
      return absl::UnimplementedError(
          "OTEL_EXPORTER_OTLP_ENDPOINT is set but messagecorps was built without "
          "opentelemetry-cpp (MCORPS_OPENTELEMETRY)");
    }
  }
  return absl::OkStatus();
}
void Shutdown(std::chrono::milliseconds) {}
void ForceFlush(std::chrono::milliseconds) {}
Span::Span(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Span::~Span() = default;
void Span::SetError(const absl::Status&) {}
Span StartProcess(const ReceivedMessage&, std::string_view) { return Span(); }
Span StartInternal(std::string_view, std::string_view) { return Span(); }
bool ActiveIds(std::array<char, 32>&, std::array<char, 16>&) { return false; }

namespace internal {
void InitOnce() {
  static const bool logged = [] {
    if (absl::Status s = Init(); !s.ok()) {
      spdlog::error("tracing: {} (running without tracing)", s.ToString());
    }
    return true;
  }();
  (void)logged;
}
Span StartPublish(std::string_view, const TraceContext*, std::string_view,
                  std::optional<std::string_view>, std::int32_t, std::size_t,
                  std::chrono::system_clock::time_point) {
  return Span();
}
}  // namespace internal

#endif

}  // namespace messagecorps::tracing
