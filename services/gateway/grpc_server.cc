// The gRPC front end. All generated gRPC/protobuf code of the gateway is compiled in this one
// translation unit (and gateway.pb.cc / gateway.grpc.pb.cc), to keep build time down.
#include "gateway/grpc_server.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "gateway/ack_tracker.h"
#include "gateway/record_envelope.h"
#include "messagecorps/error.h"
#include "messagecorps/gateway/v1/gateway.grpc.pb.h"
#include "messagecorps/payload.h"
#include "messagecorps/string_view.h"

namespace messagecorps::gateway {
namespace {

namespace pb = google::protobuf;
namespace v1 = messagecorps::gateway::v1;

constexpr char kServiceName[] = "messagecorps.gateway.v1.Gateway";
constexpr size_t kMaxResponseBytes = 1u << 20;
// PublishStream: records in one request (as a REST batch).
constexpr int kMaxRecordsPerRequest = 1000;

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), ToString(s.message()));
}

std::string_view Metadata(const grpc::CallbackServerContext* ctx, std::string_view key) {
  const auto& md = ctx->client_metadata();
  auto it = md.find(grpc::string_ref(key.data(), key.size()));
  if (it == md.end()) return {};
  return {it->second.data(), it->second.size()};
}

void AddErrorMetadata(grpc::CallbackServerContext* ctx, const absl::Status& s) {
  const std::string path = FieldPathOf(s);
  if (!path.empty()) ctx->AddTrailingMetadata("mcorps-field", path);
  if (auto retry = RetryAfterOf(s)) {
    // The gRPC retry design's pushback, and HTTP's Retry-After (whole seconds, rounded up).
    ctx->AddTrailingMetadata("grpc-retry-pushback-ms", std::to_string(retry->count()));
    ctx->AddTrailingMetadata("retry-after", std::to_string((retry->count() + 999) / 1000));
  }
}

// Who is calling: the bearer token (metadata `authorization`) and, with --tls-client-ca, the
// client certificate, verified here so that an untrusted one is UNAUTHENTICATED.
absl::StatusOr<Principal> CallPrincipal(const GatewayContext& gw,
                                        const grpc::CallbackServerContext* ctx) {
  std::string cn;
  if (gw.client_certs != nullptr) {
    std::shared_ptr<const grpc::AuthContext> auth = ctx->auth_context();
    if (auth != nullptr) {
      const std::vector<grpc::string_ref> leaf = auth->FindPropertyValues("x509_pem_cert");
      const std::vector<grpc::string_ref> chain = auth->FindPropertyValues("x509_pem_cert_chain");
      if (!leaf.empty()) {
        absl::StatusOr<std::string> verified = gw.client_certs->VerifyPem(
            std::string_view(leaf[0].data(), leaf[0].size()),
            chain.empty() ? std::string_view()
                          : std::string_view(chain[0].data(), chain[0].size()));
        if (!verified.ok()) return verified.status();
        cn = *std::move(verified);
      }
    }
  }
  return gw.access->Authenticate(Metadata(ctx, "authorization"), cn);
}

v1::Encoding ToProto(Encoding e) {
  switch (e) {
    case Encoding::kSeed:
      return v1::ENCODING_SEED;
    case Encoding::kRaw:
      return v1::ENCODING_RAW;
    case Encoding::kConfluent:
      return v1::ENCODING_CONFLUENT;
  }
  return v1::ENCODING_UNSPECIFIED;
}

std::optional<Encoding> FromProto(v1::Encoding e) {
  switch (e) {
    case v1::ENCODING_SEED:
      return Encoding::kSeed;
    case v1::ENCODING_RAW:
      return Encoding::kRaw;
    case v1::ENCODING_CONFLUENT:
      return Encoding::kConfluent;
    default:
      return std::nullopt;
  }
}

absl::Status InvalidField(std::string_view field, std::string_view problem) {
  return WithFieldPath(
      absl::InvalidArgumentError(absl::StrCat(AsAbsl(field), ": ", AsAbsl(problem))), field);
}

// The request as a PublishInput (views into `req`, valid while it is). `default_topic`: the topic
// of a request without one (a batch's records take the batch's).
absl::Status ToInput(const v1::PublishRequest& req, std::string_view default_topic,
                     std::string_view metadata_traceparent,
                     std::string_view metadata_idempotency_key, PublishInput* in) {
  in->topic = req.topic().empty() ? default_topic : std::string_view(req.topic());
  if (in->topic.empty()) return InvalidField("topic", "missing");
  switch (req.payload_case()) {
    case v1::PublishRequest::kMessage:
      in->form = PublishInput::Form::kAny;
      in->type_url = req.message().type_url();
      in->data = req.message().value();
      break;
    case v1::PublishRequest::kEncoded:
      in->form = PublishInput::Form::kEncoded;
      in->data = req.encoded().value();
      if (req.encoded().encoding() != v1::ENCODING_UNSPECIFIED &&
          !FromProto(req.encoded().encoding())) {
        return InvalidField("encoded.encoding", "unknown encoding");
      }
      in->encoding = FromProto(req.encoded().encoding());
      break;
    case v1::PublishRequest::kJson:
      in->form = PublishInput::Form::kJson;
      in->data = req.json();
      break;
    case v1::PublishRequest::PAYLOAD_NOT_SET:
      return InvalidField("payload", "none of message, encoded, json is set");
  }
  if (req.has_key()) in->key = req.key();
  in->partition = req.has_partition() ? req.partition() : -1;
  for (const auto& [name, value] : req.headers()) in->headers.emplace_back(name, value);
  in->traceparent = req.traceparent().empty() ? metadata_traceparent : req.traceparent();
  in->idempotency_key =
      req.idempotency_key().empty() ? metadata_idempotency_key : req.idempotency_key();
  return absl::OkStatus();
}

