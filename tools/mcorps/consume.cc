// mcorps consume: records out as JSON lines (or pretty JSON, text, hex, the original's REST form).
#include "consume.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/text_format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>
#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "commands.h"
#include "json_format.h"
#include "messagecorps/admin.h"
#include "messagecorps/codec.h"
#include "messagecorps/offsets.h"
#include "options.h"
#include "progress.h"
#include "schemas.h"

namespace mcorps {

namespace pb = google::protobuf;
using messagecorps::TopicPartition;

absl::StatusOr<StartSpec> ParseStartSpec(std::string_view text) {
  const std::string lower = absl::AsciiStrToLower(absl::string_view(text.data(), text.size()));
  if (lower == "beginning" || lower == "earliest") return StartSpec{StartSpec::kBeginning, 0};
  if (lower == "end" || lower == "latest") return StartSpec{StartSpec::kEnd, 0};
  StartSpec spec;
  absl::string_view number(lower);
  if (!number.empty() && number.front() == '@') {
    spec.kind = StartSpec::kTimestamp;
    number.remove_prefix(1);
  } else if (!number.empty() && number.front() == '-') {
    spec.kind = StartSpec::kFromEnd;
    number.remove_prefix(1);
  } else {
    spec.kind = StartSpec::kOffset;
  }
  if (number.empty() || !absl::ascii_isdigit(static_cast<unsigned char>(number.front())) ||
      !absl::SimpleAtoi(number, &spec.value) || spec.value < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("-o '", lower, "': expected beginning, end, OFFSET, -N or @TIMESTAMP_MS"));
  }
  return spec;
}

absl::StatusOr<std::vector<TopicPartition>> ResolveAssignment(
    const messagecorps::ClientConfig& client, const std::vector<std::string>& topics,
    const std::vector<int32_t>& partitions, const StartSpec& start,
    std::chrono::milliseconds timeout) {
  auto admin = messagecorps::AdminClient::Create(client);
  if (!admin.ok()) return admin.status();
  std::vector<TopicPartition> assignment;
  for (const std::string& topic : topics) {
    auto info = (*admin)->DescribeTopic(topic, timeout);
    if (!info.ok()) {
      if (info.status().code() == absl::StatusCode::kNotFound) {
        return absl::NotFoundError(absl::StrCat("topic ", topic, " does not exist"));
      }
      return absl::UnavailableError(
          absl::StrCat("cannot reach the brokers ", client.brokers, ": ", info.status().message()));
    }
    std::set<int32_t> found;
    for (const auto& p : info->partitions) {
      found.insert(p.id);
      if (!partitions.empty() &&
          std::find(partitions.begin(), partitions.end(), p.id) == partitions.end()) {
        continue;
      }
      // Absolute offsets from the watermarks just read spare librdkafka an offset lookup (and
      // its retry delay) per partition; logical ones when the watermarks are unknown.
      const bool known = p.low >= 0 && p.high >= p.low;
      TopicPartition tp{topic, p.id, messagecorps::kOffsetBeginning};
      switch (start.kind) {
        case StartSpec::kBeginning:
          tp.offset = known ? p.low : messagecorps::kOffsetBeginning;
          break;
        case StartSpec::kEnd:
          tp.offset = known ? p.high : messagecorps::kOffsetEnd;
          break;
        case StartSpec::kOffset:
          tp.offset = start.value;
          break;
        case StartSpec::kFromEnd:
          tp.offset = known ? std::max(p.low, p.high - start.value)
                            : messagecorps::OffsetFromEnd(start.value);
          break;
        case StartSpec::kTimestamp:
          tp.offset = start.value;  // resolved below
          break;
      }
      assignment.push_back(std::move(tp));
    }
    for (int32_t p : partitions) {
      if (!found.count(p)) {
        return absl::NotFoundError(absl::StrCat("topic ", topic, " has no partition ", p));
      }
    }
  }
  if (start.kind == StartSpec::kTimestamp && !assignment.empty()) {
    return messagecorps::OffsetsForTimes(client, std::move(assignment), timeout);
  }
  return assignment;
}

