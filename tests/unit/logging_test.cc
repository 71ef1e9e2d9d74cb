#include "messagecorps/logging.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

namespace messagecorps::logging {
namespace {

using nlohmann::json;

constexpr std::string_view kTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr std::string_view kSpanId = "00f067aa0ba902b7";

// A logger writing into a string, at trace level (whatever MCORPS_LOG_LEVEL says).
struct Captured {
  explicit Captured(Format format, std::string service = "capture") {
    logger = MakeLogger(std::move(service), format,
                        std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    logger->set_level(spdlog::level::trace);
  }
  std::string Text() const { return out.str(); }
  // The single line logged so far, parsed. Fails the test if there is not exactly one.
  json OnlyJsonLine() const {
    const std::string text = Text();
    EXPECT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\n');
    EXPECT_EQ(text.find('\n'), text.size() - 1) << "expected exactly one line: " << text;
    return json::parse(text);  // throws (failing the test) on invalid JSON or invalid UTF-8
  }
  void Clear() { out.str(""); }

  std::ostringstream out;
  std::shared_ptr<spdlog::logger> logger;
};

// `2024-05-01T12:34:56.789Z` (std::regex is avoided: GCC 12 warns inside it under TSan builds).
bool IsIsoTimestamp(std::string_view s) {
  constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (s.size() != kShape.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool ok = kShape[i] == 'd' ? s[i] >= '0' && s[i] <= '9' : s[i] == kShape[i];
    if (!ok) return false;
  }
  return true;
}

std::set<std::string> Keys(const json& j) {
  std::set<std::string> keys;
  for (const auto& [key, value] : j.items()) keys.insert(key);
  return keys;
}

TEST(EcsJson, LineHasExactlyTheEcsFields) {
  Captured c(Format::kEcsJson);
  c.logger->info("sent frame {}", 7);
  const json line = c.OnlyJsonLine();
  EXPECT_EQ(Keys(line), (std::set<std::string>{"@timestamp", "log.level", "message", "ecs.version",
                                               "service.name", "log.logger", "process.thread.id"}));
  EXPECT_EQ(line["log.level"], "info");
  EXPECT_EQ(line["message"], "sent frame 7");
  EXPECT_EQ(line["ecs.version"], "8.11.0");
  EXPECT_EQ(line["service.name"], "capture");
  EXPECT_EQ(line["log.logger"], "capture");
  EXPECT_TRUE(line["process.thread.id"].is_number_unsigned());
  const std::string ts = line["@timestamp"];
  EXPECT_TRUE(IsIsoTimestamp(ts)) << ts;
}

TEST(EcsJson, FirstKeysAreTimestampLevelMessageInThatOrder) {
  Captured c(Format::kEcsJson);
  c.logger->warn("x");
  EXPECT_EQ(c.Text().rfind(R"({"@timestamp":")", 0), 0u) << c.Text();
  const std::string text = c.Text();
  EXPECT_LT(text.find(R"("log.level":"warning")"), text.find(R"("message":"x")"));
}

TEST(EcsJson, TimestampIsUtcWithMilliseconds) {
  using namespace std::chrono;
  EcsJsonFormatter formatter("svc");
  const auto when = sys_days{year{2018} / July / 30} + hours(8) + minutes(26) + seconds(31) +
                    microseconds(123456);
  spdlog::details::log_msg msg(time_point_cast<spdlog::log_clock::duration>(when),
                               spdlog::source_loc{}, "svc", spdlog::level::err, "boom");
  spdlog::memory_buf_t buf;
  formatter.format(msg, buf);
  const json line = json::parse(std::string(buf.data(), buf.size()));
  EXPECT_EQ(line["@timestamp"], "2018-07-30T08:26:31.123Z");
  EXPECT_EQ(line["log.level"], "error");
}

TEST(EcsJson, EscapesQuotesControlCharactersAndInvalidUtf8) {
  Captured c(Format::kEcsJson, "svc \"quoted\"");
  // quote, backslash, newline, tab, CR, 0x01, DEL, valid é € 😀, then invalid: lone 0xFF, a
  // truncated 3-byte sequence, an overlong '/', an encoded surrogate.
  const std::string message =
      "a\"b\\c\nd\te\rf\x01g\x7fh \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 "
      "\xff|\xe2\x82x|\xc0\xaf|\xed\xa0\x80|";
  c.logger->info("{}", message);
  const std::string raw = c.Text();
  EXPECT_NE(raw.find(R"(a\"b\\c\nd\te\rf\u0001g\u007fh)"), std::string::npos) << raw;
  const json line = c.OnlyJsonLine();
  const std::string fffd = "\xef\xbf\xbd";
  EXPECT_EQ(line["message"], "a\"b\\c\nd\te\rf\x01g\x7fh \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 " +
                                 fffd + "|" + fffd + "x|" + fffd + fffd + "|" + fffd + fffd + fffd +
                                 "|");
  EXPECT_EQ(line["service.name"], "svc \"quoted\"");
  EXPECT_EQ(line["log.logger"], "svc \"quoted\"");
}

TEST(EcsJson, EmbeddedNulAndTruncatedLeadAtEndStayValid) {
  Captured c(Format::kEcsJson);
  c.logger->info("{}", std::string_view("nul\0end\xf0\x9f", 9));
  const json line = c.OnlyJsonLine();
  EXPECT_EQ(line["message"], std::string("nul\0end\xef\xbf\xbd", 10));
}

TEST(EcsJson, SourceLocationBecomesLogOrigin) {
  Captured c(Format::kEcsJson);
  SPDLOG_LOGGER_CALL(c.logger, spdlog::level::info, "with location");
  const json line = c.OnlyJsonLine();
  EXPECT_NE(line["log.origin.file.name"].get<std::string>().find("logging_test.cc"),
            std::string::npos);
  EXPECT_GT(line["log.origin.file.line"].get<int>(), 0);
}

TEST(LogContext, FieldsAppearInsideTheScopeAndDisappearAfter) {
  Captured c(Format::kEcsJson);
  EXPECT_EQ(CurrentLogContext(), nullptr);
  {
    ScopedLogContext ctx(kTraceId, kSpanId, "VideoStream", 3, 42);
    ASSERT_NE(CurrentLogContext(), nullptr);
    c.logger->info("handling");
    const json line = c.OnlyJsonLine();
    EXPECT_EQ(line["trace.id"], kTraceId);
    EXPECT_EQ(line["span.id"], kSpanId);
    EXPECT_EQ(line["messagecorps.kafka.topic"], "VideoStream");
    EXPECT_EQ(line["messagecorps.kafka.partition"], 3);
    EXPECT_EQ(line["messagecorps.kafka.offset"], 42);
  }
  EXPECT_EQ(CurrentLogContext(), nullptr);
  c.Clear();
  c.logger->info("after");
  const json line = c.OnlyJsonLine();
  for (const char* key : {"trace.id", "span.id", "messagecorps.kafka.topic",
                          "messagecorps.kafka.partition", "messagecorps.kafka.offset"}) {
    EXPECT_FALSE(line.contains(key)) << key;
  }
}

TEST(LogContext, UnknownFieldsAreLeftOut) {
  Captured c(Format::kEcsJson);
  ScopedLogContext ctx(kTraceId);
  c.logger->info("trace only");
  const json line = c.OnlyJsonLine();
  EXPECT_EQ(line["trace.id"], kTraceId);
  EXPECT_FALSE(line.contains("span.id"));
  EXPECT_FALSE(line.contains("messagecorps.kafka.topic"));
  EXPECT_FALSE(line.contains("messagecorps.kafka.partition"));
  EXPECT_FALSE(line.contains("messagecorps.kafka.offset"));
}

TEST(LogContext, InnerScopeReplacesOuterAndRestoresIt) {
  Captured c(Format::kEcsJson);
  ScopedLogContext outer(kTraceId, kSpanId, "VideoStream", 0, 1);
  {
    ScopedLogContext inner("11111111111111111111111111111111", "", "Predictions", 1, 9);
    c.logger->info("inner");
    const json line = c.OnlyJsonLine();
    EXPECT_EQ(line["trace.id"], "11111111111111111111111111111111");
    EXPECT_FALSE(line.contains("span.id"));
    EXPECT_EQ(line["messagecorps.kafka.topic"], "Predictions");
  }
  c.Clear();
  c.logger->info("outer again");
  const json line = c.OnlyJsonLine();
  EXPECT_EQ(line["trace.id"], kTraceId);
  EXPECT_EQ(line["messagecorps.kafka.topic"], "VideoStream");
  EXPECT_EQ(line["messagecorps.kafka.offset"], 1);
}

TEST(LogContext, CopiesTemporariesAndTruncatesLongValues) {
  const std::string long_topic(300, 't');
  ScopedLogContext ctx{std::string(kTraceId), std::string(kSpanId), std::string(long_topic)};
  const LogContext* current = CurrentLogContext();
  ASSERT_NE(current, nullptr);
  EXPECT_EQ(current->trace_id, kTraceId);
  EXPECT_EQ(current->span_id, kSpanId);
  EXPECT_EQ(current->topic, long_topic.substr(0, 255));
  EXPECT_EQ(current->partition, -1);
  EXPECT_EQ(current->offset, -1);
}

TEST(LogContext, IsPerThread) {
  Captured c(Format::kEcsJson);
  ScopedLogContext ctx(kTraceId);
  std::thread other([&] { c.logger->info("from another thread"); });
  other.join();
  EXPECT_FALSE(c.OnlyJsonLine().contains("trace.id"));
}

TEST(Console, ContainsTraceIdAndKafkaCoordinates) {
  Captured c(Format::kConsole, "capture");
  {
    ScopedLogContext ctx(kTraceId, kSpanId, "VideoStream", 3, 42);
    c.logger->info("hello {}", "world");
  }
  const std::string expected_tail =
      "[info] capture: hello world trace.id=4bf92f3577b34da6a3ce929d0e0e4736 "
      "span.id=00f067aa0ba902b7 kafka=VideoStream/3@42\n";
  const std::string text = c.Text();
  ASSERT_EQ(text.size(), 25 + expected_tail.size()) << text;
  EXPECT_TRUE(IsIsoTimestamp(text.substr(0, 24)) && text[24] == ' ') << text;
  EXPECT_EQ(text.substr(25), expected_tail);
  c.Clear();
  c.logger->warn("no trace");
  EXPECT_EQ(c.Text().find("trace.id"), std::string::npos);
  EXPECT_NE(c.Text().find("[warning] capture: no trace\n"), std::string::npos) << c.Text();
}

TEST(Logger, CloneKeepsServiceButNamesTheLogger) {
  Captured c(Format::kEcsJson, "capture");
  auto consumer_logger = c.logger->clone("capture.consumer");
  consumer_logger->info("x");
  const json line = c.OnlyJsonLine();
  EXPECT_EQ(line["service.name"], "capture");
  EXPECT_EQ(line["log.logger"], "capture.consumer");
}

TEST(Logger, DefaultSinkIsStderr) {
  auto logger = MakeLogger("stderr-test", Format::kEcsJson);
  ASSERT_EQ(logger->sinks().size(), 1u);
  EXPECT_NE(logger->sinks()[0], nullptr);
  EXPECT_EQ(logger->name(), "stderr-test");
}

TEST(Parse, FormatsAndLevels) {
  EXPECT_EQ(ParseFormat("console").value(), Format::kConsole);
  EXPECT_EQ(ParseFormat("json").value(), Format::kEcsJson);
  EXPECT_EQ(ParseFormat("ECS").value(), Format::kEcsJson);
  EXPECT_EQ(ParseFormat("xml").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseFormat("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseLevel("debug").value(), spdlog::level::debug);
  EXPECT_EQ(ParseLevel("WARN").value(), spdlog::level::warn);
  EXPECT_EQ(ParseLevel("warning").value(), spdlog::level::warn);
  EXPECT_EQ(ParseLevel("err").value(), spdlog::level::err);
  EXPECT_EQ(ParseLevel("off").value(), spdlog::level::off);
  EXPECT_EQ(ParseLevel("verbose").status().code(), absl::StatusCode::kInvalidArgument);
}

// Restores an environment variable when the test ends.
class EnvGuard {
 public:
  explicit EnvGuard(const char* name) : name_(name) {
    if (const char* v = getenv(name)) saved_ = v;
  }
  ~EnvGuard() {
    if (saved_) {
      setenv(name_, saved_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> saved_;
};

TEST(Environment, FormatAndLevel) {
  EnvGuard format_guard("MCORPS_LOG_FORMAT");
  EnvGuard level_guard("MCORPS_LOG_LEVEL");
  unsetenv("MCORPS_LOG_FORMAT");
  unsetenv("MCORPS_LOG_LEVEL");
  EXPECT_EQ(FormatFromEnvironment(), Format::kConsole);
  EXPECT_EQ(LevelFromEnvironment(), spdlog::level::info);

  setenv("MCORPS_LOG_FORMAT", "json", 1);
  setenv("MCORPS_LOG_LEVEL", "debug", 1);
  EXPECT_EQ(FormatFromEnvironment(), Format::kEcsJson);
  EXPECT_EQ(LevelFromEnvironment(), spdlog::level::debug);
  EXPECT_EQ(MakeLogger("env", Format::kConsole)->level(), spdlog::level::debug);

  setenv("MCORPS_LOG_FORMAT", "yaml", 1);
  setenv("MCORPS_LOG_LEVEL", "loud", 1);
  EXPECT_EQ(FormatFromEnvironment(), Format::kConsole);
  EXPECT_EQ(LevelFromEnvironment(), spdlog::level::info);
}

TEST(RdKafka, SyslogLevelsMapToSpdlog) {
  EXPECT_EQ(RdKafkaLogLevel(0), spdlog::level::critical);  // LOG_EMERG
  EXPECT_EQ(RdKafkaLogLevel(1), spdlog::level::critical);  // LOG_ALERT
  EXPECT_EQ(RdKafkaLogLevel(2), spdlog::level::critical);  // LOG_CRIT
  EXPECT_EQ(RdKafkaLogLevel(3), spdlog::level::err);       // LOG_ERR
  EXPECT_EQ(RdKafkaLogLevel(4), spdlog::level::warn);      // LOG_WARNING
  EXPECT_EQ(RdKafkaLogLevel(5), spdlog::level::info);      // LOG_NOTICE
  EXPECT_EQ(RdKafkaLogLevel(6), spdlog::level::info);      // LOG_INFO
  EXPECT_EQ(RdKafkaLogLevel(7), spdlog::level::debug);     // LOG_DEBUG
  EXPECT_EQ(RdKafkaLogLevel(8), spdlog::level::debug);
  EXPECT_EQ(RdKafkaLogLevel(-1), spdlog::level::critical);
}

TEST(RdKafka, LogLineCarriesFacilityAndLevel) {
  Captured c(Format::kEcsJson);
  LogFromRdKafka(*c.logger, 3, "FAIL",
                 "localhost:9092/1: Connect to ipv4#127.0.0.1:9092 failed {}");
  const json line = c.OnlyJsonLine();
  EXPECT_EQ(line["log.level"], "error");
  EXPECT_EQ(line["message"],
            "rdkafka FAIL: localhost:9092/1: Connect to ipv4#127.0.0.1:9092 failed {}");
}

TEST(RdKafka, NullStringsAreLoggedAsEmpty) {
  Captured c(Format::kEcsJson);
  LogFromRdKafka(*c.logger, 6, nullptr, nullptr);
  EXPECT_EQ(c.OnlyJsonLine()["message"], "rdkafka : ");
}

class ThrowingSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg&) override { throw std::runtime_error("disk full"); }
  void flush_() override {}
};

TEST(RdKafka, NeverThrowsEvenWhenSinkAndErrorHandlerThrow) {
  static_assert(noexcept(LogFromRdKafka(std::declval<spdlog::logger&>(), 0, "", "")));
  auto logger = std::make_shared<spdlog::logger>("throwing", std::make_shared<ThrowingSink>());
  logger->set_error_handler([](const std::string& what) { throw std::runtime_error(what); });
  // Prove the setup really throws, so the next assertion means something.
  EXPECT_THROW(logger->error("direct"), std::runtime_error);
  EXPECT_NO_THROW(LogFromRdKafka(*logger, 3, "FAIL", "broker down"));
}

TEST(LogReceived, DebugLineWithKafkaFieldsAndOuterTrace) {
  Captured c(Format::kEcsJson);
  ScopedLogContext handler(kTraceId, kSpanId);
  LogReceived(*c.logger, "VideoStream", 2, 1234, "5f1b9a2e-93a1-11e8-9eb6-529269fb1459",
              1532939191.5);
  const json line = c.OnlyJsonLine();
  EXPECT_EQ(line["log.level"], "debug");
  EXPECT_EQ(line["message"],
            "received topic=VideoStream partition=2 offset=1234 "
            "uuid=5f1b9a2e-93a1-11e8-9eb6-529269fb1459 timestamp=1532939191.500000");
  EXPECT_EQ(line["trace.id"], kTraceId);
  EXPECT_EQ(line["span.id"], kSpanId);
  EXPECT_EQ(line["messagecorps.kafka.topic"], "VideoStream");
  EXPECT_EQ(line["messagecorps.kafka.partition"], 2);
  EXPECT_EQ(line["messagecorps.kafka.offset"], 1234);
  // The outer (handler) context is back afterwards.
  ASSERT_NE(CurrentLogContext(), nullptr);
  EXPECT_EQ(CurrentLogContext()->topic, "");
  EXPECT_EQ(CurrentLogContext()->trace_id, kTraceId);
}

TEST(LogReceived, SilentAboveDebug) {
  Captured c(Format::kEcsJson);
  c.logger->set_level(spdlog::level::info);
  LogReceived(*c.logger, "VideoStream", 0, 1, "uuid", 0);
  EXPECT_EQ(c.Text(), "");
}

}  // namespace
}  // namespace messagecorps::logging
