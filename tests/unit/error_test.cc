#include "messagecorps/error.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

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

}  // namespace
}  // namespace messagecorps
