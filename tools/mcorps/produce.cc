// mcorps produce: JSON lines in, typed, enveloped records out.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commands.h"
#include "json_format.h"
#include "json_lines.h"
#include "messagecorps/admin.h"
#include "messagecorps/producer.h"
#include "options.h"
#include "progress.h"
#include "schemas.h"
#include "topic_check.h"

namespace mcorps {

namespace pb = google::protobuf;
using messagecorps::DeliveryReport;

namespace {

struct ProduceOptions {
  ConnectionOptions connection;
  SchemaOptions schemas;
  std::string topic;
  std::string type;
  std::string key;
  std::string key_field;
  std::string key_delimiter;
  std::vector<std::string> headers;
  std::string encoding;
  std::string header_mode = "traceparent";
  int32_t schema_id = 0;
  int32_t partition = -1;
  std::string file = "-";
  int64_t count = 0;
  double rate = 0;
  std::string template_json;
  bool skip_bad = false;
  bool require_existing_topic = false;
  size_t max_line_bytes = kDefaultMaxLineBytes;
};

// A dotted field path (--key-field _message_data.uuid) resolved against a type.
using FieldPath = std::vector<const pb::FieldDescriptor*>;

absl::StatusOr<FieldPath> ResolveFieldPath(const pb::Descriptor* type, std::string_view path) {
  FieldPath fields;
  const pb::Descriptor* current = type;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string name(path.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (current == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("--key-field ", messagecorps::AsAbsl(path),
                                                     ": ", fields.back()->name(),
                                                     " is not a message"));
    }
    const pb::FieldDescriptor* field = current->FindFieldByName(name);
    for (int i = 0; field == nullptr && i < current->field_count(); ++i) {
      if (current->field(i)->json_name() == name) field = current->field(i);
    }
    if (field == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("--key-field ", messagecorps::AsAbsl(path),
                                                     ": ", current->full_name(), " has no field '",
                                                     name, "'"));
    }
    if (field->is_repeated()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--key-field ", messagecorps::AsAbsl(path), ": ", name, " is repeated"));
    }
    fields.push_back(field);
    current = field->message_type();
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (fields.back()->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
    return absl::InvalidArgumentError(
        absl::StrCat("--key-field ", messagecorps::AsAbsl(path), " is a message, not a scalar"));
  }
  return fields;
}

// The value at `path` in `message` as key text (enums by name, bytes as they are).
std::string FieldAsKey(const pb::Message& message, const FieldPath& path) {
  const pb::Message* current = &message;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    current = &current->GetReflection()->GetMessage(*current, path[i]);
  }
  const pb::FieldDescriptor* field = path.back();
  const pb::Reflection* r = current->GetReflection();
  switch (field->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
      return std::to_string(r->GetInt32(*current, field));
    case pb::FieldDescriptor::CPPTYPE_INT64:
      return std::to_string(r->GetInt64(*current, field));
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      return std::to_string(r->GetUInt32(*current, field));
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      return std::to_string(r->GetUInt64(*current, field));
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      return absl::StrCat(r->GetDouble(*current, field));
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
      return absl::StrCat(r->GetFloat(*current, field));
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      return r->GetBool(*current, field) ? "true" : "false";
    case pb::FieldDescriptor::CPPTYPE_ENUM:
      return r->GetEnum(*current, field)->name();
    case pb::FieldDescriptor::CPPTYPE_STRING:
      return r->GetString(*current, field);
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return {};
}

// The integer field load generation counts up (frame, else sequence), or nullptr.
const pb::FieldDescriptor* CounterField(const pb::Descriptor* type) {
  for (const char* name : {"frame", "sequence"}) {
    const pb::FieldDescriptor* field = type->FindFieldByName(name);
    if (field == nullptr || field->is_repeated()) continue;
    switch (field->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_INT32:
      case pb::FieldDescriptor::CPPTYPE_INT64:
      case pb::FieldDescriptor::CPPTYPE_UINT32:
      case pb::FieldDescriptor::CPPTYPE_UINT64:
        return field;
      default:
        break;
    }
  }
  return nullptr;
}

void AddToCounter(pb::Message& message, const pb::FieldDescriptor* field, int64_t add) {
  const pb::Reflection* r = message.GetReflection();
  switch (field->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
      r->SetInt32(&message, field, static_cast<int32_t>(r->GetInt32(message, field) + add));
      break;
    case pb::FieldDescriptor::CPPTYPE_INT64:
      r->SetInt64(&message, field, r->GetInt64(message, field) + add);
      break;
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      r->SetUInt32(&message, field, static_cast<uint32_t>(r->GetUInt32(message, field) + add));
      break;
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      r->SetUInt64(&message, field, r->GetUInt64(message, field) + static_cast<uint64_t>(add));
      break;
    default:
      break;
  }
}

// Delivery outcomes, updated on librdkafka's threads.
struct DeliveryCounts {
  std::atomic<int64_t> delivered{0};
  std::atomic<int64_t> failed{0};
  std::mutex mu;
  std::string first_error;

