#include "messagecorps/admin.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client_core.h"
#include "messagecorps/error.h"
#include "rdkafka_handles.h"

namespace messagecorps {

namespace {

using SteadyClock = std::chrono::steady_clock;

struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};
using AdminOptionsHandle = std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter>;

int Ms(std::chrono::milliseconds t) { return static_cast<int>(std::max<int64_t>(t.count(), 1)); }

}  // namespace

struct AdminClient::Impl : internal::ClientCore {
  std::string brokers;
  internal::KafkaHandle rk;

  AdminOptionsHandle Options(rd_kafka_admin_op_t op, std::chrono::milliseconds timeout) {
    AdminOptionsHandle o(rd_kafka_AdminOptions_new(rk.get(), op));
    char errstr[256];
    rd_kafka_AdminOptions_set_request_timeout(o.get(), Ms(timeout), errstr, sizeof errstr);
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS) {
      rd_kafka_AdminOptions_set_operation_timeout(o.get(), Ms(timeout), errstr, sizeof errstr);
    }
    return o;
  }

  // How often a waiting call serves librdkafka's error callback (rd_kafka_poll) and looks for a
  // connection failure (wrong password, untrusted certificate): what makes those fail within
  // this much after librdkafka reports them instead of at the end of the timeout.
  static constexpr std::chrono::milliseconds kSlice{100};

  // Serves the error callback; the connection failure, if any, as the error of `what`.
  absl::Status CheckConnection(std::string_view what) {
    rd_kafka_poll(rk.get(), 0);
    absl::Status failure = ConnectionFailure();
    return failure.ok() ? failure : Explain(failure, what);
  }

  // Waits for the result event of one admin call on `queue`.
  absl::StatusOr<internal::EventHandle> Await(rd_kafka_queue_t* queue, rd_kafka_event_type_t type,
                                              std::chrono::milliseconds timeout,
                                              std::string_view what) {
    // A little more than the request timeout: librdkafka reports its own timeout first.
    const auto deadline = SteadyClock::now() + timeout + std::chrono::milliseconds(2000);
    internal::EventHandle ev;
    while (!ev && SteadyClock::now() < deadline) {
      ev.reset(rd_kafka_queue_poll(queue, Ms(kSlice)));
      if (!ev) {
        if (absl::Status s = CheckConnection(what); !s.ok()) return s;
      }
    }
    if (!ev) {
      return Explain(absl::DeadlineExceededError(absl::StrCat(
                         std::string(what), ": no answer within ", timeout.count(), " ms")),
                     what);
    }
    if (rd_kafka_event_type(ev.get()) != type) {
      return absl::InternalError(absl::StrCat(std::string(what), ": unexpected admin event ",
                                              rd_kafka_event_name(ev.get())));
    }
    if (rd_kafka_resp_err_t err = rd_kafka_event_error(ev.get())) {
      return Explain(KafkaError(err, absl::StrCat(std::string(what), ": ",
                                                  Scrub(rd_kafka_event_error_string(ev.get())))),
                     what);
    }
    return ev;
  }

  // rd_kafka_metadata for all topics, in slices (see kSlice).
  absl::Status Metadata(std::chrono::milliseconds timeout, std::string_view what,
                        const rd_kafka_metadata_t** md) {
    const auto deadline = SteadyClock::now() + timeout;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    std::chrono::milliseconds slice{250};
    while (SteadyClock::now() < deadline) {
      // A metadata request gets a slice of its own at least: on a slow link each try needs
      // time to be answered. The first tries are short, later ones longer (up to 2 s).
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
      err = rd_kafka_metadata(rk.get(), 1, nullptr, md, Ms(std::min(left, slice)));
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
      if (absl::Status s = CheckConnection(what); !s.ok()) return s;
      if (err != RD_KAFKA_RESP_ERR__TIMED_OUT && err != RD_KAFKA_RESP_ERR__TRANSPORT) break;
      slice = std::min(slice * 2, std::chrono::milliseconds(2000));
    }
    return Explain(KafkaError(err, what, true), what);
  }
};