namespace {

enum class Format { kJson, kPretty, kText, kHex, kSeedHex };

struct ConsumeOptions {
  ConnectionOptions connection;
  SchemaOptions schemas;
  std::vector<std::string> topics;
  std::vector<int32_t> partitions;
  std::string group;
  std::string offset = "beginning";
  int64_t count = 0;
  bool exit_at_end = false;
  std::string format = "json";
  std::string filter_trace;
  std::string type;
  std::string key_delimiter;
  bool camel_case = false;
  bool emit_defaults = false;
};

Format ParseFormat(const std::string& name) {
  static const std::map<std::string, Format> kFormats = {{"json", Format::kJson},
                                                         {"pretty", Format::kPretty},
                                                         {"text", Format::kText},
                                                         {"hex", Format::kHex},
                                                         {"seed-hex", Format::kSeedHex}};
  return kFormats.at(name);
}

// The record in the chosen format, with its trailing newline.
std::string FormatRecord(const messagecorps::ReceivedMessage& record, Format format,
                         const PrintOptions& print, const std::string& key_delimiter) {
  std::string key_prefix;
  if (!key_delimiter.empty()) {
    key_prefix = absl::StrCat(messagecorps::AsAbsl(record.key().value_or(std::string_view())),
                              key_delimiter);
  }
  switch (format) {
    case Format::kJson:
      return DumpJson(RecordToJson(record, print)) + "\n";
    case Format::kPretty: {
      PrintOptions pretty = print;
      pretty.summarize_bytes = true;
      return DumpJson(RecordToJson(record, pretty), 2) + "\n";
    }
    case Format::kHex:
      return absl::StrCat(key_prefix, ToHex(record.value()), "\n");
    case Format::kSeedHex: {
      std::string scratch;
      auto serialized = messagecorps::Unwrap(record.value(), record.encoding(), {}, &scratch);
      if (!serialized.ok()) {
        Json error = RecordToJson(record, print);
        error.erase("type");
        error.erase("message");
        error["error"] = messagecorps::ToString(serialized.status().message());
        error["value_hex"] = ToHex(record.value());
        return DumpJson(error) + "\n";
      }
      return absl::StrCat(key_prefix, messagecorps::ToSeedRestJson(*serialized), "\n");
    }
    case Format::kText: {
      std::string out = absl::StrCat("# ", messagecorps::AsAbsl(record.topic()), "[",
                                     record.partition(), "]@", record.offset(), " ", key_prefix);
      if (record.message() != nullptr) {
        std::string text;
        pb::TextFormat::PrintToString(*record.message(), &text);
        absl::StrAppend(&out, record.message()->GetDescriptor()->full_name(), "\n", text);
      } else {
        absl::StrAppend(&out, "error: ", record.decode_status().message(), "\n",
                        "value_hex: ", ToHex(record.value()), "\n");
      }
      return out;
    }
  }
  return {};
}

int RunConsume(const ConsumeOptions& options) {
  auto client = MakeClientConfig(options.connection);
  if (!client.ok()) return Fail(kExitUsage, client.status());
  auto start = ParseStartSpec(options.offset);
  if (!start.ok()) return Fail(kExitUsage, start.status());
  const bool in_group = !options.group.empty();
  if (in_group && start->kind != StartSpec::kBeginning && start->kind != StartSpec::kEnd) {
    return Fail(kExitUsage,
                "-o with -G: only beginning or end (where a group without committed offsets "
                "starts); read without -G to start at an offset or a time");
  }
  if (in_group && !options.partitions.empty()) {
    return Fail(kExitUsage, "-p with -G: the group assigns the partitions");
  }
  std::string filter = absl::AsciiStrToLower(options.filter_trace);
  filter.erase(std::remove(filter.begin(), filter.end(), '-'), filter.end());
  auto registry = LoadRegistry(options.schemas);
  if (!registry.ok()) return Fail(kExitRuntime, registry.status());
  if (!options.type.empty()) {
    auto type = FindType(*registry, options.type);
    if (!type.ok()) return Fail(kExitRuntime, type.status());
    for (const std::string& topic : options.topics) {
      const messagecorps::TopicBinding* binding = registry->Find(topic);
      absl::Status s =
          registry->Bind(topic, *type, binding ? binding->options : messagecorps::TopicOptions{});
      if (!s.ok()) return Fail(kExitRuntime, s);
    }
  }

  // Checks the topics (and the brokers) first; without a group, also decides where to read.
  auto assignment = ResolveAssignment(*client, options.topics, options.partitions, *start,
                                      options.connection.timeout());
  if (!assignment.ok()) return Fail(kExitRuntime, assignment.status());

  messagecorps::ConsumerConfig config;
  static_cast<messagecorps::ClientConfig&>(config) = *client;
  config.registry = &*registry;
  if (in_group) {
    config.topics = options.topics;
    config.group_id = options.group;
    config.start = start->kind == StartSpec::kEnd ? messagecorps::StartOffset::kLatest
                                                  : messagecorps::StartOffset::kEarliest;
    // Offsets are committed for the records printed, not for whole batches (-c may stop mid-batch).
    config.commit = messagecorps::CommitMode::kManual;
  } else {
    config.assignment = *std::move(assignment);
    config.start = messagecorps::StartOffset::kEarliest;  // for an offset out of range
  }
  // -e: the end of a partition is only seen in an empty fetch answer, which the broker holds for
  // fetch.wait.max.ms (500 ms by default).
  if (options.exit_at_end) config.properties.emplace("fetch.wait.max.ms", "100");
  auto consumer = messagecorps::Consumer::Create(std::move(config));
  if (!consumer.ok()) return Fail(kExitRuntime, consumer.status());

  const Format format = ParseFormat(options.format);
  PrintOptions print;
  print.camel_case = options.camel_case;
  print.emit_defaults = options.emit_defaults;
  int64_t printed = 0, undecodable = 0;
  int exit_code = kExitOk;
  bool stdout_failed = false;
  std::map<std::pair<std::string, int32_t>, int64_t> to_commit;
  auto commit = [&](bool async) {
    if (!in_group || to_commit.empty()) return;
    std::vector<TopicPartition> offsets;
    for (const auto& [key, next] : to_commit) offsets.push_back({key.first, key.second, next});
    absl::Status s = (*consumer)->Commit(offsets, async);
    if (!s.ok()) client->logger->warn("commit failed: {}", messagecorps::ToString(s.message()));
    if (s.ok()) to_commit.clear();
  };
  Progress progress("records", !isatty(STDOUT_FILENO));
  while (!StopRequested() && (options.count == 0 || printed < options.count)) {
    auto batch = (*consumer)->Poll(std::chrono::milliseconds(200));
    if (!batch.ok()) {
      exit_code = Fail(kExitRuntime, batch.status());
      break;
    }
    for (const messagecorps::ReceivedMessage& record : *batch) {
      if (options.count > 0 && printed >= options.count) break;
      to_commit[{std::string(record.topic()), record.partition()}] = record.offset() + 1;
      if (!filter.empty() && record.trace().trace_id() != filter) continue;
      if (!record.decode_status().ok()) ++undecodable;
      const std::string text = FormatRecord(record, format, print, options.key_delimiter);
      if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) {
        stdout_failed = true;
        break;
      }
      ++printed;
    }
    if (std::fflush(stdout) != 0) stdout_failed = true;
    progress.Update(printed);
    if (stdout_failed) {
      // The reader went away (`| head`): a normal end, unless stdout failed otherwise.
      if (errno != EPIPE) exit_code = Fail(kExitRuntime, "cannot write to stdout");
      break;
    }
    commit(/*async=*/true);
    if (exit_code != kExitOk) break;
    if (options.exit_at_end && (*consumer)->ReachedEnd()) break;
  }
  progress.Clear();
  commit(/*async=*/false);
  absl::Status closed = (*consumer)->Close(std::chrono::seconds(10));
  if (!closed.ok()) client->logger->warn("{}", messagecorps::ToString(closed.message()));
  client->logger->info("consumed {} record(s), {} undecodable", printed, undecodable);
  return exit_code;
}

}  // namespace

