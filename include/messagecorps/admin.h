// messagecorps/admin.h — topics and consumer groups (Kafka Admin API).
//
// Used by tests, `mcorps topics|groups` and services that create their topics at start-up.
// Not available on the embedded broker (librdkafka's mock cluster has no Admin API: calls fail
// with kUnimplemented/kInternal there; use EmbeddedBroker::CreateTopic instead).
//
// Thread-safety: every method may be called concurrently. Ownership: owns its librdkafka handle.
// Each call waits at most `timeout` and returns kDeadlineExceeded past it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "messagecorps/client_config.h"
#include "messagecorps/consumer.h"

namespace messagecorps {

struct TopicSpec {
  std::string name;
  int partitions = 1;
  int replication_factor = -1;                // -1: the broker's default
  std::map<std::string, std::string> config;  // e.g. {"retention.ms", "60000"}
};

struct PartitionInfo {
  int32_t id = 0;
  int32_t leader = -1;
  std::vector<int32_t> replicas;
  std::vector<int32_t> in_sync;
  int64_t low = -1, high = -1;  // watermarks (DescribeTopic only)
};

struct TopicInfo {
  std::string name;
  std::vector<PartitionInfo> partitions;
};

struct GroupInfo {
  std::string group;
  std::string state;                 // Stable, Empty, PreparingRebalance, ...
  std::string protocol_type;         // "consumer"
  std::vector<std::string> members;  // client ids
};

class AdminClient {
 public:
  static absl::StatusOr<std::unique_ptr<AdminClient>> Create(ClientConfig config);
  ~AdminClient();
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  // kAlreadyExists when the topic exists (unless ignore_existing), kInvalidArgument for a bad spec.
  absl::Status CreateTopic(const TopicSpec& spec, std::chrono::milliseconds timeout,
                           bool ignore_existing = false);
  // kNotFound when it does not exist.
  absl::Status DeleteTopic(const std::string& name, std::chrono::milliseconds timeout);
  // Topic names (internal topics such as __consumer_offsets excluded unless `include_internal`).
  absl::StatusOr<std::vector<std::string>> ListTopics(std::chrono::milliseconds timeout,
                                                      bool include_internal = false);
  // Every topic with its partitions, leaders and replicas (no watermarks: one metadata request),
  // sorted by name; internal topics excluded unless `include_internal`.
  absl::StatusOr<std::vector<TopicInfo>> DescribeTopics(std::chrono::milliseconds timeout,
                                                        bool include_internal = false);
  // Partitions, leaders, replicas and watermarks. kNotFound for an unknown topic.
  absl::StatusOr<TopicInfo> DescribeTopic(const std::string& name,
                                          std::chrono::milliseconds timeout);
  // Waits until `name` has `partitions` partitions with leaders (metadata propagates asynchronously
  // after CreateTopic).
  absl::Status WaitForTopic(const std::string& name, int partitions,
                            std::chrono::milliseconds timeout);

  // The value of the broker configuration `name` (e.g. "auto.create.topics.enable",
  // "num.partitions") as the cluster reports it for one of its brokers (the first in the
  // metadata: cluster-wide settings are the same on every broker of a consistently configured
  // cluster). kNotFound when the broker does not report that name.
  absl::StatusOr<std::string> BrokerConfig(const std::string& name,
                                           std::chrono::milliseconds timeout);

  absl::StatusOr<std::vector<GroupInfo>> ListGroups(std::chrono::milliseconds timeout);
  // The group's committed offsets with the topics' high watermarks: lag per partition.
  // kNotFound when the group has no committed offsets and no members.
  absl::StatusOr<std::vector<PartitionLag>> GroupLag(const std::string& group,
                                                     std::chrono::milliseconds timeout);

  const std::string& brokers() const;

 private:
  struct Impl;
  explicit AdminClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace messagecorps