absl::StatusOr<std::unique_ptr<AdminClient>> AdminClient::Create(ClientConfig config) {
  auto impl = std::make_unique<Impl>();
  internal::InitCore(*impl, config, "admin");
  auto brokers = ResolveBrokers(config);
  if (!brokers.ok()) return brokers.status();
  impl->brokers = *brokers;
  auto conf = internal::BuildConf(config, {}, impl.get());
  if (!conf.ok()) return conf.status();
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), errstr, sizeof errstr);
  if (rk == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin: ", RedactSecrets(errstr, config.properties)));
  }
  (void)conf->release();
  impl->rk.reset(rk);
  impl->name = rd_kafka_name(rk);
  return std::unique_ptr<AdminClient>(new AdminClient(std::move(impl)));
}

AdminClient::AdminClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminClient::~AdminClient() = default;

const std::string& AdminClient::brokers() const { return impl_->brokers; }

absl::Status AdminClient::CreateTopic(const TopicSpec& spec, std::chrono::milliseconds timeout,
                                      bool ignore_existing) {
  char errstr[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions,
                                                  spec.replication_factor, errstr, sizeof errstr);
  if (nt == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("create topic ", spec.name, ": ", errstr));
  }
  for (const auto& [k, v] : spec.config) {
    if (rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_NewTopic_destroy(nt);
      return absl::InvalidArgumentError(
          absl::StrCat("create topic ", spec.name, ": bad config ", k));
    }
  }
  internal::QueueHandle queue(rd_kafka_queue_new(impl_->rk.get()));
  auto options = impl_->Options(RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout);
  rd_kafka_CreateTopics(impl_->rk.get(), &nt, 1, options.get(), queue.get());
  rd_kafka_NewTopic_destroy(nt);
  auto ev = impl_->Await(queue.get(), RD_KAFKA_EVENT_CREATETOPICS_RESULT, timeout,
                         absl::StrCat("create topic ", spec.name));
  if (!ev.ok()) return ev.status();
  size_t n = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev->get()), &n);
  for (size_t i = 0; i < n; ++i) {
    rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
    if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS && ignore_existing) continue;
    if (err) {
      const char* msg = rd_kafka_topic_result_error_string(results[i]);
      return KafkaError(err,
                        absl::StrCat("create topic ", spec.name, msg ? ": " : "", msg ? msg : ""));
    }
  }
  return absl::OkStatus();
}

