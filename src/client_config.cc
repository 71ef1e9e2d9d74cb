#include "messagecorps/client_config.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "client_core.h"
#include "messagecorps/error.h"
#include "messagecorps/logging.h"
#include "messagecorps/metrics.h"
#include "messagecorps/string_view.h"
#include "rdkafka_handles.h"

namespace messagecorps {

absl::StatusOr<std::string> ResolveBrokers(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* env = std::getenv("MESSAGECORPS_BROKERS"); env && *env) return std::string(env);
  return absl::InvalidArgumentError(
      "no Kafka brokers configured: set ClientConfig::brokers (CLI: -b) or MESSAGECORPS_BROKERS");
}

static std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

absl::StatusOr<std::pair<std::string, std::string>> ParseProperty(const std::string& key_value) {
  size_t eq = key_value.find('=');
  if (eq == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("property '", key_value, "' is not of the form key=value"));
  }
  std::string key = Trim(key_value.substr(0, eq));
  if (key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("property '", key_value, "' has an empty key"));
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

namespace internal {

absl::Status SetProperty(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) !=
      RD_KAFKA_CONF_OK) {
    return absl::InvalidArgumentError(
        absl::StrCat("Kafka property ", key, "=", value, ": ", errstr));
  }
  return absl::OkStatus();
}

namespace {

ClientCore* CoreOf(const rd_kafka_t* rk) {
  return static_cast<ClientCore*>(rd_kafka_opaque(rk));
}

void LogCallback(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  ClientCore* core = CoreOf(rk);
  if (core == nullptr || !core->logger) return;
  logging::LogFromRdKafka(*core->logger, level, fac, buf);
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
          orig, absl::StrCat(core->client_kind, " fatal error: ", fatal_reason), false, true);
      {
        std::lock_guard lock(core->fatal_mu);
        if (core->fatal.ok()) core->fatal = status;
      }
      core->has_fatal = true;
      if (core->logger) core->logger->critical("{}", status.ToString());
      return;
    }
    // Transient (broker down, all brokers down, ...): librdkafka retries and reconnects by itself
    // with bounded back-off; we make it visible.
    if (core->logger) {
      core->logger->warn("kafka {} error: {} ({})", core->client_kind, reason,
                         rd_kafka_err2name(code));
    }
    if (core->metrics) core->metrics->Add(Counter::kClientErrors);
  } catch (...) {
    // Never let an exception cross into librdkafka.
  }
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

void InitCore(ClientCore& core, const ClientConfig& config, std::string kind) {
  core.logger = config.logger ? config.logger : spdlog::default_logger();
  core.metrics = config.metrics;
  core.client_kind = std::move(kind);
}

absl::StatusOr<ConfHandle> BuildConf(const ClientConfig& config,
                                     const std::map<std::string, std::string>& defaults,
                                     ClientCore* core) {
  auto brokers = ResolveBrokers(config.brokers);
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
  }
  rd_kafka_conf_set_opaque(conf.get(), core);
  rd_kafka_conf_set_log_cb(conf.get(), LogCallback);
  rd_kafka_conf_set_error_cb(conf.get(), ErrorCallback);
  rd_kafka_conf_set_stats_cb(conf.get(), StatsCallback);
  return conf;
}

}  // namespace internal
}  // namespace messagecorps
