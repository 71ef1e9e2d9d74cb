// Library-internal tracing hooks (src/ only): the PRODUCER span of a send. See
// messagecorps/tracing.h for what is exported and the cost when off.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "messagecorps/trace_context.h"
#include "messagecorps/tracing.h"

namespace messagecorps::tracing::internal {

// Reads the OTEL_* environment on first use; logs a configuration error once (to the default
// spdlog logger) and leaves tracing off then. Cheap after the first call.
void InitOnce();

// A PRODUCER `publish <topic>` span, active on this thread while it lives. `trace`: the record's
// trace context (its span id becomes the span's; null for a re-publication such as a dead letter,
// which gets a fresh span id under the active span). `message_id`: the envelope uuid (may be
// empty). `start`: when the send began — the envelope's time, so that the span's start is the
// record's timestamp and the hop latencies Jaeger shows are the ones `mcorps trace` computes from
// the envelopes; the epoch (default) means now. Empty when tracing is off: check Enabled() first
// to skip building the arguments.
Span StartPublish(std::string_view topic, const TraceContext* trace, std::string_view message_id,
                  std::optional<std::string_view> key, std::int32_t partition,
                  std::size_t body_size, std::chrono::system_clock::time_point start = {});

}  // namespace messagecorps::tracing::internal
