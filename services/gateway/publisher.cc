#include "gateway/publisher.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/gateway_metrics.h"
#include "gateway/idempotency.h"
#include "gateway/topic_catalog.h"
#include "messagecorps/envelope.h"
#include "messagecorps/error.h"
#include "messagecorps/string_view.h"

namespace messagecorps::gateway {
namespace {

namespace pb = google::protobuf;

absl::Status Invalid(std::string_view field, std::string_view problem) {
  return WithFieldPath(
      MakeError(absl::StatusCode::kInvalidArgument,
                absl::StrCat(AsAbsl(field), ": ", AsAbsl(problem)), ErrorReason::kUnspecified),
      field);
}

// The envelope's string fields the gateway reads, found once per envelope type: a name lookup in
// the descriptor pool (hashing, and for dynamic types a mutex) three times per record was a few
// percent of a streamed publish's CPU. Descriptors live as long as the registry, i.e. the process.
struct EnvelopeFields {
  const pb::Descriptor* type = nullptr;
  const pb::FieldDescriptor* uuid = nullptr;
  const pb::FieldDescriptor* trace_id = nullptr;
  const pb::FieldDescriptor* span_id = nullptr;
};

const pb::FieldDescriptor* StringFieldNamed(const pb::Descriptor* type, const char* name) {
  const pb::FieldDescriptor* field = type->FindFieldByName(name);
  if (field == nullptr || field->cpp_type() != pb::FieldDescriptor::CPPTYPE_STRING ||
      field->is_repeated()) {
    return nullptr;
  }
  return field;
}

const EnvelopeFields& FieldsOf(const pb::Message& envelope) {
  // One entry per thread: the gateway's topics nearly always share one envelope type.
  thread_local EnvelopeFields last;
  const pb::Descriptor* type = envelope.GetDescriptor();
  if (last.type != type) {
    last.type = type;
    last.uuid = StringFieldNamed(type, "uuid");
    last.trace_id = StringFieldNamed(type, "trace_id");
    last.span_id = StringFieldNamed(type, "span_id");
  }
  return last;
}

// A string field of a message, "" when absent (null field).
std::string StringField(const pb::Message& message, const pb::FieldDescriptor* field) {
  if (field == nullptr) return {};
  return message.GetReflection()->GetString(message, field);
}

}  // namespace

bool IsReservedHeader(std::string_view name) {
  const std::string lower = absl::AsciiStrToLower(AsAbsl(name));
  return absl::StartsWith(lower, "ce_") || absl::StartsWith(lower, "mcorps-") ||
         lower == "content-type" || lower == "traceparent" || lower == "tracestate";
}

Publisher::Publisher(TopicCatalog& catalog, Producer& producer, GatewayMetrics& metrics,
                     PayloadLimits limits, IdempotencyCache* idempotency)
    : catalog_(catalog),
      producer_(producer),
      metrics_(metrics),
      limits_(limits),
      idempotency_(idempotency) {}

absl::StatusOr<PreparedPublish> Publisher::Prepare(const PublishInput& input) const {
  PreparedPublish out;
  out.received = std::chrono::steady_clock::now();
  absl::StatusOr<ResolvedTopic> topic = catalog_.Resolve(input.topic);
  if (!topic.ok()) return topic.status();
  const TopicBinding& binding = *topic->binding;

  if (input.partition < -1 || input.partition >= topic->partitions) {
    return Invalid("partition",
                   absl::StrCat(input.partition, " is not a partition of ", AsAbsl(input.topic),
                                " (it has ", topic->partitions, ")"));
  }
  for (const auto& [name, value] : input.headers) {
    if (name.empty()) return Invalid("headers", "empty header name");
    if (IsReservedHeader(name)) {
      return Invalid(absl::StrCat("headers[", AsAbsl(name), "]"),
                     "reserved: the gateway writes this header itself");
    }
  }

  out.message = catalog_.registry().NewMessage(binding.type);
  if (out.message == nullptr) {
    return absl::InternalError(absl::StrCat("cannot build a ", binding.type->full_name()));
  }
  absl::Status parsed;
  switch (input.form) {
    case PublishInput::Form::kJson:
      parsed = ParseJsonPayload(input.data, out.message.get(), limits_);
      break;
    case PublishInput::Form::kEncoded: {
      std::string scratch;
      parsed =
          ParseEncodedPayload(input.data, input.encoding, out.message.get(), &scratch, limits_);
      break;
    }
    case PublishInput::Form::kAny:
      parsed = ParseAnyPayload(input.type_url, input.data, out.message.get(), limits_);
      break;
  }
  if (!parsed.ok()) return parsed;

  std::string client_uuid;
  if (const pb::Message* envelope = EnvelopeOf(*out.message)) {
    const EnvelopeFields& fields = FieldsOf(*envelope);
    client_uuid = StringField(*envelope, fields.uuid);
    const std::string trace_id = StringField(*envelope, fields.trace_id);
    if (!trace_id.empty() && !TraceContext::FromIds(trace_id, "").ok()) {
      return Invalid("_message_data.trace_id",
                     absl::StrCat("\"", trace_id, "\" is not 32 hex digits (a W3C trace id)"));
    }
  }

  absl::StatusOr<TraceContext> incoming = input.traceparent.empty()
                                              ? absl::StatusOr<TraceContext>(TraceContext())
                                              : TraceContext::FromTraceparent(input.traceparent);
  // W3C Trace Context: an invalid traceparent is ignored and a new trace starts.
  out.span = incoming.ok() ? incoming->Child() : TraceContext::NewTrace();

  out.topic = std::string(input.topic);
  out.encoding = binding.options.encode_options();
  if (input.key) out.key = std::string(*input.key);
  out.partition = input.partition;
  out.headers.reserve(input.headers.size() + 1);
  for (const auto& [name, value] : input.headers) out.headers.emplace_back(name, value);
  if (!input.principal.empty()) out.headers.emplace_back(kPrincipalHeader, input.principal);
  const std::string_view key =
      input.idempotency_key.empty() ? std::string_view(client_uuid) : input.idempotency_key;
  if (!key.empty()) {
    // Scoped: two principals (or topics) never share a key.
    out.idempotency_key =
        absl::StrCat(AsAbsl(input.principal), "\n", AsAbsl(input.topic), "\n", AsAbsl(key));
  }
  return out;
}

absl::Status Publisher::Send(PreparedPublish prepared, PublishCallback done) {
  if (idempotency_ == nullptr || prepared.idempotency_key.empty()) {
    return Produce(std::move(prepared), std::move(done));
  }
  const std::string key = prepared.idempotency_key;
  if (idempotency_->Begin(key, done) != IdempotencyCache::Action::kPublish) {
    return absl::OkStatus();  // answered, or answered when the first one is
  }
  IdempotencyCache* cache = idempotency_;
  absl::Status queued =
      Produce(std::move(prepared), [cache, key, done](absl::StatusOr<PublishResult> r) {
        cache->Complete(key, r);
        done(std::move(r));
      });
  if (!queued.ok()) cache->Complete(key, queued);
  return queued;
}

absl::Status Publisher::Produce(PreparedPublish prepared, PublishCallback done) {
  struct State {
    PreparedPublish prepared;
    PublishCallback done;
  };
  auto state = std::make_shared<State>(State{std::move(prepared), std::move(done)});
  SendOptions options;
  if (state->prepared.key) options.key = *state->prepared.key;
  options.headers = state->prepared.headers.empty() ? nullptr : &state->prepared.headers;
  options.partition = state->prepared.partition;
  options.parent = &state->prepared.span;
  GatewayMetrics* metrics = &metrics_;
  options.on_delivery = [state, metrics](const DeliveryReport& report) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - state->prepared.received)
            .count();
    metrics->ObservePublishSeconds(seconds);
    if (!report.status.ok()) {
      state->done(report.status);
      return;
    }
    PublishResult result;
    result.topic = report.topic;
    result.partition = report.partition;
    result.offset = report.offset;
    result.uuid = report.uuid;
    // The stamp happened before the record was queued, so the envelope is complete here.
    if (const pb::Message* envelope = EnvelopeOf(*state->prepared.message)) {
      const EnvelopeFields& fields = FieldsOf(*envelope);
      result.trace_id = StringField(*envelope, fields.trace_id);
      result.span_id = StringField(*envelope, fields.span_id);
    } else {
      result.trace_id = std::string(state->prepared.span.trace_id());
    }
    state->done(std::move(result));
  };
  absl::Status queued = producer_.SendMessage(state->prepared.topic, *state->prepared.message,
                                              state->prepared.encoding, options);
  if (!queued.ok() && absl::StrContains(queued.message(), "trace")) {
    return WithFieldPath(queued, "_message_data.trace_id");
  }
  return queued;
}

absl::Status Publisher::Publish(const PublishInput& input, PublishCallback done) {
  absl::StatusOr<PreparedPublish> prepared = Prepare(input);
  if (!prepared.ok()) return prepared.status();
  return Send(*std::move(prepared), std::move(done));
}

}  // namespace messagecorps::gateway
