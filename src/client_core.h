// Internal: state every librdkafka client of ours shares with its callbacks. Its address is the
// librdkafka opaque (rd_kafka_conf_set_opaque), so log/error/statistics callbacks find the logger
// and metrics. Callbacks run on librdkafka threads: they never throw.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
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
  // librdkafka hints at a security protocol mismatch when a broker closes a connection at its
  // first request ("Disconnected while requesting ApiVersion ... connecting to a SSL listener?",
  // state APIVERSION_QUERY) and, 2.0.2 only, at any close soon after a connection came up ("verify
  // that security.protocol is correctly configured, broker might require SASL authentication",
  // state UP). A broker SIGKILLed right after we connected gives both, from one connection within
  // 5 ms (the dying process still accepts the immediate reconnect and closes it), then refuses
  // connections. A listener that speaks another protocol closes every attempt at the first
  // request, librdkafka reconnecting after reconnect.backoff.ms (100 ms, doubling). So only the
  // first-request hint counts, and it is a mismatch only the kHintsForMismatch-th time in a row
  // from one connection (the text before its first ": "), each within kHintRepeatWindow (3 s: the
  // back-off's first steps) of the previous; any other failure of that connection, the state-UP
  // hint included, starts the count again. Measured: plaintext client at a TLS listener, 2 in a
  // row 172 ms apart (librdkafka suppresses further identical errors for a while); a killed
  // broker, 1 per connection. The price: on 2.0.2 a plaintext client at a SASL (not TLS) listener
  // is no longer reported as a mismatch, only as a transport failure.
  static constexpr int kHintsForMismatch = 2;
  static constexpr std::chrono::milliseconds kHintRepeatWindow{3000};
  struct HintCount {
    int in_a_row = 0;
    std::chrono::steady_clock::time_point last;
  };
  std::map<std::string, HintCount, std::less<>> hinted_disconnects;  // under connection_mu
  static std::string_view ConnectionOf(std::string_view text) {
    return text.substr(0, text.find(": "));
  }
  // Notes a connection failure with (`hinted`) or without the hint; true when it makes a mismatch.
  bool NoteDisconnect(std::string_view text, bool hinted,
                      std::chrono::steady_clock::time_point now) {
    const std::string_view connection = ConnectionOf(text);
    std::lock_guard lock(connection_mu);
    auto it = hinted_disconnects.find(connection);
    if (!hinted) {
      if (it != hinted_disconnects.end()) it->second.in_a_row = 0;
      return false;
    }
    if (it == hinted_disconnects.end()) {
      it = hinted_disconnects.emplace(std::string(connection), HintCount{}).first;
    }
    HintCount& count = it->second;
    count.in_a_row = now - count.last <= kHintRepeatWindow ? count.in_a_row + 1 : 1;
    count.last = now;
    return count.in_a_row >= kHintsForMismatch;
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
