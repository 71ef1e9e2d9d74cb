#include "messagecorps/client_config.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "client_core.h"
#include "messagecorps/error.h"
#include "messagecorps/logging.h"
#include "messagecorps/metrics.h"
#include "messagecorps/string_view.h"
#include "messagecorps/version.h"
#include "rdkafka_handles.h"
#include "tracing_internal.h"

namespace messagecorps {

namespace {

constexpr const char* kBootstrapServers = "bootstrap.servers";
constexpr const char* kBrokerListAlias = "metadata.broker.list";

const std::string* BrokerProperty(const std::map<std::string, std::string>& properties) {
  for (const char* key : {kBootstrapServers, kBrokerListAlias}) {
    auto it = properties.find(key);
    if (it != properties.end() && !it->second.empty()) return &it->second;
  }
  return nullptr;
}

absl::Status NoBrokers() {
  return absl::InvalidArgumentError(
      "no Kafka brokers configured: give --brokers (mcorps: -b), bootstrap.servers in a "
      "properties file (-F, $MESSAGECORPS_CLIENT_CONFIG) or -X, or set $MESSAGECORPS_BROKERS");
}

}  // namespace

absl::StatusOr<std::string> ResolveBrokers(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* env = std::getenv(kBrokersEnvironmentVariable); env && *env) {
    return std::string(env);
  }
  return NoBrokers();
}

absl::StatusOr<std::string> ResolveBrokers(const ClientConfig& config) {
  if (const std::string* listed = BrokerProperty(config.properties)) return *listed;
  return ResolveBrokers(config.brokers);
}

static std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

bool IsSecretProperty(std::string_view key) {
  std::string k(key);
  for (char& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static constexpr std::string_view kExact[] = {"sasl.oauthbearer.config", "ssl_key"};
  static constexpr std::string_view kParts[] = {"password", "secret", "passphrase", "key.pem",
                                                "private.key"};
  for (std::string_view e : kExact) {
    if (k == e) return true;
  }
  for (std::string_view p : kParts) {
    if (k.find(p) != std::string::npos) return true;
  }
  return false;
}

std::string RedactedValue(std::string_view key, std::string_view value) {
  return std::string(IsSecretProperty(key) ? kRedacted : value);
}

std::string RedactSecrets(std::string_view text,
                          const std::map<std::string, std::string>& properties) {
  std::string out(text);
  for (const auto& [key, value] : properties) {
    if (value.size() < 4 || !IsSecretProperty(key)) continue;
    for (size_t at = out.find(value); at != std::string::npos;
         at = out.find(value, at + kRedacted.size())) {
      out.replace(at, value.size(), kRedacted);
    }
  }
  return out;
}

absl::StatusOr<std::pair<std::string, std::string>> ParseProperty(const std::string& key_value) {
  size_t eq = key_value.find('=');
  // The text is shown only when it cannot be (part of) a secret: "sasl.password:hunter2" is not.
  const std::string shown =
      IsSecretProperty(key_value) ? absl::StrCat(AsAbsl(kRedacted)) : key_value;
  if (eq == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("property '", shown, "' is not of the form key=value"));
  }
  std::string key = Trim(key_value.substr(0, eq));
  if (key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("property '", shown, "' has an empty key"));
  }
  return std::make_pair(key, Trim(key_value.substr(eq + 1)));
}