// Takes the result by value: its strings move into the response (a streamed batch fills one per
// record).
void FillResponse(PublishResult r, uint64_t correlation_id, v1::PublishResponse* out) {
  out->set_topic(std::move(r.topic));
  out->set_partition(r.partition);
  out->set_offset(r.offset);
  out->set_uuid(std::move(r.uuid));
  out->set_trace_id(std::move(r.trace_id));
  out->set_span_id(std::move(r.span_id));
  out->set_correlation_id(correlation_id);
  out->set_duplicate(r.duplicate);
}

void FillError(const absl::Status& s, uint64_t correlation_id, v1::PublishResponse* out) {
  out->set_correlation_id(correlation_id);
  out->set_code(static_cast<int32_t>(s.code()));
  out->set_error(ToString(s.message()));
  out->set_field(FieldPathOf(s));
}

void FillRecord(const Delivery& d, v1::PayloadFormat format, const TopicBinding& binding,
                v1::Record* out) {
  const ReceivedMessage& m = d.record;
  out->set_topic(std::string(m.topic()));
  out->set_partition(m.partition());
  out->set_offset(m.offset());
  out->set_timestamp_ms(m.timestamp_ms());
  if (auto key = m.key()) out->set_key(std::string(*key));
  for (auto& [name, value] : m.headers()) {
    v1::Header* h = out->add_headers();
    h->set_key(name);
    h->set_value(value);
  }
  out->set_encoding(ToProto(m.encoding()));
  out->set_resume_token(d.resume_token);
  out->set_trace_id(std::string(m.trace().trace_id()));
  out->set_delivery_count(1);
  absl::Status problem = m.decode_status();
  if (problem.ok() && m.message() != nullptr) {
    const std::string& type = m.message()->GetDescriptor()->full_name();
    out->set_type(type);
    if (format == v1::PAYLOAD_FORMAT_JSON) {
      pb::util::JsonPrintOptions print;
      print.preserve_proto_field_names = true;
      std::string json;
      auto s = pb::util::MessageToJsonString(*m.message(), &json, print);
      if (s.ok()) {
        out->set_json(std::move(json));
      } else {
        problem = absl::InvalidArgumentError(
            absl::StrCat("cannot print as JSON: ", ToString(s.message())));
      }
    } else {
      pb::Any* any = out->mutable_message();
      any->set_type_url(absl::StrCat("type.googleapis.com/", type));
      m.message()->SerializeToString(any->mutable_value());
    }
  } else if (problem.ok()) {
    problem = absl::InternalError("record was not decoded");
  }
  if (!problem.ok()) {
    out->set_type(binding.type->full_name());
    out->set_error(ToString(problem.message()));
    out->set_value(std::string(m.value()));
  }
  *out->mutable_envelope() = RecordEnvelope(m);
}

absl::StatusOr<SubscribeSpec> ToSpec(const v1::SubscribeRequest& req) {
  SubscribeSpec spec;
  if (req.topic().empty()) return InvalidField("topic", "missing");
  spec.topic = req.topic();
  spec.group = req.group();
  switch (req.start_case()) {
    case v1::SubscribeRequest::kPosition:
      spec.start = req.position() == v1::START_POSITION_EARLIEST ? SubscribeSpec::Start::kEarliest
                                                                 : SubscribeSpec::Start::kLatest;
      break;
    case v1::SubscribeRequest::kTimestampMs:
      spec.start = SubscribeSpec::Start::kTimestamp;
      spec.timestamp_ms = req.timestamp_ms();
      break;
    case v1::SubscribeRequest::kOffsets:
      spec.start = SubscribeSpec::Start::kOffsets;
      for (const auto& [p, o] : req.offsets().offsets()) spec.offsets[p] = o;
      break;
    case v1::SubscribeRequest::kResumeToken:
      spec.start = SubscribeSpec::Start::kToken;
      spec.resume_token = req.resume_token();
      break;
    case v1::SubscribeRequest::START_NOT_SET:
      spec.start = SubscribeSpec::Start::kLatest;
      break;
  }
  return spec;
}

// The bound type's file and its imports, dependencies first.
void AddFiles(const pb::FileDescriptor* file, std::set<std::string>& seen,
              pb::FileDescriptorSet* set) {
  if (!seen.insert(file->name()).second) return;
  for (int i = 0; i < file->dependency_count(); ++i) AddFiles(file->dependency(i), seen, set);
  file->CopyTo(set->add_file());
}

void FillSummary(const TopicEntry& e, v1::TopicSummary* out) {
  out->set_name(e.name);
  if (e.binding != nullptr) {
    out->set_type(e.binding->type->full_name());
    out->set_encoding(ToProto(e.binding->options.encoding));
  }
  out->set_partitions(e.partitions);
  out->set_exists(e.exists);
}

// ---------------------------------------------------------------------------------------------
// Publish: finishes from the delivery report, or at once when the call is cancelled (client gone,
// deadline, server shutdown), so that no call waits on Kafka past its cancellation.

