// mcorps-broker: the embedded Kafka broker (librdkafka's mock cluster) in the foreground, with the
// example system's topics pre-created. Prints the bootstrap list on stdout (one line) and writes
// it to --bootstrap-file; exits cleanly on SIGINT/SIGTERM (messagecorps/program/stop.h).
//
// Limits (docs/example-system.md): in memory only, ~5 MiB retained per partition (older records
// silently pruned), loopback only, random ports, no Admin API.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "common/atomic_file.h"
#include "common/topics.h"
#include "messagecorps/embedded_broker.h"
#include "messagecorps/program/program.h"

namespace ms = messagecorps::services;
namespace mp = messagecorps::program;

int main(int argc, char** argv) {
  CLI::App app{"mcorps-broker: an in-memory Kafka broker for the example system"};
  std::vector<std::string> topic_args;
  std::string bootstrap_file;
  int nodes = 1;
  mp::LogOptions log;
  app.add_option("--topic", topic_args,
                 "NAME:PARTITIONS to pre-create (repeatable; default VideoStream:8, Predictions:8, "
                 "VideoStream.DLQ:1, Predictions.DLQ:1)");
  app.add_option("--bootstrap-file", bootstrap_file, "also write the bootstrap list to this file");
  app.add_option("--nodes", nodes, "brokers in the mock cluster")->check(CLI::Range(1, 9));
  mp::AddLogOptions(app, log);
  CLI11_PARSE(app, argc, argv);

  mp::StopSignals stop;
  auto topics = ms::ParseTopicSpecs(topic_args, ms::DefaultTopics());
  if (!topics.ok()) return mp::Fail("mcorps-broker", topics.status());
  auto logger = mp::MakeLogger("broker", log, "info");
  if (!logger.ok()) return mp::Fail("mcorps-broker", logger.status());
  auto broker = messagecorps::EmbeddedBroker::Start({.brokers = nodes});
  if (!broker.ok()) return mp::Fail("mcorps-broker", broker.status());
  for (const auto& t : *topics) {
    if (auto s = (*broker)->CreateTopic(t.name, t.partitions); !s.ok()) {
      return mp::Fail("mcorps-broker", s);
    }
    (*logger)->info("topic {} with {} partitions", t.name, t.partitions);
  }
  const std::string& bootstrap = (*broker)->bootstrap_servers();
  if (!bootstrap_file.empty()) {
    if (auto s = ms::WriteFileAtomically(bootstrap_file, bootstrap + "\n"); !s.ok()) {
      return mp::Fail("mcorps-broker", s);
    }
  }
  std::cout << bootstrap << std::endl;
  (*logger)->info("embedded broker serving at {} (in memory; Ctrl-C stops it)", bootstrap);
  while (!mp::SleepFor(stop.token(), std::chrono::seconds(60))) {
  }
  (*logger)->info("stopping the embedded broker");
  broker->reset();
  if (!bootstrap_file.empty()) std::filesystem::remove(bootstrap_file);
  return 0;
}
