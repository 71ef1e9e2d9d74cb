// mcorps topics list|describe|create|delete (Kafka Admin API).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "commands.h"
#include "json_format.h"
#include "messagecorps/admin.h"
#include "options.h"

namespace mcorps {

namespace {

struct TopicsOptions {
  ConnectionOptions connection;
  bool include_internal = false;
  std::vector<std::string> names;
  int partitions = 1;
  int replication = -1;
  std::vector<std::string> configs;
  bool if_not_exists = false;
  bool if_exists = false;
};

absl::StatusOr<std::unique_ptr<messagecorps::AdminClient>> Connect(const TopicsOptions& options,
                                                                   int& usage_or_runtime) {
  auto client = MakeClientConfig(options.connection);
  if (!client.ok()) {
    usage_or_runtime = kExitUsage;
    return client.status();
  }
  usage_or_runtime = kExitRuntime;
  return messagecorps::AdminClient::Create(*client);
}

int RunList(const TopicsOptions& options) {
  int code = kExitRuntime;
  auto admin = Connect(options, code);
  if (!admin.ok()) return Fail(code, admin.status());
  auto topics = (*admin)->ListTopics(options.connection.timeout(), options.include_internal);
  if (!topics.ok()) return Fail(kExitRuntime, topics.status());
  for (const std::string& topic : *topics) std::printf("%s\n", topic.c_str());
  return kExitOk;
}

int RunDescribe(const TopicsOptions& options) {
  int code = kExitRuntime;
  auto admin = Connect(options, code);
  if (!admin.ok()) return Fail(code, admin.status());
  for (const std::string& name : options.names) {
    auto info = (*admin)->DescribeTopic(name, options.connection.timeout());
    if (!info.ok()) return Fail(kExitRuntime, info.status());
    Json partitions = Json::array();
    int64_t records = 0;
    for (const auto& p : info->partitions) {
      partitions.push_back(Json{{"partition", p.id},
                                {"leader", p.leader},
                                {"replicas", p.replicas},
                                {"isr", p.in_sync},
                                {"low", p.low},
                                {"high", p.high}});
      if (p.high >= 0 && p.low >= 0) records += p.high - p.low;
    }
    Json out{{"topic", info->name},
             {"partition_count", info->partitions.size()},
             {"records", records},
             {"partitions", std::move(partitions)}};
    std::printf("%s\n", DumpJson(out).c_str());
  }
  return kExitOk;
}

int RunCreate(const TopicsOptions& options) {
  int code = kExitRuntime;
  messagecorps::TopicSpec spec;
  spec.partitions = options.partitions;
  spec.replication_factor = options.replication;
  for (const std::string& config : options.configs) {
    auto kv = messagecorps::ParseProperty(config);
    if (!kv.ok()) return Fail(kExitUsage, absl::StrCat("--config: ", kv.status().message()));
    spec.config[kv->first] = kv->second;
  }
  auto admin = Connect(options, code);
  if (!admin.ok()) return Fail(code, admin.status());
  for (const std::string& name : options.names) {
    spec.name = name;
    absl::Status s =
        (*admin)->CreateTopic(spec, options.connection.timeout(), options.if_not_exists);
    if (!s.ok()) return Fail(kExitRuntime, s);
    s = (*admin)->WaitForTopic(name, spec.partitions, options.connection.timeout());
    if (!s.ok()) return Fail(kExitRuntime, s);
    std::fprintf(stderr, "mcorps: topic %s ready (%d partition(s))\n", name.c_str(),
                 spec.partitions);
  }
  return kExitOk;
}

int RunDelete(const TopicsOptions& options) {
  int code = kExitRuntime;
  auto admin = Connect(options, code);
  if (!admin.ok()) return Fail(code, admin.status());
  for (const std::string& name : options.names) {
    absl::Status s = (*admin)->DeleteTopic(name, options.connection.timeout());
    if (!s.ok() && !(options.if_exists && s.code() == absl::StatusCode::kNotFound)) {
      return Fail(kExitRuntime, s);
    }
    if (s.ok()) std::fprintf(stderr, "mcorps: topic %s deleted\n", name.c_str());
  }
  return kExitOk;
}

}  // namespace

Command AddTopicsCommand(CLI::App& parent) {
  auto options = std::make_shared<TopicsOptions>();
  CLI::App* app = parent.add_subcommand("topics", "List, describe, create and delete topics");
  app->require_subcommand(1);
  app->footer(R"(Examples:
  mcorps topics list -b localhost:9092
  mcorps topics describe VideoStream | jq '.partitions[] | {partition, high}'
  mcorps topics create VideoStream -P 3 --config retention.ms=3600000
  mcorps topics delete VideoStream)");

  CLI::App* list = app->add_subcommand("list", "Topic names, one per line");
  AddConnectionOptions(*list, options->connection);
  list->add_flag("--internal", options->include_internal, "Include internal topics (__*)");
  list->footer("Example:\n  mcorps topics list -b localhost:9092 | grep -i video");

  CLI::App* describe = app->add_subcommand(
      "describe", "Partitions, leaders, replicas and watermarks (one JSON object per topic)");
  AddConnectionOptions(*describe, options->connection);
  describe->add_option("topic", options->names, "Topic(s)")->required();
  describe->footer(
      "Example:\n  mcorps topics describe VideoStream | jq '.partitions[] | {partition, low, "
      "high}'");

  CLI::App* create = app->add_subcommand("create", "Create topics and wait until they are usable");
  AddConnectionOptions(*create, options->connection);
  create->add_option("topic", options->names, "Topic(s)")->required();
  create->add_option("-P,--partitions", options->partitions, "Partitions")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  create->add_option("-R,--replication-factor", options->replication,
                     "Replicas per partition (default: the broker's)");
  create->add_option("--config", options->configs, "Topic config key=value (repeatable)");
  create->add_flag("--if-not-exists", options->if_not_exists, "An existing topic is not an error");
  create->footer(
      "Examples:\n  mcorps topics create VideoStream -P 3\n  mcorps topics create Predictions "
      "--config retention.ms=3600000 --if-not-exists");

  CLI::App* remove = app->add_subcommand("delete", "Delete topics");
  AddConnectionOptions(*remove, options->connection);
  remove->add_option("topic", options->names, "Topic(s)")->required();
  remove->add_flag("--if-exists", options->if_exists, "A missing topic is not an error");
  remove->footer("Example:\n  mcorps topics delete VideoStream Predictions --if-exists");

  return {app, [options, list, describe, create, remove] {
            if (list->parsed()) return RunList(*options);
            if (describe->parsed()) return RunDescribe(*options);
            if (create->parsed()) return RunCreate(*options);
            if (remove->parsed()) return RunDelete(*options);
            return Fail(kExitUsage, "topics: list, describe, create or delete");
          }};
}

}  // namespace mcorps
