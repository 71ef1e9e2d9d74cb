// The HTTP front end. cpp-httplib and nlohmann/json are compiled in this translation unit only.
#include "gateway/http_server.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gateway/ack_tracker.h"
#include "gateway/openapi.h"
#include "gateway/record_envelope.h"
#include "gateway/status_mapping.h"
#include "messagecorps/codec.h"
#include "messagecorps/metrics.h"
#include "messagecorps/payload.h"
#include "messagecorps/string_view.h"

namespace messagecorps::gateway {
namespace {

namespace pb = google::protobuf;
using Json = nlohmann::ordered_json;

// Records one POST may carry (a JSON array); all are validated before any is produced.
constexpr size_t kMaxBatchRecords = 1000;

std::string Dump(const Json& json) {
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void ReplyError(httplib::Response& res, const absl::Status& s) {
  const int http = HttpStatusFor(s);
  if (auto retry = RetryAfterOf(s)) {
    res.set_header("Retry-After", std::to_string((retry->count() + 999) / 1000));
  }
  if (s.code() == absl::StatusCode::kUnauthenticated) {
    res.set_header("WWW-Authenticate", "Bearer");
  }
  Json error = {{"code", http},
                {"status", absl::StatusCodeToString(s.code())},
                {"message", ToString(s.message())}};
  const std::string field = FieldPathOf(s);
  if (!field.empty()) error["field"] = field;
  res.status = http;
  res.set_content(Dump(Json{{"error", error}}) + "\n", "application/json");
}

void ReplyJson(httplib::Response& res, const Json& json, int status = 200) {
  res.status = status;
  res.set_content(Dump(json) + "\n", "application/json");
}

absl::Status InvalidParam(std::string_view name, std::string_view problem) {
  return WithFieldPath(
      absl::InvalidArgumentError(absl::StrCat(AsAbsl(name), ": ", AsAbsl(problem))), name);
}

// "application/x-protobuf; encoding=seed" -> media type (lowercase) and parameters.
struct MediaType {
  std::string type;
  std::map<std::string, std::string> params;
};
MediaType ParseMediaType(std::string_view header) {
  MediaType out;
  bool first = true;
  for (absl::string_view part : absl::StrSplit(AsAbsl(header), ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (first) {
      out.type = absl::AsciiStrToLower(part);
      first = false;
      continue;
    }
    const size_t eq = part.find('=');
    if (eq == absl::string_view::npos) continue;
    std::string value(absl::StripAsciiWhitespace(part.substr(eq + 1)));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    out.params[absl::AsciiStrToLower(absl::StripAsciiWhitespace(part.substr(0, eq)))] = value;
  }
  return out;
}

Json ResultJson(const PublishResult& r) {
  Json out = {{"topic", r.topic}, {"partition", r.partition}, {"offset", r.offset},
              {"uuid", r.uuid},   {"trace_id", r.trace_id},   {"span_id", r.span_id}};
  if (r.duplicate) out["duplicate"] = true;
  return out;
}

std::string ToHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xF]);
  }
  return out;
}

// One SSE `record` event's data: the record as JSON, on one line, without its closing brace (an
// acknowledged stream adds the delivery count to it, first and on each redelivery).
std::string RecordEventDataOpen(const Delivery& d, bool hex, const TopicBinding& binding) {
  const ReceivedMessage& m = d.record;
  Json out;
  out["topic"] = std::string(m.topic());
  out["partition"] = m.partition();
  out["offset"] = m.offset();
  out["timestamp"] = m.timestamp_ms() >= 0 ? Json(m.timestamp_ms()) : Json(nullptr);
  out["key"] = m.key() ? Json(std::string(*m.key())) : Json(nullptr);
  Json headers = Json::object();
  for (const auto& [name, value] : m.headers()) headers[name] = value;
  out["headers"] = std::move(headers);
  out["encoding"] = std::string(EncodingName(m.encoding()));
  out["trace_id"] = std::string(m.trace().trace_id());
  std::string envelope_json;
  pb::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  (void)pb::util::MessageToJsonString(RecordEnvelope(m), &envelope_json, print);
  absl::Status problem = m.decode_status();
  std::string message_json;
  if (problem.ok() && m.message() != nullptr) {
    out["type"] = m.message()->GetDescriptor()->full_name();
    if (hex) {
      out["protobuf"] = ToHex(m.message()->SerializeAsString());
    } else {
      auto s = pb::util::MessageToJsonString(*m.message(), &message_json, print);
      if (!s.ok()) {
        problem = absl::InvalidArgumentError(
            absl::StrCat("cannot print as JSON: ", ToString(s.message())));
      }
    }
  } else if (problem.ok()) {
    problem = absl::InternalError("record was not decoded");
  }
  if (!problem.ok()) {
    out["type"] = binding.type->full_name();
    out["error"] = ToString(problem.message());
    out["value_hex"] = ToHex(m.value());
    message_json.clear();
  }
  // The protobuf-printed parts are spliced in as they are (already JSON).
  std::string text = Dump(out);
  text.pop_back();  // '}'
  if (!message_json.empty()) absl::StrAppend(&text, ",\"message\":", message_json);
  absl::StrAppend(&text, ",\"envelope\":", envelope_json.empty() ? "{}" : envelope_json, ",",
                  "\"resume_token\":\"", d.resume_token, "\"");
  return text;
}

