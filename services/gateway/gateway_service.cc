#include "gateway/gateway_service.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string_view>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gateway/access.h"
#include "gateway/client_certs.h"
#include "gateway/gateway_context.h"
#include "gateway/grpc_server.h"
#include "gateway/http_server.h"
#include "gateway/idempotency.h"
#include "messagecorps/admin.h"
#include "messagecorps/logging.h"
#include "messagecorps/metrics.h"
#include "messagecorps/producer.h"
#include "messagecorps/program/options.h"
#include "messagecorps/program/stop.h"
#include "messagecorps/type_registry.h"

namespace messagecorps::gateway {
namespace {

namespace mc = messagecorps;

std::atomic<bool> reload_requested{false};

int Fail(absl::string_view what) {
  std::cerr << "mcorps-gateway: " << what << "\n";
  return 2;
}

}  // namespace

void InstallReloadSignal() {
  struct sigaction hup {};
  hup.sa_handler = [](int) { reload_requested.store(true); };
  sigemptyset(&hup.sa_mask);
  sigaction(SIGHUP, &hup, nullptr);
}

int RunGateway(const GatewayOptions& o, std::stop_token stop, std::ostream& ports_out) {
  auto logger = mc::logging::MakeLoggerFromEnvironment("gateway");
  auto loaded = LoadClientConfig(o.client);
  if (!loaded.ok()) return Fail(loaded.status().message());
  mc::ClientConfig client = *std::move(loaded);
  client.logger = logger;

  auto registry = std::make_shared<mc::TypeRegistry>(mc::TypeRegistry::WithSeedDefaults());
  for (const std::string& file : o.descriptor_sets) {
    if (auto s = registry->AddDescriptorSetFile(file); !s.ok()) return Fail(s.message());
  }
  if (!o.registry_file.empty()) {
    if (auto s = registry->LoadConfigFile(o.registry_file); !s.ok()) return Fail(s.message());
  }
  auto tokens = o.resume_secret_file.empty()
                    ? absl::StatusOr<ResumeTokenCodec>(ResumeTokenCodec::Random())
                    : ResumeTokenCodec::FromFile(o.resume_secret_file);
  if (!tokens.ok()) return Fail(tokens.status().message());
  if (o.resume_secret_file.empty()) {
    logger->warn("no --resume-secret-file: resume tokens only work on this process");
  }

  auto access = Access::Create(o.access);
  if (!access.ok()) return Fail(access.status().message());
  std::unique_ptr<ClientCertVerifier> client_certs;
  if (!o.tls_client_ca.empty()) {
    auto verifier = ClientCertVerifier::Create(o.tls_client_ca);
    if (!verifier.ok()) return Fail(verifier.status().message());
    client_certs = *std::move(verifier);
  }

  auto metrics = std::make_shared<mc::Metrics>("gateway");
  mc::ProducerConfig pc;
  static_cast<mc::ClientConfig&>(pc) = client;
  pc.metrics = metrics;
  // A publish waits for Kafka's acknowledgement: bound it well below librdkafka's 300 s default.
  pc.properties.try_emplace("message.timeout.ms", "30000");
  pc.properties.try_emplace("message.max.bytes", std::to_string(o.max_message_bytes + 65536));
  // A gRPC callback must not block: a full local queue is reported at once (RESOURCE_EXHAUSTED).
  pc.queue_full_wait = std::chrono::milliseconds(0);
  auto envelope = mc::program::MakeEnvelope({}, "gateway");
  if (!envelope.ok()) return Fail(envelope.status().message());
  pc.envelope = *envelope;
  auto producer = mc::Producer::Create(pc);
  if (!producer.ok()) return Fail(absl::StrCat("producer: ", producer.status().message()));
  auto admin = mc::AdminClient::Create(client);
  if (!admin.ok()) return Fail(absl::StrCat("admin client: ", admin.status().message()));

  GatewayMetrics gateway_metrics;
  TopicCatalog catalog(registry, *std::move(admin), CatalogOptions{}, logger);
  mc::PayloadLimits payload_limits;
  payload_limits.max_bytes = o.max_message_bytes;
  IdempotencyCache idempotency({o.idempotency_window, o.idempotency_max_keys});
  Publisher publisher(catalog, **producer, gateway_metrics, payload_limits, &idempotency);
  SubscriptionContext subscriptions;
  subscriptions.catalog = &catalog;
  subscriptions.tokens = &*tokens;
  subscriptions.client = client;
  subscriptions.fetch_kbytes = o.fetch_kbytes;
  subscriptions.limits.max_decoded_bytes = o.max_message_bytes;
  StreamRegistry streams;

  GatewayContext context;
  context.catalog = &catalog;
  context.publisher = &publisher;
  context.subscriptions = &subscriptions;
  context.streams = &streams;
  context.metrics = &gateway_metrics;
  context.access = access->get();
  context.client_certs = client_certs.get();
  context.logger = logger;
  context.limits = o.limits;

  GrpcServer grpc_server(context);
  GrpcServerOptions grpc_options;
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
  HttpServer http_server(context, metrics);
  HttpServerOptions http_options;
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
  ports_out << "{\"grpc_port\": " << grpc_server.port() << ", \"http_port\": " << http_server.port()
            << "}" << std::endl;
  logger->info("serving gRPC on {}:{} and HTTP on {}:{} (Kafka {})", o.host, grpc_server.port(),
               o.host, http_server.port(), client.brokers);

  while (!mc::program::SleepFor(stop, std::chrono::milliseconds(200))) {
    if (reload_requested.exchange(false)) {
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

}  // namespace messagecorps::gateway