  void Record(const DeliveryReport& report) {
    if (report.status.ok()) {
      ++delivered;
      return;
    }
    if (failed++ == 0) {
      std::lock_guard lock(mu);
      first_error = messagecorps::ToString(report.status.message());
    }
  }
};

// Where the messages come from: JSON lines (stdin or -f), or a template repeated --count times.
class Source {
 public:
  virtual ~Source() = default;
  // Fills `message` (and `key` when the input carries one). false at the end. A malformed entry
  // returns true with `error` set.
  virtual bool Next(pb::Message& message, std::optional<std::string>& key, absl::Status& error) = 0;
  virtual int64_t line() const = 0;  // number of the entry just read, for errors
};

class LineSource final : public Source {
 public:
  LineSource(std::istream& in, std::string key_delimiter, size_t max_line_bytes)
      : reader_(in, std::move(key_delimiter), max_line_bytes) {}
  bool Next(pb::Message& message, std::optional<std::string>& key, absl::Status& error) override {
    return reader_.Next(message, key, error);
  }
  int64_t line() const override { return reader_.line(); }

 private:
  JsonLineReader reader_;
};

class TemplateSource final : public Source {
 public:
  TemplateSource(std::unique_ptr<pb::Message> prototype, int64_t count)
      : prototype_(std::move(prototype)),
        count_(count),
        counter_(CounterField(prototype_->GetDescriptor())) {}
  bool Next(pb::Message& message, std::optional<std::string>& key, absl::Status& error) override {
    if (produced_ >= count_) return false;
    message.CopyFrom(*prototype_);
    if (counter_ != nullptr) AddToCounter(message, counter_, produced_);
    ++produced_;
    key.reset();
    error = absl::OkStatus();
    return true;
  }
  int64_t line() const override { return produced_; }

 private:
  std::unique_ptr<pb::Message> prototype_;
  int64_t count_;
  const pb::FieldDescriptor* counter_;
  int64_t produced_ = 0;
};

int RunProduce(const ProduceOptions& options) {
  auto client = MakeClientConfig(options.connection);
  if (!client.ok()) return Fail(kExitUsage, client.status());
  auto registry = LoadRegistry(options.schemas);
  if (!registry.ok()) return Fail(kExitRuntime, registry.status());

  // The type: --type, else the topic's binding.
  const messagecorps::TopicBinding* binding = registry->Find(options.topic);
  const pb::Descriptor* type = nullptr;
  if (!options.type.empty()) {
    auto found = FindType(*registry, options.type);
    if (!found.ok()) return Fail(kExitRuntime, found.status());
    type = *found;
  } else if (binding != nullptr) {
    type = binding->type;
  } else {
    return Fail(kExitUsage, absl::StrCat("no message type is bound to topic ", options.topic,
                                         ": give --type (or --registry)"));
  }

  messagecorps::EncodeOptions encode = binding != nullptr && binding->type == type
                                           ? binding->options.encode_options()
                                           : messagecorps::EncodeOptions{};
  if (!options.encoding.empty()) {
    auto encoding = messagecorps::ParseEncoding(options.encoding);
    if (!encoding.ok()) return Fail(kExitUsage, encoding.status());
    encode.encoding = *encoding;
  }
  if (options.schema_id != 0) {
    if (encode.encoding != messagecorps::Encoding::kConfluent) {
      return Fail(kExitUsage, "--schema-id needs --encoding confluent");
    }
    encode.schema_id = options.schema_id;
  }

  std::optional<FieldPath> key_field;
  if (!options.key_field.empty()) {
    auto path = ResolveFieldPath(type, options.key_field);
    if (!path.ok()) return Fail(kExitUsage, path.status());
    key_field = *std::move(path);
  }
  messagecorps::Headers headers;
  for (const std::string& header : options.headers) {
    const size_t eq = header.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Fail(kExitUsage, absl::StrCat("-H '", header, "' is not of the form name=value"));
    }
    headers.emplace_back(header.substr(0, eq), header.substr(eq + 1));
  }