std::string RecordEventData(const Delivery& d, bool hex, const TopicBinding& binding) {
  return RecordEventDataOpen(d, hex, binding) + "}";
}

// An acknowledged SSE stream keeps each record's event until it is acknowledged (AckTracker's
// payload): its id (the resume token) and its data without the closing brace.
struct SseEvent {
  std::string id;
  std::string data_open;
  std::string Render(uint32_t delivery_count) const {
    return absl::StrCat("id: ", id, "\nevent: record\ndata: ", data_open,
                        ",\"delivery_count\":", delivery_count, "}\n\n");
  }
};

// ?ack=true on a group subscription: acknowledgements by POST /v1/streams/{id}/acks.
absl::StatusOr<std::optional<AckOptions>> AckOptionsFromRequest(const httplib::Request& req,
                                                                const SubscribeSpec& spec) {
  const std::string ack = absl::AsciiStrToLower(req.get_param_value("ack"));
  if (!ack.empty() && ack != "true" && ack != "false" && ack != "1" && ack != "0") {
    return InvalidParam("ack", "expected true or false");
  }
  const bool acked = ack == "true" || ack == "1";
  if (!acked) {
    for (const char* name : {"ack_timeout_ms", "max_unacked"}) {
      if (req.has_param(name)) return InvalidParam(name, "only with ack=true");
    }
    return std::optional<AckOptions>();
  }
  if (spec.group.empty()) {
    return InvalidParam("ack",
                        "an acknowledged stream needs a group: acknowledgements decide "
                        "what the group commits");
  }
  AckOptions options;
  if (req.has_param("ack_timeout_ms")) {
    int64_t ms = 0;
    if (!absl::SimpleAtoi(req.get_param_value("ack_timeout_ms"), &ms) || ms <= 0) {
      return InvalidParam("ack_timeout_ms", "expected a positive number of milliseconds");
    }
    options.ack_timeout = std::chrono::milliseconds(ms);
  }
  if (req.has_param("max_unacked")) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(req.get_param_value("max_unacked"), &n) || n <= 0) {
      return InvalidParam("max_unacked", "expected a positive count");
    }
    options.max_unacked = static_cast<size_t>(n);
  }
  return std::optional<AckOptions>(options);
}

// A fresh stream id: 128 random bits in hex.
std::string NewStreamId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrCat(absl::Hex(rng(), absl::kZeroPad16), absl::Hex(rng(), absl::kZeroPad16));
}

// The subscription a GET .../records asks for.
absl::StatusOr<SubscribeSpec> SpecFromRequest(const httplib::Request& req, std::string topic,
                                              bool* hex) {
  SubscribeSpec spec;
  spec.topic = std::move(topic);
  spec.group = req.get_param_value("group");
  int starts = 0;
  std::string token = req.get_param_value("resume_token");
  if (token.empty()) token = req.get_header_value("Last-Event-ID");
  if (!token.empty()) {
    ++starts;
    spec.start = SubscribeSpec::Start::kToken;
    spec.resume_token = token;
  }
  if (req.has_param("start")) {
    ++starts;
    const std::string start = absl::AsciiStrToLower(req.get_param_value("start"));
    if (start == "earliest") {
      spec.start = SubscribeSpec::Start::kEarliest;
    } else if (start == "latest") {
      spec.start = SubscribeSpec::Start::kLatest;
    } else {
      return InvalidParam("start", "expected earliest or latest");
    }
  }
  if (req.has_param("timestamp")) {
    ++starts;
    spec.start = SubscribeSpec::Start::kTimestamp;
    if (!absl::SimpleAtoi(req.get_param_value("timestamp"), &spec.timestamp_ms)) {
      return InvalidParam("timestamp", "expected Unix milliseconds");
    }
  }
  if (req.has_param("offsets")) {
    ++starts;
    spec.start = SubscribeSpec::Start::kOffsets;
    for (absl::string_view item : absl::StrSplit(req.get_param_value("offsets"), ',')) {
      std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(item, ':');
      int32_t partition;
      int64_t offset;
      if (!absl::SimpleAtoi(kv.first, &partition) || !absl::SimpleAtoi(kv.second, &offset)) {
        return InvalidParam("offsets", "expected PARTITION:OFFSET[,PARTITION:OFFSET...]");
      }
      spec.offsets[partition] = offset;
    }
  }
  if (starts > 1) {
    return InvalidParam("start",
                        "give one of start, timestamp, offsets, resume_token / "
                        "Last-Event-ID");
  }
  const std::string format = absl::AsciiStrToLower(req.get_param_value("format"));
  if (!format.empty() && format != "json" && format != "hex") {
    return InvalidParam("format", "expected json or hex");
  }
  *hex = format == "hex";
  return spec;
}

