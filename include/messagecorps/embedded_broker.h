// messagecorps/embedded_broker.h — an in-process Kafka broker for demos and quick local runs.
//
// Wraps librdkafka's mock cluster: a real Kafka protocol server on random loopback ports, living in
// memory inside this process. Any Kafka client (librdkafka, kafka-python, confluent-kafka, other
// processes) can connect to bootstrap_servers().
//
// Limits (measured; see docs/embedded-broker.md): everything is lost at exit; each partition keeps
// only about 5 MiB / 100k batches and silently drops older records (keep consumers live, use many
// partitions, prefer JPEG frames); no Admin API (create topics here with CreateTopic); no
// offsets_for_times; transactions are accepted but aborts are not honoured; a departed consumer's
// partitions move only after its session.timeout.ms. Never rely on it for delivery guarantees:
// tests of those run against a real Apache Kafka (scripts/kafka).
//
// Ownership: the broker owns its librdkafka handle and mock cluster; destroying it closes every
// connection. Thread-safety: CreateTopic and bootstrap_servers may be called from any thread.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace messagecorps {

class EmbeddedBroker {
 public:
  struct Options {
    int brokers = 1;  // mock cluster size
    // Default partition count librdkafka's mock uses for auto-created topics is 4; topics made with
    // CreateTopic use their own count.
  };

  // Starts the mock cluster. Fails (kInternal) if librdkafka cannot create it.
  static absl::StatusOr<std::unique_ptr<EmbeddedBroker>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<EmbeddedBroker>> Start() { return Start(Options{}); }

  ~EmbeddedBroker();
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  // Comma-separated host:port list for bootstrap.servers.
  const std::string& bootstrap_servers() const { return bootstrap_; }

  // Creates a topic (kInvalidArgument for a bad name or partition count; kAlreadyExists is not
  // reported by the mock: creating twice keeps the first).
  absl::Status CreateTopic(const std::string& topic, int partitions, int replication_factor = 1);

 private:
  struct Impl;
  explicit EmbeddedBroker(std::unique_ptr<Impl> impl, std::string bootstrap);
  std::unique_ptr<Impl> impl_;
  std::string bootstrap_;
};

}  // namespace messagecorps