class PublishReactor final : public grpc::ServerUnaryReactor {
 public:
  PublishReactor(GatewayContext& gw, grpc::CallbackServerContext* ctx,
                 const v1::PublishRequest& req, v1::PublishResponse* resp)
      : state_(std::make_shared<State>()) {
    state_->reactor = this;
    state_->ctx = ctx;
    state_->resp = resp;
    state_->metrics = gw.metrics;
    state_->correlation_id = req.correlation_id();
    PublishInput input;
    // Authentication and authorization come first: a refused call causes no Kafka traffic.
    absl::StatusOr<Principal> principal = CallPrincipal(gw, ctx);
    absl::Status s = principal.status();
    if (s.ok()) {
      state_->principal = principal->name;
      s = req.records_size() > 0
              ? InvalidField("records", "several records per request only on PublishStream")
              : ToInput(req, {}, Metadata(ctx, "traceparent"), Metadata(ctx, "idempotency-key"),
                        &input);
    }
    if (s.ok()) s = gw.access->Authorize(*principal, Right::kPublish, input.topic);
    if (s.ok()) s = gw.access->AdmitPublish(*principal, req.ByteSizeLong());
    if (s.ok()) {
      input.principal = state_->principal;
      s = gw.publisher->Publish(
          input, [state = state_](absl::StatusOr<PublishResult> r) { state->Done(std::move(r)); });
    }
    if (!s.ok()) state_->Done(s);
  }

  void OnCancel() override { state_->Done(absl::CancelledError("publish cancelled")); }
  void OnDone() override {
    {
      std::lock_guard lock(state_->mu);
      state_->reactor = nullptr;
    }
    delete this;
  }

 private:
  // Shared with the delivery callback, which may come after OnDone.
  struct State {
    std::mutex mu;
    PublishReactor* reactor = nullptr;
    grpc::CallbackServerContext* ctx = nullptr;
    v1::PublishResponse* resp = nullptr;
    GatewayMetrics* metrics = nullptr;
    uint64_t correlation_id = 0;
    std::string principal;
    bool finished = false;

    void Done(absl::StatusOr<PublishResult> r) {
      PublishReactor* finishing = nullptr;
      {
        std::lock_guard lock(mu);
        if (finished || reactor == nullptr) return;
        finished = true;
        metrics->CountRequest(Api::kGrpc, "Publish", r.status().code());
        if (r.ok()) {
          if (!r->span_id.empty()) {
            ctx->AddInitialMetadata("traceparent",
                                    absl::StrCat("00-", r->trace_id, "-", r->span_id, "-01"));
          }
          FillResponse(*std::move(r), correlation_id, resp);
        } else {
          AddErrorMetadata(ctx, r.status());
        }
        finishing = reactor;
      }
      // Finish may run OnDone inline: not under the lock.
      finishing->Finish(ToGrpc(r.status()));
    }
  };
  std::shared_ptr<State> state_;
};

// ---------------------------------------------------------------------------------------------
// PublishStream: one result per request, in order, at most `publish_window` in flight.