// Waits on a request thread for the delivery reports of `n` records.
class DeliveryWait {
 public:
  explicit DeliveryWait(size_t n) : results_(n), pending_(n) {}
  PublishCallback Callback(size_t i) {
    return [this, i](absl::StatusOr<PublishResult> r) {
      std::lock_guard lock(mu_);
      results_[i] = std::move(r);
      if (--pending_ == 0) cv_.notify_all();
    };
  }
  // A record that was never queued.
  void Fail(size_t i, absl::Status s) { Callback(i)(std::move(s)); }
  std::vector<absl::StatusOr<PublishResult>>& Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return pending_ == 0; });
    return results_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<absl::StatusOr<PublishResult>> results_;
  size_t pending_;
};

// One SSE subscription. Acknowledged streams (ack=true) also have an id, an owner (only that
// principal may acknowledge) and their acknowledgement state, shared with POST .../acks.
struct SseStream {
  std::optional<Access::StreamTicket> ticket;  // the principal's stream quota
  std::unique_ptr<Subscription> sub;
  std::atomic<bool> stop{false};
  uint64_t registration = 0;
  std::string token;  // after the last event written
  std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
  bool hex = false;
  // Acknowledged streams only:
  std::string id;
  std::string owner;  // the subscriber's principal name
  std::mutex mu;      // guards acks
  std::condition_variable acked;
  std::optional<AckTracker<SseEvent>> acks;
  std::deque<Delivery> held;  // fetched, waiting for room (max_unacked); the stream's thread only
  bool announced = false;     // the `stream` event (its id) was written
};

}  // namespace

struct HttpServer::Impl {
  Impl(GatewayContext c, std::shared_ptr<Metrics> m)
      : gw(std::move(c)), library_metrics(std::move(m)) {}

  GatewayContext gw;
  std::shared_ptr<Metrics> library_metrics;
  std::unique_ptr<httplib::Server> server;  // httplib::Server, or httplib::SSLServer with TLS
  std::thread thread;
  int port = 0;

  void Routes(const HttpServerOptions& options);
  void PublishRecords(const httplib::Request& req, httplib::Response& res);
  void SubscribeRecords(const httplib::Request& req, httplib::Response& res);
  void AckRecords(const httplib::Request& req, const std::string& stream_id,
                  httplib::Response& res);
  // The next events of an acknowledged stream: its id first, overdue records again, new records
  // while fewer than max_unacked are outstanding (else it pauses: no fetching, but it commits what
  // acknowledgements allow). Error: the subscription failed.
  absl::StatusOr<std::string> NextAckedEvents(SseStream& stream, size_t& pushed);

  // Open acknowledged SSE streams by id, for POST /v1/streams/{id}/acks.
  std::mutex acked_mu;
  std::map<std::string, std::weak_ptr<SseStream>> acked_streams;
  void ListTopics(const httplib::Request& req, httplib::Response& res);
  void DescribeTopic(const httplib::Request& req, const std::string& topic, httplib::Response& res);

  // Who is calling: the bearer token and, over TLS with --tls-client-ca, the client certificate
  // (an untrusted one is refused here, with 401, not in the handshake).
  absl::StatusOr<Principal> RequestPrincipal(const httplib::Request& req) const {
    std::string cn;
    if (gw.client_certs != nullptr && req.ssl != nullptr) {
      X509* peer = SSL_get1_peer_certificate(req.ssl);
      if (peer != nullptr) {
        absl::StatusOr<std::string> verified =
            ClientCertVerifier::CheckPeer(peer, SSL_get_verify_result(req.ssl));
        X509_free(peer);
        if (!verified.ok()) return verified.status();
        cn = *std::move(verified);
      }
    }
    return gw.access->Authenticate(req.get_header_value("Authorization"), cn);
  }
};

