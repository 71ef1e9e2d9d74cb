// messagecorps/error.h — how messagecorps reports failure.
//
// Every fallible call returns absl::Status or absl::StatusOr<T>. Codes follow gRPC's code.proto, so a
// gateway can map them 1:1 to gRPC and HTTP statuses:
//   kInvalidArgument    malformed input (a record that does not decode, a bad config value)
//   kNotFound           unknown topic / type / partition
//   kDeadlineExceeded   a timeout elapsed (flush, send waiting for queue space, close)
//   kResourceExhausted  a local queue is full, a size limit was hit (e.g. a decompression bomb)
//   kUnavailable        the broker cannot be reached right now (retriable)
//   kFailedPrecondition the call is not valid in the object's state (e.g. consumer closed)
//   kInternal           a librdkafka error with no better mapping
//   kAborted            a fatal producer error (e.g. idempotence broken): the producer is unusable
// A status produced from a librdkafka error also carries, as a payload, the librdkafka error code
// and whether librdkafka considers it retriable or fatal; read them with the helpers below.
//
// Thread-safety: all functions here are pure and may be called from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace messagecorps {

// Extra facts about a failure that came from librdkafka (or that we classify ourselves).
struct ErrorDetail {
  int kafka_code = 0;      // rd_kafka_resp_err_t value; 0 when the error did not come from librdkafka
  bool retriable = false;  // trying the same call again later may succeed
  bool fatal = false;      // the client instance is unusable; create a new one
};

// Builds a status with `code` and `message` and attaches `detail` as a payload.
absl::Status MakeError(absl::StatusCode code, std::string_view message, ErrorDetail detail);

// Builds a status from a librdkafka error code (rd_kafka_resp_err_t passed as int so this header does
// not need librdkafka's). The gRPC code is chosen from the Kafka code; `context` prefixes the message.
absl::Status KafkaError(int kafka_code, std::string_view context, bool retriable = false,
                        bool fatal = false);

// The payload of `status`, or nullopt when it carries none (e.g. OK, or a plain absl status).
std::optional<ErrorDetail> GetErrorDetail(const absl::Status& status);

// Shorthands over GetErrorDetail. A kUnavailable or kDeadlineExceeded status without payload counts as
// retriable.
bool IsRetriable(const absl::Status& status);
bool IsFatal(const absl::Status& status);
// librdkafka's error code, 0 when none.
int KafkaErrorCode(const absl::Status& status);

}  // namespace messagecorps