class PublishStreamReactor final
    : public grpc::ServerBidiReactor<v1::PublishRequest, v1::PublishResponse> {
 public:
  PublishStreamReactor(GatewayContext& gw, grpc::CallbackServerContext* ctx)
      : gw_(gw), state_(std::make_shared<State>()) {
    state_->reactor = this;
    state_->window = std::max<size_t>(gw.limits.publish_window, 1);
    traceparent_ = std::string(Metadata(ctx, "traceparent"));
    gw_.metrics->StreamOpened(StreamKind::kPublish);
    absl::StatusOr<Principal> principal = CallPrincipal(gw, ctx);
    absl::StatusOr<Access::StreamTicket> ticket =
        principal.ok() ? gw.access->OpenStream(*principal)
                       : absl::StatusOr<Access::StreamTicket>(principal.status());
    if (!ticket.ok()) {
      AddErrorMetadata(ctx, ticket.status());
      state_->Fail(ticket.status());
      return;
    }
    principal_ = *std::move(principal);
    ticket_.emplace(*std::move(ticket));
    registration_ = gw_.streams->Register([state = state_] { state->Drain(); });
    if (registration_ == 0) state_->draining = true;
    state_->Step();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      {
        std::lock_guard lock(state_->mu);
        state_->read_in_flight = false;
        state_->read_closed = true;
      }
      state_->Step();
      return;
    }
    const v1::PublishRequest& req = state_->request;
    const size_t records = WindowRecords(req);
    uint64_t seq;
    {
      std::lock_guard lock(state_->mu);
      seq = state_->next_seq++;
      state_->records_in_flight += records;
    }
    if (req.records_size() == 0) {
      PublishOne(req, nullptr, [state = state_, seq](v1::PublishResponse response) {
        state->Complete(seq, std::move(response));
      });
    } else {
      PublishBatch(req, seq);
    }
    {
      std::lock_guard lock(state_->mu);
      state_->read_in_flight = false;
    }
    state_->Step();
  }

  void OnWriteDone(bool ok) override {
    {
      std::lock_guard lock(state_->mu);
      state_->write_in_flight = false;
      ++state_->write_seq;
      state_->records_in_flight -= std::min<size_t>(
          state_->records_in_flight, std::max<size_t>(state_->writing.results_size(), 1));
      if (!ok) state_->cancelled = true;  // the client is gone
    }
    state_->Step();
  }

  void OnCancel() override {
    {
      std::lock_guard lock(state_->mu);
      state_->cancelled = true;
    }
    state_->Step();
  }

  void OnDone() override {
    {
      std::lock_guard lock(state_->mu);
      state_->reactor = nullptr;
    }
    if (registration_ != 0) gw_.streams->Unregister(registration_);
    gw_.metrics->StreamClosed(StreamKind::kPublish);
    gw_.metrics->CountRequest(Api::kGrpc, "PublishStream", state_->final_code);
    delete this;
  }

 private:
  // Shared with the delivery callbacks, which may outlive the reactor.
  struct State {
    std::mutex mu;
    PublishStreamReactor* reactor = nullptr;  // null after OnDone
    v1::PublishRequest request;               // read buffer
    v1::PublishResponse writing;              // write buffer
    std::map<uint64_t, v1::PublishResponse> ready;
    uint64_t next_seq = 0;   // sequence of the next request read
    uint64_t write_seq = 0;  // sequence of the next response to write
    size_t window = 1;
    size_t records_in_flight = 0;  // read and not yet written (a batch counts its records)
    bool read_in_flight = false, write_in_flight = false;
    bool read_closed = false, draining = false, cancelled = false, finished = false;
    absl::StatusCode final_code = absl::StatusCode::kOk;

    void Complete(uint64_t seq, v1::PublishResponse response) {
      {
        std::lock_guard lock(mu);
        ready.emplace(seq, std::move(response));
      }
      Step();
    }

    void Drain() {
      {
        std::lock_guard lock(mu);
        draining = true;
      }
      Step();
    }

    // Ends the stream at once with `status` (refused at its start).
    void Fail(const absl::Status& status) {
      PublishStreamReactor* finishing = nullptr;
      {
        std::lock_guard lock(mu);
        if (finished || reactor == nullptr) return;
        finished = true;
        final_code = status.code();
        finishing = reactor;
      }
      finishing->Finish(ToGrpc(status));
    }

    // Starts what can start. Reads and writes start under the lock (their reactions never run
    // inline); Finish runs after it (OnDone may run inline and take the lock).
    void Step() {
      grpc::Status finish;
      PublishStreamReactor* finishing = nullptr;
      {
        std::lock_guard lock(mu);
        if (finished || reactor == nullptr) return;
        if (!write_in_flight && !cancelled) {
          auto it = ready.find(write_seq);
          if (it != ready.end()) {
            writing = std::move(it->second);
            ready.erase(it);
            write_in_flight = true;
            reactor->StartWrite(&writing);
          }
        }
        if (!read_in_flight && !read_closed && !draining && !cancelled &&
            records_in_flight < window) {
          read_in_flight = true;
          reactor->StartRead(&request);
        }
        const bool all_written = write_seq == next_seq && !write_in_flight;
        if (cancelled) {
          finish = grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled");
        } else if (all_written && read_closed && !read_in_flight) {
          finish = grpc::Status::OK;
        } else if (all_written && draining) {
          finish = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                "the gateway is shutting down: every result was sent; publish "
                                "the rest on another connection");
        } else {
          return;
        }
        finished = true;
        final_code = static_cast<absl::StatusCode>(finish.error_code());
        finishing = reactor;
      }
      finishing->Finish(finish);
    }
  };

  // Publishes one message (`req`, or a record of the batch `outer`) and gives its response to
  // `done`: from the delivery report, or at once when it is refused.
  // `done` is copied into the delivery callback and kept for a refusal (Publish does not call its
  // callback then), rather than shared through another allocation per message.
  // `authorized` (batches only): the topic this batch's principal was last allowed to publish to,
  // so that a batch to one topic checks its permissions once rather than per record.
  template <class Done>
  void PublishOne(const v1::PublishRequest& req, const v1::PublishRequest* outer, Done done,
                  std::string_view* authorized = nullptr) {
    const uint64_t correlation_id = req.correlation_id();
    PublishInput input;
    absl::Status s;
    if (outer != nullptr && req.records_size() > 0) {
      s = InvalidField("records", "records do not nest");
    } else {
      std::string_view traceparent = traceparent_;
      if (outer != nullptr && !outer->traceparent().empty()) traceparent = outer->traceparent();
      // A stream's messages carry their own keys (the metadata key would make them all one).
      s = ToInput(req, outer != nullptr ? std::string_view(outer->topic()) : std::string_view(),
                  traceparent, {}, &input);
    }
    if (s.ok() && (authorized == nullptr || authorized->empty() || *authorized != input.topic)) {
      s = gw_.access->Authorize(principal_, Right::kPublish, input.topic);
      if (s.ok() && authorized != nullptr) *authorized = input.topic;
    }
    if (s.ok()) s = gw_.access->AdmitPublish(principal_, req.ByteSizeLong());
    if (s.ok()) {
      input.principal = principal_.name;
      RequestCounter* counter = &gw_.metrics->stream_messages();
      s = gw_.publisher->Publish(input,
                                 [done, correlation_id, counter](absl::StatusOr<PublishResult> r) {
                                   v1::PublishResponse response;
                                   if (r.ok()) {
                                     FillResponse(*std::move(r), correlation_id, &response);
                                   } else {
                                     FillError(r.status(), correlation_id, &response);
                                   }
                                   counter->Count(r.status().code());
                                   done(std::move(response));
                                 });
    }
    if (!s.ok()) {
      gw_.metrics->stream_messages().Count(s.code());
      v1::PublishResponse response;
      FillError(s, correlation_id, &response);
      done(std::move(response));
    }
  }

  // A batch refused as a whole: a payload besides the records, or too many records.
  static bool RefusedWhole(const v1::PublishRequest& req) {
    return req.records_size() > 0 && (req.payload_case() != v1::PublishRequest::PAYLOAD_NOT_SET ||
                                      req.records_size() > kMaxRecordsPerRequest);
  }

  // What a request counts in the window: its records, or 1 (one message, or a batch refused whole:
  // its response has no results). Agrees with OnWriteDone's count from the response.
  static size_t WindowRecords(const v1::PublishRequest& req) {
    return RefusedWhole(req) ? 1 : std::max<size_t>(req.records_size(), 1);
  }

  // A request with `records`: each published on its own; one response with every result, in
  // order, once the last is known. Results may come on several threads at once: each fills its
  // own pre-allocated slot, and the last one (by the countdown) hands the response on.
  void PublishBatch(const v1::PublishRequest& req, uint64_t seq) {
    if (RefusedWhole(req)) {
      const absl::Status s =
          req.payload_case() != v1::PublishRequest::PAYLOAD_NOT_SET
              ? InvalidField("payload", "a request with records carries no payload of its own")
              : InvalidField("records", absl::StrCat(req.records_size(), " records: at most ",
                                                     kMaxRecordsPerRequest, " per request"));
      gw_.metrics->stream_messages().Count(s.code());
      v1::PublishResponse response;
      FillError(s, req.correlation_id(), &response);
      state_->Complete(seq, std::move(response));
      return;
    }
    struct Batch {
      v1::PublishResponse response;
      std::atomic<int> remaining{0};
    };
    auto batch = std::make_shared<Batch>();
    batch->response.set_correlation_id(req.correlation_id());
    for (int i = 0; i < req.records_size(); ++i) batch->response.add_results();
    batch->remaining.store(req.records_size(), std::memory_order_relaxed);
    std::string_view authorized;  // views into `req`, which outlives the loop
    for (int i = 0; i < req.records_size(); ++i) {
      PublishOne(
          req.records(i), &req,
          [batch, i, state = state_, seq](v1::PublishResponse result) {
            *batch->response.mutable_results(i) = std::move(result);
            if (batch->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
              state->Complete(seq, std::move(batch->response));
            }
          },
          &authorized);
    }
  }

  GatewayContext& gw_;
  std::shared_ptr<State> state_;
  std::string traceparent_;
  Principal principal_;
  std::optional<Access::StreamTicket> ticket_;
  uint64_t registration_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Subscribe: a pump thread polls the subscription into a bounded queue; the reactor writes it.