void HttpServer::Impl::Routes(const HttpServerOptions& options) {
  server->Post(
      R"(/v1/topics/([^/]+)/records)",
      [this](const httplib::Request& req, httplib::Response& res) { PublishRecords(req, res); });
  server->Get(
      R"(/v1/topics/([^/]+)/records)",
      [this](const httplib::Request& req, httplib::Response& res) { SubscribeRecords(req, res); });
  server->Post(R"(/v1/streams/([0-9a-f]+)/acks)",
               [this](const httplib::Request& req, httplib::Response& res) {
                 AckRecords(req, req.matches[1], res);
               });
  server->Get("/v1/topics", [this](const httplib::Request& req, httplib::Response& res) {
    ListTopics(req, res);
  });
  server->Get(R"(/v1/topics/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    DescribeTopic(req, req.matches[1], res);
  });
  server->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    ReplyJson(res, {{"status", "alive"}});
  });
  server->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    if (gw.streams->draining()) {
      ReplyJson(res, {{"status", "not ready"}, {"reason", "draining"}}, 503);
    } else if (!gw.catalog->reachable()) {
      const absl::Status why = gw.catalog->last_error();
      ReplyJson(res,
                {{"status", "not ready"},
                 {"reason", why.ok() ? std::string("Kafka is not reachable")
                                     : absl::StrCat("Kafka is not reachable: ", why.message())}},
                503);
    } else {
      ReplyJson(res, {{"status", "ready"}});
    }
  });
  server->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    std::string text = library_metrics ? library_metrics->RenderPrometheus("messagecorps") : "";
    text += gw.metrics->RenderPrometheus();
    res.set_content(text, "text/plain; version=0.0.4");
  });
  server->Get("/openapi.json", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(OpenApiJson()), "application/json");
  });
  // httplib answers some errors itself (404 no route, 413 body too large): give them a JSON body.
  server->set_error_handler(
      [max = options.max_body_bytes](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;
        if (res.status == 413) {
          ReplyError(res, MakeError(absl::StatusCode::kResourceExhausted,
                                    absl::StrCat("request body over the limit of ", max, " bytes"),
                                    ErrorReason::kDecodeLimit));
        } else if (res.status == 404) {
          ReplyError(res,
                     absl::NotFoundError(absl::StrCat("no route for ", req.method, " ", req.path)));
        }
      });
  server->set_exception_handler(
      [this](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        gw.logger->error("HTTP handler: {}", what);
        ReplyError(res, absl::InternalError(what));
      });
}

