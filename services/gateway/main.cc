// mcorps-gateway: typed gRPC and REST/SSE in front of Kafka, for programs that cannot link a Kafka
// client. See docs/gateway.md.
//
//   mcorps-gateway --brokers LIST --grpc-port P --http-port Q [-X key=value] [-F file]
//                  [--registry FILE] [--descriptors FILE]...
//
// Options: gateway_options.h (the Kafka client configuration as every program reads it: -X, -F,
// $MESSAGECORPS_CLIENT_CONFIG, --brokers / $MESSAGECORPS_BROKERS). The parts and the drain:
// gateway_service.h.
//
// Prints one JSON line on stdout once both ports listen: {"grpc_port": P, "http_port": Q}.
// SIGTERM/SIGINT drain (a second one exits at once); SIGHUP re-reads permissions and quotas.
#include <CLI/CLI.hpp>
#include <iostream>

#include "gateway/gateway_options.h"
#include "gateway/gateway_service.h"
#include "messagecorps/program/stop.h"
#include "messagecorps/tracing.h"

namespace gw = messagecorps::gateway;

int main(int argc, char** argv) {
  // Not a program::Program: exports its clients' queued spans on every return (OTEL_* tracing).
  const messagecorps::tracing::ShutdownAtExit flush_spans;
  CLI::App app{"mcorps-gateway: typed gRPC and REST/SSE in front of Kafka"};
  gw::GatewayOptions o;
  gw::AddGatewayOptions(app, o);
  CLI11_PARSE(app, argc, argv);
  if (auto s = gw::FinishGatewayOptions(o); !s.ok()) {
    std::cerr << "mcorps-gateway: " << s.message() << "\n";
    return 2;
  }
  messagecorps::program::StopSignals stop;
  gw::InstallReloadSignal();
  return gw::RunGateway(o, stop.token(), std::cout);
}