using SubscribeWriteBase = grpc::ServerWriteReactor<v1::SubscribeResponse>;
using SubscribeBidiBase = grpc::ServerBidiReactor<v1::SubscribeControl, v1::SubscribeResponse>;

// Gives both reactor kinds one ReadDone hook (only the bidirectional one reads).
template <class Base>
class ReadHook : public Base {
 protected:
  virtual void ReadDone(bool) {}
};
template <>
class ReadHook<SubscribeBidiBase> : public SubscribeBidiBase {
 public:
  void OnReadDone(bool ok) override { ReadDone(ok); }

 protected:
  virtual void ReadDone(bool) {}
};

// Subscribe (Base = ServerWriteReactor: the request comes with the call) and SubscribeAcked
// (Base = ServerBidiReactor: the first message read is the request, then acknowledgements). One
// pump thread per stream reads from the Subscription into a bounded queue that gRPC writes from.
// Acknowledged streams keep every delivered record in an AckTracker until it is acknowledged: the
// pump stops fetching while max_unacked records are outstanding (the stream pauses, nothing is
// dropped), overdue records are written again with a higher delivery_count, and offsets are
// committed only up to the highest contiguously acknowledged record of each partition.
template <class Base>
class SubscribeReactor final : public ReadHook<Base> {
 public:
  static constexpr bool kAcked = std::is_same_v<Base, SubscribeBidiBase>;
  static constexpr const char* kMethod = kAcked ? "SubscribeAcked" : "Subscribe";

  // Subscribe: the request is known at once.
  SubscribeReactor(GatewayContext& gw, grpc::CallbackServerContext* ctx,
                   const v1::SubscribeRequest& request)
      : SubscribeReactor(gw, ctx) {
    Begin(request);
  }

  // SubscribeAcked: the request is the first message read.
  SubscribeReactor(GatewayContext& gw, grpc::CallbackServerContext* ctx)
      : gw_(gw), ctx_(ctx), state_(std::make_shared<State>(gw, ctx)) {
    state_->reactor = this;
    gw_.metrics->StreamOpened(StreamKind::kSubscribe);
    if constexpr (kAcked) {
      this->StartRead(&control_);
    }
  }

  void ReadDone(bool ok) override {
    if constexpr (kAcked) {
      if (!ok) {
        // The client closed its side: it acknowledges nothing more; records keep coming until it
        // cancels (overdue ones are redelivered).
        if (!begun_) state_->FinishWith(absl::CancelledError("the subscriber went away"));
        return;
      }
      if (!begun_) {
        if (!control_.has_subscribe()) {
          state_->FinishWith(absl::InvalidArgumentError(
              "SubscribeAcked: the first message must be `subscribe` (a SubscribeRequest)"));
          return;
        }
        if (control_.subscribe().group().empty()) {
          state_->FinishWith(absl::InvalidArgumentError(
              "SubscribeAcked needs a group: acknowledgements decide what the group commits"));
          return;
        }
        const v1::SubscribeRequest request = control_.subscribe();
        Begin(request);
      } else if (control_.has_subscribe()) {
        state_->FinishWith(
            absl::InvalidArgumentError("SubscribeAcked: `subscribe` only as the first message"));
        return;
      } else if (control_.has_ack()) {
        state_->Acked({control_.ack()});
      } else {
        state_->Acked({control_.acks().acks().begin(), control_.acks().acks().end()});
      }
      if (!state_->Finished()) this->StartRead(&control_);
    }
  }

