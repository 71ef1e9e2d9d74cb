// messagecorps/error.h — how messagecorps reports failure.
//
// Every fallible call returns absl::Status or absl::StatusOr<T>. Codes follow gRPC's code.proto, so
// a gateway can map them 1:1 to gRPC and HTTP statuses:
//   kInvalidArgument    malformed input (a record that does not decode, a bad config value)
//   kUnauthenticated    the brokers refused our identity (SASL credentials, mechanism)
//   kNotFound           unknown topic / type / partition
//   kDeadlineExceeded   a timeout elapsed (flush, send waiting for queue space, close)
//   kResourceExhausted  a local queue is full, a size limit was hit (e.g. a decompression bomb)
//   kUnavailable        the broker cannot be reached right now (retriable)
//   kFailedPrecondition the call is not valid in the object's state (e.g. consumer closed)
//   kInternal           a librdkafka error with no better mapping
//   kAborted            a fatal producer error (e.g. idempotence broken): the producer is unusable;
//                       or a transaction that must be aborted and redone (TransactionMustAbort)
//   kPermissionDenied   the brokers know who we are but refuse the operation (ACLs)
// The code says what kind of failure it is; ErrorReason (in the payload) says precisely which one,
// so callers branch on GetErrorReason(status), never on librdkafka's numbers or on message text.
// A status produced from a librdkafka error also carries, as a payload, the librdkafka error code
// and whether librdkafka considers it retriable or fatal; read them with the helpers below.
//
// Thread-safety: all functions here are pure and may be called from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace messagecorps {

// Why a call failed, finer than the status code. Stable: new reasons are only appended.
enum class ErrorReason : uint8_t {
  kUnspecified = 0,    // nothing finer than the status code is known
  kQueueFull,          // the producer's local queue stayed full (kResourceExhausted)
  kRecordTooLarge,     // over message.max.bytes, or refused by the broker as too large
  kUnknownTopic,       // the topic does not exist (kNotFound)
  kUnknownPartition,   // the partition does not exist (kNotFound)
  kTimeout,            // a deadline elapsed: delivery, flush, request, close (kDeadlineExceeded)
  kBrokerUnavailable,  // no connection, all brokers down, no leader right now (kUnavailable)
  kAuthentication,     // SASL refused our credentials or mechanism (kUnauthenticated)
  kAuthorization,      // an ACL refused a topic, group or cluster operation (kPermissionDenied)
  kTls,                // the TLS handshake failed: untrusted or expired certificate, host name
  kProtocolMismatch,   // client and listener disagree on TLS/SASL (plaintext to TLS or back)
  kInvalidConfig,      // a configuration property or value was refused (kInvalidArgument)
  kFenced,             // a fatal client error (idempotence or transaction state lost; kAborted)
  kRebalance,          // the group moved on (stale generation, rebalance in progress, not owned)
  kMalformedRecord,    // a record's bytes do not decode (kInvalidArgument)
  kDecodeLimit,        // a record is over a DecodeLimits bound, e.g. a zlib bomb
  kWrongType,          // a record of another type than the topic's (kInvalidArgument)
  kNoTypeBound,        // no message type is bound to the record's topic (kNotFound)
};
inline constexpr ErrorReason kLastErrorReason = ErrorReason::kNoTypeBound;

// "queue_full", "record_too_large", ... (snake case of the enumerator without the k); used in logs,
// metrics labels and dead-letter reasons.
std::string_view ErrorReasonName(ErrorReason reason);

// Extra facts about a failure that came from librdkafka (or that we classify ourselves).
struct ErrorDetail {
  int kafka_code = 0;  // rd_kafka_resp_err_t value; 0 when the error did not come from librdkafka
  bool retriable = false;  // trying the same call again later may succeed
  bool fatal = false;      // the client instance is unusable; create a new one
  ErrorReason reason = ErrorReason::kUnspecified;
  // A transactional call failed in a way that only aborting the current transaction repairs:
  // call Producer::AbortTransaction, then redo the transaction's work (status code kAborted).
  bool abort_transaction = false;
};

// Builds a status with `code` and `message` and attaches `detail` as a payload.
absl::Status MakeError(absl::StatusCode code, std::string_view message, ErrorDetail detail);
// A status of our own classification (no librdkafka code), e.g. a record over a decode limit.
absl::Status MakeError(absl::StatusCode code, std::string_view message, ErrorReason reason,
                       bool retriable = false);

// Builds a status from a librdkafka error code (rd_kafka_resp_err_t passed as int so this header
// does not need librdkafka's). The gRPC code and the reason are chosen from the Kafka code;
// `context` prefixes the message.
absl::Status KafkaError(int kafka_code, std::string_view context, bool retriable = false,
                        bool fatal = false);

// `status` with "<context>: " before its message, keeping its code and every payload (the reason,
// the librdkafka code, the flags). OK stays OK.
absl::Status WithContext(const absl::Status& status, std::string_view context);

// The payload of `status`, or nullopt when it carries none (e.g. OK, or a plain absl status).
std::optional<ErrorDetail> GetErrorDetail(const absl::Status& status);

// Shorthands over GetErrorDetail. A kUnavailable or kDeadlineExceeded status without payload counts
// as retriable.
bool IsRetriable(const absl::Status& status);
bool IsFatal(const absl::Status& status);
// The current transaction must be aborted (ErrorDetail::abort_transaction).
bool TransactionMustAbort(const absl::Status& status);
// librdkafka's error code, 0 when none. For logs and bug reports; branch on GetErrorReason.
int KafkaErrorCode(const absl::Status& status);
// The reason carried by `status`: its payload's, else kUnspecified (also for OK).
ErrorReason GetErrorReason(const absl::Status& status);
// The reason librdkafka's error code `kafka_code` stands for (kUnspecified when none is finer than
// the status code).
ErrorReason ReasonForKafkaCode(int kafka_code);

}  // namespace messagecorps
