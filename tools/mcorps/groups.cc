// mcorps groups list|describe: consumer groups and their lag per partition.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "commands.h"
#include "json_format.h"
#include "messagecorps/admin.h"
#include "options.h"

namespace mcorps {

namespace {

struct GroupsOptions {
  ConnectionOptions connection;
  std::string group;
};

int RunGroups(const GroupsOptions& options, bool describe) {
  auto client = MakeClientConfig(options.connection);
  if (!client.ok()) return Fail(kExitUsage, client.status());
  auto admin = messagecorps::AdminClient::Create(*client);
  if (!admin.ok()) return Fail(kExitRuntime, admin.status());
  auto groups = (*admin)->ListGroups(options.connection.timeout());
  if (!groups.ok()) return Fail(kExitRuntime, groups.status());
  if (!describe) {
    for (const auto& g : *groups) std::printf("%s\n", g.group.c_str());
    return kExitOk;
  }
  auto lag = (*admin)->GroupLag(options.group, options.connection.timeout());
  if (!lag.ok()) {
    if (lag.status().code() == absl::StatusCode::kNotFound) {
      return Fail(kExitRuntime, absl::StrCat("group ", options.group,
                                             " not found (no members and no committed offsets)"));
    }
    return Fail(kExitRuntime, lag.status());
  }
  // The group's offsets cover only the partitions it committed: complete its topics with the
  // partitions it never committed (all of their records are lag).
  std::set<std::pair<std::string, int32_t>> known;
  std::set<std::string> topics;
  for (const auto& p : *lag) {
    known.insert({p.topic, p.partition});
    topics.insert(p.topic);
  }
  for (const std::string& topic : topics) {
    auto info = (*admin)->DescribeTopic(topic, options.connection.timeout());
    if (!info.ok()) continue;  // deleted since: its committed offsets are still shown
    for (const auto& partition : info->partitions) {
      if (known.count({topic, partition.id})) continue;
      messagecorps::PartitionLag missing;
      missing.topic = topic;
      missing.partition = partition.id;
      missing.low = partition.low;
      missing.high = partition.high;
      missing.lag = partition.high >= 0 && partition.low >= 0 ? partition.high - partition.low : -1;
      lag->push_back(std::move(missing));
    }
  }
  std::sort(lag->begin(), lag->end(), [](const auto& a, const auto& b) {
    return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
  });

  Json out{{"group", options.group}, {"state", nullptr}, {"members", Json::array()}};
  for (const auto& g : *groups) {
    if (g.group != options.group) continue;
    out["state"] = g.state;
    out["members"] = g.members;
  }
  Json partitions = Json::array();
  int64_t total = 0;
  for (const auto& p : *lag) {
    partitions.push_back(Json{{"topic", p.topic},
                              {"partition", p.partition},
                              {"committed", p.committed},
                              {"low", p.low},
                              {"high", p.high},
                              {"lag", p.lag}});
    if (p.lag > 0) total += p.lag;
  }
  out["lag"] = total;
  out["partitions"] = std::move(partitions);
  std::printf("%s\n", DumpJson(out).c_str());
  return kExitOk;
}

}  // namespace

Command AddGroupsCommand(CLI::App& parent) {
  auto options = std::make_shared<GroupsOptions>();
  CLI::App* app = parent.add_subcommand("groups", "List consumer groups, show a group's lag");
  app->require_subcommand(1);
  app->footer(R"(Examples:
  mcorps groups list -b localhost:9092
  mcorps groups describe display | jq '.partitions[] | select(.lag > 0)'
`describe` prints one JSON object: state, members, total lag and committed offset, watermarks
and lag per partition.)");
  CLI::App* list = app->add_subcommand("list", "Group names, one per line");
  AddConnectionOptions(*list, options->connection);
  list->footer("Example:\n  mcorps groups list -b localhost:9092");
  CLI::App* describe = app->add_subcommand("describe", "State, members and lag per partition");
  AddConnectionOptions(*describe, options->connection);
  describe->add_option("group", options->group, "Consumer group")->required();
  describe->footer(
      "Examples:\n  mcorps groups describe display\n  mcorps groups describe display | jq "
      "'.partitions[] | select(.lag > 0)'");
  return {app, [options, describe] { return RunGroups(*options, describe->parsed()); }};
}

}  // namespace mcorps