  // The input, checked before anything is sent.
  std::unique_ptr<Source> source;
  std::ifstream file;
  if (options.count > 0) {
    std::unique_ptr<pb::Message> prototype = registry->NewMessage(type);
    if (!options.template_json.empty()) {
      if (absl::Status s = ParseMessageJson(options.template_json, prototype.get()); !s.ok()) {
        return Fail(kExitUsage, absl::StrCat("--template: ", s.message()));
      }
    }
    source = std::make_unique<TemplateSource>(std::move(prototype), options.count);
  } else {
    if (!options.template_json.empty()) return Fail(kExitUsage, "--template needs --count N");
    if (options.file != "-") {
      file.open(options.file);
      if (!file) return Fail(kExitRuntime, absl::StrCat("cannot open ", options.file));
    }
    source = std::make_unique<LineSource>(options.file == "-" ? std::cin : file,
                                          options.key_delimiter, options.max_line_bytes);
  }

  // The topic must exist, or the cluster must create it on first use (topic_check.h). This also
  // proves the brokers answer, before any record is queued.
  auto admin = messagecorps::AdminClient::Create(*client);
  if (!admin.ok()) return Fail(kExitRuntime, admin.status());
  auto topic_check = CheckTopicForProduce(**admin, options.topic, options.require_existing_topic,
                                          options.connection.timeout());
  if (!topic_check.ok()) {
    if (topic_check.status().code() == absl::StatusCode::kNotFound) {
      return Fail(kExitRuntime, topic_check.status());
    }
    return Fail(kExitRuntime, absl::StrCat("cannot reach the brokers ", client->brokers, ": ",
                                           topic_check.status().message()));
  }

  auto counts = std::make_shared<DeliveryCounts>();
  messagecorps::ProducerConfig producer_config;
  static_cast<messagecorps::ClientConfig&>(producer_config) = *client;
  producer_config.on_delivery = [counts](const DeliveryReport& r) { counts->Record(r); };
  auto header_mode = messagecorps::ParseHeaderMode(options.header_mode);
  if (!header_mode.ok()) return Fail(kExitUsage, header_mode.status());
  producer_config.headers = *header_mode;
  auto producer = messagecorps::Producer::Create(std::move(producer_config));
  if (!producer.ok()) return Fail(kExitRuntime, producer.status());

  std::unique_ptr<pb::Message> message = registry->NewMessage(type);
  std::optional<std::string> line_key;
  absl::Status line_error;
  int64_t sent = 0, skipped = 0;
  bool stopped_on_error = false;
  Progress progress("sent");
  const auto start = std::chrono::steady_clock::now();
  while (!StopRequested() && source->Next(*message, line_key, line_error)) {
    if (!line_error.ok()) {
      progress.Clear();
      const std::string where = options.count > 0 ? "message" : "line";
      std::fprintf(stderr, "mcorps: error: %s %lld: %s\n", where.c_str(),
                   static_cast<long long>(source->line()),
                   messagecorps::ToString(line_error.message()).c_str());
      if (options.skip_bad) {
        ++skipped;
        continue;
      }
      stopped_on_error = true;
      break;
    }
    if (options.rate > 0) {
      const auto due =
          start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                      std::chrono::duration<double>(static_cast<double>(sent) / options.rate));
      std::this_thread::sleep_until(due);
    }
    std::string key;
    messagecorps::SendOptions send;
    if (line_key) {
      key = *line_key;
    } else if (key_field) {
      key = FieldAsKey(*message, *key_field);
    } else {
      key = options.key;
    }
    if (line_key || key_field || !options.key.empty()) send.key = key;
    if (!headers.empty()) send.headers = &headers;
    send.partition = options.partition;
    absl::Status s = (*producer)->SendMessage(options.topic, *message, encode, send);
    if (!s.ok()) {
      progress.Clear();
      Fail(kExitRuntime, absl::StrCat("line ", source->line(), ": not sent: ", s.message()));
      stopped_on_error = true;
      break;
    }
    ++sent;
    progress.Update(sent);
  }
  progress.Clear();

  absl::Status flushed = (*producer)->Flush(std::chrono::minutes(5));
  producer->reset();  // whatever is still queued is reported as failed now
  const int64_t delivered = counts->delivered.load();
  const int64_t failed = counts->failed.load();
  std::fprintf(stderr, "mcorps produce: %s: sent %lld, delivered %lld, failed %lld",
               options.topic.c_str(), static_cast<long long>(sent),
               static_cast<long long>(delivered), static_cast<long long>(failed));
  if (skipped > 0) std::fprintf(stderr, ", skipped %lld bad", static_cast<long long>(skipped));
  std::fprintf(stderr, "\n");
  if (failed > 0) {
    std::lock_guard lock(counts->mu);
    Fail(kExitRuntime, absl::StrCat("delivery failed: ", counts->first_error));
  } else if (!flushed.ok()) {
    Fail(kExitRuntime, flushed);
  }
  if (topic_check->auto_create && delivered > 0) {
    std::fprintf(
        stderr, "%s\n",
        DescribeCreatedTopic(**admin, options.topic, options.connection.timeout()).c_str());
  }
  admin->reset();
  const bool all_delivered = failed == 0 && delivered == sent;
  return stopped_on_error || !all_delivered ? kExitRuntime : kExitOk;
}

}  // namespace