void HttpServer::Impl::PublishRecords(const httplib::Request& req, httplib::Response& res) {
  const std::string topic = req.matches[1];
  // Authentication and authorization come first: a refused request causes no Kafka traffic.
  absl::StatusOr<Principal> principal = RequestPrincipal(req);
  absl::Status refused = principal.status();
  if (refused.ok()) refused = gw.access->Authorize(*principal, Right::kPublish, topic);
  if (refused.ok()) refused = gw.access->AdmitPublish(*principal, req.body.size());
  if (!refused.ok()) {
    gw.metrics->CountRequest(Api::kHttp, "Publish", refused.code());
    return ReplyError(res, refused);
  }
  const MediaType media = ParseMediaType(req.get_header_value("Content-Type"));
  const std::string traceparent = req.get_header_value("traceparent");
  const std::string idempotency_key = req.get_header_value("Idempotency-Key");
  std::optional<std::string> key;
  if (req.has_param("key")) key = req.get_param_value("key");
  int32_t partition = -1;
  if (req.has_param("partition") &&
      !absl::SimpleAtoi(req.get_param_value("partition"), &partition)) {
    gw.metrics->CountRequest(Api::kHttp, "Publish", absl::StatusCode::kInvalidArgument);
    return ReplyError(res, InvalidParam("partition", "not an integer"));
  }

  // The bodies to publish: one, or each element of a JSON array.
  std::vector<PublishInput> inputs;
  std::vector<std::string> elements;    // owns array elements' text
  std::vector<std::string> batch_keys;  // owns their idempotency keys
  // curl -d sends application/x-www-form-urlencoded unless told otherwise: taken as JSON.
  const bool json = media.type.empty() || media.type == "application/json" ||
                    media.type == "application/x-www-form-urlencoded";
  const bool binary = media.type == "application/x-protobuf" ||
                      media.type == "application/octet-stream" ||
                      media.type == "application/vnd.messagecorps.seed+zlib" ||
                      media.type == "application/vnd.confluent.protobuf";
  if (!json && !binary) {
    gw.metrics->CountRequest(Api::kHttp, "Publish", absl::StatusCode::kInvalidArgument);
    res.status = 415;
    Json error = {{"code", 415},
                  {"status", "INVALID_ARGUMENT"},
                  {"message", absl::StrCat("unsupported Content-Type ", media.type,
                                           ": use application/json or application/x-protobuf")}};
    res.set_content(Dump(Json{{"error", error}}) + "\n", "application/json");
    return;
  }
  PublishInput base;
  base.topic = topic;
  if (key) base.key = *key;
  base.partition = partition;
  base.traceparent = traceparent;
  base.idempotency_key = idempotency_key;
  base.principal = principal->name;
  if (binary) {
    std::string encoding = req.get_param_value("encoding");
    if (encoding.empty() && media.params.count("encoding")) encoding = media.params.at("encoding");
    if (encoding.empty() && media.type == "application/vnd.messagecorps.seed+zlib")
      encoding = "seed";
    if (encoding.empty() && media.type == "application/vnd.confluent.protobuf") {
      encoding = "confluent";
    }
    if (!encoding.empty()) {
      absl::StatusOr<Encoding> e = ParseEncoding(encoding);
      if (!e.ok()) {
        gw.metrics->CountRequest(Api::kHttp, "Publish", absl::StatusCode::kInvalidArgument);
        return ReplyError(res, InvalidParam("encoding", "expected seed, raw or confluent"));
      }
      base.encoding = *e;
    }
    base.form = PublishInput::Form::kEncoded;
    base.data = req.body;
    inputs.push_back(base);
  } else {
    const size_t first = req.body.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && req.body[first] == '[') {
      const nlohmann::json array = nlohmann::json::parse(req.body, nullptr, false);
      if (array.is_discarded() || !array.is_array()) {
        gw.metrics->CountRequest(Api::kHttp, "Publish", absl::StatusCode::kInvalidArgument);
        return ReplyError(res, absl::InvalidArgumentError("JSON array of records does not parse"));
      }
      if (array.size() > kMaxBatchRecords) {
        gw.metrics->CountRequest(Api::kHttp, "Publish", absl::StatusCode::kInvalidArgument);
        return ReplyError(res, absl::InvalidArgumentError(
                                   absl::StrCat("array of ", array.size(), " records: at most ",
                                                kMaxBatchRecords, " per request")));
      }
      if (array.empty()) {
        gw.metrics->CountRequest(Api::kHttp, "Publish", absl::StatusCode::kInvalidArgument);
        return ReplyError(res, absl::InvalidArgumentError("empty array: no record to publish"));
      }
      elements.reserve(array.size());
      for (const auto& element : array) elements.push_back(element.dump());
      // One key per record of a batch: "<Idempotency-Key>#<index>".
      batch_keys.reserve(array.size());
      for (size_t i = 0; i < elements.size(); ++i) {
        PublishInput in = base;
        in.data = elements[i];
        if (!idempotency_key.empty()) {
          batch_keys.push_back(absl::StrCat(idempotency_key, "#", i));
          in.idempotency_key = batch_keys.back();
        }
        inputs.push_back(in);
      }
    } else {
      base.data = req.body;
      inputs.push_back(base);
    }
  }
  const bool batch = !elements.empty();

  // All or nothing: every record is validated before any is sent.
  std::vector<PreparedPublish> prepared;
  prepared.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    absl::StatusOr<PreparedPublish> p = gw.publisher->Prepare(inputs[i]);
    if (!p.ok()) {
      absl::Status s = p.status();
      if (batch) {
        const std::string field = FieldPathOf(s);
        const std::string path =
            field.empty() ? absl::StrCat("[", i, "]") : absl::StrCat("[", i, "].", field);
        s = WithFieldPath(absl::Status(s.code(), absl::StrCat("record ", i, ": ", s.message())),
                          path);
      }
      gw.metrics->CountRequest(Api::kHttp, "Publish", s.code());
      return ReplyError(res, s);
    }
    prepared.push_back(*std::move(p));
  }
  DeliveryWait wait(prepared.size());
  for (size_t i = 0; i < prepared.size(); ++i) {
    absl::Status queued = gw.publisher->Send(std::move(prepared[i]), wait.Callback(i));
    if (!queued.ok()) wait.Fail(i, queued);
  }
  std::vector<absl::StatusOr<PublishResult>>& results = wait.Wait();
  if (!batch) {
    gw.metrics->CountRequest(Api::kHttp, "Publish", results[0].status().code());
    if (!results[0].ok()) return ReplyError(res, results[0].status());
    if (!results[0]->span_id.empty()) {
      res.set_header("traceparent",
                     absl::StrCat("00-", results[0]->trace_id, "-", results[0]->span_id, "-01"));
    }
    return ReplyJson(res, ResultJson(*results[0]));
  }
  Json out = Json::array();
  absl::Status worst;
  for (const auto& r : results) {
    gw.metrics->CountRequest(Api::kHttp, "Publish", r.status().code());
    if (r.ok()) {
      out.push_back(ResultJson(*r));
    } else {
      if (worst.ok()) worst = r.status();
      out.push_back({{"error",
                      {{"code", HttpStatusFor(r.status())},
                       {"status", absl::StatusCodeToString(r.status().code())},
                       {"message", ToString(r.status().message())}}}});
    }
  }
  ReplyJson(res, {{"results", out}}, worst.ok() ? 200 : HttpStatusFor(worst));
}

