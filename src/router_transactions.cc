#include "router_transactions.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "messagecorps/error.h"

namespace messagecorps::internal {

namespace {

using namespace std::chrono_literals;

// Whether trying the same transactional call again can help: a timeout or a coordinator that
// moved — not an error that already says "abort" or "this producer is done".
bool WorthRetrying(const absl::Status& s) {
  return !s.ok() && IsRetriable(s) && !IsFatal(s) && !TransactionMustAbort(s);
}

// Calls `call` until it succeeds, fails for good, or was tried `attempts` times.
template <class F>
absl::Status Retrying(spdlog::logger& logger, std::string_view what, int attempts, F&& call) {
  absl::Status s;
  for (int i = 0; i < attempts; ++i) {
    s = call();
    if (!WorthRetrying(s)) return s;
    logger.warn("router: {}: retrying: {}", what, s.ToString());
    std::this_thread::sleep_for(200ms);
  }
  return s;
}

}  // namespace

RouterTransactions::RouterTransactions(ProducerConfig producer, DeadLetterConfig dead_letter,
                                       ExactlyOnceConfig config, spdlog::logger& logger)
    : producer_config_(std::move(producer)),
      dead_letter_config_(std::move(dead_letter)),
      config_(std::move(config)),
      logger_(logger) {
  producer_config_.transactional_id = config_.transactional_id;
}

absl::Status RouterTransactions::Renew() {
  dead_letters_.reset();
  producer_.reset();  // aborts its open transaction if it still can, within its close_timeout
  auto p = Producer::Create(producer_config_);
  if (!p.ok()) return p.status();
  producer_ = std::move(*p);
  dead_letters_ = std::make_unique<DeadLetterPublisher>(*producer_, dead_letter_config_);
  // InitTransactions may time out while the coordinator itself restarts: retried until
  // init_timeout in all.
  const auto deadline = std::chrono::steady_clock::now() + config_.init_timeout;
  absl::Status s;
  do {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    s = producer_->InitTransactions(std::max(left, std::chrono::milliseconds(1000)));
    if (!WorthRetrying(s)) break;
    logger_.warn("router: init transactions: retrying: {}", s.ToString());
    std::this_thread::sleep_for(200ms);
  } while (std::chrono::steady_clock::now() < deadline);
  if (!s.ok()) {
    return WithContext(
        s, absl::StrCat("init transactions of transactional id ", config_.transactional_id));
  }
  return absl::OkStatus();
}

absl::Status RouterTransactions::Start() {
  if (config_.transactional_id.empty()) {
    return absl::InvalidArgumentError(
        "router: exactly_once.transactional_id must not be empty (one stable id per instance)");
  }
  return Renew();
}

absl::Status RouterTransactions::Begin() { return producer_->BeginTransaction(); }

absl::Status RouterTransactions::Commit(const std::vector<TopicPartition>& next,
                                        const Consumer& consumer) {
  absl::Status s = Retrying(logger_, "send offsets to transaction", 2, [&] {
    return producer_->SendOffsetsToTransaction(next, consumer, config_.commit_timeout);
  });
  if (!s.ok()) return s;
  return Retrying(logger_, "commit transaction", 2,
                  [&] { return producer_->CommitTransaction(config_.commit_timeout); });
}

absl::Status RouterTransactions::Abort(const absl::Status& why, bool in_commit, bool& renewed) {
  renewed = false;
  if (IsFatal(why)) return why;
  // Still timing out after a retry: the coordinator does not answer this producer. Seen with
  // librdkafka 2.0.2 after the coordinator's node was killed and restarted — its requests stayed
  // queued, never sent (fixed in 2.10.0, librdkafka #4970). Only a new producer gets out of that.
  if (in_commit && WorthRetrying(why)) {
    renewed = true;
    logger_.warn("router: the transaction coordinator does not answer ({}): replacing the producer",
                 why.ToString());
    return Renew();
  }
  if (!producer_->in_transaction()) return absl::OkStatus();
  absl::Status s = Retrying(logger_, "abort transaction", 20,
                            [&] { return producer_->AbortTransaction(config_.commit_timeout); });
  if (WorthRetrying(s)) {  // the abort itself does not get through: same remedy
    renewed = true;
    return Renew();
  }
  return s;
}

}  // namespace messagecorps::internal
