// The Router configuration every Router-based service (predict, store) starts from: the program's
// one client configuration for the consumer, the output producer and the dead letters, its
// envelope, live-video consumer defaults, and a bounded close.
#pragma once

#include <string>

#include "messagecorps/consumer.h"
#include "messagecorps/program/program.h"
#include "messagecorps/router.h"

namespace messagecorps::services {

// A stopping service never hangs on a dead broker: the router leaves its group within this.
inline constexpr std::chrono::seconds kServiceCloseTimeout{5};

// RouterConfig with client = program.client() (brokers, -X/-F properties, logger, metrics),
// producer envelope = program.envelope(), the consumer group and start, ApplyLiveConsumerDefaults
// on the consumer side (a user's -X of the same key wins) and close_timeout kServiceCloseTimeout.
RouterConfig ServiceRouterConfig(const program::Program& program, const std::string& group,
                                 StartOffset start);

}  // namespace messagecorps::services
