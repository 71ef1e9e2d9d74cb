#include "messagecorps/metrics.h"

#include <gtest/gtest.h>

#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "messagecorps/string_view.h"

namespace messagecorps {
namespace {

bool HasLine(const std::string& text, const std::string& line) {
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (l == line) return true;
  }
  return false;
}

int CountLinesStartingWith(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  int n = 0;
  for (std::string l; std::getline(in, l);) n += l.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

// A consumer's statistics in librdkafka's STATISTICS.md layout (fields trimmed to a realistic
// subset of what librdkafka 1.9+/2.x emits): two learned brokers, the logical group coordinator and
// the internal broker; partitions 0 and 1 fetching, partition 2 still querying its offset, and the
// internal UA partition -1.
constexpr std::string_view kConsumerStats = R"json({
  "name": "rdkafka#consumer-2", "client_id": "display", "type": "consumer",
  "ts": 5016483227792, "time": 1714566896, "age": 12000000,
  "replyq": 3, "msg_cnt": 0, "msg_size": 0, "msg_max": 100000, "msg_size_max": 1073741824,
  "simple_cnt": 0, "metadata_cache_cnt": 1,
  "brokers": {
    "localhost:9092/1": {
      "name": "localhost:9092/1", "nodeid": 1, "nodename": "localhost:9092", "source": "learned",
      "state": "UP", "stateage": 9057234, "outbuf_cnt": 0, "outbuf_msg_cnt": 0, "waitresp_cnt": 1,
      "waitresp_msg_cnt": 0, "tx": 120, "txbytes": 10240, "txerrs": 0, "txretries": 0,
      "req_timeouts": 0, "rx": 119, "rxbytes": 7400000, "rxerrs": 0, "rxcorriderrs": 0,
      "rxpartial": 0, "zbuf_grow": 0, "buf_grow": 0, "wakeups": 5120, "connects": 1,
      "disconnects": 0,
      "rtt": {"min": 800, "max": 4100, "avg": 1500, "sum": 51000, "stddev": 300, "p50": 1400,
              "p75": 1700, "p90": 2100, "p95": 2500, "p99": 4000, "p99_99": 4100,
              "outofrange": 0, "hdrsize": 13424, "cnt": 34},
      "throttle": {"min": 0, "max": 0, "avg": 0, "sum": 0, "stddev": 0, "p50": 0, "p75": 0,
                   "p90": 0, "p95": 0, "p99": 0, "p99_99": 0, "outofrange": 0, "hdrsize": 17520,
                   "cnt": 34},
      "toppars": {"VideoStream-0": {"topic": "VideoStream", "partition": 0},
                  "VideoStream-1": {"topic": "VideoStream", "partition": 1}}
    },
    "localhost:9093/2": {
      "name": "localhost:9093/2", "nodeid": 2, "nodename": "localhost:9093", "source": "learned",
      "state": "CONNECT", "stateage": 1200, "tx": 0, "rx": 0,
      "rtt": {"min": 0, "max": 0, "avg": 0, "sum": 0, "cnt": 0},
      "toppars": {"VideoStream-2": {"topic": "VideoStream", "partition": 2}}
    },
    "GroupCoordinator": {
      "name": "GroupCoordinator", "nodeid": 1, "nodename": "localhost:9092", "source": "logical",
      "state": "UP", "stateage": 9000000, "tx": 120, "rx": 120,
      "rtt": {"min": 900, "max": 2000, "avg": 1250, "sum": 40000, "cnt": 32},
      "toppars": {}
    },
    ":0/internal": {
      "name": ":0/internal", "nodeid": -1, "nodename": "", "source": "internal", "state": "UP",
      "stateage": 9100000, "tx": 0, "rx": 0,
      "rtt": {"min": 0, "max": 0, "avg": 0, "sum": 0, "cnt": 0},
      "toppars": {}
    }
  },
  "topics": {
    "VideoStream": {
      "topic": "VideoStream", "age": 9000, "metadata_age": 9060,
      "batchsize": {"min": 0, "max": 0, "avg": 0, "sum": 0, "cnt": 0},
      "batchcnt": {"min": 0, "max": 0, "avg": 0, "sum": 0, "cnt": 0},
      "partitions": {
        "0": {"partition": 0, "broker": 1, "leader": 1, "desired": true, "unknown": false,
              "msgq_cnt": 0, "msgq_bytes": 0, "xmit_msgq_cnt": 0, "xmit_msgq_bytes": 0,
              "fetchq_cnt": 12, "fetchq_size": 3686400, "fetch_state": "active",
              "query_offset": -1001, "next_offset": 1290, "app_offset": 1278,
              "stored_offset": 1278, "committed_offset": 1270, "eof_offset": -1001,
              "lo_offset": 0, "hi_offset": 1308, "ls_offset": 1308, "consumer_lag": 30,
              "consumer_lag_stored": 30, "txmsgs": 0, "txbytes": 0, "rxmsgs": 1290,
              "rxbytes": 396288000, "msgs": 1290, "rx_ver_drops": 0, "msgs_inflight": 0},
        "1": {"partition": 1, "broker": 1, "leader": 1, "desired": true, "unknown": false,
              "fetchq_cnt": 0, "fetchq_size": 0, "fetch_state": "active",
              "next_offset": 640, "app_offset": 640, "committed_offset": 640,
              "hi_offset": 640, "consumer_lag": 0, "rxmsgs": 640, "msgs": 640},
        "2": {"partition": 2, "broker": 2, "leader": 2, "desired": true, "unknown": false,
              "fetchq_cnt": 0, "fetchq_size": 0, "fetch_state": "offset-query",
              "next_offset": -1001, "app_offset": -1001, "committed_offset": -1001,
              "hi_offset": -1001, "consumer_lag": -1, "rxmsgs": 0, "msgs": 0},
        "-1": {"partition": -1, "broker": -1, "leader": -1, "desired": false, "unknown": false,
               "fetchq_cnt": 0, "fetch_state": "none", "consumer_lag": -1, "msgs": 0}
      }
    }
  },
  "cgrp": {"state": "up", "stateage": 8000, "join_state": "steady", "rebalance_age": 8000,
           "rebalance_cnt": 1, "rebalance_reason": "", "assignment_size": 3},
  "tx": 240, "tx_bytes": 21000, "rx": 239, "rx_bytes": 7400000,
  "txmsgs": 0, "txmsg_bytes": 0, "rxmsgs": 1930, "rxmsg_bytes": 396288000
})json";

