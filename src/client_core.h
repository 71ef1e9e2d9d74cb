// Internal: state every librdkafka client of ours shares with its callbacks. Its address is the
// librdkafka opaque (rd_kafka_conf_set_opaque), so log/error/statistics callbacks find the logger
// and metrics. Callbacks run on librdkafka threads: they never throw.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "messagecorps/client_config.h"
#include "rdkafka_handles.h"

namespace spdlog {
class logger;
}

namespace messagecorps::internal {

struct ClientCore {
  // Drops this client's gauges from `metrics` (the derived client has destroyed its handle by then,
  // so no statistics callback can bring them back).
  virtual ~ClientCore();

  std::shared_ptr<spdlog::logger> logger;
  std::shared_ptr<Metrics> metrics;
  std::string client_kind;  // "producer" / "consumer", for log lines
  std::string name;         // rd_kafka_name(): the key of this client's gauges in `metrics`

  // The first fatal error reported by librdkafka (the client is unusable after it).
  std::atomic<bool> has_fatal{false};
  std::mutex fatal_mu;
  absl::Status fatal;

  absl::Status FatalStatus() {
    std::lock_guard lock(fatal_mu);
    return fatal;
  }

  // The secret properties of this client's configuration (key -> value): Scrub() removes their
  // values from any text librdkafka hands us before it is logged or put in a status.
  std::map<std::string, std::string> secrets;
  std::string Scrub(std::string_view text) const { return RedactSecrets(text, secrets); }
  // sasl.mechanisms as configured ("" without SASL), for the SCRAM hint on old librdkafka.
  std::string sasl_mechanism;
  // security.protocol as configured, lower case ("plaintext" by default).
  std::string security_protocol = "plaintext";
  // Connections a broker closed at the very first request (ApiVersion) while we spoke plaintext:
  // librdkafka 2.14 only logs them (FAIL); twice in a row is a TLS or SASL listener.
  std::atomic<int> first_request_disconnects{0};

  // The last failure to connect that librdkafka's retries will not fix by themselves: SASL
  // authentication refused, TLS trust (certificate not verified, expired, wrong host name), or a
  // security protocol that does not match the listener. Set by the error callback; calls that
  // would otherwise wait for a timeout return it instead (kUnauthenticated / kUnavailable with
  // ErrorReason kAuthentication, kTls or kProtocolMismatch), so a wrong password is reported as
  // such within seconds, not as a generic transport failure after the full timeout.
  std::atomic<uint64_t> connection_failures{0};  // how many were seen (0: none)
  std::mutex connection_mu;
  absl::Status connection_failure;
  void SetConnectionFailure(absl::Status status) {
    {
      std::lock_guard lock(connection_mu);
      connection_failure = std::move(status);
    }
    connection_failures.fetch_add(1, std::memory_order_release);
  }
  absl::Status ConnectionFailure() {
    if (connection_failures.load(std::memory_order_acquire) == 0) return absl::OkStatus();
    std::lock_guard lock(connection_mu);
    return connection_failure;
  }
  // What the last failed certificate verification said (ssl.certificate.verify_cb): which
  // certificate and why, e.g. "the certificate has expired". Empty when none failed.
  std::mutex tls_mu;
  std::string tls_detail;
  void SetTlsDetail(std::string detail) {
    std::lock_guard lock(tls_mu);
    tls_detail = std::move(detail);
  }
  std::string TlsDetail() {
    std::lock_guard lock(tls_mu);
    return tls_detail;
  }

  // `generic` (a timeout, transport or all-brokers-down failure) explained by the connection
  // failure when there is one: its reason and message, prefixed with `context`.
  absl::Status Explain(const absl::Status& generic, std::string_view context);
};

// The status for an error librdkafka reported through its error callback (`code`, `reason`
// scrubbed already) when it is a connection failure that retrying will not fix (see
// ClientCore::connection_failure); OK for any other error. `sasl_mechanism` adds, for SCRAM on a
// librdkafka older than 2.6.1, which version is needed; `tls_detail` (ClientCore::tls_detail) says
// precisely why a certificate was not trusted.
absl::Status ClassifyConnectionError(int code, std::string_view reason,
                                     std::string_view sasl_mechanism,
                                     std::string_view tls_detail = {});

// Builds a conf from `config` + `defaults`, wiring log/error/stats callbacks to `core` (which must
// outlive the rd_kafka_t made from the conf).
absl::StatusOr<ConfHandle> BuildConf(const ClientConfig& config,
                                     const std::map<std::string, std::string>& defaults,
                                     ClientCore* core);

// Fills core->logger with config.logger or spdlog's default logger.
void InitCore(ClientCore& core, const ClientConfig& config, std::string kind);

}  // namespace messagecorps::internal
