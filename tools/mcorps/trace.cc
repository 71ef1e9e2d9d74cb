// mcorps trace: every record of one trace across topics, in time order, with the latency of each
// hop — the original's "follow a message through the system by its trace_id".
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "commands.h"
#include "consume.h"
#include "json_format.h"
#include "messagecorps/envelope.h"
#include "options.h"
#include "progress.h"
#include "protobuf/common/MessageData.pb.h"
#include "schemas.h"

namespace mcorps {

namespace {

struct TraceOptions {
  ConnectionOptions connection;
  SchemaOptions schemas;
  std::string trace_id;
  std::vector<std::string> topics;
  std::string since;
  std::string format = "json";
};

struct Hop {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t record_timestamp_ms = -1;
  double time = 0;  // Unix seconds: the envelope's send time, else the record timestamp
  std::string type;
  protobuf::common::messageData envelope;  // empty for types without one
  std::string span_id, parent_span_id;
};

Hop MakeHop(const messagecorps::ReceivedMessage& record) {
  Hop hop;
  hop.topic = std::string(record.topic());
  hop.partition = record.partition();
  hop.offset = record.offset();
  hop.record_timestamp_ms = record.timestamp_ms();
  hop.span_id = std::string(record.trace().span_id());
  hop.parent_span_id = std::string(record.trace().parent_span_id());
  if (const google::protobuf::Message* message = record.message()) {
    hop.type = message->GetDescriptor()->full_name();
    // Works for compiled and dynamic (descriptor set) messages alike.
    if (const google::protobuf::Message* envelope = messagecorps::EnvelopeOf(*message)) {
      hop.envelope.ParseFromString(envelope->SerializeAsString());
      if (!hop.envelope.parent_span_id().empty())
        hop.parent_span_id = hop.envelope.parent_span_id();
    }
  }
  hop.time = hop.envelope.timestamp() > 0 ? hop.envelope.timestamp()
                                          : static_cast<double>(hop.record_timestamp_ms) / 1000.0;
  return hop;
}

std::string IsoTime(const Hop& hop) {
  if (!hop.envelope.iso_date().empty()) return hop.envelope.iso_date();
  std::array<char, 32> text{};
  messagecorps::FormatIsoDate(std::chrono::system_clock::time_point(
                                  std::chrono::microseconds(static_cast<int64_t>(hop.time * 1e6))),
                              text);
  return std::string(text.data(), text.size());
}

void PrintHops(const std::vector<Hop>& hops, bool as_text) {
  if (as_text) {
    std::printf("%-3s  %-32s  %-24s  %-14s  %-16s  %-16s  %s\n", "hop", "time", "topic",
                "partition@offs", "service", "span", "latency");
  }
  for (size_t i = 0; i < hops.size(); ++i) {
    const Hop& hop = hops[i];
    const double latency_ms = i == 0 ? 0 : (hop.time - hops[i - 1].time) * 1000.0;
    if (as_text) {
      std::printf("%-3zu  %-32s  %-24s  %-14s  %-16s  %-16s  %s\n", i + 1, IsoTime(hop).c_str(),
                  hop.topic.c_str(), absl::StrCat(hop.partition, "@", hop.offset).c_str(),
                  hop.envelope.sending_service().c_str(), hop.span_id.c_str(),
                  i == 0 ? "-" : absl::StrFormat("%+.3f ms", latency_ms).c_str());
      continue;
    }
    Json line{{"hop", i + 1},
              {"time", IsoTime(hop)},
              {"topic", hop.topic},
              {"partition", hop.partition},
              {"offset", hop.offset},
              {"timestamp", hop.record_timestamp_ms},
              {"type", hop.type},
              {"service", hop.envelope.sending_service()},
              {"uuid", hop.envelope.uuid()},
              {"span_id", hop.span_id},
              {"parent_span_id", hop.parent_span_id},
              {"latency_ms", i == 0 ? Json(nullptr) : Json(std::round(latency_ms * 1000) / 1000)}};
    std::printf("%s\n", DumpJson(line).c_str());
  }
}

int RunTrace(const TraceOptions& options) {
  std::string id = absl::AsciiStrToLower(options.trace_id);
  id.erase(std::remove(id.begin(), id.end(), '-'), id.end());
  if (id.size() != 32 || id.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return Fail(kExitUsage, absl::StrCat("trace id '", options.trace_id,
                                         "' is not 32 hex digits (dashes allowed)"));
  }
  StartSpec start;  // beginning
  if (!options.since.empty()) {
    auto since = ParseDuration(options.since);
    if (!since.ok()) return Fail(kExitUsage, since.status());
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    start = StartSpec{StartSpec::kTimestamp, std::max<int64_t>(0, (now - *since).count())};
  }
  auto client = MakeClientConfig(options.connection);
  if (!client.ok()) return Fail(kExitUsage, client.status());
  auto registry = LoadRegistry(options.schemas);
  if (!registry.ok()) return Fail(kExitRuntime, registry.status());

  auto assignment =
      ResolveAssignment(*client, options.topics, {}, start, options.connection.timeout());
  if (!assignment.ok() && start.kind == StartSpec::kTimestamp &&
      assignment.status().code() != absl::StatusCode::kNotFound) {
    // The broker cannot look offsets up by time: scan everything instead.
    client->logger->warn("offsets by time unavailable ({}); scanning the topics from the start",
                         messagecorps::ToString(assignment.status().message()));
    assignment =
        ResolveAssignment(*client, options.topics, {}, StartSpec{}, options.connection.timeout());
  }
  if (!assignment.ok()) return Fail(kExitRuntime, assignment.status());

  messagecorps::ConsumerConfig config;
  static_cast<messagecorps::ClientConfig&>(config) = *client;
  config.registry = &*registry;
  config.assignment = *std::move(assignment);
  config.start = messagecorps::StartOffset::kEarliest;
  config.properties.emplace("fetch.wait.max.ms", "100");  // see consume -e
  auto consumer = messagecorps::Consumer::Create(std::move(config));
  if (!consumer.ok()) return Fail(kExitRuntime, consumer.status());

  std::vector<Hop> hops;
  int64_t scanned = 0;
  Progress progress("scanned");
  while (!StopRequested()) {
    auto batch = (*consumer)->Poll(std::chrono::milliseconds(200));
    if (!batch.ok()) return Fail(kExitRuntime, batch.status());
    for (const messagecorps::ReceivedMessage& record : *batch) {
      ++scanned;
      if (record.trace().trace_id() == id) hops.push_back(MakeHop(record));
    }
    progress.Update(scanned);
    if ((*consumer)->ReachedEnd()) break;
  }
  progress.Clear();
  (void)(*consumer)->Close(std::chrono::seconds(5));

  if (hops.empty()) {
    return Fail(kExitRuntime,
                absl::StrCat("no record of trace ", id, " in ", scanned, " record(s) scanned"));
  }
  std::stable_sort(hops.begin(), hops.end(),
                   [](const Hop& a, const Hop& b) { return a.time < b.time; });
  PrintHops(hops, options.format == "text");
  std::fprintf(stderr, "mcorps trace: %s: %zu hop(s), %.3f ms end to end, %lld record(s) scanned\n",
               id.c_str(), hops.size(), (hops.back().time - hops.front().time) * 1000.0,
               static_cast<long long>(scanned));
  return kExitOk;
}

}  // namespace

Command AddTraceCommand(CLI::App& parent) {
  auto options = std::make_shared<TraceOptions>();
  CLI::App* app = parent.add_subcommand(
      "trace", "Find every record of a trace across topics, in time order, with hop latencies");
  AddConnectionOptions(*app, options->connection);
  AddSchemaOptions(*app, options->schemas);
  app->add_option("trace_id", options->trace_id, "Trace id: 32 hex digits (_message_data.trace_id)")
      ->required();
  app->add_option("-t,--topic", options->topics, "Topic to search (repeatable)")->required();
  app->add_option("--since", options->since,
                  "Only records newer than this (e.g. 30s, 15m, 2h, 1d); default: everything");
  app->add_option("--format", options->format, "Output: json (one line per hop) | text (a table)")
      ->check(CLI::IsMember({"json", "text"}))
      ->capture_default_str();
  app->footer(R"(Examples:
  mcorps trace 5f0c6a1e8b3d11eea0e3f3b2c1d4e5f6 -t VideoStream -t Predictions
  mcorps trace 5f0c6a1e8b3d11eea0e3f3b2c1d4e5f6 -t VideoStream -t Predictions --since 1h --format text
Each hop: time, topic, partition, offset, type, sending service, uuid, span ids and latency_ms
since the previous hop. With --since the scan starts at the offsets for that time (a full scan
where the broker cannot look offsets up by time). Exit 1 when no record of the trace is found.)");
  return {app, [options] { return RunTrace(*options); }};
}

}  // namespace mcorps
