#include "messagecorps/error.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <set>
#include <string_view>

namespace messagecorps {
namespace {

TEST(Error, KafkaErrorMapsCodesAndKeepsDetail) {
  absl::Status s = KafkaError(RD_KAFKA_RESP_ERR__QUEUE_FULL, "send", /*retriable=*/true);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("send: "), std::string::npos);
  EXPECT_NE(s.message().find("_QUEUE_FULL"), std::string::npos);
  EXPECT_TRUE(IsRetriable(s));
  EXPECT_FALSE(IsFatal(s));
  EXPECT_EQ(KafkaErrorCode(s), RD_KAFKA_RESP_ERR__QUEUE_FULL);
}

TEST(Error, FatalBecomesAborted) {
  absl::Status s = KafkaError(RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "", false, true);
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(IsFatal(s));
}

TEST(Error, AbortTransactionFlagRoundTrips) {
  ErrorDetail detail;
  detail.kafka_code = RD_KAFKA_RESP_ERR__STATE;
  detail.abort_transaction = true;
  absl::Status s = MakeError(absl::StatusCode::kAborted, "commit", detail);
  EXPECT_TRUE(TransactionMustAbort(s));
  EXPECT_FALSE(IsFatal(s));
  EXPECT_FALSE(IsRetriable(s));
  EXPECT_FALSE(TransactionMustAbort(KafkaError(RD_KAFKA_RESP_ERR__FATAL, "x", false, true)));
  EXPECT_FALSE(TransactionMustAbort(absl::AbortedError("x")));
}

TEST(Error, NoErrorIsOk) { EXPECT_TRUE(KafkaError(RD_KAFKA_RESP_ERR_NO_ERROR, "x").ok()); }

TEST(Error, TransportIsUnavailable) {
  EXPECT_EQ(KafkaError(RD_KAFKA_RESP_ERR__TRANSPORT, "x").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(KafkaError(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, "x").code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST(Error, PlainStatusHasNoDetail) {
  EXPECT_FALSE(GetErrorDetail(absl::InvalidArgumentError("x")).has_value());
  EXPECT_EQ(KafkaErrorCode(absl::InvalidArgumentError("x")), 0);
  EXPECT_TRUE(IsRetriable(absl::UnavailableError("x")));
  EXPECT_FALSE(IsRetriable(absl::InvalidArgumentError("x")));
}

TEST(Error, ReasonsTellApartWhatOneCodeLumpsTogether) {
  // Both are kResourceExhausted; a caller must not need librdkafka's numbers to tell them apart.
  absl::Status full = KafkaError(RD_KAFKA_RESP_ERR__QUEUE_FULL, "send", true);
  absl::Status large = KafkaError(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, "send");
  EXPECT_EQ(full.code(), large.code());
  EXPECT_EQ(GetErrorReason(full), ErrorReason::kQueueFull);
  EXPECT_EQ(GetErrorReason(large), ErrorReason::kRecordTooLarge);
}

TEST(Error, ReasonOfEachKafkaFamily) {
  struct Case {
    rd_kafka_resp_err_t err;
    absl::StatusCode code;
    ErrorReason reason;
  };
  const Case cases[] = {
      {RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, absl::StatusCode::kNotFound,
       ErrorReason::kUnknownTopic},
      {RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, absl::StatusCode::kNotFound,
       ErrorReason::kUnknownPartition},
      {RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, absl::StatusCode::kDeadlineExceeded,
       ErrorReason::kTimeout},
      {RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, absl::StatusCode::kUnavailable,
       ErrorReason::kBrokerUnavailable},
      {RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED, absl::StatusCode::kUnauthenticated,
       ErrorReason::kAuthentication},
      {RD_KAFKA_RESP_ERR__AUTHENTICATION, absl::StatusCode::kUnauthenticated,
       ErrorReason::kAuthentication},
      {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, absl::StatusCode::kPermissionDenied,
       ErrorReason::kAuthorization},
      {RD_KAFKA_RESP_ERR__SSL, absl::StatusCode::kUnavailable, ErrorReason::kTls},
      {RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION, absl::StatusCode::kFailedPrecondition,
       ErrorReason::kRebalance},
      {RD_KAFKA_RESP_ERR_PRODUCER_FENCED, absl::StatusCode::kAborted, ErrorReason::kFenced},
  };
  for (const Case& c : cases) {
    absl::Status s = KafkaError(c.err, "op");
    EXPECT_EQ(s.code(), c.code) << rd_kafka_err2name(c.err);
    EXPECT_EQ(GetErrorReason(s), c.reason) << rd_kafka_err2name(c.err);
  }
}

TEST(Error, FatalOverridesTheReason) {
  absl::Status s = KafkaError(RD_KAFKA_RESP_ERR__TRANSPORT, "send", false, /*fatal=*/true);
  EXPECT_EQ(GetErrorReason(s), ErrorReason::kFenced);
}

TEST(Error, OwnReasonsWithoutKafkaCode) {
  absl::Status s =
      MakeError(absl::StatusCode::kResourceExhausted, "too big", ErrorReason::kDecodeLimit);
  EXPECT_EQ(GetErrorReason(s), ErrorReason::kDecodeLimit);
  EXPECT_EQ(KafkaErrorCode(s), 0);
  EXPECT_FALSE(IsRetriable(s));
  EXPECT_EQ(GetErrorReason(absl::OkStatus()), ErrorReason::kUnspecified);
  EXPECT_EQ(GetErrorReason(absl::InternalError("plain")), ErrorReason::kUnspecified);
}

TEST(Error, EveryReasonHasADistinctName) {
  std::set<std::string_view> names;
  for (int i = 0; i <= static_cast<int>(kLastErrorReason); ++i) {
    names.insert(ErrorReasonName(static_cast<ErrorReason>(i)));
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(kLastErrorReason) + 1);
  EXPECT_EQ(ErrorReasonName(ErrorReason::kRecordTooLarge), "record_too_large");
}

}  // namespace
}  // namespace messagecorps
