// The gateway's parts wired together and its serve-then-drain sequence, so that main.cc only
// parses options and owns the stop signals (docs/gateway.md: drain, access control).
#pragma once

#include <ostream>
#include <stop_token>

#include "gateway/gateway_options.h"

namespace messagecorps::gateway {

// Builds every part from `o` (client configuration, type registry, resume tokens, access control,
// producer, admin client, catalog, publisher, subscriptions), starts the gRPC and HTTP servers,
// writes {"grpc_port": P, "http_port": Q} and a newline to `ports_out` once both listen, and
// serves until `stop` is requested. Then drains: readiness goes false, streams end with their
// resume tokens, no new calls are accepted, in-flight publishes finish, all within
// o.drain_timeout (past it, plus 2 s for the last writes, the process exits with 3).
// Returns the exit code: 0 after a drain; 2 for a usage error (a bad file or value, written to
// stderr, nothing started); 1 when a server cannot start (logged).
int RunGateway(const GatewayOptions& o, std::stop_token stop, std::ostream& ports_out);

// SIGHUP re-reads the permissions and quotas files (RunGateway polls the flag the handler sets).
void InstallReloadSignal();

}  // namespace messagecorps::gateway
