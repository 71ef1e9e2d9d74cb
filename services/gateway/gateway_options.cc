#include "gateway/gateway_options.h"

#include <CLI/CLI.hpp>

namespace messagecorps::gateway {
namespace {

// CLI11 fills integers; durations are converted in FinishGatewayOptions.
struct Raw {
  int64_t drain_ms = 10000;
  int64_t slow_ms = 30000;
  int64_t idempotency_window_ms = 600000;
  int64_t jwt_leeway_s = 30;
};

}  // namespace

void AddGatewayOptions(CLI::App& app, GatewayOptions& o) {
  // The raw values live as long as the app (CLI11 writes into them while parsing).
  auto raw = std::make_shared<Raw>();
  app.callback([raw, &o] {
    o.drain_timeout = std::chrono::milliseconds(raw->drain_ms);
    o.limits.slow_subscriber_timeout = std::chrono::milliseconds(raw->slow_ms);
    o.idempotency_window = std::chrono::milliseconds(raw->idempotency_window_ms);
    o.access.jwt_leeway = std::chrono::seconds(raw->jwt_leeway_s);
  });

  // Kafka: the same client configuration as every other program.
  app.add_option("--brokers", o.client.brokers,
                 "bootstrap servers (default: bootstrap.servers from -F/-X/"
                 "$MESSAGECORPS_CLIENT_CONFIG, else $MESSAGECORPS_BROKERS)")
      ->group("Kafka");
  app.add_option("-X", o.client.properties,
                 "librdkafka property key=value (repeatable; wins over -F)")
      ->group("Kafka");
  app.add_option("-F", o.client.property_files,
                 "librdkafka properties file, kcat's format (repeatable; wins over "
                 "$MESSAGECORPS_CLIENT_CONFIG)")
      ->group("Kafka");
  app.add_option("--fetch-kbytes", o.fetch_kbytes,
                 "per subscription: prefetched KiB per partition (queued.max.messages.kbytes)")
      ->group("Kafka");

  app.add_option("--host", o.host, "address both servers listen on");
  app.add_option("--grpc-port", o.grpc_port, "gRPC port (0: any free port, printed on stdout)");
  app.add_option("--http-port", o.http_port, "HTTP port (0: any free port, printed on stdout)");
  app.add_option("--http-threads", o.http_threads,
                 "HTTP worker threads (bounds concurrent SSE streams + requests)");
  app.add_option("--registry", o.registry_file,
                 "topic -> type bindings (TypeRegistry config file)");
  app.add_option("--descriptors", o.descriptor_sets,
                 "FileDescriptorSet with types to bind (protoc --include_imports "
                 "--descriptor_set_out); repeatable");
  app.add_option("--max-message-bytes", o.max_message_bytes,
                 "largest request / message accepted (RESOURCE_EXHAUSTED / 413 beyond)");
  app.add_option("--drain-timeout-ms", raw->drain_ms, "bound on the drain after SIGTERM");

  app.add_option("--resume-secret-file", o.resume_secret_file,
                 "secrets signing resume tokens, one per line, the first signs (default: a random "
                 "secret, tokens then only work on this process)")
      ->group("Streams");
  app.add_option("--stream-window", o.limits.publish_window,
                 "PublishStream: messages in flight per stream before reading pauses")
      ->group("Streams");
  app.add_option("--subscriber-buffer-bytes", o.limits.subscriber_buffer_bytes,
                 "Subscribe: bytes queued per stream before fetching pauses")
      ->group("Streams");
  app.add_option("--slow-subscriber-timeout-ms", raw->slow_ms,
                 "a subscriber whose buffer stays full this long is cut off with a resume token")
      ->group("Streams");
  app.add_option("--idempotency-window-ms", raw->idempotency_window_ms,
                 "how long a publish's result is kept for retries with the same idempotency key")
      ->group("Streams");
  app.add_option("--idempotency-max-keys", o.idempotency_max_keys,
                 "most results kept for retries (the oldest go first)")
      ->group("Streams");

  app.add_option("--tls-cert", o.tls_cert, "server certificate chain (PEM): TLS on both ports")
      ->group("Security");
  app.add_option("--tls-key", o.tls_key, "server private key (PEM)")->group("Security");
  app.add_option("--tls-client-ca", o.tls_client_ca,
                 "CA certificates (PEM) client certificates are verified against (mutual TLS)")
      ->group("Security");
  app.add_flag("--mtls-principal", o.access.mtls_principal,
               "a trusted client certificate authenticates: its common name is the principal")
      ->group("Security");
  app.add_option("--tokens-file", o.access.tokens_file,
                 "static bearer tokens, '<token> <principal>' per line")
      ->group("Security");
  app.add_option("--jwt-hs256-secret-file", o.access.jwt_hs256_secret_file,
                 "secret for HS256-signed JWT bearer tokens (>= 32 bytes)")
      ->group("Security");
  app.add_option("--jwt-rs256-public-key", o.access.jwt_rs256_public_key_file,
                 "RSA public key (PEM) for RS256-signed JWT bearer tokens")
      ->group("Security");
  app.add_option("--jwt-issuer", o.access.jwt_issuer, "required JWT iss")->group("Security");
  app.add_option("--jwt-audience", o.access.jwt_audience, "required JWT aud")->group("Security");
  app.add_option("--jwt-leeway-s", raw->jwt_leeway_s, "clock skew allowed on exp / nbf")
      ->group("Security");
  app.add_option("--permissions", o.access.permissions_file,
                 "principal -> publish/subscribe rights per topic (reloaded on SIGHUP)")
      ->group("Security");
  app.add_option("--quotas", o.access.quotas_file,
                 "per-principal messages/s, bytes/s, streams (reloaded on SIGHUP)")
      ->group("Security");
}

absl::Status FinishGatewayOptions(GatewayOptions& o) {
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (!o.tls_client_ca.empty() && o.tls_cert.empty()) {
    return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert/--tls-key");
  }
  if (o.access.mtls_principal && o.tls_client_ca.empty()) {
    return absl::InvalidArgumentError("--mtls-principal needs --tls-client-ca");
  }
  if (o.drain_timeout.count() < 0 || o.idempotency_window.count() < 0 ||
      o.limits.slow_subscriber_timeout.count() < 0) {
    return absl::InvalidArgumentError("durations (-ms options) must not be negative");
  }
  return absl::OkStatus();
}

}  // namespace messagecorps::gateway
