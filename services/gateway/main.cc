// mcorps-gateway: typed gRPC and REST/SSE in front of Kafka, for programs that cannot link a Kafka
// client. See docs/gateway.md.
//
//   mcorps-gateway --brokers LIST --grpc-port P --http-port Q [-X key=value] [-F file]
//                  [--registry FILE] [--descriptors FILE]...
//
// Options: gateway_options.h (the Kafka client configuration as every program reads it: -X, -F,
// $MESSAGECORPS_CLIENT_CONFIG, --brokers / $MESSAGECORPS_BROKERS).
//
// Prints one JSON line on stdout once both ports listen: {"grpc_port": P, "http_port": Q}.
// SIGTERM/SIGINT drain: readiness goes false, streams end (UNAVAILABLE with a resume token), no
// new calls are accepted, in-flight publishes finish; all within --drain-timeout, after which what
// is left is cancelled.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string_view>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/topics.h"
#include "gateway/access.h"
#include "gateway/client_certs.h"
#include "gateway/gateway_context.h"
#include "gateway/gateway_options.h"
#include "gateway/grpc_server.h"
#include "gateway/http_server.h"
#include "gateway/idempotency.h"
#include "messagecorps/admin.h"
#include "messagecorps/logging.h"
#include "messagecorps/metrics.h"
#include "messagecorps/producer.h"
#include "messagecorps/program/options.h"
#include "messagecorps/program/stop.h"
#include "messagecorps/tracing.h"
#include "messagecorps/type_registry.h"

namespace gw = messagecorps::gateway;