void HttpServer::Impl::SubscribeRecords(const httplib::Request& req, httplib::Response& res) {
  bool hex = false;
  absl::StatusOr<Principal> principal = RequestPrincipal(req);
  absl::Status refused = principal.status();
  absl::StatusOr<SubscribeSpec> spec = SpecFromRequest(req, req.matches[1], &hex);
  if (refused.ok()) refused = spec.status();
  if (refused.ok()) refused = gw.access->Authorize(*principal, Right::kSubscribe, spec->topic);
  absl::StatusOr<Access::StreamTicket> ticket = refused.ok()
                                                    ? gw.access->OpenStream(*principal)
                                                    : absl::StatusOr<Access::StreamTicket>(refused);
  if (!ticket.ok()) {
    gw.metrics->CountRequest(Api::kHttp, "Subscribe", ticket.status().code());
    return ReplyError(res, ticket.status());
  }
  absl::StatusOr<std::optional<AckOptions>> ack_options = AckOptionsFromRequest(req, *spec);
  if (!ack_options.ok()) {
    gw.metrics->CountRequest(Api::kHttp, "Subscribe", ack_options.status().code());
    return ReplyError(res, ack_options.status());
  }
  auto stream = std::make_shared<SseStream>();
  stream->ticket.emplace(*std::move(ticket));
  stream->hex = hex;
  stream->registration = gw.streams->Register([stream] {
    stream->stop = true;
    stream->acked.notify_all();
  });
  if (stream->registration == 0) {
    gw.metrics->CountRequest(Api::kHttp, "Subscribe", absl::StatusCode::kUnavailable);
    return ReplyError(res, absl::UnavailableError("the gateway is shutting down"));
  }
  absl::StatusOr<std::unique_ptr<Subscription>> sub = Subscription::Open(*spec, *gw.subscriptions);
  if (!sub.ok()) {
    gw.streams->Unregister(stream->registration);
    gw.metrics->CountRequest(Api::kHttp, "Subscribe", sub.status().code());
    return ReplyError(res, sub.status());
  }
  stream->sub = *std::move(sub);
  stream->token = stream->sub->Token();
  if (*ack_options) {
    stream->acks.emplace(**ack_options);
    stream->id = NewStreamId();
    stream->owner = principal->name;
    std::lock_guard lock(acked_mu);
    acked_streams[stream->id] = stream;
    res.set_header("X-Mcorps-Stream-Id", stream->id);
  }
  gw.metrics->StreamOpened(StreamKind::kSse);
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Accel-Buffering", "no");
  const StreamLimits limits = gw.limits;
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, stream, hex, limits](size_t, httplib::DataSink& sink) {
        auto end = [&](const absl::Status& why) {
          Json data = {{"status", absl::StatusCodeToString(why.code())},
                       {"message", ToString(why.message())},
                       {"resume_token", stream->token}};
          const std::string event = absl::StrCat("event: end\ndata: ", Dump(data), "\n\n");
          sink.write(event.data(), event.size());
          sink.done();
          return true;
        };
        if (stream->stop) {
          return end(absl::UnavailableError(
              "the gateway is shutting down; reconnect with Last-Event-ID to resume"));
        }
        const auto now = std::chrono::steady_clock::now();
        if (stream->acks) {
          size_t pushed = 0;
          absl::StatusOr<std::string> events = NextAckedEvents(*stream, pushed);
          if (!events.ok()) return end(events.status());
          if (events->empty() && now - stream->last_write >= limits.sse_keepalive) {
            *events = ": keep-alive\n\n";
          }
          if (events->empty()) return true;
          if (!sink.write(events->data(), events->size())) return false;
          stream->last_write = now;
          gw.metrics->CountPushed(Api::kHttp, pushed);
          return true;
        }
        absl::StatusOr<std::vector<Delivery>> batch =
            stream->sub->Next(std::chrono::milliseconds(500));
        if (!batch.ok()) return end(batch.status());
        std::string events;
        for (const Delivery& d : *batch) {
          absl::StrAppend(&events, "id: ", d.resume_token, "\nevent: record\ndata: ",
                          RecordEventData(d, hex, stream->sub->binding()), "\n\n");
        }
        if (events.empty() && now - stream->last_write >= limits.sse_keepalive) {
          events = ": keep-alive\n\n";
        }
        if (events.empty()) return true;
        // Blocks while the client does not read, up to the write timeout (the slow-subscriber
        // bound); false ends the stream, and the client resumes with its last event id.
        if (!sink.write(events.data(), events.size())) return false;
        stream->last_write = now;
        for (const Delivery& d : *batch) {
          stream->sub->MarkWritten(d.record.partition(), d.record.offset());
          stream->token = d.resume_token;
        }
        gw.metrics->CountPushed(Api::kHttp, batch->size());
        return true;
      },
      [this, stream](bool) {
        if (stream->acks) {
          std::lock_guard lock(acked_mu);
          acked_streams.erase(stream->id);
        }
        stream->sub->Close();
        gw.streams->Unregister(stream->registration);
        gw.metrics->StreamClosed(StreamKind::kSse);
        gw.metrics->CountRequest(Api::kHttp, "Subscribe", absl::StatusCode::kOk);
      });
}

