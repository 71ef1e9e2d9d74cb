#include "support/history_io.h"

#include <gtest/gtest.h>

#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "support/test_topics.h"

namespace messagecorps::testing {

mcorps_test::HistoryRecord MakeHistoryRecord(const std::string& writer, int64_t seq,
                                             size_t filler_bytes) {
  mcorps_test::HistoryRecord r;
  r.set_writer(writer);
  r.set_seq(seq);
  r.set_filler(std::string(filler_bytes, 'h'));
  return r;
}

namespace {
constexpr std::string_view kEndMarker = "end-marker";
}  // namespace

bool IsEndMarker(const mcorps_test::HistoryRecord& record) {
  return record.writer().empty() && record.filler().rfind(kEndMarker, 0) == 0;
}

TypeRegistry HistoryRegistry(const std::vector<std::string>& topics) {
  TypeRegistry registry;
  for (const std::string& t : topics) {
    absl::Status s = registry.Bind(t, mcorps_test::HistoryRecord::descriptor());
    if (!s.ok()) ADD_FAILURE() << s;
  }
  return registry;
}

HistoryWriter::HistoryWriter(std::string name, Producer& producer, History& history,
                             std::string topic, size_t filler_bytes)
    : name_(std::move(name)),
      producer_(producer),
      history_(history),
      topic_(std::move(topic)),
      record_(MakeHistoryRecord(name_, 0, filler_bytes)) {}

absl::Status HistoryWriter::SendNext(int32_t partition) {
  const int64_t seq = next_;
  record_.set_seq(seq);
  record_.clear__message_data();  // stamped afresh by the producer
  SendOptions options;
  options.partition = partition;
  // The History outlives every producer of a scenario (and so every report).
  options.on_delivery = [history = &history_, name = name_, seq](const DeliveryReport& r) {
    if (r.status.ok()) {
      history->Acked(name, seq, r.partition, r.offset);
    } else {
      history->Failed(name, seq, r.status, r.possibly_persisted);
    }
  };
  absl::Status s = producer_.Send(topic_, record_, options);
  if (!s.ok()) return s;
  history_.Sent(name_, seq);
  ++next_;
  return absl::OkStatus();
}

HistoryReader::HistoryReader(std::string brokers, std::vector<TopicSpec> topics, History& history,
                             bool read_committed)
    : brokers_(std::move(brokers)),
      topics_(std::move(topics)),
      history_(history),
      read_committed_(read_committed),
      marker_(UniqueName(std::string(kEndMarker))) {
  std::vector<std::string> names;
  for (const auto& t : topics_) names.push_back(t.name);
  registry_ = HistoryRegistry(names);
}

HistoryReader::~HistoryReader() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
  if (consumer_) (void)consumer_->Close(std::chrono::seconds(5));
}

absl::Status HistoryReader::Start() {
  ConsumerConfig config;
  config.brokers = brokers_;
  config.group_id = UniqueName("history-reader");  // unused: an explicit assignment joins no group
  config.registry = &registry_;
  config.start = StartOffset::kEarliest;
  config.properties["isolation.level"] = read_committed_ ? "read_committed" : "read_uncommitted";
  for (const auto& t : topics_) {
    for (int p = 0; p < t.partitions; ++p)
      config.assignment.push_back({t.name, p, kOffsetBeginning});
  }
  auto consumer = Consumer::Create(std::move(config));
  if (!consumer.ok()) return consumer.status();
  consumer_ = std::move(*consumer);
  thread_ = std::jthread([this](std::stop_token stop) { Run(stop); });
  return absl::OkStatus();
}

void HistoryReader::Run(std::stop_token stop) {
  std::set<std::pair<std::string, int32_t>> marked;
  while (!stop.stop_requested()) {
    auto batch = consumer_->Poll(std::chrono::milliseconds(100));
    if (!batch.ok()) {
      poll_error_ = batch.status();
      poll_failed_ = true;
      return;
    }
    const int64_t now = NowNs();
    for (ReceivedMessage& m : *batch) {
      ReadRecord r;
      r.topic = std::string(m.topic());
      r.partition = m.partition();
      r.offset = m.offset();
      r.at_ns = now;
      if (const auto* h = m.As<mcorps_test::HistoryRecord>()) {
        if (IsEndMarker(*h)) {
          if (h->filler() == marker_ && marked.insert({r.topic, r.partition}).second) {
            ++markers_seen_;
          }
          continue;
        }
        r.writer = h->writer();
        r.seq = h->seq();
        r.transaction = h->transaction();
        r.processed_by = h->processed_by();
        if (!h->processed_by().empty()) {
          r.input_partition = h->input_partition();
          r.input_offset = h->input_offset();
        }
      }
      ++records_;
      history_.Read(std::move(r));
    }
  }
}

absl::Status HistoryReader::DrainToEnd(std::chrono::milliseconds timeout) {
  if (!consumer_) return absl::FailedPreconditionError("history reader: not started");
  int partitions = 0;
  {
    ProducerConfig pc;
    pc.brokers = brokers_;
    pc.envelope = EnvelopeSettings{"history-reader", protobuf::common::DEVELOPMENT};
    auto producer = Producer::Create(pc);
    if (!producer.ok()) return producer.status();
    mcorps_test::HistoryRecord marker;
    marker.set_filler(marker_);
    for (const auto& t : topics_) {
      Topic<mcorps_test::HistoryRecord> topic(t.name);
      for (int p = 0; p < t.partitions; ++p, ++partitions) {
        SendOptions options;
        options.partition = p;
        auto report = (*producer)->SendSync(topic, marker, options, timeout);
        if (!report.ok()) {
          return absl::Status(report.status().code(),
                              absl::StrCat("history reader: end marker to ", t.name, "[", p,
                                           "]: ", report.status().message()));
        }
      }
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (markers_seen_.load() < partitions && !poll_failed_.load() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  thread_.request_stop();
  thread_.join();
  if (poll_failed_.load()) return poll_error_;
  if (markers_seen_.load() < partitions) {
    return absl::DeadlineExceededError(
        absl::StrCat("history reader: ", partitions - markers_seen_.load(), " of ", partitions,
                     " partition(s) not read to their end marker within ", timeout.count(), " ms"));
  }
  return absl::OkStatus();
}

}  // namespace messagecorps::testing