  void OnWriteDone(bool ok) override { state_->WriteDone(ok); }
  void OnCancel() override { state_->FinishWith(absl::CancelledError("stream cancelled")); }
  void OnDone() override {
    {
      std::lock_guard lock(state_->mu);
      state_->reactor = nullptr;
      state_->stop = true;
    }
    state_->room.notify_all();
    if (registration_ != 0) gw_.streams->Unregister(registration_);
    gw_.metrics->StreamClosed(StreamKind::kSubscribe);
    gw_.metrics->CountRequest(Api::kGrpc, kMethod, state_->final_code);
    delete this;
  }

 private:
  void Begin(const v1::SubscribeRequest& request) {
    begun_ = true;
    state_->format = request.format();
    if constexpr (kAcked) {
      AckOptions options;
      if (request.max_unacked() > 0) options.max_unacked = request.max_unacked();
      if (request.ack_timeout_ms() > 0) {
        options.ack_timeout = std::chrono::milliseconds(request.ack_timeout_ms());
      }
      state_->acks.emplace(options);
    }
    absl::StatusOr<SubscribeSpec> spec = ToSpec(request);
    absl::StatusOr<Principal> principal = CallPrincipal(gw_, ctx_);
    absl::Status refused = principal.status();
    if (refused.ok()) refused = spec.status();
    if (refused.ok()) refused = gw_.access->Authorize(*principal, Right::kSubscribe, spec->topic);
    if (refused.ok()) {
      absl::StatusOr<Access::StreamTicket> ticket = gw_.access->OpenStream(*principal);
      if (ticket.ok()) {
        state_->ticket.emplace(*std::move(ticket));
      } else {
        refused = ticket.status();
      }
    }
    if (!refused.ok()) {
      state_->FinishWith(refused);
      return;
    }
    registration_ = gw_.streams->Register([state = state_] {
      state->FinishWith(absl::UnavailableError(
          "the gateway is shutting down; resume on another with the resume token"));
    });
    if (registration_ == 0 ||
        !gw_.streams->Spawn([state = state_, spec = *std::move(spec)] { state->Run(spec); })) {
      state_->FinishWith(absl::UnavailableError("the gateway is shutting down"));
    }
  }

  struct State {
    State(GatewayContext& g, grpc::CallbackServerContext* c) : gw(g), ctx(c) {}
    GatewayContext& gw;
    grpc::CallbackServerContext* ctx;  // valid while reactor != null

    std::mutex mu;
    std::condition_variable room;
    SubscribeReactor* reactor = nullptr;
    v1::PayloadFormat format = v1::PAYLOAD_FORMAT_ANY;
    std::unique_ptr<Subscription> sub;  // set by the pump; lives as long as the state
    std::deque<v1::SubscribeResponse> queue;
    size_t queued_bytes = 0;
    v1::SubscribeResponse writing;
    bool write_in_flight = false;
    bool finished = false, stop = false;
    std::string token;  // after the last record handed to gRPC (or the start position)
    absl::StatusCode final_code = absl::StatusCode::kOk;
    std::optional<Access::StreamTicket> ticket;  // the principal's stream quota
    std::optional<AckTracker<v1::Record>> acks;  // SubscribeAcked only

    bool Finished() {
      std::lock_guard lock(mu);
      return finished;
    }

    // Starts the next write if none is running (lock held).
    void StartNextLocked() {
      if (write_in_flight || finished || reactor == nullptr || queue.empty()) return;
      writing = std::move(queue.front());
      queue.pop_front();
      queued_bytes -= std::min(queued_bytes, writing.ByteSizeLong());
      if (writing.records_size() > 0) token = writing.records().rbegin()->resume_token();
      write_in_flight = true;
      reactor->StartWrite(&writing);
      room.notify_all();
    }

    void WriteDone(bool ok) {
      if (!ok) {
        FinishWith(absl::CancelledError("the subscriber went away"));
        return;
      }
      {
        std::lock_guard lock(mu);
        write_in_flight = false;
        // Acknowledged streams commit what was acknowledged (Acked), not what was written.
        if (sub != nullptr && !acks) {
          for (const v1::Record& r : writing.records()) sub->MarkWritten(r.partition(), r.offset());
        }
        gw.metrics->CountPushed(Api::kGrpc, writing.records_size());
        StartNextLocked();
      }
    }

    // Acknowledgements read from the client. Unknown, repeated or forgotten (revoked) ones are
    // ignored: an acknowledgement is idempotent.
    void Acked(const std::vector<v1::Ack>& list) {
      {
        std::lock_guard lock(mu);
        if (!acks) return;
        for (const v1::Ack& a : list) acks->Ack(a.partition(), a.offset());
        if (sub != nullptr) {
          for (const auto& [partition, next] : acks->TakeCommittable()) {
            sub->MarkCommittable(partition, next);
          }
        }
      }
      room.notify_all();
    }

    void FinishWith(const absl::Status& status) {
      SubscribeReactor* finishing = nullptr;
      {
        std::lock_guard lock(mu);
        stop = true;
        if (finished || reactor == nullptr) return;
        finished = true;
        final_code = status.code();
        if (!token.empty()) ctx->AddTrailingMetadata("mcorps-resume-token", token);
        if (!status.ok()) AddErrorMetadata(ctx, status);
        finishing = reactor;
      }
      room.notify_all();
      finishing->Finish(ToGrpc(status));
    }