absl::StatusOr<std::string> HttpServer::Impl::NextAckedEvents(SseStream& stream, size_t& pushed) {
  std::string events;
  if (!stream.announced) {
    stream.announced = true;
    Json data = {{"stream_id", stream.id},
                 {"acks_url", absl::StrCat("/v1/streams/", stream.id, "/acks")}};
    absl::StrAppend(&events, "event: stream\ndata: ", Dump(data), "\n\n");
  }
  size_t room = 0;
  {
    std::unique_lock lock(stream.mu);
    for (auto& r : stream.acks->TakeExpired()) {
      absl::StrAppend(&events, r.payload.Render(r.delivery_count));
      ++pushed;
    }
    room = stream.acks->Room();
    // Paused: nothing new is delivered until an acknowledgement makes room (or one is overdue).
    if (room == 0 && events.empty()) {
      stream.acked.wait_for(lock, std::chrono::milliseconds(200));
      room = stream.acks->Room();
    }
  }
  if (stream.held.empty() && room > 0) {
    absl::StatusOr<std::vector<Delivery>> batch = stream.sub->Next(std::chrono::milliseconds(500));
    if (!batch.ok()) return batch.status();
    for (Delivery& d : *batch) stream.held.push_back(std::move(d));
  } else {
    stream.sub->CommitPending();  // what the acknowledgements allowed; nothing is fetched
  }
  std::vector<int32_t> revoked = stream.sub->TakeRevoked();
  std::lock_guard lock(stream.mu);
  if (!revoked.empty()) {  // their new owner delivers them from the group's committed offset
    stream.acks->Forget(revoked);
    std::erase_if(stream.held, [&](const Delivery& d) {
      return std::find(revoked.begin(), revoked.end(), d.record.partition()) != revoked.end();
    });
  }
  // Records fetched beyond the room wait in `held` (at most one fetch: 256 records).
  room = stream.acks->Room();
  for (; room > 0 && !stream.held.empty(); --room) {
    const Delivery& d = stream.held.front();
    SseEvent event{d.resume_token, RecordEventDataOpen(d, stream.hex, stream.sub->binding())};
    std::string text = event.Render(1);
    stream.acks->Delivered(d.record.partition(), d.record.offset(), std::move(event), text.size());
    absl::StrAppend(&events, text);
    stream.token = d.resume_token;
    ++pushed;
    stream.held.pop_front();
  }
  return events;
}

// POST /v1/streams/{id}/acks {"acks": [{"partition": P, "offset": O}, ...]}: the subscriber of an
// acknowledged SSE stream (ack=true) acknowledges records; offsets are committed up to the highest
// contiguously acknowledged record of each partition. Unknown or repeated acknowledgements are
// ignored (idempotent) and counted as not new.
void HttpServer::Impl::AckRecords(const httplib::Request& req, const std::string& stream_id,
                                  httplib::Response& res) {
  auto fail = [&](const absl::Status& s) {
    gw.metrics->CountRequest(Api::kHttp, "Ack", s.code());
    ReplyError(res, s);
  };
  absl::StatusOr<Principal> principal = RequestPrincipal(req);
  if (!principal.ok()) return fail(principal.status());
  std::shared_ptr<SseStream> stream;
  {
    std::lock_guard lock(acked_mu);
    auto it = acked_streams.find(stream_id);
    if (it != acked_streams.end()) stream = it->second.lock();
  }
  if (stream == nullptr) {
    return fail(absl::NotFoundError(
        absl::StrCat("no open acknowledged stream ", stream_id,
                     " on this gateway (acknowledge on the gateway that holds the stream)")));
  }
  if (stream->owner != principal->name) {
    return fail(absl::PermissionDeniedError(
        absl::StrCat("stream ", stream_id, " belongs to another principal")));
  }
  const Json body = Json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object() || !body.contains("acks") ||
      !body["acks"].is_array()) {
    return fail(InvalidParam("acks",
                             "expected a JSON object {\"acks\": [{\"partition\": P, "
                             "\"offset\": O}, ...]}"));
  }
  std::vector<std::pair<int32_t, int64_t>> acks;
  for (size_t i = 0; i < body["acks"].size(); ++i) {
    const Json& a = body["acks"][i];
    if (!a.is_object() || !a.contains("partition") || !a["partition"].is_number_integer() ||
        !a.contains("offset") || !a["offset"].is_number_integer()) {
      return fail(InvalidParam(absl::StrCat("acks[", i, "]"),
                               "expected {\"partition\": integer, \"offset\": integer}"));
    }
    acks.emplace_back(a["partition"].get<int32_t>(), a["offset"].get<int64_t>());
  }
  size_t fresh = 0, outstanding = 0;
  {
    std::lock_guard lock(stream->mu);
    for (const auto& [partition, offset] : acks) fresh += stream->acks->Ack(partition, offset);
    for (const auto& [partition, next] : stream->acks->TakeCommittable()) {
      stream->sub->MarkCommittable(partition, next);
    }
    outstanding = stream->acks->outstanding();
  }
  stream->acked.notify_all();
  gw.metrics->CountRequest(Api::kHttp, "Ack", absl::StatusCode::kOk);
  ReplyJson(res, {{"acknowledged", fresh}, {"outstanding", outstanding}});
}

