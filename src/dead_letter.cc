#include "messagecorps/dead_letter.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "messagecorps/cloud_events.h"
#include "messagecorps/consumer.h"
#include "messagecorps/error.h"
#include "messagecorps/metrics.h"
#include "messagecorps/string_view.h"

namespace messagecorps {

std::string_view dead_letter_reason::DecodeFailureReason(const absl::Status& status) {
  return GetErrorReason(status) == ErrorReason::kDecodeLimit ? kDecodeLimit : kDecode;
}

DeadLetterPublisher::DeadLetterPublisher(Producer& producer, DeadLetterConfig config)
    : producer_(producer), config_(std::move(config)) {}

std::string DeadLetterPublisher::TopicFor(std::string_view original_topic) const {
  if (!config_.topic.empty()) return config_.topic;
  return absl::StrCat(AsAbsl(original_topic), config_.suffix);
}

std::future<DeliveryReport> DeadLetterPublisher::PublishAsync(const ReceivedMessage& record,
                                                              std::string_view reason,
                                                              const absl::Status& error) {
  Headers headers = record.headers();
  headers.emplace_back(header::kDlqReason, reason);
  // The code and message only: the payloads (error.h) are binary.
  headers.emplace_back(header::kDlqError,
                       error.ToString(absl::StatusToStringMode::kWithNoExtraData));
  headers.emplace_back(header::kDlqTopic, record.topic());
  headers.emplace_back(header::kDlqPartition, std::to_string(record.partition()));
  headers.emplace_back(header::kDlqOffset, std::to_string(record.offset()));

  const std::string topic = TopicFor(record.topic());
  auto promise = std::make_shared<std::promise<DeliveryReport>>();
  std::future<DeliveryReport> future = promise->get_future();

  SendOptions options;
  options.key = record.key();
  options.headers = &headers;
  options.on_delivery = [promise, counts = counts_,
                         metrics = config_.metrics](const DeliveryReport& report) {
    if (report.status.ok()) {
      counts->published.fetch_add(1, std::memory_order_relaxed);
      if (metrics) metrics->Add(Counter::kDeadLettered);
    } else {
      counts->failed.fetch_add(1, std::memory_order_relaxed);
    }
    promise->set_value(report);
  };
  absl::Status queued = producer_.SendEncoded(topic, record.value(), options);
  if (!queued.ok()) {
    counts_->failed.fetch_add(1, std::memory_order_relaxed);
    DeliveryReport failed;
    failed.topic = topic;
    failed.status =
        WithContext(queued, absl::StrCat("dead-letter ", AsAbsl(record.topic()), "[",
                                         record.partition(), "]@", record.offset(), " to ", topic));
    promise->set_value(std::move(failed));
  }
  return future;
}

absl::StatusOr<DeliveryReport> DeadLetterPublisher::Publish(const ReceivedMessage& record,
                                                            std::string_view reason,
                                                            const absl::Status& error) {
  std::future<DeliveryReport> future = PublishAsync(record, reason, error);
  // The producer's own poller serves the report; no need to poll here.
  if (future.wait_for(config_.delivery_timeout) != std::future_status::ready) {
    return absl::DeadlineExceededError(
        absl::StrCat("dead-letter ", AsAbsl(record.topic()), "[", record.partition(), "]@",
                     record.offset(), " to ", TopicFor(record.topic()),
                     ": no acknowledgement within ", config_.delivery_timeout.count(), " ms"));
  }
  DeliveryReport report = future.get();
  if (!report.status.ok()) return report.status;
  return report;
}

}  // namespace messagecorps