absl::Status AdminClient::DeleteTopic(const std::string& name, std::chrono::milliseconds timeout) {
  rd_kafka_DeleteTopic_t* dt = rd_kafka_DeleteTopic_new(name.c_str());
  internal::QueueHandle queue(rd_kafka_queue_new(impl_->rk.get()));
  auto options = impl_->Options(RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout);
  rd_kafka_DeleteTopics(impl_->rk.get(), &dt, 1, options.get(), queue.get());
  rd_kafka_DeleteTopic_destroy(dt);
  auto ev = impl_->Await(queue.get(), RD_KAFKA_EVENT_DELETETOPICS_RESULT, timeout,
                         absl::StrCat("delete topic ", name));
  if (!ev.ok()) return ev.status();
  size_t n = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev->get()), &n);
  for (size_t i = 0; i < n; ++i) {
    if (rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i])) {
      return KafkaError(err, absl::StrCat("delete topic ", name));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> AdminClient::ListTopics(std::chrono::milliseconds timeout,
                                                                 bool include_internal) {
  const rd_kafka_metadata_t* md = nullptr;
  if (absl::Status s = impl_->Metadata(timeout, "list topics", &md); !s.ok()) return s;
  std::vector<std::string> out;
  for (int i = 0; i < md->topic_cnt; ++i) {
    std::string name = md->topics[i].topic;
    if (!include_internal && name.rfind("__", 0) == 0) continue;
    out.push_back(std::move(name));
  }
  rd_kafka_metadata_destroy(md);
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<std::vector<TopicInfo>> AdminClient::DescribeTopics(
    std::chrono::milliseconds timeout, bool include_internal) {
  const rd_kafka_metadata_t* md = nullptr;
  // Typed errors (authentication, TLS, unreachable) as DescribeTopic gives them.
  if (absl::Status s = impl_->Metadata(timeout, "describe topics", &md); !s.ok()) return s;
  std::unique_ptr<const rd_kafka_metadata_t, void (*)(const rd_kafka_metadata_t*)> guard(
      md, rd_kafka_metadata_destroy);
  std::vector<TopicInfo> out;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (t.err) continue;  // e.g. a topic being deleted
    if (!include_internal && std::string_view(t.topic).rfind("__", 0) == 0) continue;
    TopicInfo info;
    info.name = t.topic;
    for (int p = 0; p < t.partition_cnt; ++p) {
      const rd_kafka_metadata_partition_t& mp = t.partitions[p];
      PartitionInfo pi;
      pi.id = mp.id;
      pi.leader = mp.leader;
      pi.replicas.assign(mp.replicas, mp.replicas + mp.replica_cnt);
      pi.in_sync.assign(mp.isrs, mp.isrs + mp.isr_cnt);
      info.partitions.push_back(std::move(pi));
    }
    std::sort(info.partitions.begin(), info.partitions.end(),
              [](const PartitionInfo& a, const PartitionInfo& b) { return a.id < b.id; });
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(),
            [](const TopicInfo& a, const TopicInfo& b) { return a.name < b.name; });
  return out;
}

absl::StatusOr<TopicInfo> AdminClient::DescribeTopic(const std::string& name,
                                                     std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* md = nullptr;
  if (absl::Status s = impl_->Metadata(timeout, "describe topic " + name, &md); !s.ok()) return s;
  std::unique_ptr<const rd_kafka_metadata_t, void (*)(const rd_kafka_metadata_t*)> guard(
      md, rd_kafka_metadata_destroy);
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (name != t.topic) continue;
    if (t.err) return KafkaError(t.err, "describe topic " + name);
    TopicInfo info;
    info.name = t.topic;
    for (int p = 0; p < t.partition_cnt; ++p) {
      const rd_kafka_metadata_partition_t& mp = t.partitions[p];
      PartitionInfo pi;
      pi.id = mp.id;
      pi.leader = mp.leader;
      pi.replicas.assign(mp.replicas, mp.replicas + mp.replica_cnt);
      pi.in_sync.assign(mp.isrs, mp.isrs + mp.isr_cnt);
      rd_kafka_query_watermark_offsets(impl_->rk.get(), t.topic, mp.id, &pi.low, &pi.high,
                                       Ms(timeout));
      info.partitions.push_back(std::move(pi));
    }
    std::sort(info.partitions.begin(), info.partitions.end(),
              [](const PartitionInfo& a, const PartitionInfo& b) { return a.id < b.id; });
    return info;
  }
  return absl::NotFoundError(absl::StrCat("topic ", name, " does not exist"));
}

absl::Status AdminClient::WaitForTopic(const std::string& name, int partitions,
                                       std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  absl::Status last = absl::NotFoundError(absl::StrCat("topic ", name, " not visible"));
  while (SteadyClock::now() < deadline) {
    auto info = DescribeTopic(name, std::chrono::milliseconds(2000));
    if (info.ok()) {
      bool ready = static_cast<int>(info->partitions.size()) >= partitions;
      for (const auto& p : info->partitions) ready = ready && p.leader >= 0;
      if (ready) return absl::OkStatus();
      last =
          absl::UnavailableError(absl::StrCat("topic ", name, ": partitions without leader yet"));
    } else {
      last = info.status();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("topic ", name, " not ready within ", timeout.count(), " ms: ", last.message()));
}

absl::StatusOr<std::string> AdminClient::BrokerConfig(const std::string& name,
                                                      std::chrono::milliseconds timeout) {
  const std::string what = "broker configuration " + name;
  const rd_kafka_metadata_t* md = nullptr;
  if (absl::Status s = impl_->Metadata(timeout, what, &md); !s.ok()) return s;
  std::unique_ptr<const rd_kafka_metadata_t, void (*)(const rd_kafka_metadata_t*)> guard(
      md, rd_kafka_metadata_destroy);
  if (md->broker_cnt == 0) return absl::UnavailableError(what + ": no broker in the metadata");
  const std::string broker_id = std::to_string(md->brokers[0].id);

  rd_kafka_ConfigResource_t* resource =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_BROKER, broker_id.c_str());
  internal::QueueHandle queue(rd_kafka_queue_new(impl_->rk.get()));
  auto options = impl_->Options(RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout);
  rd_kafka_DescribeConfigs(impl_->rk.get(), &resource, 1, options.get(), queue.get());
  rd_kafka_ConfigResource_destroy(resource);
  auto ev = impl_->Await(queue.get(), RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, timeout, what);
  if (!ev.ok()) return ev.status();
  size_t n = 0;
  const rd_kafka_ConfigResource_t** resources = rd_kafka_DescribeConfigs_result_resources(
      rd_kafka_event_DescribeConfigs_result(ev->get()), &n);
  for (size_t i = 0; i < n; ++i) {
    if (rd_kafka_resp_err_t err = rd_kafka_ConfigResource_error(resources[i])) {
      return KafkaError(err, absl::StrCat(what, " of broker ", broker_id));
    }
    size_t entries = 0;
    const rd_kafka_ConfigEntry_t** config = rd_kafka_ConfigResource_configs(resources[i], &entries);
    for (size_t e = 0; e < entries; ++e) {
      if (name != rd_kafka_ConfigEntry_name(config[e])) continue;
      const char* value = rd_kafka_ConfigEntry_value(config[e]);
      return std::string(value != nullptr ? value : "");
    }
  }
  return absl::NotFoundError(absl::StrCat(what, ": not reported by broker ", broker_id));
}