Command AddProduceCommand(CLI::App& parent) {
  auto options = std::make_shared<ProduceOptions>();
  CLI::App* app = parent.add_subcommand(
      "produce", "Send JSON lines (protobuf JSON mapping) as typed, enveloped records");
  AddConnectionOptions(*app, options->connection);
  AddSchemaOptions(*app, options->schemas);
  app->add_option("-t,--topic", options->topic, "Topic to send to")->required();
  app->add_option("--type", options->type,
                  "Full message type (default: the topic's binding, e.g. VideoStream -> "
                  "protobuf.data.Image)");
  app->add_option("-f,--file", options->file, "JSON lines to read ('-' = stdin)")
      ->capture_default_str();
  auto* key = app->add_option("-k,--key", options->key, "Record key for every message");
  auto* key_field = app->add_option("--key-field", options->key_field,
                                    "Record key from a field of each message (dotted path, e.g. "
                                    "_message_data.uuid)");
  auto* key_delimiter = app->add_option("-K,--key-delimiter", options->key_delimiter,
                                        "Each line is KEY<delimiter>JSON (kcat's -K)");
  key->excludes(key_field)->excludes(key_delimiter);
  key_field->excludes(key_delimiter);
  app->add_option("-H,--header", options->headers, "Extra header name=value (repeatable)");
  app->add_option("-p,--partition", options->partition,
                  "Partition (default: the partitioner chooses)");
  app->add_option("--encoding", options->encoding,
                  "Value encoding (default: the topic's binding, else seed)")
      ->check(CLI::IsMember({"seed", "raw", "confluent"}, CLI::ignore_case));
  app->add_option("--header-mode", options->header_mode,
                  "Standard headers: traceparent (default: the trace only; the value names its "
                  "type and encoding), standard (CloudEvents + traceparent + mcorps-encoding), "
                  "compact (ce_type + traceparent + mcorps-encoding) or none (the original's "
                  "records: value only)")
      ->check(CLI::IsMember({"traceparent", "standard", "compact", "none"}));
  app->add_option("--schema-id", options->schema_id, "Schema Registry id (--encoding confluent)")
      ->check(CLI::PositiveNumber);
  app->add_option("--count", options->count,
                  "Generate N messages from --template instead of reading")
      ->check(CLI::PositiveNumber);
  app->add_option("--rate", options->rate, "At most R messages per second")
      ->check(CLI::PositiveNumber);
  app->add_option("--template", options->template_json,
                  "JSON message to repeat with --count (its frame/sequence field counts up)");
  app->add_flag("--require-existing-topic", options->require_existing_topic,
                "Refuse a topic that does not exist (default: follow the cluster: where it "
                "creates topics on first use, the topic is created and stderr says so)");
  app->add_flag("--skip-bad", options->skip_bad,
                "Report malformed lines and go on (default: stop at the first; exit 1)");
  app->add_option("--max-line-bytes", options->max_line_bytes,
                  "Longest input line accepted; a longer one is a bad line, skipped without being "
                  "read whole")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->footer(R"(Examples:
  echo '{"height": 480, "width": 640, "frame": 1}' | mcorps produce -b localhost:9092 -t VideoStream
  mcorps produce -t Readings --type acme.SensorReading --descriptors acme.desc -f readings.jsonl
  mcorps produce -t Readings --type acme.SensorReading --proto-path protos --proto acme/sensor.proto < r.jsonl
  mcorps produce -t VideoStream --count 10000 --rate 500 --template '{"height": 2, "width": 2}'
  mcorps produce -t Predictions -K : < keyed.txt        # lines like  cam1:{"object": ["cat"]}
A summary (sent, delivered, failed) goes to stderr. Exit 1 when a line is malformed (nothing after
it is sent, unless --skip-bad) or a record is not delivered.)");
  return {app, [options] { return RunProduce(*options); }};
}

}  // namespace mcorps