    // Acknowledged streams: overdue records go into the queue again (lock held).
    void RedeliverLocked() {
      if (!acks) return;
      std::vector<typename AckTracker<v1::Record>::Redelivery> expired = acks->TakeExpired();
      if (expired.empty()) return;
      v1::SubscribeResponse response;
      for (auto& r : expired) {
        v1::Record* record = response.add_records();
        *record = std::move(r.payload);
        record->set_delivery_count(r.delivery_count);
      }
      queued_bytes += response.ByteSizeLong();
      queue.push_back(std::move(response));
      StartNextLocked();
    }

    void Run(const SubscribeSpec& spec) {
      absl::StatusOr<std::unique_ptr<Subscription>> opened =
          Subscription::Open(spec, *gw.subscriptions);
      if (!opened.ok()) {
        FinishWith(opened.status());
        return;
      }
      {
        std::lock_guard lock(mu);
        sub = *std::move(opened);
        token = sub->Token();
        // Initial metadata tells the client the subscription is open (a record produced from now
        // on is delivered), with the token of its start.
        if (reactor != nullptr && !finished) {
          ctx->AddInitialMetadata("mcorps-resume-token", token);
          reactor->StartSendInitialMetadata();
        }
      }
      const StreamLimits& limits = gw.limits;
      // Acknowledged streams: fetched records beyond the unacknowledged bound (at most one fetch).
      std::deque<Delivery> held;
      while (true) {
        {
          std::unique_lock lock(mu);
          const auto full_since = std::chrono::steady_clock::now();
          bool slow = false;
          while (!stop && queued_bytes >= limits.subscriber_buffer_bytes) {
            room.wait_for(lock, std::chrono::milliseconds(100));
            if (std::chrono::steady_clock::now() - full_since >= limits.slow_subscriber_timeout) {
              slow = true;
              break;
            }
          }
          // Too many unacknowledged records: pause (no fetching) until acknowledgements arrive;
          // overdue records are written again meanwhile.
          while (!stop && !slow && acks && !acks->HasRoom()) {
            RedeliverLocked();
            room.wait_for(lock, std::chrono::milliseconds(100));
          }
          if (stop) break;
          if (slow) {
            lock.unlock();
            FinishWith(MakeError(
                absl::StatusCode::kResourceExhausted,
                absl::StrCat("subscriber too slow: its buffer of ", limits.subscriber_buffer_bytes,
                             " bytes stayed full for ", limits.slow_subscriber_timeout.count(),
                             " ms; resume with the resume token"),
                ErrorReason::kUnspecified));
            break;
          }
          RedeliverLocked();
        }
        absl::StatusOr<std::vector<Delivery>> batch;
        if (acks && !held.empty()) {
          // Records fetched earlier wait for room: no fetching, but commits go on.
          sub->CommitPending();
          batch.emplace();
        } else {
          batch = sub->Next(std::chrono::milliseconds(200));
        }
        if (!batch.ok()) {
          FinishWith(batch.status());
          break;
        }
        if (acks) {
          std::vector<int32_t> revoked = sub->TakeRevoked();
          std::move(batch->begin(), batch->end(), std::back_inserter(held));
          batch->clear();
          std::lock_guard lock(mu);
          if (!revoked.empty()) {
            acks->Forget(revoked);
            std::erase_if(held, [&](const Delivery& d) {
              return std::find(revoked.begin(), revoked.end(), d.record.partition()) !=
                     revoked.end();
            });
          }
          // At most as many as may be unacknowledged: the rest waits in `held`.
          for (size_t n = acks->Room(); n > 0 && !held.empty(); --n) {
            batch->push_back(std::move(held.front()));
            held.pop_front();
          }
        }
        if (batch->empty()) continue;
        std::vector<v1::SubscribeResponse> responses(1);
        size_t bytes = 0;
        for (const Delivery& d : *batch) {
          if (static_cast<size_t>(responses.back().records_size()) >= limits.records_per_response ||
              bytes >= kMaxResponseBytes) {
            responses.emplace_back();
            bytes = 0;
          }
          v1::Record* r = responses.back().add_records();
          FillRecord(d, format, sub->binding(), r);
          if (acks) r->set_delivery_count(1);
          bytes += r->ByteSizeLong();
        }
        std::lock_guard lock(mu);
        if (stop) break;
        for (v1::SubscribeResponse& response : responses) {
          if (acks) {
            for (const v1::Record& r : response.records()) {
              acks->Delivered(r.partition(), r.offset(), r, r.ByteSizeLong());
            }
          }
          queued_bytes += response.ByteSizeLong();
          queue.push_back(std::move(response));
        }
        StartNextLocked();
      }
      sub->Close();
    }
  };

  GatewayContext& gw_;
  grpc::CallbackServerContext* ctx_;
  std::shared_ptr<State> state_;
  uint64_t registration_ = 0;
  bool begun_ = false;
  v1::SubscribeControl control_;  // SubscribeAcked's read buffer
};

using PlainSubscribeReactor = SubscribeReactor<SubscribeWriteBase>;
using AckedSubscribeReactor = SubscribeReactor<SubscribeBidiBase>;

