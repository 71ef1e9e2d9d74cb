#include "gateway/subscription.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gateway/topic_catalog.h"
#include "messagecorps/admin.h"
#include "messagecorps/error.h"
#include "messagecorps/offsets.h"
#include "messagecorps/payload.h"
#include "messagecorps/string_view.h"

namespace messagecorps::gateway {
namespace {

absl::Status Invalid(std::string_view field, std::string_view problem) {
  return WithFieldPath(
      absl::InvalidArgumentError(absl::StrCat(AsAbsl(field), ": ", AsAbsl(problem))), field);
}

}  // namespace

Subscription::Subscription(SubscribeSpec spec, const SubscriptionContext& context,
                           const TopicBinding* binding)
    : spec_(std::move(spec)), context_(context), binding_(binding) {}

Subscription::~Subscription() { Close(); }

absl::StatusOr<std::unique_ptr<Subscription>> Subscription::Open(
    const SubscribeSpec& spec, const SubscriptionContext& context) {
  absl::StatusOr<ResolvedTopic> topic = context.catalog->Resolve(spec.topic);
  if (!topic.ok()) return topic.status();
  std::unique_ptr<Subscription> sub(new Subscription(spec, context, topic->binding));
  const bool group = !spec.group.empty();

  std::optional<ResumePosition> token;
  if (spec.start == SubscribeSpec::Start::kToken) {
    absl::StatusOr<ResumePosition> decoded = context.tokens->Decode(spec.resume_token, spec.topic);
    if (!decoded.ok()) return WithFieldPath(decoded.status(), "resume_token");
    if (decoded->group != group) {
      return Invalid("resume_token", group ? "a fan-out token cannot resume a group subscription"
                                           : "a group token cannot resume a fan-out subscription");
    }
    token = *std::move(decoded);
  }

  ConsumerConfig cc;
  static_cast<ClientConfig&>(cc) = context.client;
  cc.statistics_interval = std::chrono::milliseconds(0);
  cc.metrics = nullptr;
  cc.properties.try_emplace("queued.max.messages.kbytes", std::to_string(context.fetch_kbytes));
  cc.properties.try_emplace("client.id", "mcorps-gateway");
  cc.topics = {spec.topic};
  cc.registry = &context.catalog->registry();
  cc.limits = context.limits;
  cc.max_batch = context.max_batch;

  if (group) {
    if (spec.start != SubscribeSpec::Start::kLatest &&
        spec.start != SubscribeSpec::Start::kEarliest &&
        spec.start != SubscribeSpec::Start::kToken) {
      return Invalid("start",
                     "a group starts at latest or earliest (or a resume token); "
                     "timestamps and offsets are for fan-out subscriptions");
    }
    if (token) sub->token_seeks_ = token->next_offsets;
    Subscription* raw = sub.get();
    // Called inside Poll, on the thread calling Next.
    cc.on_assign = [raw](const std::vector<TopicPartition>& parts) {
      for (const TopicPartition& tp : parts) raw->assigned_now_.push_back(tp.partition);
    };
    cc.on_revoke = [raw](const std::vector<TopicPartition>& parts) {
      std::lock_guard lock(raw->mu_);
      for (const TopicPartition& tp : parts) {
        raw->revoked_.push_back(tp.partition);
        raw->position_.next_offsets.erase(tp.partition);
        raw->to_commit_.erase(tp.partition);
      }
    };
    cc.group_id = spec.group;
    cc.start = spec.start == SubscribeSpec::Start::kEarliest ? StartOffset::kEarliest
                                                             : StartOffset::kLatest;
    cc.commit = CommitMode::kManual;
    sub->position_.group = true;
  } else {
    // Every partition from an absolute offset.
    std::vector<TopicPartition> assignment;
    for (int p = 0; p < topic->partitions; ++p) assignment.push_back({spec.topic, p, kOffsetEnd});
    for (const auto& [p, offset] : spec.offsets) {
      if (p < 0 || p >= topic->partitions) {
        return Invalid(
            absl::StrCat("offsets[", p, "]"),
            absl::StrCat("topic ", spec.topic, " has ", topic->partitions, " partitions"));
      }
      if (offset < 0) return Invalid(absl::StrCat("offsets[", p, "]"), "negative offset");
    }
    if (spec.start == SubscribeSpec::Start::kTimestamp && spec.timestamp_ms < 0) {
      return Invalid("timestamp_ms", "negative timestamp");
    }
    absl::StatusOr<TopicInfo> info = context.catalog->Describe(spec.topic);
    if (!info.ok()) return info.status();
    std::map<int32_t, PartitionInfo> watermarks;
    for (const PartitionInfo& p : info->partitions) watermarks[p.id] = p;
    auto high = [&](int32_t p) { return std::max<int64_t>(watermarks[p].high, 0); };
    auto low = [&](int32_t p) { return std::max<int64_t>(watermarks[p].low, 0); };

    if (spec.start == SubscribeSpec::Start::kTimestamp) {
      std::vector<TopicPartition> query;
      for (int p = 0; p < topic->partitions; ++p)
        query.push_back({spec.topic, p, spec.timestamp_ms});
      absl::StatusOr<std::vector<TopicPartition>> found =
          OffsetsForTimes(context.client, query, context.request_timeout);
      if (!found.ok()) return found.status();
      for (size_t i = 0; i < found->size() && i < assignment.size(); ++i) {
        assignment[i].offset = (*found)[i].offset;
      }
    }
    for (TopicPartition& tp : assignment) {
      const int32_t p = tp.partition;
      int64_t next = high(p);
      switch (spec.start) {
        case SubscribeSpec::Start::kLatest:
          break;
        case SubscribeSpec::Start::kEarliest:
          next = low(p);
          break;
        case SubscribeSpec::Start::kTimestamp:
          next = tp.offset >= 0 ? tp.offset : high(p);
          break;
        case SubscribeSpec::Start::kOffsets: {
          auto it = spec.offsets.find(p);
          if (it != spec.offsets.end()) next = it->second;
          break;
        }
        case SubscribeSpec::Start::kToken: {
          auto it = token->next_offsets.find(p);
          next = it != token->next_offsets.end() ? it->second : low(p);
          break;
        }
      }
      tp.offset = next;
      sub->position_.next_offsets[p] = next;
    }
    cc.assignment = std::move(assignment);
    // An offset no longer kept goes to the oldest kept record, not past the newest.
    cc.start = StartOffset::kEarliest;
  }

  absl::StatusOr<std::unique_ptr<Consumer>> consumer = Consumer::Create(std::move(cc));
  if (!consumer.ok()) return consumer.status();
  sub->consumer_ = *std::move(consumer);
  return sub;
}

void Subscription::CommitPending() {
  if (consumer_ == nullptr || !group()) return;
  std::vector<TopicPartition> commits;
  {
    std::lock_guard lock(mu_);
    for (const auto& [p, next] : to_commit_) commits.push_back({spec_.topic, p, next});
    to_commit_.clear();
  }
  if (commits.empty()) return;
  // A partition revoked meanwhile is refused (kFailedPrecondition): its new owner goes on.
  if (absl::Status s = consumer_->Commit(commits, /*async=*/true); !s.ok()) {
    if (context_.client.logger) context_.client.logger->debug("commit: {}", s.ToString());
  }
}

absl::StatusOr<std::vector<Delivery>> Subscription::Next(std::chrono::milliseconds timeout) {
  if (consumer_ == nullptr) return absl::FailedPreconditionError("subscription is closed");
  CommitPending();
  absl::StatusOr<std::vector<ReceivedMessage>> records = consumer_->Poll(timeout);
  if (!records.ok()) return records.status();
  // A resume token's positions, for partitions assigned just now: seek there, and drop what was
  // fetched from the committed offset.
  std::vector<int32_t> sought;
  for (int32_t p : std::exchange(assigned_now_, {})) {
    auto it = token_seeks_.find(p);
    if (it == token_seeks_.end()) continue;
    absl::Status s =
        consumer_->Seek(TopicPartition{spec_.topic, p, it->second}, context_.request_timeout);
    if (!s.ok() && context_.client.logger) {
      context_.client.logger->warn("resume token: seek {}[{}] to {}: {}", spec_.topic, p,
                                   it->second, s.ToString());
    }
    token_seeks_.erase(it);
    sought.push_back(p);
  }
  if (!sought.empty()) {
    std::erase_if(*records, [&](const ReceivedMessage& m) {
      return std::find(sought.begin(), sought.end(), m.partition()) != sought.end();
    });
  }
  std::vector<Delivery> out;
  out.reserve(records->size());
  std::lock_guard lock(mu_);
  for (ReceivedMessage& record : *records) {
    position_.next_offsets[record.partition()] = record.offset() + 1;
    std::string token = context_.tokens->Encode(spec_.topic, position_);
    out.push_back(Delivery{std::move(record), std::move(token)});
  }
  return out;
}

void Subscription::MarkWritten(int32_t partition, int64_t offset) {
  if (!group()) return;
  std::lock_guard lock(mu_);
  int64_t& next = to_commit_[partition];
  next = std::max(next, offset + 1);
}

void Subscription::MarkCommittable(int32_t partition, int64_t next_offset) {
  if (!group()) return;
  std::lock_guard lock(mu_);
  int64_t& next = to_commit_[partition];
  next = std::max(next, next_offset);
}

std::vector<int32_t> Subscription::TakeRevoked() {
  std::lock_guard lock(mu_);
  return std::exchange(revoked_, {});
}

std::string Subscription::Token() const {
  std::lock_guard lock(mu_);
  return context_.tokens->Encode(spec_.topic, position_);
}

void Subscription::Close(std::chrono::milliseconds timeout) {
  if (consumer_ == nullptr) return;
  if (group()) {
    std::vector<TopicPartition> commits;
    {
      std::lock_guard lock(mu_);
      for (const auto& [p, next] : to_commit_) commits.push_back({spec_.topic, p, next});
      to_commit_.clear();
    }
    if (!commits.empty()) (void)consumer_->Commit(commits, /*async=*/false);
  }
  (void)consumer_->Close(timeout);
  consumer_.reset();
}

}  // namespace messagecorps::gateway