// The producer example of librdkafka's STATISTICS.md (rdkafka_performance), trimmed.
constexpr std::string_view kProducerStats = R"json({
  "name": "rdkafka#producer-1", "client_id": "rdkafka", "type": "producer",
  "ts": 5016483227792, "time": 1527060869, "replyq": 0, "msg_cnt": 22710, "msg_size": 704010,
  "msg_max": 500000, "msg_size_max": 1073741824, "simple_cnt": 0, "metadata_cache_cnt": 1,
  "brokers": {
    "localhost:9092/2": {"name": "localhost:9092/2", "nodeid": 2, "nodename": "localhost:9092",
      "source": "learned", "state": "UP", "stateage": 9057234, "tx": 320, "rx": 320,
      "rtt": {"min": 1580, "max": 3389, "avg": 2349, "sum": 79868, "stddev": 474, "p50": 2319,
              "p75": 2543, "p90": 3183, "p95": 3199, "p99": 3391, "p99_99": 3391,
              "outofrange": 0, "hdrsize": 13424, "cnt": 34},
      "toppars": {"test-1": {"topic": "test", "partition": 1}}},
    "localhost:9093/3": {"name": "localhost:9093/3", "nodeid": 3, "nodename": "localhost:9093",
      "source": "learned", "state": "UP", "stateage": 9057209, "tx": 310, "rx": 310,
      "rtt": {"min": 1704, "max": 3572, "avg": 2493, "sum": 87289, "stddev": 559, "p50": 2447,
              "p75": 2895, "p90": 3375, "p95": 3407, "p99": 3583, "p99_99": 3583,
              "outofrange": 0, "hdrsize": 13424, "cnt": 35},
      "toppars": {"test-0": {"topic": "test", "partition": 0}}}
  },
  "topics": {
    "test": {"topic": "test", "metadata_age": 9060, "partitions": {
      "0": {"partition": 0, "leader": 3, "desired": false, "unknown": false, "msgq_cnt": 1,
            "msgq_bytes": 31, "fetchq_cnt": 0, "fetch_state": "none", "app_offset": -1001,
            "committed_offset": -1001, "hi_offset": -1001, "consumer_lag": -1,
            "txmsgs": 2150617, "txbytes": 66669127, "msgs": 2160510},
      "1": {"partition": 1, "leader": 2, "desired": false, "unknown": false, "msgq_cnt": 0,
            "fetchq_cnt": 0, "fetch_state": "none", "consumer_lag": -1, "txmsgs": 2150136,
            "msgs": 2159735},
      "-1": {"partition": -1, "leader": -1, "fetchq_cnt": 0, "consumer_lag": -1, "msgs": 1177}
    }}
  },
  "tx": 631, "tx_bytes": 168584479, "rx": 631, "rx_bytes": 31084,
  "txmsgs": 4300753, "txmsg_bytes": 133323343, "rxmsgs": 0, "rxmsg_bytes": 0
})json";

