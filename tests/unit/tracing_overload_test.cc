// Tracing under overload: more spans than the exporter takes. The SDK drops what its queue cannot
// hold; what it says about that reaches the program's log (the default spdlog logger), once per
// 10 s and message site, not once per dropped span (the SDK's own handler writes a stderr line per
// span). Its own binary: the OTEL_* variables are read once per process.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <sstream>
#include <string>

#include "messagecorps/tracing.h"

namespace messagecorps::tracing {
namespace {

size_t CountLines(const std::string& text, const std::string& needle) {
  size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
  return n;
}

TEST(TracingOverload, DroppedSpansAreLoggedOncePerSiteNotPerSpan) {
  // Nothing listens on port 1: every export fails; a queue of 4 spans overflows at once.
  setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1", 1);
  setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", 1);
  setenv("OTEL_TRACES_SAMPLER", "always_on", 1);
  setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4", 1);
  setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2", 1);
  setenv("OTEL_BSP_SCHEDULE_DELAY", "60000", 1);  // no export while the spans are made
  std::ostringstream log;
  auto logger = std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log));
  logger->set_level(spdlog::level::debug);
  spdlog::set_default_logger(logger);

  ASSERT_TRUE(Init().ok());
  ASSERT_TRUE(Enabled());
  constexpr int kSpans = 1000;
  for (int i = 0; i < kSpans; ++i) {
    const Span span = StartInternal("overload");
    ASSERT_TRUE(span);
  }
  logger->flush();
  const std::string text = log.str();
  // 996 spans were dropped; one line says so.
  EXPECT_EQ(CountLines(text, "queue is full"), 1u) << text.substr(0, 2000);
  EXPECT_NE(text.find("opentelemetry: "), std::string::npos) << text.substr(0, 2000);
  Shutdown(std::chrono::milliseconds(2000));
}

}  // namespace
}  // namespace messagecorps::tracing
