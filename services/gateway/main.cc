// mcorps-gateway: typed gRPC and REST/SSE in front of Kafka, for programs that cannot link a Kafka
// client. See docs/gateway.md.
//
//   mcorps-gateway --brokers LIST --grpc-port P --http-port Q [-X key=value] [-F file]
//                  [--registry FILE] [--descriptors FILE]...
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
#include <thread>

#include "common/shutdown.h"
#include "common/topics.h"
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
#include "messagecorps/type_registry.h"

namespace ms = messagecorps::services;
namespace gw = messagecorps::gateway;

int main(int argc, char** argv) {
  CLI::App app{"mcorps-gateway: typed gRPC and REST/SSE in front of Kafka"};
  std::string brokers, host = "0.0.0.0", registry_file, secret_file;
  std::vector<std::string> descriptor_sets, properties, property_files;
  int grpc_port = 50051, http_port = 8080, http_threads = 64, fetch_kbytes = 512;
  size_t max_message_bytes = 4u << 20;
  int64_t drain_ms = 10000, slow_ms = 30000, idempotency_window_ms = 600000;
  size_t idempotency_max_keys = 100000;
  gw::StreamLimits limits;
  gw::AccessOptions access_options;
  std::string tls_cert, tls_key, tls_client_ca;
  int64_t jwt_leeway_s = 30;
  app.add_option("--brokers", brokers, "bootstrap servers (default $MESSAGECORPS_BROKERS)");
  app.add_option("--host", host, "address both servers listen on");
  app.add_option("--grpc-port", grpc_port, "gRPC port (0: any free port, printed on stdout)");
  app.add_option("--http-port", http_port, "HTTP port (0: any free port, printed on stdout)");
  app.add_option("--registry", registry_file, "topic -> type bindings (TypeRegistry config file)");
  app.add_option("--descriptors", descriptor_sets,
                 "FileDescriptorSet with types to bind (protoc --include_imports "
                 "--descriptor_set_out); repeatable");
  app.add_option("-X", properties, "librdkafka property key=value (repeatable)");
  app.add_option("-F", property_files, "librdkafka properties file (repeatable)");
  app.add_option("--max-message-bytes", max_message_bytes,
                 "largest request / message accepted (RESOURCE_EXHAUSTED / 413 beyond)");
  app.add_option("--drain-timeout-ms", drain_ms, "bound on the drain after SIGTERM");
  app.add_option("--resume-secret-file", secret_file,
                 "secrets signing resume tokens, one per line, the first signs (default: a random "
                 "secret, tokens then only work on this process)");
  app.add_option("--stream-window", limits.publish_window,
                 "PublishStream: messages in flight per stream before reading pauses");
  app.add_option("--subscriber-buffer-bytes", limits.subscriber_buffer_bytes,
                 "Subscribe: bytes queued per stream before fetching pauses");
  app.add_option("--slow-subscriber-timeout-ms", slow_ms,
                 "a subscriber whose buffer stays full this long is cut off with a resume token");
  app.add_option("--http-threads", http_threads,
                 "HTTP worker threads (bounds concurrent SSE streams + requests)");
  app.add_option("--idempotency-window-ms", idempotency_window_ms,
                 "how long a publish's result is kept for retries with the same idempotency key");
  app.add_option("--idempotency-max-keys", idempotency_max_keys,
                 "most results kept for retries (the oldest go first)");
  app.add_option("--fetch-kbytes", fetch_kbytes,
                 "per subscription: prefetched KiB per partition (queued.max.messages.kbytes)");
  app.add_option("--tls-cert", tls_cert, "server certificate chain (PEM): TLS on both ports");
  app.add_option("--tls-key", tls_key, "server private key (PEM)");
  app.add_option("--tls-client-ca", tls_client_ca,
                 "CA certificates (PEM) client certificates are verified against (mutual TLS)");
  app.add_flag("--mtls-principal", access_options.mtls_principal,
               "a trusted client certificate authenticates: its common name is the principal");
  app.add_option("--tokens-file", access_options.tokens_file,
                 "static bearer tokens, '<token> <principal>' per line");
  app.add_option("--jwt-hs256-secret-file", access_options.jwt_hs256_secret_file,
                 "secret for HS256-signed JWT bearer tokens (>= 32 bytes)");
  app.add_option("--jwt-rs256-public-key", access_options.jwt_rs256_public_key_file,
                 "RSA public key (PEM) for RS256-signed JWT bearer tokens");
  app.add_option("--jwt-issuer", access_options.jwt_issuer, "required JWT iss");
  app.add_option("--jwt-audience", access_options.jwt_audience, "required JWT aud");
  app.add_option("--jwt-leeway-s", jwt_leeway_s, "clock skew allowed on exp / nbf");
  app.add_option("--permissions", access_options.permissions_file,
                 "principal -> publish/subscribe rights per topic (reloaded on SIGHUP)");
  app.add_option("--quotas", access_options.quotas_file,
                 "per-principal messages/s, bytes/s, streams (reloaded on SIGHUP)");
  CLI11_PARSE(app, argc, argv);
  access_options.jwt_leeway = std::chrono::seconds(jwt_leeway_s);
  if (tls_cert.empty() != tls_key.empty()) {
    std::cerr << "mcorps-gateway: --tls-cert and --tls-key go together\n";
    return 2;
  }
  if (!tls_client_ca.empty() && tls_cert.empty()) {
    std::cerr << "mcorps-gateway: --tls-client-ca needs --tls-cert/--tls-key\n";
    return 2;
  }
  if (access_options.mtls_principal && tls_client_ca.empty()) {
    std::cerr << "mcorps-gateway: --mtls-principal needs --tls-client-ca\n";
    return 2;
  }
  limits.slow_subscriber_timeout = std::chrono::milliseconds(slow_ms);

  auto logger = messagecorps::logging::MakeLoggerFromEnvironment("gateway");
  auto resolved = messagecorps::ResolveBrokers(brokers);
  if (!resolved.ok()) {
    std::cerr << "mcorps-gateway: no brokers: pass --brokers or set MESSAGECORPS_BROKERS\n";
    return 2;
  }
  messagecorps::ClientConfig client;
  client.brokers = *resolved;
  client.logger = logger;
  for (const std::string& file : property_files) {
    auto props = messagecorps::ReadPropertiesFile(file);
    if (!props.ok()) {
      std::cerr << "mcorps-gateway: " << props.status().message() << "\n";
      return 2;
    }
    for (auto& [k, v] : *props) client.properties[k] = v;
  }
  for (const std::string& kv : properties) {
    auto p = messagecorps::ParseProperty(kv);
    if (!p.ok()) {
      std::cerr << "mcorps-gateway: " << p.status().message() << "\n";
      return 2;
    }
    client.properties[p->first] = p->second;
  }

  auto registry =
      std::make_shared<messagecorps::TypeRegistry>(messagecorps::TypeRegistry::WithSeedDefaults());
  for (const std::string& file : descriptor_sets) {
    if (auto s = registry->AddDescriptorSetFile(file); !s.ok()) {
      std::cerr << "mcorps-gateway: " << s.message() << "\n";
      return 2;
    }
  }
  if (!registry_file.empty()) {
    if (auto s = registry->LoadConfigFile(registry_file); !s.ok()) {
      std::cerr << "mcorps-gateway: " << s.message() << "\n";
      return 2;
    }
  }
  auto tokens = secret_file.empty()
                    ? absl::StatusOr<gw::ResumeTokenCodec>(gw::ResumeTokenCodec::Random())
                    : gw::ResumeTokenCodec::FromFile(secret_file);
  if (!tokens.ok()) {
    std::cerr << "mcorps-gateway: " << tokens.status().message() << "\n";
    return 2;
  }
  if (secret_file.empty()) {
    logger->warn("no --resume-secret-file: resume tokens only work on this process");
  }

  auto access = gw::Access::Create(access_options);
  if (!access.ok()) {
    std::cerr << "mcorps-gateway: " << access.status().message() << "\n";
    return 2;
  }
  std::unique_ptr<gw::ClientCertVerifier> client_certs;
  if (!tls_client_ca.empty()) {
    auto verifier = gw::ClientCertVerifier::Create(tls_client_ca);
    if (!verifier.ok()) {
      std::cerr << "mcorps-gateway: " << verifier.status().message() << "\n";
      return 2;
    }
    client_certs = *std::move(verifier);
  }

  auto metrics = std::make_shared<messagecorps::Metrics>("gateway");
  messagecorps::ProducerConfig pc;
  static_cast<messagecorps::ClientConfig&>(pc) = client;
  pc.metrics = metrics;
  // A publish waits for Kafka's acknowledgement: bound it well below librdkafka's 300 s default.
  pc.properties.try_emplace("message.timeout.ms", "30000");
  pc.properties.try_emplace("message.max.bytes", std::to_string(max_message_bytes + 65536));
  // A gRPC callback must not block: a full local queue is reported at once (RESOURCE_EXHAUSTED).
  pc.queue_full_wait = std::chrono::milliseconds(0);
  auto envelope = ms::ServiceEnvelope("gateway");
  if (!envelope.ok()) {
    std::cerr << "mcorps-gateway: " << envelope.status().message() << "\n";
    return 2;
  }
  pc.envelope = *envelope;
  auto producer = messagecorps::Producer::Create(pc);
  if (!producer.ok()) {
    std::cerr << "mcorps-gateway: producer: " << producer.status().message() << "\n";
    return 2;
  }
  auto admin = messagecorps::AdminClient::Create(client);
  if (!admin.ok()) {
    std::cerr << "mcorps-gateway: admin client: " << admin.status().message() << "\n";
    return 2;
  }

  gw::GatewayMetrics gateway_metrics;
  gw::TopicCatalog catalog(registry, *std::move(admin), gw::CatalogOptions{}, logger);
  messagecorps::PayloadLimits payload_limits;
  payload_limits.max_bytes = max_message_bytes;
  gw::IdempotencyCache idempotency(
      {std::chrono::milliseconds(idempotency_window_ms), idempotency_max_keys});
  gw::Publisher publisher(catalog, **producer, gateway_metrics, payload_limits, &idempotency);
  gw::SubscriptionContext subscriptions;
  subscriptions.catalog = &catalog;
  subscriptions.tokens = &*tokens;
  subscriptions.client = client;
  subscriptions.fetch_kbytes = fetch_kbytes;
  subscriptions.limits.max_decoded_bytes = max_message_bytes;
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
  context.limits = limits;

  gw::GrpcServer grpc_server(context);
  gw::GrpcServerOptions grpc_options;
  grpc_options.host = host;
  grpc_options.port = grpc_port;
  grpc_options.max_message_bytes = max_message_bytes;
  grpc_options.tls_cert_file = tls_cert;
  grpc_options.tls_key_file = tls_key;
  grpc_options.request_client_certs = !tls_client_ca.empty();
  if (auto s = grpc_server.Start(grpc_options); !s.ok()) {
    logger->critical("{}", s.ToString());
    return 1;
  }
  gw::HttpServer http_server(context, metrics);
  gw::HttpServerOptions http_options;
  http_options.host = host;
  http_options.port = http_port;
  http_options.max_body_bytes = max_message_bytes;
  http_options.threads = http_threads;
  http_options.tls_cert_file = tls_cert;
  http_options.tls_key_file = tls_key;
  http_options.tls_client_ca_file = tls_client_ca;
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
  logger->info("serving gRPC on {}:{} and HTTP on {}:{} (Kafka {})", host, grpc_server.port(), host,
               http_server.port(), client.brokers);

  ms::InstallStopSignals();
  // SIGHUP: re-read the permissions and quotas files (the handler only sets a flag).
  static std::atomic<bool> reload{false};
  struct sigaction hup {};
  hup.sa_handler = [](int) { reload.store(true); };
  sigemptyset(&hup.sa_mask);
  sigaction(SIGHUP, &hup, nullptr);
  while (!ms::WaitForStop(std::chrono::milliseconds(200))) {
    if (reload.exchange(false)) {
      if (auto s = (*access)->Reload(); s.ok()) {
        logger->info("SIGHUP: permissions and quotas reloaded");
      } else {
        logger->error("SIGHUP: kept the previous permissions and quotas: {}", s.ToString());
      }
    }
  }

  const auto started = std::chrono::steady_clock::now();
  const auto deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(drain_ms);
  auto left = [&] {
    return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::system_clock::now()),
                    std::chrono::milliseconds(0));
  };
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
