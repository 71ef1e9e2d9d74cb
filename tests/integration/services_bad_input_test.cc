// Bad input in VideoStream: a corrupt JPEG, a frame whose width/height do not match its pixels, a
// message of another type (with its CloudEvents type header) and one without any header. Each goes
// to VideoStream.DLQ with its reason and the original bytes; mcorps-predict keeps running and
// predicts the good frames sent before and after them.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <set>

#include "messagecorps/cloud_events.h"
#include "messagecorps/seed_topics.h"
#include "services_support.h"
#include "support/kafka_test_env.h"
#include "support/test_brokers.h"
#include "support/test_topics.h"

namespace messagecorps::testing {
namespace {

using protobuf::data::Image;
using protobuf::predictions::Prediction;

Image JpegFrame(int64_t frame, int w, int h, int declared_w, int declared_h) {
  cv::Mat img(h, w, CV_8UC3, cv::Scalar(90, 120, 150));
  cv::circle(img, {w / 2, h / 2}, h / 4, cv::Scalar(20, 200, 20), cv::FILLED);
  std::vector<uchar> buf;
  cv::imencode(".jpg", img, buf);
  Image image;
  image.set_image_data(buf.data(), buf.size());
  image.set_width(declared_w);
  image.set_height(declared_h);
  image.set_encoding(Image::JPEG);
  image.set_channels(3);
  image.set_frame(frame);
  image.set_source("bad-input-test");
  return image;
}

std::string Header(const ReceivedMessage& m, std::string_view key) {
  auto v = m.header(key);
  return v ? std::string(*v) : std::string();
}

TEST(ServicesBadInput, EachBadRecordGoesToTheDlqWithItsReasonAndThePipelineKeepsRunning) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  const std::string video = UniqueName("VideoStream"), predictions = UniqueName("Predictions");
  CreateTopicOrFail(brokers, video, 2);
  CreateTopicOrFail(brokers, predictions, 2);
  CreateTopicOrFail(brokers, video + ".DLQ", 1);
  TempDir dir("mcorps-bad-input-");
  ServiceProcess predict(
      "predict", MCORPS_PREDICT_BIN,
      {"--brokers", brokers, "--input", video, "--output", predictions, "--group",
       UniqueName("predict"), "--earliest", "--no-skip", "--detector", "lbp-face", "--count", "6"},
      dir.path());

  auto producer = MakeProducer(brokers);
  ProducerConfig bare_config;
  bare_config.headers = HeaderMode::kNone;  // like the original: value only, no headers
  auto bare = MakeProducer(brokers, bare_config);
  const Topic<Image> topic(video);
  using Coordinates = std::pair<int32_t, int64_t>;  // partition, offset
  const auto send = [&](Producer& p, google::protobuf::Message& m) {
    auto r = p.SendMessageSync(video, m, EncodeOptions{}, {}, std::chrono::seconds(30));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? Coordinates{r->partition, r->offset} : Coordinates{-1, -1};
  };

  std::map<Coordinates, std::string> expected_reason;  // -> "reason header|text in the error"
  Image good1 = JpegFrame(1, 320, 240, 320, 240);
  send(*producer, good1);
  Image corrupt = JpegFrame(2, 320, 240, 320, 240);
  corrupt.mutable_image_data()->resize(corrupt.image_data().size() / 3);
  (*corrupt.mutable_image_data())[200] ^= 0x55;
  corrupt.mutable_image_data()->replace(2, 40, std::string(40, '\x01'));
  expected_reason[send(*producer, corrupt)] = "handler|corrupt-image";
  Image wrong_size = JpegFrame(3, 64, 48, 640, 480);
  expected_reason[send(*producer, wrong_size)] = "handler|frame-size-mismatch";
  Prediction other;
  other.add_object("not a frame");
  other.set_frame(4);
  expected_reason[send(*producer, other)] = "decode|protobuf.predictions.Prediction";
  Prediction headerless;
  headerless.add_object("a Prediction without headers");
  headerless.set_frame(5);
  // No headers, but its envelope names its type (_message_data.type): refused when decoding, as
  // the one with headers is. (Before records carried their type, it decoded as a garbage Image
  // and the handler refused it as an invalid frame.)
  expected_reason[send(*bare, headerless)] =
      "decode|protobuf.predictions.Prediction (_message_data.type)";
  Image good2 = JpegFrame(6, 320, 240, 320, 240);
  send(*producer, good2);