class Service final : public v1::Gateway::CallbackService {
 public:
  explicit Service(GatewayContext& gw) : gw_(gw) {}

  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* ctx, const v1::PublishRequest* req,
                                    v1::PublishResponse* resp) override {
    return new PublishReactor(gw_, ctx, *req, resp);
  }

  grpc::ServerBidiReactor<v1::PublishRequest, v1::PublishResponse>* PublishStream(
      grpc::CallbackServerContext* ctx) override {
    return new PublishStreamReactor(gw_, ctx);
  }

  grpc::ServerWriteReactor<v1::SubscribeResponse>* Subscribe(
      grpc::CallbackServerContext* ctx, const v1::SubscribeRequest* req) override {
    return new PlainSubscribeReactor(gw_, ctx, *req);
  }

  grpc::ServerBidiReactor<v1::SubscribeControl, v1::SubscribeResponse>* SubscribeAcked(
      grpc::CallbackServerContext* ctx) override {
    return new AckedSubscribeReactor(gw_, ctx);
  }

  grpc::ServerUnaryReactor* ListTopics(grpc::CallbackServerContext* ctx,
                                       const v1::ListTopicsRequest*,
                                       v1::ListTopicsResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    absl::StatusOr<Principal> principal = CallPrincipal(gw_, ctx);
    gw_.metrics->CountRequest(Api::kGrpc, "ListTopics", principal.status().code());
    if (!principal.ok()) {
      reactor->Finish(ToGrpc(principal.status()));
      return reactor;
    }
    for (const TopicEntry& e : gw_.catalog->List()) {
      if (gw_.access->MaySee(*principal, e.name)) FillSummary(e, resp->add_topics());
    }
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* DescribeTopic(grpc::CallbackServerContext* ctx,
                                          const v1::DescribeTopicRequest* req,
                                          v1::TopicDescription* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    absl::StatusOr<Principal> principal = CallPrincipal(gw_, ctx);
    absl::Status refused = principal.status();
    if (refused.ok() && !gw_.access->MaySee(*principal, req->topic())) {
      refused = absl::PermissionDeniedError(
          absl::StrCat("principal '", principal->name, "' has no right on topic ", req->topic()));
    }
    if (!refused.ok()) {
      gw_.metrics->CountRequest(Api::kGrpc, "DescribeTopic", refused.code());
      reactor->Finish(ToGrpc(refused));
      return reactor;
    }
    // Watermarks take a broker round trip per partition: not on a gRPC thread.
    const bool spawned = gw_.streams->Spawn([this, ctx, reactor, req, resp] {
      absl::Status s = Describe(req->topic(), resp);
      gw_.metrics->CountRequest(Api::kGrpc, "DescribeTopic", s.code());
      if (!s.ok()) AddErrorMetadata(ctx, s);
      reactor->Finish(ToGrpc(s));
    });
    if (!spawned) reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "shutting down"));
    return reactor;
  }

 private:
  absl::Status Describe(const std::string& topic, v1::TopicDescription* out) {
    if (topic.empty()) return InvalidField("topic", "missing");
    absl::StatusOr<TopicInfo> info = gw_.catalog->Describe(topic);
    if (!info.ok()) return info.status();
    TopicEntry entry;
    entry.name = topic;
    entry.binding = gw_.catalog->registry().Find(topic);
    entry.exists = true;
    entry.partitions = static_cast<int>(info->partitions.size());
    FillSummary(entry, out->mutable_topic());
    for (const PartitionInfo& p : info->partitions) {
      v1::PartitionDescription* d = out->add_partitions();
      d->set_id(p.id);
      d->set_leader(p.leader);
      d->set_low(p.low);
      d->set_high(p.high);
    }
    if (entry.binding != nullptr) {
      out->set_schema_id(entry.binding->options.schema_id);
      for (int32_t i : entry.binding->options.message_indexes) out->add_message_indexes(i);
      std::set<std::string> seen;
      AddFiles(entry.binding->type->file(), seen, out->mutable_descriptors());
    }
    return absl::OkStatus();
  }

  GatewayContext& gw_;
};

absl::StatusOr<std::string> ReadPem(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("TLS: cannot read ", path));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

struct GrpcServer::Impl {
  explicit Impl(GatewayContext c) : context(std::move(c)), service(context) {}
  GatewayContext context;
  Service service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

GrpcServer::GrpcServer(GatewayContext context)
    : impl_(std::make_unique<Impl>(std::move(context))) {}

GrpcServer::~GrpcServer() {
  if (impl_->server) Shutdown(std::chrono::system_clock::now());
}

absl::Status GrpcServer::Start(const GrpcServerOptions& options) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string address = absl::StrCat(options.host, ":", options.port);
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!options.tls_cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadPem(options.tls_cert_file);
    absl::StatusOr<std::string> key = ReadPem(options.tls_key_file);
    if (!cert.ok()) return cert.status();
    if (!key.ok()) return key.status();
    // Client certificates are requested but checked per call (CallPrincipal), so that an
    // untrusted one gets UNAUTHENTICATED rather than a failed handshake.
    grpc::SslServerCredentialsOptions ssl(options.request_client_certs
                                              ? GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY
                                              : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    credentials = grpc::SslServerCredentials(ssl);
  }
  builder.AddListeningPort(address, credentials, &impl_->port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  // Clients may keep idle connections alive with pings (every 10 s at most).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.RegisterService(&impl_->service);
  impl_->server = builder.BuildAndStart();
  if (impl_->server == nullptr || impl_->port == 0) {
    impl_->server.reset();
    return absl::UnavailableError(absl::StrCat("gRPC: cannot listen on ", address));
  }
  return absl::OkStatus();
}

int GrpcServer::port() const { return impl_->port; }

void GrpcServer::SetServing(bool serving) {
  if (impl_->server == nullptr) return;
  grpc::HealthCheckServiceInterface* health = impl_->server->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus(serving);
  health->SetServingStatus(kServiceName, serving);
}

void GrpcServer::Shutdown(std::chrono::system_clock::time_point deadline) {
  if (impl_->server == nullptr) return;
  impl_->server->Shutdown(deadline);
  impl_->server->Wait();
  impl_->server.reset();
}

}  // namespace messagecorps::gateway
