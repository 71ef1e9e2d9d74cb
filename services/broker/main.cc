// mcorps-broker: the embedded Kafka broker (librdkafka's mock cluster) in the foreground, with the
// example system's topics pre-created. Prints the bootstrap list on stdout (one line) and writes
// it to --bootstrap-file; exits cleanly on SIGINT/SIGTERM.
//
// Limits (docs/example-system.md): in memory only, ~5 MiB retained per partition (older records
// silently pruned), loopback only, random ports, no Admin API.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "common/shutdown.h"
#include "common/topics.h"
#include "messagecorps/embedded_broker.h"
#include "messagecorps/logging.h"

namespace ms = messagecorps::services;

int main(int argc, char** argv) {
  CLI::App app{"mcorps-broker: an in-memory Kafka broker for the example system"};
  std::vector<std::string> topic_args;
  std::string bootstrap_file;
  int nodes = 1;
  app.add_option("--topic", topic_args,
                 "NAME:PARTITIONS to pre-create (repeatable; default VideoStream:8, Predictions:8, "
                 "VideoStream.DLQ:1, Predictions.DLQ:1)");
  app.add_option("--bootstrap-file", bootstrap_file, "also write the bootstrap list to this file");
  app.add_option("--nodes", nodes, "brokers in the mock cluster")->check(CLI::Range(1, 9));
  CLI11_PARSE(app, argc, argv);

  auto logger = messagecorps::logging::MakeLoggerFromEnvironment("broker");
  std::vector<messagecorps::TopicSpec> topics;
  if (topic_args.empty()) {
    topics = ms::DefaultTopics();
  } else {
    for (const auto& t : topic_args) {
      auto spec = ms::ParseTopicSpec(t);
      if (!spec.ok()) {
        std::cerr << "mcorps-broker: " << spec.status().message() << "\n";
        return 2;
      }
      topics.push_back(*spec);
    }
  }

  ms::InstallStopSignals();
  auto broker = messagecorps::EmbeddedBroker::Start({.brokers = nodes});
  if (!broker.ok()) {
    logger->critical("cannot start the embedded broker: {}", broker.status().ToString());
    return 1;
  }
  for (const auto& t : topics) {
    auto s = (*broker)->CreateTopic(t.name, t.partitions);
    if (!s.ok()) {
      logger->critical("cannot create topic {}: {}", t.name, s.ToString());
      return 1;
    }
    logger->info("topic {} with {} partitions", t.name, t.partitions);
  }
  const std::string& bootstrap = (*broker)->bootstrap_servers();
  if (!bootstrap_file.empty()) {
    // Written atomically (rename) so a reader never sees a partial list.
    const std::string tmp = bootstrap_file + ".tmp";
    {
      std::ofstream out(tmp);
      out << bootstrap << "\n";
      if (!out) {
        logger->critical("cannot write {}", tmp);
        return 1;
      }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, bootstrap_file, ec);
    if (ec) {
      logger->critical("cannot write {}: {}", bootstrap_file, ec.message());
      return 1;
    }
  }
  std::cout << bootstrap << std::endl;
  logger->info("embedded broker serving at {} (in memory; Ctrl-C stops it)", bootstrap);
  while (!ms::WaitForStop(std::chrono::seconds(1))) {
  }
  logger->info("stopping the embedded broker");
  broker->reset();
  if (!bootstrap_file.empty()) std::filesystem::remove(bootstrap_file);
  return 0;
}