  ASSERT_TRUE(predict.Wait(std::chrono::seconds(120))) << predict.Log();
  EXPECT_EQ(predict.exit_code(), 0) << predict.Log();
  auto summary = nlohmann::json::parse(predict.LastLine());
  EXPECT_EQ(summary["predicted"], 2) << summary.dump();
  EXPECT_EQ(summary["dead_lettered"], 4) << summary.dump();

  ConsumerConfig raw;
  raw.decode = false;
  // The records as they are in VideoStream: what each dead letter must carry unchanged.
  struct Original {
    std::string value;
    std::optional<std::string> key;
    Headers headers;
  };
  std::map<Coordinates, Original> originals;
  {
    auto source = MakeConsumer(brokers, {video}, UniqueName("source-reader"), raw);
    for (const auto& m : PollUntil(*source, 6, std::chrono::seconds(60))) {
      std::optional<std::string> key;
      if (m.key()) key = std::string(*m.key());
      originals[{m.partition(), m.offset()}] = {std::string(m.value()), key, m.headers()};
    }
  }
  ASSERT_EQ(originals.size(), 6u);

  auto dlq = MakeConsumer(brokers, {video + ".DLQ"}, UniqueName("dlq-reader"), raw);
  auto dead = PollUntil(*dlq, 4, std::chrono::seconds(60));
  ASSERT_EQ(dead.size(), 4u);
  for (const auto& m : dead) {
    const Coordinates where{std::stoi(Header(m, header::kDlqPartition)),
                            std::stoll(Header(m, header::kDlqOffset))};
    const auto offset = where.second;
    ASSERT_TRUE(expected_reason.count(where))
        << "unexpected dead letter at " << where.first << "@" << where.second;
    const std::string want = expected_reason[where];
    const std::string reason = want.substr(0, want.find('|'));
    const std::string text = want.substr(want.find('|') + 1);
    EXPECT_EQ(Header(m, header::kDlqReason), reason) << "offset " << offset;
    EXPECT_NE(Header(m, header::kDlqError).find(text), std::string::npos)
        << "offset " << offset << ": " << Header(m, header::kDlqError);
    EXPECT_EQ(Header(m, header::kDlqTopic), video);
    // The original bytes, key and headers (dead_letter.h), the DLQ headers appended after them.
    const Original& original = originals.at(where);
    EXPECT_EQ(m.value(), original.value) << "offset " << offset << ": value bytes changed";
    EXPECT_EQ(m.key(), original.key) << "offset " << offset;
    const Headers headers = m.headers();
    ASSERT_GE(headers.size(), original.headers.size()) << "offset " << offset;
    EXPECT_EQ(Headers(headers.begin(), headers.begin() + original.headers.size()), original.headers)
        << "offset " << offset << ": the original headers, in order";
  }

  auto out = MakeConsumer(brokers, {predictions}, UniqueName("predictions-reader"));
  auto got = PollUntil(*out, 2, std::chrono::seconds(60));
  ASSERT_EQ(got.size(), 2u);
  std::set<int64_t> frames;
  for (const auto& m : got) {
    const auto* p = m.As<Prediction>();
    ASSERT_NE(p, nullptr) << m.decode_status();
    frames.insert(p->frame());
  }
  EXPECT_EQ(frames, (std::set<int64_t>{1, 6}));
}

}  // namespace
}  // namespace messagecorps::testing