void HttpServer::Impl::ListTopics(const httplib::Request& req, httplib::Response& res) {
  absl::StatusOr<Principal> principal = RequestPrincipal(req);
  if (!principal.ok()) {
    gw.metrics->CountRequest(Api::kHttp, "ListTopics", principal.status().code());
    return ReplyError(res, principal.status());
  }
  Json topics = Json::array();
  for (const TopicEntry& e : gw.catalog->List()) {
    if (!gw.access->MaySee(*principal, e.name)) continue;
    Json t = {{"name", e.name}};
    t["type"] = e.binding ? Json(e.binding->type->full_name()) : Json(nullptr);
    t["encoding"] =
        e.binding ? Json(std::string(EncodingName(e.binding->options.encoding))) : Json(nullptr);
    t["partitions"] = e.partitions;
    t["exists"] = e.exists;
    topics.push_back(std::move(t));
  }
  gw.metrics->CountRequest(Api::kHttp, "ListTopics", absl::StatusCode::kOk);
  ReplyJson(res, {{"topics", topics}});
}

void HttpServer::Impl::DescribeTopic(const httplib::Request& req, const std::string& topic,
                                     httplib::Response& res) {
  absl::StatusOr<Principal> principal = RequestPrincipal(req);
  absl::Status refused = principal.status();
  if (refused.ok() && !gw.access->MaySee(*principal, topic)) {
    refused = absl::PermissionDeniedError(
        absl::StrCat("principal '", principal->name, "' has no right on topic ", topic));
  }
  if (!refused.ok()) {
    gw.metrics->CountRequest(Api::kHttp, "DescribeTopic", refused.code());
    return ReplyError(res, refused);
  }
  absl::StatusOr<TopicInfo> info = gw.catalog->Describe(topic);
  gw.metrics->CountRequest(Api::kHttp, "DescribeTopic", info.status().code());
  if (!info.ok()) return ReplyError(res, info.status());
  const TopicBinding* binding = gw.catalog->registry().Find(topic);
  Json out = {{"name", topic}};
  out["type"] = binding ? Json(binding->type->full_name()) : Json(nullptr);
  out["encoding"] =
      binding ? Json(std::string(EncodingName(binding->options.encoding))) : Json(nullptr);
  Json partitions = Json::array();
  for (const PartitionInfo& p : info->partitions) {
    partitions.push_back({{"id", p.id}, {"leader", p.leader}, {"low", p.low}, {"high", p.high}});
  }
  out["partitions"] = std::move(partitions);
  ReplyJson(res, out);
}

HttpServer::HttpServer(GatewayContext context, std::shared_ptr<Metrics> library_metrics)
    : impl_(std::make_unique<Impl>(std::move(context), std::move(library_metrics))) {}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start(const HttpServerOptions& options) {
  if (options.tls_cert_file.empty()) {
    impl_->server = std::make_unique<httplib::Server>();
  } else {
    const std::string cert = options.tls_cert_file, key = options.tls_key_file;
    const std::string ca = options.tls_client_ca_file;
    auto tls = std::make_unique<httplib::SSLServer>([cert, key, ca](SSL_CTX& ctx) {
      if (SSL_CTX_use_certificate_chain_file(&ctx, cert.c_str()) != 1 ||
          SSL_CTX_use_PrivateKey_file(&ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
        return false;
      }
      if (!ca.empty()) {
        // Ask for a client certificate and verify it, but let the handshake succeed either way:
        // RequestPrincipal answers an untrusted one with 401 (SSL_get_verify_result).
        if (SSL_CTX_load_verify_locations(&ctx, ca.c_str(), nullptr) != 1) return false;
        SSL_CTX_set_client_CA_list(&ctx, SSL_load_client_CA_file(ca.c_str()));
        SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
      }
      return true;
    });
    if (!tls->is_valid()) {
      return absl::InvalidArgumentError(
          absl::StrCat("HTTP TLS: cannot use ", cert, " / ", key, ca.empty() ? "" : " / ", ca));
    }
    impl_->server = std::move(tls);
  }
  const int threads = std::max(options.threads, 2);
  impl_->server->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  impl_->server->set_payload_max_length(options.max_body_bytes);
  impl_->server->set_keep_alive_timeout(options.keep_alive.count());
  impl_->server->set_read_timeout(options.keep_alive.count());
  const auto slow =
      std::chrono::duration_cast<std::chrono::seconds>(impl_->gw.limits.slow_subscriber_timeout);
  impl_->server->set_write_timeout(std::max<int64_t>(slow.count(), 1));
  impl_->Routes(options);
  if (options.port == 0) {
    impl_->port = impl_->server->bind_to_any_port(options.host);
  } else if (impl_->server->bind_to_port(options.host, options.port)) {
    impl_->port = options.port;
  }
  if (impl_->port <= 0) {
    return absl::UnavailableError(
        absl::StrCat("HTTP: cannot listen on ", options.host, ":", options.port));
  }
  impl_->thread = std::thread([this] { impl_->server->listen_after_bind(); });
  return absl::OkStatus();
}

int HttpServer::port() const { return impl_->port; }

void HttpServer::Stop() {
  if (!impl_->thread.joinable()) return;  // also when never started
  impl_->server->stop();
  impl_->thread.join();
}

}  // namespace messagecorps::gateway
