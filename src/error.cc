#include "messagecorps/error.h"

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "messagecorps/string_view.h"

namespace messagecorps {
namespace {

constexpr absl::string_view kPayloadUrl = "type.messagecorps.dev/ErrorDetail";

// Payload layout: int32 code (host byte order is fine: it never leaves the process), one byte of
// flags (retriable 1, fatal 2, abort_transaction 4), one byte of reason.
constexpr size_t kDetailSize = 6;

std::string EncodeDetail(const ErrorDetail& d) {
  std::string out(kDetailSize, '\0');
  std::int32_t code = d.kafka_code;
  std::memcpy(out.data(), &code, sizeof code);
  out[4] =
      static_cast<char>((d.retriable ? 1 : 0) | (d.fatal ? 2 : 0) | (d.abort_transaction ? 4 : 0));
  out[5] = static_cast<char>(d.reason);
  return out;
}

absl::StatusCode CodeForKafka(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
      return absl::StatusCode::kOk;
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
      return absl::StatusCode::kDeadlineExceeded;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
      return absl::StatusCode::kResourceExhausted;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      return absl::StatusCode::kNotFound;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
      return absl::StatusCode::kUnavailable;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
      return absl::StatusCode::kInvalidArgument;
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
      return absl::StatusCode::kAlreadyExists;
    case RD_KAFKA_RESP_ERR__STATE:
    case RD_KAFKA_RESP_ERR__DESTROY:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
      return absl::StatusCode::kFailedPrecondition;
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
      return absl::StatusCode::kAborted;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
      return absl::StatusCode::kPermissionDenied;
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM:
    case RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE:
      return absl::StatusCode::kUnauthenticated;
    case RD_KAFKA_RESP_ERR__SSL:
      return absl::StatusCode::kUnavailable;
    case RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
      return absl::StatusCode::kUnimplemented;
    default:
      return absl::StatusCode::kInternal;
  }
}

constexpr std::string_view kReasonNames[] = {
    "unspecified",
    "queue_full",
    "record_too_large",
    "unknown_topic",
    "unknown_partition",
    "timeout",
    "broker_unavailable",
    "authentication",
    "authorization",
    "tls",
    "protocol_mismatch",
    "invalid_config",
    "fenced",
    "rebalance",
    "malformed_record",
    "decode_limit",
    "wrong_type",
    "no_type_bound",
};
static_assert(std::size(kReasonNames) == static_cast<size_t>(kLastErrorReason) + 1,
              "a name for every ErrorReason");

}  // namespace

std::string_view ErrorReasonName(ErrorReason reason) {
  auto i = static_cast<size_t>(reason);
  return i < std::size(kReasonNames) ? kReasonNames[i] : "unspecified";
}

ErrorReason ReasonForKafkaCode(int kafka_code) {
  switch (static_cast<rd_kafka_resp_err_t>(kafka_code)) {
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
      return ErrorReason::kQueueFull;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
      return ErrorReason::kRecordTooLarge;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
      return ErrorReason::kUnknownTopic;
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      return ErrorReason::kUnknownPartition;
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
      return ErrorReason::kTimeout;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
      return ErrorReason::kBrokerUnavailable;
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM:
    case RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE:
      return ErrorReason::kAuthentication;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
      return ErrorReason::kAuthorization;
    case RD_KAFKA_RESP_ERR__SSL:
      return ErrorReason::kTls;
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
      return ErrorReason::kInvalidConfig;
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
    case RD_KAFKA_RESP_ERR__FENCED:
      return ErrorReason::kFenced;
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID:
      return ErrorReason::kRebalance;
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
      return ErrorReason::kMalformedRecord;
    default:
      return ErrorReason::kUnspecified;
  }
}

absl::Status MakeError(absl::StatusCode code, std::string_view message, ErrorDetail detail) {
  absl::Status status(code, AsAbsl(message));
  status.SetPayload(kPayloadUrl, absl::Cord(EncodeDetail(detail)));
  return status;
}

absl::Status KafkaError(int kafka_code, std::string_view context, bool retriable, bool fatal) {
  auto err = static_cast<rd_kafka_resp_err_t>(kafka_code);
  absl::StatusCode code = CodeForKafka(err);
  if (code == absl::StatusCode::kOk) return absl::OkStatus();
  if (fatal) code = absl::StatusCode::kAborted;
  std::string message = context.empty()
                            ? std::string(rd_kafka_err2str(err))
                            : absl::StrCat(AsAbsl(context), ": ", rd_kafka_err2str(err));
  absl::StrAppend(&message, " (", rd_kafka_err2name(err), ")");
  ErrorReason reason = fatal ? ErrorReason::kFenced : ReasonForKafkaCode(kafka_code);
  return MakeError(code, message, ErrorDetail{kafka_code, retriable, fatal, reason});
}

absl::Status MakeError(absl::StatusCode code, std::string_view message, ErrorReason reason,
                       bool retriable) {
  return MakeError(code, message, ErrorDetail{0, retriable, false, reason});
}

absl::Status WithContext(const absl::Status& status, std::string_view context) {
  if (status.ok()) return status;
  absl::Status out(status.code(), absl::StrCat(absl::string_view(context.data(), context.size()),
                                               ": ", status.message()));
  status.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

std::optional<ErrorDetail> GetErrorDetail(const absl::Status& status) {
  auto payload = status.GetPayload(kPayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  std::string bytes(*payload);
  if (bytes.size() != kDetailSize) return std::nullopt;
  ErrorDetail d;
  std::int32_t code;
  std::memcpy(&code, bytes.data(), sizeof code);
  d.kafka_code = code;
  d.retriable = (bytes[4] & 1) != 0;
  d.fatal = (bytes[4] & 2) != 0;
  d.abort_transaction = (bytes[4] & 4) != 0;
  d.reason = static_cast<ErrorReason>(static_cast<uint8_t>(bytes[5]));
  return d;
}

bool IsRetriable(const absl::Status& status) {
  if (auto d = GetErrorDetail(status)) return d->retriable;
  return status.code() == absl::StatusCode::kUnavailable ||
         status.code() == absl::StatusCode::kDeadlineExceeded;
}

bool IsFatal(const absl::Status& status) {
  auto d = GetErrorDetail(status);
  return d && d->fatal;
}

bool TransactionMustAbort(const absl::Status& status) {
  auto d = GetErrorDetail(status);
  return d && d->abort_transaction;
}

int KafkaErrorCode(const absl::Status& status) {
  auto d = GetErrorDetail(status);
  return d ? d->kafka_code : 0;
}

ErrorReason GetErrorReason(const absl::Status& status) {
  auto d = GetErrorDetail(status);
  return d ? d->reason : ErrorReason::kUnspecified;
}

}  // namespace messagecorps
