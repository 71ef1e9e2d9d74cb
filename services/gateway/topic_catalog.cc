#include "gateway/topic_catalog.h"

#include <google/protobuf/descriptor.h>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "messagecorps/error.h"
#include "messagecorps/string_view.h"

namespace messagecorps::gateway {

TopicCatalog::TopicCatalog(std::shared_ptr<const TypeRegistry> registry,
                           std::unique_ptr<AdminClient> admin, CatalogOptions options,
                           std::shared_ptr<spdlog::logger> logger)
    : registry_(std::move(registry)),
      admin_(std::move(admin)),
      options_(options),
      logger_(std::move(logger)) {}

TopicCatalog::~TopicCatalog() { Stop(); }

void TopicCatalog::Start(std::function<void(bool)> on_reachable) {
  on_reachable_ = std::move(on_reachable);
  const bool up = Refresh();
  if (!up) logger_->warn("Kafka not reachable: {}", last_error().ToString());
  if (on_reachable_) on_reachable_(up);
  thread_ = std::thread([this] { Run(); });
}

void TopicCatalog::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TopicCatalog::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, options_.refresh_interval);
    if (stopping_) break;
    const bool was = reachable_;
    lock.unlock();
    const bool up = Refresh();
    if (up != was) {
      if (up) {
        logger_->info("Kafka reachable again");
      } else {
        logger_->warn("Kafka not reachable: {}", last_error().ToString());
      }
      if (on_reachable_) on_reachable_(up);
    }
    lock.lock();
  }
}

bool TopicCatalog::Refresh() {
  std::lock_guard refresh(refresh_mu_);
  auto topics = admin_->DescribeTopics(options_.request_timeout);
  std::lock_guard lock(mu_);
  last_refresh_ = std::chrono::steady_clock::now();
  if (!topics.ok()) {
    reachable_ = false;
    last_error_ = topics.status();
    logger_->debug("metadata: {}", topics.status().ToString());
    return false;
  }
  partitions_.clear();
  for (const TopicInfo& t : *topics) {
    partitions_[t.name] = static_cast<int>(t.partitions.size());
  }
  ever_answered_ = true;
  reachable_ = true;
  last_error_ = absl::OkStatus();
  return true;
}

bool TopicCatalog::reachable() const {
  std::lock_guard lock(mu_);
  return reachable_;
}

absl::Status TopicCatalog::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

absl::StatusOr<ResolvedTopic> TopicCatalog::Resolve(std::string_view topic) {
  const TopicBinding* binding = registry_->Find(topic);
  auto lookup = [&]() -> std::optional<int> {
    std::lock_guard lock(mu_);
    auto it = partitions_.find(topic);
    if (it == partitions_.end()) return std::nullopt;
    return it->second;
  };
  std::optional<int> partitions = lookup();
  if (!partitions) {
    bool refresh = false;
    {
      std::lock_guard lock(mu_);
      refresh = std::chrono::steady_clock::now() - last_refresh_ >= options_.min_forced_refresh;
    }
    if (refresh) Refresh();
    partitions = lookup();
  }
  if (!partitions) {
    {
      std::lock_guard lock(mu_);
      if (!ever_answered_) {
        return MakeError(absl::StatusCode::kUnavailable,
                         "Kafka has not answered yet: topics unknown",
                         ErrorReason::kBrokerUnavailable, /*retriable=*/true);
      }
    }
    if (binding != nullptr) {
      return MakeError(absl::StatusCode::kNotFound,
                       absl::StrCat("topic ", AsAbsl(topic), " is bound to ",
                                    binding->type->full_name(), " but does not exist in Kafka"),
                       ErrorReason::kUnknownTopic);
    }
    return MakeError(absl::StatusCode::kNotFound, absl::StrCat("unknown topic ", AsAbsl(topic)),
                     ErrorReason::kUnknownTopic);
  }
  if (binding == nullptr) {
    return MakeError(absl::StatusCode::kFailedPrecondition,
                     absl::StrCat("no message type is bound to topic ", AsAbsl(topic),
                                  " (bind one with the gateway's --registry)"),
                     ErrorReason::kNoTypeBound);
  }
  return ResolvedTopic{binding, *partitions};
}

std::vector<TopicEntry> TopicCatalog::List() const {
  std::map<std::string, TopicEntry, std::less<>> entries;
  for (const TopicBinding* b : registry_->Bindings()) {
    TopicEntry& e = entries[b->topic];
    e.name = b->topic;
    e.binding = b;
  }
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, count] : partitions_) {
      TopicEntry& e = entries[name];
      e.name = name;
      e.exists = true;
      e.partitions = count;
    }
  }
  std::vector<TopicEntry> out;
  out.reserve(entries.size());
  for (auto& [name, e] : entries) out.push_back(std::move(e));
  return out;
}

absl::StatusOr<TopicInfo> TopicCatalog::Describe(const std::string& topic) {
  absl::StatusOr<ResolvedTopic> resolved = Resolve(topic);
  if (!resolved.ok() && resolved.status().code() != absl::StatusCode::kFailedPrecondition) {
    return resolved.status();
  }
  std::unique_lock lock(describe_mu_);
  if (auto it = describing_.find(topic); it != describing_.end()) {
    std::shared_future<absl::StatusOr<TopicInfo>> under_way = it->second;
    lock.unlock();
    return under_way.get();  // bounded by the asker's request_timeout
  }
  std::promise<absl::StatusOr<TopicInfo>> answer;
  describing_.emplace(topic, answer.get_future().share());
  lock.unlock();
  absl::StatusOr<TopicInfo> info = admin_->DescribeTopic(topic, options_.request_timeout);
  lock.lock();
  describing_.erase(topic);
  lock.unlock();
  answer.set_value(info);
  return info;
}

}  // namespace messagecorps::gateway
