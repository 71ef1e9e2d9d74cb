// Tracing with nothing configured: off, and free. (The spans themselves are checked end to end
// against a real Jaeger: tests/e2e/observability_test.py --check tracing.)
#include "messagecorps/tracing.h"

#include <gtest/gtest.h>
#include <stdlib.h>

namespace messagecorps::tracing {
namespace {

TEST(Tracing, OffWhenNoEndpointIsSet) {
  unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
  unsetenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  ASSERT_TRUE(Init().ok());
  EXPECT_FALSE(Enabled());
  const Span span = StartInternal("step ", "one");
  EXPECT_FALSE(span);
  std::array<char, 32> trace{};
  std::array<char, 16> span_id{};
  EXPECT_FALSE(ActiveIds(trace, span_id));
  Shutdown();  // a no-op when off
  ForceFlush();
}

}  // namespace
}  // namespace messagecorps::tracing