absl::StatusOr<std::map<std::string, std::string>> ParsePropertiesText(
    std::string_view text, std::string_view source_name) {
  std::map<std::string, std::string> out;
  int number = 0;
  while (!text.empty()) {
    ++number;
    const size_t end = text.find('\n');
    const std::string line(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    auto error = [&](std::string_view what) {
      return MakeError(absl::StatusCode::kInvalidArgument,
                       absl::StrCat(AsAbsl(source_name), ":", number, ": ", AsAbsl(what)),
                       ErrorReason::kInvalidConfig);
    };
    if (line.find('\0') != std::string::npos) return error("contains a NUL byte");
    std::string t = Trim(line);
    if (t.empty() || t[0] == '#') continue;
    auto kv = ParseProperty(t);
    if (!kv.ok()) return error(AsStd(kv.status().message()));
    out[kv->first] = kv->second;
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> ReadPropertiesFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open properties file ", path));
  // One byte more than the limit proves the file is too large, without reading all of it.
  std::string text(kMaxPropertiesFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read properties file ", path));
  }
  if (text.size() > kMaxPropertiesFileBytes) {
    return MakeError(absl::StatusCode::kInvalidArgument,
                     absl::StrCat("properties file ", path, " is larger than ",
                                  kMaxPropertiesFileBytes, " bytes"),
                     ErrorReason::kInvalidConfig);
  }
  return ParsePropertiesText(text, path);
}

absl::StatusOr<ClientConfig> LoadClientConfig(const ClientConfigSources& sources) {
  ClientConfig config;
  // Lowest precedence first; each layer overwrites the keys it sets. metadata.broker.list is an
  // alias of bootstrap.servers: one key, so a higher layer's alias overrides a lower layer's
  // bootstrap.servers.
  auto set = [&config](const std::string& key, const std::string& value) {
    config.properties[key == kBrokerListAlias ? std::string(kBootstrapServers) : key] = value;
  };
  auto apply = [&set](const std::map<std::string, std::string>& layer) {
    for (const auto& [key, value] : layer) set(key, value);
  };
  if (sources.use_environment) {
    if (const char* path = std::getenv(kClientConfigEnvironmentVariable); path && *path) {
      auto file = ReadPropertiesFile(path);
      if (!file.ok()) {
        return WithContext(file.status(),
                           absl::StrCat(kClientConfigEnvironmentVariable, "=", path));
      }
      apply(*file);
    }
  }
  for (const std::string& path : sources.property_files) {
    auto file = ReadPropertiesFile(path);
    if (!file.ok()) return file.status();
    apply(*file);
  }
  for (const std::string& property : sources.properties) {
    auto kv = ParseProperty(property);
    if (!kv.ok()) return WithContext(kv.status(), "-X");
    set(kv->first, kv->second);
  }
  // One place for the broker list: `brokers`.
  if (!sources.brokers.empty()) {
    config.brokers = sources.brokers;
  } else if (const std::string* listed = BrokerProperty(config.properties)) {
    config.brokers = *listed;
  } else if (const char* env = std::getenv(kBrokersEnvironmentVariable);
             sources.use_environment && env && *env) {
    config.brokers = env;
  } else {
    return NoBrokers();
  }
  config.properties.erase(kBootstrapServers);
  config.properties.erase(kBrokerListAlias);
  return config;
}

namespace internal {

absl::Status SetProperty(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char errstr[512];
  const rd_kafka_conf_res_t res =
      rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr);
  if (res == RD_KAFKA_CONF_OK) return absl::OkStatus();
  // Neither our text nor librdkafka's may show a secret value. An unknown key (often a misspelt
  // one, e.g. "sasl.pasword") may hold one too: its value is never shown.
  const bool hide = res == RD_KAFKA_CONF_UNKNOWN || IsSecretProperty(key);
  // RedactSecrets treats `value` as a secret under any secret key name.
  const std::string text = hide ? RedactSecrets(errstr, {{"sasl.password", value}}) : errstr;
  return MakeError(
      absl::StatusCode::kInvalidArgument,
      absl::StrCat("Kafka property ", key, "=", hide ? std::string(kRedacted) : value, ": ", text),
      ErrorReason::kInvalidConfig);
}

namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

absl::Status ClassifyConnectionError(int code, std::string_view reason,
                                     std::string_view sasl_mechanism, std::string_view tls_detail) {
  const std::string r = Lower(reason);
  const std::string text(reason);
  switch (static_cast<rd_kafka_resp_err_t>(code)) {
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM:
    case RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE: {
      if (Contains(r, "ssl handshake") || Contains(r, "certificate")) break;  // TLS, below
      std::string message = absl::StrCat("authentication failed (SASL): ", text);
      // librdkafka before 2.6.1 sends the SCRAM client nonce twice (librdkafka issue #4895):
      // Kafka 4 refuses even the right password.
      if (Lower(sasl_mechanism).starts_with("scram") && !LibrdkafkaAtLeast(2, 6, 1)) {
        absl::StrAppend(&message, "; note: librdkafka ", AsAbsl(LibrdkafkaVersion()),
                        " cannot log in with SCRAM to current Kafka brokers even with the right "
                        "password (librdkafka issue #4895): SCRAM needs librdkafka 2.6.1 or newer "
                        "(scripts/librdkafka builds one), or use PLAIN over SASL_SSL");
      }
      return MakeError(absl::StatusCode::kUnauthenticated, message,
                       ErrorDetail{code, false, false, ErrorReason::kAuthentication});
    }
    default:
      break;
  }
  const auto err = static_cast<rd_kafka_resp_err_t>(code);
  // librdkafka reports some TLS failures as transport errors carrying OpenSSL's text (e.g. the
  // broker's alert after a TLS 1.3 handshake that lacked our certificate).
  const bool ssl = err == RD_KAFKA_RESP_ERR__SSL || err == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
                   Contains(r, "ssl handshake") || Contains(r, "ssl routines");
  if (ssl) {
    // A TLS client at a listener that does not speak TLS: OpenSSL sees no TLS record, or the
    // listener (a PLAINTEXT one reads our ClientHello as a request) just closes the connection.
    if (Contains(r, "plaintext") || Contains(r, "wrong version number") ||
        Contains(r, "packet length too long") || Contains(r, "record layer failure") ||
        (Contains(r, "unexpected eof") && Contains(r, "ssl_handshake"))) {
      return MakeError(absl::StatusCode::kUnavailable,
                       absl::StrCat("security protocol mismatch: TLS handshake with a listener "
                                    "that does not speak TLS (check security.protocol): ",
                                    text),
                       ErrorDetail{code, false, false, ErrorReason::kProtocolMismatch});
    }
    std::string why = "the broker's certificate is not trusted, has expired or names another host";
    if (!tls_detail.empty() && Contains(r, "certificate verify failed")) {
      why = std::string(tls_detail);
    } else if (Contains(r, "expired")) {
      why = "the certificate has expired";
    } else if (Contains(r, "hostname") || Contains(r, "host name") || Contains(r, "ip address")) {
      why = "the broker's certificate names another host";
    } else if (Contains(r, "alert") &&
               (Contains(r, "certificate required") || Contains(r, "handshake failure") ||
                Contains(r, "bad certificate") || Contains(r, "unknown ca"))) {
      why =
          "the broker refused our client certificate or its absence (mTLS: "
          "ssl.certificate.location, ssl.key.location)";
    }
    return MakeError(absl::StatusCode::kUnavailable,
                     absl::StrCat("TLS failure (trust: ", why, "): ", text),
                     ErrorDetail{code, false, false, ErrorReason::kTls});
  }
  // A plaintext client at a TLS (or SASL) listener: the broker drops the connection at the first
  // request, and librdkafka says so.
  if (err == RD_KAFKA_RESP_ERR__TRANSPORT &&
      (Contains(r, "security.protocol") || Contains(r, "ssl listener") ||
       Contains(r, "sasl listener"))) {
    return MakeError(absl::StatusCode::kUnavailable,
                     absl::StrCat("security protocol mismatch: ", text),
                     ErrorDetail{code, false, false, ErrorReason::kProtocolMismatch});
  }
  return absl::OkStatus();
}

absl::Status ClientCore::Explain(const absl::Status& generic, std::string_view context) {
  absl::Status cause = ConnectionFailure();
  if (cause.ok()) return generic;
  absl::Status out(cause.code(), absl::StrCat(AsAbsl(context), ": ", cause.message()));
  cause.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

namespace {

ClientCore* CoreOf(const rd_kafka_t* rk) { return static_cast<ClientCore*>(rd_kafka_opaque(rk)); }

// librdkafka >= 2.x reports a plaintext client at a TLS/SASL listener only as a log line
// ("Disconnected ... in state APIVERSION_QUERY"); 2.0.2 also sent an error with a hint. Twice in a
// row from one connection (ClientCore::kHintsForMismatch) is taken for a protocol mismatch.
void NoteFirstRequestDisconnect(ClientCore& core, const char* fac, const char* buf) {
  if (fac == nullptr || buf == nullptr || std::strcmp(fac, "FAIL") != 0) return;
  if (core.security_protocol != "plaintext" && core.security_protocol != "sasl_plaintext") return;
  const std::string text = Lower(buf);
  const bool hinted = Contains(text, "apiversion_query") && Contains(text, "disconnected");
  const bool repeated = core.NoteDisconnect(buf, hinted, std::chrono::steady_clock::now());
  if (!hinted) return;
  // Once is also a broker killed or restarting while we connected (ClientCore::NoteDisconnect).
  if (!repeated || !core.ConnectionFailure().ok()) return;
  core.SetConnectionFailure(MakeError(
      absl::StatusCode::kUnavailable,
      absl::StrCat("security protocol mismatch: the broker closed the connection at the first "
                   "request, again and again: a TLS or SASL listener? (this client uses ",
                   core.security_protocol, "; check security.protocol): ", core.Scrub(buf)),
      ErrorDetail{RD_KAFKA_RESP_ERR__TRANSPORT, false, false, ErrorReason::kProtocolMismatch}));
}

void LogCallback(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  ClientCore* core = CoreOf(rk);
  if (core == nullptr) return;
  try {
    NoteFirstRequestDisconnect(*core, fac, buf);
  } catch (...) {
  }
  if (!core->logger) return;
  if (core->secrets.empty() || buf == nullptr) {
    logging::LogFromRdKafka(*core->logger, level, fac, buf);
    return;
  }
  try {
    const std::string scrubbed = core->Scrub(buf);
    logging::LogFromRdKafka(*core->logger, level, fac, scrubbed.c_str());
  } catch (...) {
    // Nothing may escape into librdkafka's threads.
  }
}

void ErrorCallback(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* core = static_cast<ClientCore*>(opaque);
  if (core == nullptr) return;
  try {
    auto code = static_cast<rd_kafka_resp_err_t>(err);
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
      char fatal_reason[512];
      rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal_reason, sizeof fatal_reason);
      absl::Status status = KafkaError(
          orig, absl::StrCat(core->client_kind, " fatal error: ", core->Scrub(fatal_reason)), false,
          true);
      {
        std::lock_guard lock(core->fatal_mu);
        if (core->fatal.ok()) core->fatal = status;
      }
      core->has_fatal = true;
      if (core->logger) core->logger->critical("{}", status.ToString());
      return;
    }
    const std::string text = core->Scrub(reason != nullptr ? reason : "");
    // Wrong credentials, an untrusted certificate, a protocol mismatch: retrying will not help;
    // waiting calls return it (ClientCore::connection_failure).
    if (absl::Status failure =
            ClassifyConnectionError(err, text, core->sasl_mechanism, core->TlsDetail());
        !failure.ok()) {
      // A disconnect with librdkafka's security.protocol hint is a mismatch only when it is the
      // first-request one and repeats (ClientCore::NoteDisconnect): otherwise it is also what a
      // broker killed right after we connected looks like, and must not stop a client for good.
      if (code == RD_KAFKA_RESP_ERR__TRANSPORT &&
          GetErrorReason(failure) == ErrorReason::kProtocolMismatch &&
          Contains(Lower(text), "security.protocol") &&
          !core->NoteDisconnect(text, Contains(Lower(text), "requesting apiversion"),
                                std::chrono::steady_clock::now())) {
        if (core->logger) {
          core->logger->warn("kafka {} error: {} ({})", core->client_kind, text,
                             rd_kafka_err2name(code));
        }
        if (core->metrics) core->metrics->Add(Counter::kClientErrors);
        return;
      }
      if (core->logger) {
        core->logger->error("kafka {}: {} ({})", core->client_kind, std::string(failure.message()),
                            ErrorReasonName(GetErrorReason(failure)));
      }
      core->SetConnectionFailure(std::move(failure));
      if (core->metrics) core->metrics->Add(Counter::kClientErrors);
      return;
    }
    // Transient (broker down, all brokers down, ...): librdkafka retries and reconnects by itself
    // with bounded back-off; we make it visible.
    (void)core->NoteDisconnect(text, false, std::chrono::steady_clock::now());
    if (core->logger) {
      core->logger->warn("kafka {} error: {} ({})", core->client_kind, text,
                         rd_kafka_err2name(code));
    }
    if (core->metrics) core->metrics->Add(Counter::kClientErrors);
  } catch (...) {
    // Never let an exception cross into librdkafka.
  }
}

// What OpenSSL's verification error `code` (X509_V_ERR_*, openssl/x509_vfy.h) means for a user.
std::string DescribeX509Error(int code) {
  switch (code) {
    case 9:
      return "the broker's certificate is not valid yet";
    case 10:
      return "the broker's certificate has expired";
    case 62:
    case 64:
      return "the broker's certificate names another host than the one dialled";
    case 2:
    case 18:
    case 19:
    case 20:
    case 21:
      return "the broker's certificate is not signed by a trusted CA (ssl.ca.location)";
    default:
      return absl::StrCat("the broker's certificate was not accepted (OpenSSL X509 error ", code,
                          ")");
  }
}

// Keeps librdkafka's verdict (OpenSSL's) and records why a certificate failed, so that the error
// can say it (librdkafka's own error text only says "certificate verify failed").
int CertVerifyCallback(rd_kafka_t*, const char* broker_name, int32_t, int* x509_error, int depth,
                       const char*, size_t, char* errstr, size_t errstr_size, void* opaque) {
  if (*x509_error == 0) return 1;
  try {
    const std::string detail = absl::StrCat(
        DescribeX509Error(*x509_error), " (", broker_name != nullptr ? broker_name : "",
        ", certificate depth ", depth, ", X509 error ", *x509_error, ")");
    std::snprintf(errstr, errstr_size, "%s", detail.c_str());
    if (auto* core = static_cast<ClientCore*>(opaque)) core->SetTlsDetail(detail);
  } catch (...) {
  }
  return 0;
}

int StatsCallback(rd_kafka_t*, char* json, size_t len, void* opaque) {
  auto* core = static_cast<ClientCore*>(opaque);
  try {
    if (core && core->metrics) {
      absl::Status s = core->metrics->UpdateFromRdKafkaStats(std::string_view(json, len));
      if (!s.ok() && core->logger) core->logger->debug("statistics not parsed: {}", s.ToString());
    }
  } catch (...) {
  }
  return 0;  // librdkafka frees json
}

}  // namespace

ClientCore::~ClientCore() {
  if (metrics && !name.empty()) metrics->ForgetClient(name);
}

void InitCore(ClientCore& core, const ClientConfig& config, std::string kind) {
  core.logger = config.logger ? config.logger : spdlog::default_logger();
  core.metrics = config.metrics;
  core.client_kind = std::move(kind);
  tracing::internal::InitOnce();  // OTEL_* environment, read once per process
}

absl::StatusOr<ConfHandle> BuildConf(const ClientConfig& config,
                                     const std::map<std::string, std::string>& defaults,
                                     ClientCore* core) {
  auto brokers = ResolveBrokers(config);
  if (!brokers.ok()) return brokers.status();
  ConfHandle conf(rd_kafka_conf_new());
  if (auto s = SetProperty(conf.get(), "bootstrap.servers", *brokers); !s.ok()) return s;
  for (const auto& [k, v] : defaults) {
    if (auto s = SetProperty(conf.get(), k, v); !s.ok()) return s;
  }
  if (config.statistics_interval.count() > 0) {
    if (auto s = SetProperty(conf.get(), "statistics.interval.ms",
                             std::to_string(config.statistics_interval.count()));
        !s.ok()) {
      return s;
    }
  }
  for (const auto& [k, v] : config.properties) {
    if (auto s = SetProperty(conf.get(), k, v); !s.ok()) return s;
    if (core != nullptr && IsSecretProperty(k)) core->secrets[k] = v;
  }
  if (core != nullptr) {
    char protocol[64];
    size_t size = sizeof protocol;
    if (rd_kafka_conf_get(conf.get(), "security.protocol", protocol, &size) != RD_KAFKA_CONF_OK) {
      protocol[0] = '\0';
    }
    const std::string lower = Lower(protocol);
    if (!lower.empty()) core->security_protocol = lower;
    if (lower.starts_with("sasl")) {
      char mechanism[64];
      size = sizeof mechanism;
      if (rd_kafka_conf_get(conf.get(), "sasl.mechanisms", mechanism, &size) == RD_KAFKA_CONF_OK) {
        core->sasl_mechanism = mechanism;
      }
    }
    // Only with TLS; a librdkafka built without SSL refuses it (and TLS itself) anyway.
    if (lower == "ssl" || lower == "sasl_ssl") {
      (void)rd_kafka_conf_set_ssl_cert_verify_cb(conf.get(), CertVerifyCallback);
    }
  }
  rd_kafka_conf_set_opaque(conf.get(), core);
  rd_kafka_conf_set_log_cb(conf.get(), LogCallback);
  rd_kafka_conf_set_error_cb(conf.get(), ErrorCallback);
  rd_kafka_conf_set_stats_cb(conf.get(), StatsCallback);
  return conf;
}

}  // namespace internal
}  // namespace messagecorps