absl::StatusOr<std::vector<GroupInfo>> AdminClient::ListGroups(std::chrono::milliseconds timeout) {
  const rd_kafka_group_list* list = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_list_groups(impl_->rk.get(), nullptr, &list, Ms(timeout));
  if (err) return KafkaError(err, "list groups", true);
  std::vector<GroupInfo> out;
  for (int i = 0; i < list->group_cnt; ++i) {
    const rd_kafka_group_info& g = list->groups[i];
    GroupInfo info;
    info.group = g.group;
    info.state = g.state ? g.state : "";
    info.protocol_type = g.protocol_type ? g.protocol_type : "";
    for (int m = 0; m < g.member_cnt; ++m) info.members.push_back(g.members[m].client_id);
    out.push_back(std::move(info));
  }
  rd_kafka_group_list_destroy(list);
  std::sort(out.begin(), out.end(),
            [](const GroupInfo& a, const GroupInfo& b) { return a.group < b.group; });
  return out;
}

absl::StatusOr<std::vector<PartitionLag>> AdminClient::GroupLag(const std::string& group,
                                                                std::chrono::milliseconds timeout) {
  rd_kafka_ListConsumerGroupOffsets_t* req =
      rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), nullptr);
  internal::QueueHandle queue(rd_kafka_queue_new(impl_->rk.get()));
  auto options = impl_->Options(RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, timeout);
  rd_kafka_ListConsumerGroupOffsets(impl_->rk.get(), &req, 1, options.get(), queue.get());
  rd_kafka_ListConsumerGroupOffsets_destroy(req);
  auto ev = impl_->Await(queue.get(), RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT, timeout,
                         "group lag of " + group);
  if (!ev.ok()) return ev.status();
  size_t n = 0;
  const rd_kafka_group_result_t** groups = rd_kafka_ListConsumerGroupOffsets_result_groups(
      rd_kafka_event_ListConsumerGroupOffsets_result(ev->get()), &n);
  std::vector<PartitionLag> out;
  for (size_t i = 0; i < n; ++i) {
    if (const rd_kafka_error_t* e = rd_kafka_group_result_error(groups[i])) {
      return KafkaError(rd_kafka_error_code(e), "group lag of " + group);
    }
    const rd_kafka_topic_partition_list_t* parts = rd_kafka_group_result_partitions(groups[i]);
    for (int p = 0; parts && p < parts->cnt; ++p) {
      PartitionLag lag;
      lag.topic = parts->elems[p].topic;
      lag.partition = parts->elems[p].partition;
      lag.committed = parts->elems[p].offset >= 0 ? parts->elems[p].offset : -1;
      rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
          impl_->rk.get(), lag.topic.c_str(), lag.partition, &lag.low, &lag.high, Ms(timeout));
      if (err) return KafkaError(err, "group lag: watermarks", true);
      lag.lag =
          lag.committed >= 0 ? std::max<int64_t>(0, lag.high - lag.committed) : lag.high - lag.low;
      out.push_back(std::move(lag));
    }
  }
  if (out.empty()) {
    return absl::NotFoundError(absl::StrCat("group ", group, " has no committed offsets"));
  }
  std::sort(out.begin(), out.end(), [](const PartitionLag& a, const PartitionLag& b) {
    return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
  });
  return out;
}

}  // namespace messagecorps