Command AddConsumeCommand(CLI::App& parent) {
  auto options = std::make_shared<ConsumeOptions>();
  CLI::App* app = parent.add_subcommand(
      "consume", "Print records as JSON lines: coordinates, key, headers and the decoded message");
  AddConnectionOptions(*app, options->connection);
  AddSchemaOptions(*app, options->schemas);
  app->add_option("-t,--topic", options->topics, "Topic to read (repeatable)")->required();
  app->add_option("-p,--partition", options->partitions,
                  "Only these partitions (repeatable; not with -G)");
  app->add_option("-G,--group", options->group,
                  "Read in this consumer group and commit what was printed (default: no group, "
                  "no commits)");
  app->add_option("-o,--offset", options->offset,
                  "Start: beginning | end | OFFSET | -N (N before the end) | @TIMESTAMP_MS")
      ->capture_default_str();
  app->add_option("-c,--count", options->count, "Stop after COUNT records")
      ->check(CLI::PositiveNumber);
  app->add_flag("-e,--exit", options->exit_at_end, "Exit at the end of every partition");
  app->add_option("--format", options->format, "Output: json | pretty | text | hex | seed-hex")
      ->check(CLI::IsMember({"json", "pretty", "text", "hex", "seed-hex"}))
      ->capture_default_str();
  app->add_option("--filter-trace", options->filter_trace, "Only records of this trace id");
  app->add_option("--type", options->type,
                  "Decode every topic as this type (default: topic binding, else ce_type header)");
  app->add_option("-K,--key-delimiter", options->key_delimiter,
                  "text/hex/seed-hex: print KEY<delimiter> before each record");
  app->add_flag("--json-camel", options->camel_case,
                "JSON field names in lowerCamelCase (default: the .proto names)");
  app->add_flag("--emit-defaults", options->emit_defaults,
                "Also print fields that hold their default value");
  app->footer(R"(Examples:
  mcorps consume -b localhost:9092 -t VideoStream -e                 # everything, then exit
  mcorps consume -t VideoStream -o -10 -e --format pretty            # the last 10 per partition
  mcorps consume -t VideoStream -t Predictions -o @1700000000000 -c 5
  mcorps consume -t Predictions -G dashboard                         # as a group member, commits
  mcorps consume -t VideoStream -e | jq -r .message._message_data.trace_id
  mcorps consume -t VideoStream -c 1 --format seed-hex               # {"protobuf":"<hex>"}
Each record is one JSON object per line: topic, partition, offset, timestamp, key, headers,
encoding, type and message; a record that does not decode has error and value_hex instead.)");
  return {app, [options] { return RunConsume(*options); }};
}

}  // namespace mcorps
