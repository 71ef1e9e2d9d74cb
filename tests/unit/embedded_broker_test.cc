// The embedded broker serves the real Kafka protocol: a plain librdkafka client produces to it and
// reads the record back.
#include "messagecorps/embedded_broker.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <string>

namespace messagecorps {
namespace {

TEST(EmbeddedBroker, StartsAndServesProduceAndConsume) {
  auto broker = EmbeddedBroker::Start();
  ASSERT_TRUE(broker.ok()) << broker.status();
  ASSERT_FALSE((*broker)->bootstrap_servers().empty());
  ASSERT_TRUE((*broker)->CreateTopic("t1", 3).ok());

  char err[256];
  rd_kafka_conf_t* pc = rd_kafka_conf_new();
  rd_kafka_conf_set(pc, "bootstrap.servers", (*broker)->bootstrap_servers().c_str(), err, sizeof err);
  rd_kafka_t* p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err);
  ASSERT_NE(p, nullptr) << err;
  std::string value = "hello";
  ASSERT_EQ(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("t1"), RD_KAFKA_V_PARTITION(1),
                              RD_KAFKA_V_VALUE(value.data(), value.size()),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_destroy(p);

  rd_kafka_conf_t* cc = rd_kafka_conf_new();
  rd_kafka_conf_set(cc, "bootstrap.servers", (*broker)->bootstrap_servers().c_str(), err, sizeof err);
  rd_kafka_conf_set(cc, "group.id", "g", err, sizeof err);
  rd_kafka_t* c = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof err);
  ASSERT_NE(c, nullptr) << err;
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(parts, "t1", 1)->offset = RD_KAFKA_OFFSET_BEGINNING;
  ASSERT_EQ(rd_kafka_assign(c, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_destroy(parts);
  std::string got;
  for (int i = 0; i < 100 && got.empty(); ++i) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(c, 100);
    if (m && !m->err) got.assign(static_cast<const char*>(m->payload), m->len);
    if (m) rd_kafka_message_destroy(m);
  }
  EXPECT_EQ(got, "hello");
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
}

TEST(EmbeddedBroker, RejectsBadTopicNamesAndCounts) {
  auto broker = EmbeddedBroker::Start();
  ASSERT_TRUE(broker.ok());
  EXPECT_EQ((*broker)->CreateTopic("", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*broker)->CreateTopic("bad topic", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*broker)->CreateTopic("ok", 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EmbeddedBroker::Start({.brokers = 0}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace messagecorps