TEST(Metrics, ConcurrentIncrementsSumExactly) {
  Metrics metrics;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        metrics.Add(Counter::kSent);
        metrics.Add(Counter::kReceived, 2);
        metrics.ObserveHandlerSeconds(0.001);
      }
    });
  }
  // Readers and a stats writer race with the counters (meaningful under TSan).
  threads.emplace_back([&] {
    for (int i = 0; i < 50; ++i) {
      EXPECT_TRUE(metrics.UpdateFromRdKafkaStats(kConsumerStats).ok());
      EXPECT_FALSE(metrics.RenderPrometheus().empty());
      (void)metrics.Snapshot();
    }
  });
  for (auto& t : threads) t.join();
  const MetricsSnapshot s = metrics.Snapshot();
  EXPECT_EQ(s.sent, std::uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(s.received, 2 * std::uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(s.handler_count, std::uint64_t{kThreads} * kPerThread);
  EXPECT_NEAR(s.handler_seconds_sum, 0.001 * kThreads * kPerThread, 1e-6);
  EXPECT_EQ(s.delivered, 0u);
  EXPECT_EQ(metrics.Get(Counter::kSent), s.sent);
}

TEST(Metrics, SnapshotMapsEveryCounter) {
  Metrics m;
  const Counter all[] = {Counter::kSent,         Counter::kDelivered,     Counter::kDeliveryFailed,
                         Counter::kReceived,     Counter::kDecoded,       Counter::kDecodeFailed,
                         Counter::kDeadLettered, Counter::kHandlerErrors, Counter::kRetries,
                         Counter::kSkipped,      Counter::kClientErrors,  Counter::kFetchWakeups};
  std::uint64_t n = 1;
  for (Counter c : all) m.Add(c, n++);
  const MetricsSnapshot s = m.Snapshot();
  EXPECT_EQ(s.sent, 1u);
  EXPECT_EQ(s.delivered, 2u);
  EXPECT_EQ(s.delivery_failed, 3u);
  EXPECT_EQ(s.received, 4u);
  EXPECT_EQ(s.decoded, 5u);
  EXPECT_EQ(s.decode_failed, 6u);
  EXPECT_EQ(s.dead_lettered, 7u);
  EXPECT_EQ(s.handler_errors, 8u);
  EXPECT_EQ(s.retries, 9u);
  EXPECT_EQ(s.skipped, 10u);
  EXPECT_EQ(s.client_errors, 11u);
  EXPECT_EQ(s.fetch_wakeups, 12u);
  EXPECT_TRUE(s.clients.empty());
}

TEST(Metrics, HistogramBucketsAreCumulativeAndInclusive) {
  Metrics m;
  m.ObserveHandlerSeconds(0.0005);  // exactly on the first bound: le is inclusive
  m.ObserveHandlerSeconds(0.003);
  m.ObserveHandlerSeconds(0.003);
  m.ObserveHandlerSeconds(0.2);
  m.ObserveHandlerSeconds(42);  // above every bound: only +Inf
  m.ObserveHandlerSeconds(-1);  // clock went backwards: counted as 0
  m.ObserveHandlerSeconds(std::numeric_limits<double>::quiet_NaN());  // ignored
  const std::string text = m.RenderPrometheus("mc");
  const char* expected[] = {
      R"(mc_handler_duration_seconds_bucket{le="0.0005"} 2)",
      R"(mc_handler_duration_seconds_bucket{le="0.001"} 2)",
      R"(mc_handler_duration_seconds_bucket{le="0.0025"} 2)",
      R"(mc_handler_duration_seconds_bucket{le="0.005"} 4)",
      R"(mc_handler_duration_seconds_bucket{le="0.01"} 4)",
      R"(mc_handler_duration_seconds_bucket{le="0.025"} 4)",
      R"(mc_handler_duration_seconds_bucket{le="0.05"} 4)",
      R"(mc_handler_duration_seconds_bucket{le="0.1"} 4)",
      R"(mc_handler_duration_seconds_bucket{le="0.25"} 5)",
      R"(mc_handler_duration_seconds_bucket{le="0.5"} 5)",
      R"(mc_handler_duration_seconds_bucket{le="1"} 5)",
      R"(mc_handler_duration_seconds_bucket{le="2.5"} 5)",
      R"(mc_handler_duration_seconds_bucket{le="5"} 5)",
      R"(mc_handler_duration_seconds_bucket{le="10"} 5)",
      R"(mc_handler_duration_seconds_bucket{le="+Inf"} 6)",
      R"(mc_handler_duration_seconds_count 6)",
  };
  for (const char* line : expected) EXPECT_TRUE(HasLine(text, line)) << line << "\n" << text;
  EXPECT_EQ(CountLinesStartingWith(text, "mc_handler_duration_seconds_bucket"), 15);
  const MetricsSnapshot s = m.Snapshot();
  EXPECT_EQ(s.handler_count, 6u);
  EXPECT_NEAR(s.handler_seconds_sum, 0.0005 + 0.006 + 0.2 + 42, 1e-12);
}

TEST(Metrics, PrometheusTextForAKnownState) {
  Metrics m("capture");
  m.Add(Counter::kSent, 3);
  m.Add(Counter::kDelivered, 2);
  m.Add(Counter::kSkipped, 5);
  m.ObserveHandlerSeconds(0.25);
  m.ObserveHandlerSeconds(0.5);
  m.ObserveHandlerSeconds(2);
  const std::string expected =
      "# HELP mc_messages_sent_total Messages handed to the producer.\n"
      "# TYPE mc_messages_sent_total counter\n"
      "mc_messages_sent_total{service=\"capture\"} 3\n"
      "# HELP mc_messages_delivered_total Messages acknowledged by the broker.\n"
      "# TYPE mc_messages_delivered_total counter\n"
      "mc_messages_delivered_total{service=\"capture\"} 2\n"
      "# HELP mc_delivery_failures_total Messages whose delivery report was an error.\n"
      "# TYPE mc_delivery_failures_total counter\n"
      "mc_delivery_failures_total{service=\"capture\"} 0\n"
      "# HELP mc_messages_received_total Records polled from Kafka.\n"
      "# TYPE mc_messages_received_total counter\n"
      "mc_messages_received_total{service=\"capture\"} 0\n"
      "# HELP mc_messages_decoded_total Records decoded into their protobuf type.\n"
      "# TYPE mc_messages_decoded_total counter\n"
      "mc_messages_decoded_total{service=\"capture\"} 0\n"
      "# HELP mc_decode_failures_total Records that failed to decode.\n"
      "# TYPE mc_decode_failures_total counter\n"
      "mc_decode_failures_total{service=\"capture\"} 0\n"
      "# HELP mc_messages_dead_lettered_total Records sent to a dead-letter topic.\n"
      "# TYPE mc_messages_dead_lettered_total counter\n"
      "mc_messages_dead_lettered_total{service=\"capture\"} 0\n"
      "# HELP mc_handler_errors_total Handler calls that returned an error.\n"
      "# TYPE mc_handler_errors_total counter\n"
      "mc_handler_errors_total{service=\"capture\"} 0\n"
      "# HELP mc_retries_total Handler calls retried.\n"
      "# TYPE mc_retries_total counter\n"
      "mc_retries_total{service=\"capture\"} 0\n"
      "# HELP mc_messages_skipped_total Records skipped by a lagging consumer to catch up.\n"
      "# TYPE mc_messages_skipped_total counter\n"
      "mc_messages_skipped_total{service=\"capture\"} 5\n"
      "# HELP mc_client_errors_total Kafka client errors (broker down, ...), retried by the "
      "client.\n"
      "# TYPE mc_client_errors_total counter\n"
      "mc_client_errors_total{service=\"capture\"} 0\n"
      "# HELP mc_fetch_wakeups_total Requests that woke a broker thread whose fetcher stopped at a "
      "full consumer queue.\n"
      "# TYPE mc_fetch_wakeups_total counter\n"
      "mc_fetch_wakeups_total{service=\"capture\"} 0\n"
      "# HELP mc_handler_duration_seconds Time spent in message handlers, in seconds.\n"
      "# TYPE mc_handler_duration_seconds histogram\n"
      // prometheus-cpp's TextSerializer writes _count and _sum before the buckets.
      "mc_handler_duration_seconds_count{service=\"capture\"} 3\n"
      "mc_handler_duration_seconds_sum{service=\"capture\"} 2.75\n"
      "mc_handler_duration_seconds_bucket{service=\"capture\",le=\"0.0005\"} 0\n"
      "mc_handler_duration_seconds_bucket{service=\"capture\",le=\"0.001\"} 0\n"
      "mc_handler_duration_seconds_bucket{service=\"capture\",le=\"0.0025\"} 0\n"
      "mc_handler_duration_seconds_bucket{service=\"capture\",le=\"0.005\"} 0\n"
      "mc_handler_duration_seconds_bucket{service=\"capture\",le=\"0.01\"} 0\n"
      "mc_handler_duration_seconds_bucket{service=\"capture\",le=\"0.025\"} 0\n"
      "mc_handler_duration_seconds_bucket{service=\"capture\",le=\"0.05\"} 0\n"
      "mc_handler_duration_seconds_bucket{service=\"capture\",le=\"0.1\"} 0\n"
      "mc_handler_duration_seconds_bucket{service=\"capture\",le=\"0.25\"} 1\n"
      "mc_handler_duration_seconds_bucket{service=\"capture\",le=\"0.5\"} 2\n"
      "mc_handler_duration_seconds_bucket{service=\"capture\",le=\"1\"} 2\n"
      "mc_handler_duration_seconds_bucket{service=\"capture\",le=\"2.5\"} 3\n"
      "mc_handler_duration_seconds_bucket{service=\"capture\",le=\"5\"} 3\n"
      "mc_handler_duration_seconds_bucket{service=\"capture\",le=\"10\"} 3\n"
      "mc_handler_duration_seconds_bucket{service=\"capture\",le=\"+Inf\"} 3\n";
  EXPECT_EQ(m.RenderPrometheus("mc"), expected);
}

TEST(Metrics, DefaultPrefixAndNoLabelsWithoutService) {
  Metrics m;
  m.Add(Counter::kDecodeFailed);
  const std::string text = m.RenderPrometheus();
  EXPECT_TRUE(HasLine(text, "messagecorps_decode_failures_total 1")) << text;
  EXPECT_TRUE(HasLine(text, "# TYPE messagecorps_decode_failures_total counter"));
  EXPECT_TRUE(HasLine(text, "messagecorps_handler_duration_seconds_sum 0"));
  // No statistics yet: no librdkafka families at all.
  EXPECT_EQ(text.find("rdkafka"), std::string::npos);
}

TEST(Metrics, PrefixIsSanitizedOrOmitted) {
  Metrics m;
  EXPECT_TRUE(HasLine(m.RenderPrometheus(""), "messages_sent_total 0"));
  EXPECT_TRUE(HasLine(m.RenderPrometheus("my-app.v2"), "my_app_v2_messages_sent_total 0"));
  EXPECT_TRUE(HasLine(m.RenderPrometheus("9lives"), "_9lives_messages_sent_total 0"));
}

TEST(Metrics, LabelValuesAreEscaped) {
  Metrics m("cam\"era\\1\nx");
  const std::string text = m.RenderPrometheus("mc");
  EXPECT_TRUE(HasLine(text, R"(mc_messages_sent_total{service="cam\"era\\1\nx"} 0)")) << text;
}

TEST(Metrics, StatsSetGauges) {
  Metrics m;
  ASSERT_TRUE(m.UpdateFromRdKafkaStats(kConsumerStats).ok());
  ASSERT_TRUE(m.UpdateFromRdKafkaStats(kProducerStats).ok());

  const MetricsSnapshot s = m.Snapshot();
  ASSERT_EQ(s.clients.size(), 2u);
  const ClientGauges& consumer = s.clients[0];
  const ClientGauges& producer = s.clients[1];
  EXPECT_EQ(consumer.type, "consumer");
  EXPECT_EQ(consumer.name, "rdkafka#consumer-2");
  EXPECT_EQ(consumer.replyq, 3);
  EXPECT_EQ(consumer.tx, 240);
  EXPECT_EQ(consumer.rx, 239);
  EXPECT_EQ(consumer.rxmsgs, 1930);
  ASSERT_EQ(consumer.partitions.size(), 3u);  // -1 (UA) dropped
  EXPECT_EQ(consumer.partitions[0].topic, "VideoStream");
  EXPECT_EQ(consumer.partitions[0].partition, 0);
  EXPECT_EQ(consumer.partitions[0].consumer_lag, 30);
  EXPECT_EQ(consumer.partitions[0].fetchq_cnt, 12);
  EXPECT_EQ(consumer.partitions[2].partition, 2);
  EXPECT_EQ(consumer.partitions[2].consumer_lag, -1);
  ASSERT_EQ(consumer.brokers.size(), 3u);  // internal dropped; sorted by name
  EXPECT_EQ(consumer.brokers[0].name, "GroupCoordinator");
  EXPECT_EQ(consumer.brokers[1].name, "localhost:9092/1");
  EXPECT_EQ(consumer.brokers[1].nodeid, 1);
  EXPECT_EQ(consumer.brokers[1].state, "UP");
  EXPECT_DOUBLE_EQ(consumer.brokers[1].rtt_avg_seconds, 0.0015);
  EXPECT_EQ(consumer.brokers[2].state, "CONNECT");

  EXPECT_EQ(producer.type, "producer");
  EXPECT_EQ(producer.msg_cnt, 22710);
  EXPECT_EQ(producer.msg_size, 704010);
  EXPECT_EQ(producer.txmsgs, 4300753);
  EXPECT_TRUE(producer.partitions.empty());  // producers have no lag to report
  ASSERT_EQ(producer.brokers.size(), 2u);

  const std::string text = m.RenderPrometheus("mc");
  const char* expected[] = {
      "# TYPE mc_rdkafka_queue_messages gauge",
      R"(mc_rdkafka_queue_messages{client="consumer",client_id="rdkafka#consumer-2"} 0)",
      R"(mc_rdkafka_queue_messages{client="producer",client_id="rdkafka#producer-1"} 22710)",
      R"(mc_rdkafka_queue_bytes{client="producer",client_id="rdkafka#producer-1"} 704010)",
      R"(mc_rdkafka_reply_queue_ops{client="consumer",client_id="rdkafka#consumer-2"} 3)",
      "# TYPE mc_rdkafka_requests_sent_total counter",
      R"(mc_rdkafka_requests_sent_total{client="producer",client_id="rdkafka#producer-1"} 631)",
      R"(mc_rdkafka_responses_received_total{client="consumer",client_id="rdkafka#consumer-2"} 239)",
      R"(mc_rdkafka_messages_produced_total{client="producer",client_id="rdkafka#producer-1"} 4300753)",
      R"(mc_rdkafka_messages_consumed_total{client="consumer",client_id="rdkafka#consumer-2"} 1930)",
      "# TYPE mc_rdkafka_consumer_lag_messages gauge",
      R"(mc_rdkafka_consumer_lag_messages{client="consumer",client_id="rdkafka#consumer-2",topic="VideoStream",partition="0"} 30)",
      R"(mc_rdkafka_consumer_lag_messages{client="consumer",client_id="rdkafka#consumer-2",topic="VideoStream",partition="1"} 0)",
      R"(mc_rdkafka_fetch_queue_messages{client="consumer",client_id="rdkafka#consumer-2",topic="VideoStream",partition="0"} 12)",
      R"(mc_rdkafka_fetch_queue_messages{client="consumer",client_id="rdkafka#consumer-2",topic="VideoStream",partition="2"} 0)",
      R"(mc_rdkafka_broker_rtt_avg_seconds{client="consumer",client_id="rdkafka#consumer-2",broker="localhost:9092/1"} 0.0015)",
      R"(mc_rdkafka_broker_rtt_avg_seconds{client="producer",client_id="rdkafka#producer-1",broker="localhost:9092/2"} 0.002349)",
      R"(mc_rdkafka_broker_rtt_avg_seconds{client="producer",client_id="rdkafka#producer-1",broker="localhost:9093/3"} 0.002493)",
      R"(mc_rdkafka_broker_up{client="consumer",client_id="rdkafka#consumer-2",broker="localhost:9092/1"} 1)",
      R"(mc_rdkafka_broker_up{client="consumer",client_id="rdkafka#consumer-2",broker="localhost:9093/2"} 0)",
  };
  for (const char* line : expected) EXPECT_TRUE(HasLine(text, line)) << line << "\n" << text;
  // Unknown lag (-1) is no sample; neither the UA partition nor the internal broker shows up.
  EXPECT_EQ(text.find(R"(partition="2"} -1)"), std::string::npos);
  EXPECT_EQ(text.find(R"(partition="-1")"), std::string::npos);
  EXPECT_EQ(text.find("internal"), std::string::npos);
  EXPECT_EQ(CountLinesStartingWith(text, "mc_rdkafka_consumer_lag_messages{"), 2);
  EXPECT_EQ(CountLinesStartingWith(text, "# TYPE mc_rdkafka_consumer_lag_messages"), 1);
}

TEST(Metrics, NewStatsReplaceThatClientsGauges) {
  Metrics m;
  ASSERT_TRUE(m.UpdateFromRdKafkaStats(kConsumerStats).ok());
  ASSERT_TRUE(m.UpdateFromRdKafkaStats(R"({"type":"consumer","name":"rdkafka#consumer-2",
      "replyq":7,"topics":{"VideoStream":
      {"topic":"VideoStream","partitions":{"1":{"partition":1,"consumer_lag":4,"fetchq_cnt":2}}}}})")
                  .ok());
  const std::string text = m.RenderPrometheus("mc");
  EXPECT_TRUE(HasLine(
      text, R"(mc_rdkafka_reply_queue_ops{client="consumer",client_id="rdkafka#consumer-2"} 7)"))
      << text;
  EXPECT_TRUE(HasLine(text,
                      R"(mc_rdkafka_consumer_lag_messages{client="consumer",)"
                      R"(client_id="rdkafka#consumer-2",topic="VideoStream",partition="1"} 4)"));
  EXPECT_EQ(text.find(R"(partition="0")"), std::string::npos) << "stale partition kept";
  EXPECT_EQ(text.find("rdkafka_broker_"), std::string::npos) << "stale brokers kept";
}

TEST(Metrics, TopicLabelIsEscapedAndWrongTypedFieldsReadAsZero) {
  Metrics m;
  ASSERT_TRUE(m.UpdateFromRdKafkaStats(R"({"type":"consumer","msg_cnt":"many","topics":{"a\"b":
      {"topic":"a\"b","partitions":{"0":{"partition":0,"consumer_lag":1}}}},"brokers":[]})")
                  .ok());
  const MetricsSnapshot s = m.Snapshot();
  ASSERT_EQ(s.clients.size(), 1u);
  EXPECT_EQ(s.clients[0].msg_cnt, 0);
  const std::string text = m.RenderPrometheus("mc");
  // Without a name in the statistics the client is known by its type.
  EXPECT_TRUE(HasLine(text, R"(mc_rdkafka_consumer_lag_messages{client="consumer",)"
                            R"(client_id="consumer",topic="a\"b",partition="0"} 1)"))
      << text;
}

// Two consumers (and a producer) sharing one Metrics, as a service's clients do: each keeps its own
// gauges under its own client_id; a destroyed client's gauges go away.
TEST(Metrics, ClientsSharingOneMetricsKeepSeparateGauges) {
  Metrics m;
  auto stats = [](std::string_view name, std::string_view type, int lag) {
    return absl::StrCat(R"({"name":")", AsAbsl(name), R"(","type":")", AsAbsl(type),
                        R"(","replyq":)", lag,
                        R"(,"topics":{"t":{"topic":"t","partitions":{"0":{"partition":0,)"
                        R"("consumer_lag":)",
                        lag, R"(}}}}})");
  };
  ASSERT_TRUE(m.UpdateFromRdKafkaStats(stats("store#consumer-1", "consumer", 5)).ok());
  ASSERT_TRUE(m.UpdateFromRdKafkaStats(stats("store#consumer-2", "consumer", 9)).ok());
  ASSERT_TRUE(m.UpdateFromRdKafkaStats(stats("store#producer-3", "producer", 1)).ok());
  // A newer report of the first consumer replaces only its own gauges.
  ASSERT_TRUE(m.UpdateFromRdKafkaStats(stats("store#consumer-1", "consumer", 6)).ok());

  const MetricsSnapshot s = m.Snapshot();
  ASSERT_EQ(s.clients.size(), 3u);
  EXPECT_EQ(s.clients[0].name, "store#consumer-1");
  EXPECT_EQ(s.clients[0].replyq, 6);
  EXPECT_EQ(s.clients[1].name, "store#consumer-2");
  EXPECT_EQ(s.clients[1].replyq, 9);
  EXPECT_EQ(s.clients[2].type, "producer");
  const std::string text = m.RenderPrometheus("mc");
  EXPECT_TRUE(HasLine(text, R"(mc_rdkafka_consumer_lag_messages{client="consumer",)"
                            R"(client_id="store#consumer-1",topic="t",partition="0"} 6)"))
      << text;
  EXPECT_TRUE(HasLine(text, R"(mc_rdkafka_consumer_lag_messages{client="consumer",)"
                            R"(client_id="store#consumer-2",topic="t",partition="0"} 9)"))
      << text;

  m.ForgetClient("store#consumer-1");
  m.ForgetClient("never-seen");
  ASSERT_EQ(m.Snapshot().clients.size(), 2u);
  EXPECT_EQ(m.RenderPrometheus("mc").find("store#consumer-1"), std::string::npos);
}

TEST(Metrics, MalformedStatsAreRejectedAndChangeNothing) {
  Metrics m;
  ASSERT_TRUE(m.UpdateFromRdKafkaStats(kConsumerStats).ok());
  const std::string before = m.RenderPrometheus();
  const std::string truncated(kProducerStats.substr(0, kProducerStats.size() / 2));
  for (std::string_view bad :
       {std::string_view(truncated), std::string_view(""), std::string_view("not json"),
        std::string_view("[1,2,3]"), std::string_view("42"), std::string_view("null"),
        std::string_view(R"({"type":"consumer",})"), std::string_view("{\"type\":\"\xff\"}")}) {
    const absl::Status status = m.UpdateFromRdKafkaStats(bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad << ": " << status;
  }
  EXPECT_EQ(m.RenderPrometheus(), before);
  EXPECT_EQ(m.Snapshot().clients.size(), 1u);
}

}  // namespace
TEST(Metrics, EndToEndLatencyIsAHistogramPerTopic) {
  Metrics m("store");
  // No topic seen yet: no family at all (prometheus-cpp leaves out families without series).
  EXPECT_EQ(m.RenderPrometheus("mc").find("end_to_end"), std::string::npos);
  m.ObserveEndToEndSeconds("VideoStream", 0.003);
  m.ObserveEndToEndSeconds("VideoStream", 0.2);
  m.ObserveEndToEndSeconds("VideoStream", 100);  // above every bound: only +Inf
  m.ObserveEndToEndSeconds("Predictions", -1);   // clock skew between hosts: counted as 0
  m.ObserveEndToEndSeconds("Predictions", std::numeric_limits<double>::quiet_NaN());  // ignored
  const std::string text = m.RenderPrometheus("mc");
  const char* expected[] = {
      R"(mc_end_to_end_latency_seconds_bucket{service="store",topic="VideoStream",le="0.0025"} 0)",
      R"(mc_end_to_end_latency_seconds_bucket{service="store",topic="VideoStream",le="0.005"} 1)",
      R"(mc_end_to_end_latency_seconds_bucket{service="store",topic="VideoStream",le="0.25"} 2)",
      R"(mc_end_to_end_latency_seconds_bucket{service="store",topic="VideoStream",le="60"} 2)",
      R"(mc_end_to_end_latency_seconds_bucket{service="store",topic="VideoStream",le="+Inf"} 3)",
      R"(mc_end_to_end_latency_seconds_count{service="store",topic="VideoStream"} 3)",
      R"(mc_end_to_end_latency_seconds_bucket{service="store",topic="Predictions",le="0.0005"} 1)",
      R"(mc_end_to_end_latency_seconds_count{service="store",topic="Predictions"} 1)",
      R"(mc_end_to_end_latency_seconds_sum{service="store",topic="Predictions"} 0)",
  };
  for (const char* line : expected) EXPECT_TRUE(HasLine(text, line)) << line << "\n" << text;
  EXPECT_EQ(CountLinesStartingWith(text, "# TYPE mc_end_to_end_latency_seconds"), 1);
  const MetricsSnapshot s = m.Snapshot();
  ASSERT_EQ(s.end_to_end.size(), 2u);
  EXPECT_EQ(s.end_to_end[0].topic, "Predictions");
  EXPECT_EQ(s.end_to_end[0].count, 1u);
  EXPECT_EQ(s.end_to_end[1].topic, "VideoStream");
  EXPECT_EQ(s.end_to_end[1].count, 3u);
  EXPECT_NEAR(s.end_to_end[1].seconds_sum, 100.203, 1e-9);
}

}  // namespace messagecorps