namespace {

int Fail(absl::string_view what) {
  std::cerr << "mcorps-gateway: " << what << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Not a program::Program: exports its clients' queued spans on every return (OTEL_* tracing).
  const messagecorps::tracing::ShutdownAtExit flush_spans;
  CLI::App app{"mcorps-gateway: typed gRPC and REST/SSE in front of Kafka"};
  gw::GatewayOptions o;
  gw::AddGatewayOptions(app, o);
  CLI11_PARSE(app, argc, argv);
  if (auto s = gw::FinishGatewayOptions(o); !s.ok()) return Fail(s.message());

  auto logger = messagecorps::logging::MakeLoggerFromEnvironment("gateway");
  auto loaded = gw::LoadClientConfig(o.client);
  if (!loaded.ok()) return Fail(loaded.status().message());
  messagecorps::ClientConfig client = *std::move(loaded);
  client.logger = logger;

  auto registry =
      std::make_shared<messagecorps::TypeRegistry>(messagecorps::TypeRegistry::WithSeedDefaults());
  for (const std::string& file : o.descriptor_sets) {
    if (auto s = registry->AddDescriptorSetFile(file); !s.ok()) return Fail(s.message());
  }
  if (!o.registry_file.empty()) {
    if (auto s = registry->LoadConfigFile(o.registry_file); !s.ok()) return Fail(s.message());
  }
  auto tokens = o.resume_secret_file.empty()
                    ? absl::StatusOr<gw::ResumeTokenCodec>(gw::ResumeTokenCodec::Random())
                    : gw::ResumeTokenCodec::FromFile(o.resume_secret_file);
  if (!tokens.ok()) return Fail(tokens.status().message());
  if (o.resume_secret_file.empty()) {
    logger->warn("no --resume-secret-file: resume tokens only work on this process");
  }

  auto access = gw::Access::Create(o.access);
  if (!access.ok()) return Fail(access.status().message());
  std::unique_ptr<gw::ClientCertVerifier> client_certs;
  if (!o.tls_client_ca.empty()) {
    auto verifier = gw::ClientCertVerifier::Create(o.tls_client_ca);
    if (!verifier.ok()) return Fail(verifier.status().message());
    client_certs = *std::move(verifier);
  }

  auto metrics = std::make_shared<messagecorps::Metrics>("gateway");
  messagecorps::ProducerConfig pc;
  static_cast<messagecorps::ClientConfig&>(pc) = client;
  pc.metrics = metrics;
  // A publish waits for Kafka's acknowledgement: bound it well below librdkafka's 300 s default.
  pc.properties.try_emplace("message.timeout.ms", "30000");
  pc.properties.try_emplace("message.max.bytes", std::to_string(o.max_message_bytes + 65536));
  // A gRPC callback must not block: a full local queue is reported at once (RESOURCE_EXHAUSTED).
  pc.queue_full_wait = std::chrono::milliseconds(0);
  auto envelope = messagecorps::program::MakeEnvelope({}, "gateway");
  if (!envelope.ok()) return Fail(envelope.status().message());
  pc.envelope = *envelope;
  auto producer = messagecorps::Producer::Create(pc);
  if (!producer.ok()) return Fail(absl::StrCat("producer: ", producer.status().message()));
  auto admin = messagecorps::AdminClient::Create(client);
  if (!admin.ok()) return Fail(absl::StrCat("admin client: ", admin.status().message()));

  gw::GatewayMetrics gateway_metrics;
  gw::TopicCatalog catalog(registry, *std::move(admin), gw::CatalogOptions{}, logger);
  messagecorps::PayloadLimits payload_limits;
  payload_limits.max_bytes = o.max_message_bytes;
  gw::IdempotencyCache idempotency({o.idempotency_window, o.idempotency_max_keys});
  gw::Publisher publisher(catalog, **producer, gateway_metrics, payload_limits, &idempotency);
  gw::SubscriptionContext subscriptions;
  subscriptions.catalog = &catalog;
  subscriptions.tokens = &*tokens;
  subscriptions.client = client;
  subscriptions.fetch_kbytes = o.fetch_kbytes;
  subscriptions.limits.max_decoded_bytes = o.max_message_bytes;
  gw::StreamRegistry streams;

  gw::GatewayContext context;
  context.catalog = &catalog;
  context.publisher = &publisher;
  context.subscriptions = &subscriptions;
  context.streams = &streams;
  context.metrics = &gateway_metrics;
  context.access = access->get();
  context.client_certs = client_certs.get();
  context.logger = logger;
  context.limits = o.limits;

  gw::GrpcServer grpc_server(context);
  gw::GrpcServerOptions grpc_options;
  grpc_options.host = o.host;
  grpc_options.port = o.grpc_port;
  grpc_options.max_message_bytes = o.max_message_bytes;
  grpc_options.tls_cert_file = o.tls_cert;
  grpc_options.tls_key_file = o.tls_key;
  grpc_options.request_client_certs = !o.tls_client_ca.empty();
  if (auto s = grpc_server.Start(grpc_options); !s.ok()) {
    logger->critical("{}", s.ToString());
    return 1;
  }
  gw::HttpServer http_server(context, metrics);
  gw::HttpServerOptions http_options;
  http_options.host = o.host;
  http_options.port = o.http_port;
  http_options.max_body_bytes = o.max_message_bytes;
  http_options.threads = o.http_threads;
  http_options.tls_cert_file = o.tls_cert;
  http_options.tls_key_file = o.tls_key;
  http_options.tls_client_ca_file = o.tls_client_ca;
  if (auto s = http_server.Start(http_options); !s.ok()) {
    logger->critical("{}", s.ToString());
    return 1;
  }
  catalog.Start([&](bool up) {
    gateway_metrics.SetKafkaReachable(up);
    grpc_server.SetServing(up && !streams.draining());
  });
  std::cout << "{\"grpc_port\": " << grpc_server.port() << ", \"http_port\": " << http_server.port()
            << "}" << std::endl;
  logger->info("serving gRPC on {}:{} and HTTP on {}:{} (Kafka {})", o.host, grpc_server.port(),
               o.host, http_server.port(), client.brokers);

  messagecorps::program::StopSignals stop;
  // SIGHUP: re-read the permissions and quotas files (the handler only sets a flag).
  static std::atomic<bool> reload{false};
  struct sigaction hup {};
  hup.sa_handler = [](int) { reload.store(true); };
  sigemptyset(&hup.sa_mask);
  sigaction(SIGHUP, &hup, nullptr);
  while (!messagecorps::program::SleepFor(stop.token(), std::chrono::milliseconds(200))) {
    if (reload.exchange(false)) {
      if (auto s = (*access)->Reload(); s.ok()) {
        logger->info("SIGHUP: permissions and quotas reloaded");
      } else {
        logger->error("SIGHUP: kept the previous permissions and quotas: {}", s.ToString());
      }
    }
  }

  const auto started = std::chrono::steady_clock::now();
  const auto deadline = std::chrono::system_clock::now() + o.drain_timeout;
  auto left = [&] {
    return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::system_clock::now()),
                    std::chrono::milliseconds(0));
  };
  const int64_t drain_ms = o.drain_timeout.count();
  logger->info("draining (at most {} ms)", drain_ms);
  // Past the deadline (plus a little for the last writes) nothing waits any more: streams still
  // blocked on a client that does not read are cut by exiting.
  std::thread([drain_ms, logger] {
    std::this_thread::sleep_for(std::chrono::milliseconds(drain_ms + 2000));
    logger->error("drain: deadline passed with streams or publishes left; exiting");
    logger->flush();
    std::_Exit(3);
  }).detach();
  // Streams end first (UNAVAILABLE / an SSE `end` event, with their resume tokens) while both
  // servers still run: cpp-httplib stops calling a stream's provider once it is stopped.
  streams.Drain();
  grpc_server.SetServing(false);
  if (!streams.WaitIdle(left())) {
    logger->warn("drain: {} streams still open at the deadline", streams.streams());
  }
  http_server.Stop();
  grpc_server.Shutdown(deadline);
  if (auto s = (*producer)->Flush(left()); !s.ok()) logger->warn("drain: {}", s.ToString());
  catalog.Stop();
  logger->info("drained in {} ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::steady_clock::now() - started)
                                       .count());
  return 0;
}
