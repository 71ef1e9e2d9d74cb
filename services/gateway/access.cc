#include "gateway/access.h"

#include <jwt.h>
#include <openssl/sha.h>

#include <cerrno>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "messagecorps/string_view.h"

namespace messagecorps::gateway {
namespace {

constexpr absl::string_view kRetryAfterUrl = "type.messagecorps.dev/RetryAfterMs";

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

absl::StatusOr<std::string> ReadFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(AsAbsl(what), " ", path, ": cannot read"));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Lines without comments and surrounding blanks, with their numbers.
std::vector<std::pair<int, std::vector<std::string>>> Lines(const std::string& text) {
  std::vector<std::pair<int, std::vector<std::string>>> out;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    const size_t hash = line.find('#');
    if (hash != absl::string_view::npos) line = line.substr(0, hash);
    std::vector<std::string> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (!words.empty()) out.emplace_back(number, std::move(words));
  }
  return out;
}

absl::Status Unauthenticated(std::string_view why) {
  return absl::UnauthenticatedError(AsAbsl(why));
}

// `*` matches any run of characters.
bool GlobMatch(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p, ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace

struct Access::Rules {
  struct Grant {
    std::string principal;  // "*" for every authenticated principal
    bool publish = false, subscribe = false;
    std::vector<std::string> patterns;
  };
  struct Limits {
    double messages_per_s = 0, bytes_per_s = 0;  // 0: no limit
    int streams = 0;                             // 0: no limit
  };
  bool has_permissions = false;
  std::vector<Grant> grants;
  std::map<std::string, Limits> limits;  // principal or "*"

  const Limits* LimitsFor(const std::string& name) const {
    auto it = limits.find(name);
    if (it == limits.end()) it = limits.find("*");
    return it == limits.end() ? nullptr : &it->second;
  }
};

struct Access::Usage {
  std::mutex mu;
  double message_tokens = -1, byte_tokens = -1;  // -1: full (first use)
  std::chrono::steady_clock::time_point refilled;
  int streams = 0;
};

std::optional<std::chrono::milliseconds> RetryAfterOf(const absl::Status& status) {
  const auto payload = status.GetPayload(kRetryAfterUrl);
  int64_t ms = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &ms)) return std::nullopt;
  return std::chrono::milliseconds(ms);
}

namespace {

absl::StatusOr<std::shared_ptr<const Access::Rules>> LoadRules(const AccessOptions& options) {
  auto rules = std::make_shared<Access::Rules>();
  if (!options.permissions_file.empty()) {
    absl::StatusOr<std::string> text = ReadFile(options.permissions_file, "permissions file");
    if (!text.ok()) return text.status();
    rules->has_permissions = true;
    for (auto& [number, words] : Lines(*text)) {
      auto error = [&, n = number](std::string_view why) {
        return absl::InvalidArgumentError(
            absl::StrCat(options.permissions_file, ":", n, ": ", AsAbsl(why)));
      };
      if (words.size() < 3) return error("expected <principal> <rights> <topic pattern>...");
      Access::Rules::Grant grant;
      grant.principal = words[0];
      for (absl::string_view right : absl::StrSplit(words[1], ',')) {
        if (right == "publish") {
          grant.publish = true;
        } else if (right == "subscribe") {
          grant.subscribe = true;
        } else if (right == "all") {
          grant.publish = grant.subscribe = true;
        } else {
          return error(absl::StrCat("unknown right '", right, "' (publish, subscribe, all)"));
        }
      }
      grant.patterns.assign(words.begin() + 2, words.end());
      rules->grants.push_back(std::move(grant));
    }
  }
  if (!options.quotas_file.empty()) {
    absl::StatusOr<std::string> text = ReadFile(options.quotas_file, "quotas file");
    if (!text.ok()) return text.status();
    for (auto& [number, words] : Lines(*text)) {
      auto error = [&, n = number](std::string_view why) {
        return absl::InvalidArgumentError(
            absl::StrCat(options.quotas_file, ":", n, ": ", AsAbsl(why)));
      };
      Access::Rules::Limits limits;
      for (size_t i = 1; i < words.size(); ++i) {
        std::pair<std::string, std::string> kv = absl::StrSplit(words[i], absl::MaxSplits('=', 1));
        double value = 0;
        if (!absl::SimpleAtod(kv.second, &value) || value < 0) {
          return error(absl::StrCat("bad value in '", words[i], "'"));
        }
        if (kv.first == "messages_per_s") {
          limits.messages_per_s = value;
        } else if (kv.first == "bytes_per_s") {
          limits.bytes_per_s = value;
        } else if (kv.first == "streams") {
          limits.streams = static_cast<int>(value);
        } else {
          return error(absl::StrCat("unknown limit '", kv.first,
                                    "' (messages_per_s, bytes_per_s, streams)"));
        }
      }
      rules->limits[words[0]] = limits;
    }
  }
  return std::shared_ptr<const Access::Rules>(std::move(rules));
}

}  // namespace

Access::Access(AccessOptions options) : options_(std::move(options)) {}
Access::~Access() = default;

absl::StatusOr<std::unique_ptr<Access>> Access::Create(AccessOptions options) {
  std::unique_ptr<Access> access(new Access(std::move(options)));
  const AccessOptions& o = access->options_;
  if (!o.tokens_file.empty()) {
    absl::StatusOr<std::string> text = ReadFile(o.tokens_file, "tokens file");
    if (!text.ok()) return text.status();
    for (auto& [number, words] : Lines(*text)) {
      if (words.size() != 2) {
        return absl::InvalidArgumentError(
            absl::StrCat(o.tokens_file, ":", number, ": expected <token> <principal>"));
      }
      access->static_tokens_[Sha256Hex(words[0])] = words[1];
    }
  }
  if (!o.jwt_hs256_secret_file.empty()) {
    absl::StatusOr<std::string> secret = ReadFile(o.jwt_hs256_secret_file, "JWT HS256 secret");
    if (!secret.ok()) return secret.status();
    access->hs256_secret_ = std::string(absl::StripTrailingAsciiWhitespace(*secret));
    if (access->hs256_secret_.size() < 32) {
      return absl::InvalidArgumentError(absl::StrCat(
          o.jwt_hs256_secret_file, ": an HS256 secret needs at least 32 bytes (RFC 7518 3.2)"));
    }
  }
  if (!o.jwt_rs256_public_key_file.empty()) {
    absl::StatusOr<std::string> key = ReadFile(o.jwt_rs256_public_key_file, "JWT RS256 key");
    if (!key.ok()) return key.status();
    access->rs256_public_key_ = *key;
  }
  access->required_ = !access->static_tokens_.empty() || !access->hs256_secret_.empty() ||
                      !access->rs256_public_key_.empty() || o.mtls_principal;
  absl::StatusOr<std::shared_ptr<const Rules>> rules = LoadRules(o);
  if (!rules.ok()) return rules.status();
  access->rules_ = *std::move(rules);
  return access;
}

std::shared_ptr<const Access::Rules> Access::rules() const {
  std::lock_guard lock(mu_);
  return rules_;
}

absl::Status Access::Reload() {
  absl::StatusOr<std::shared_ptr<const Rules>> rules = LoadRules(options_);
  if (!rules.ok()) return rules.status();
  std::lock_guard lock(mu_);
  rules_ = *std::move(rules);
  return absl::OkStatus();
}

absl::StatusOr<Principal> Access::Authenticate(std::string_view authorization,
                                               std::string_view peer_cn) const {
  if (!required_) return Principal{"", "anonymous"};
  if (authorization.empty()) {
    if (options_.mtls_principal && !peer_cn.empty()) return Principal{std::string(peer_cn), "mtls"};
    return Unauthenticated("no credentials: send Authorization: Bearer <token>" +
                           std::string(options_.mtls_principal ? " or a client certificate" : ""));
  }
  constexpr std::string_view kBearer = "bearer ";
  if (authorization.size() <= kBearer.size() ||
      absl::AsciiStrToLower(AsAbsl(authorization.substr(0, kBearer.size()))) != kBearer) {
    return Unauthenticated("Authorization is not of the form Bearer <token>");
  }
  std::string_view token = authorization.substr(kBearer.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);

  if (std::count(token.begin(), token.end(), '.') != 2) {
    auto it = static_tokens_.find(Sha256Hex(token));
    if (it == static_tokens_.end()) return Unauthenticated("unknown bearer token");
    return Principal{it->second, "token"};
  }

  // A JWT. The key follows the header's alg, and only the two configured pairs are accepted.
  std::string header_json;
  const std::string_view header = token.substr(0, token.find('.'));
  if (!absl::WebSafeBase64Unescape(AsAbsl(header), &header_json)) {
    return Unauthenticated("JWT header is not base64url");
  }
  const nlohmann::json h = nlohmann::json::parse(header_json, nullptr, false);
  if (!h.is_object() || !h.contains("alg") || !h["alg"].is_string()) {
    return Unauthenticated("JWT header has no alg");
  }
  const std::string alg = h["alg"];
  const std::string* key = nullptr;
  jwt_alg_t expected = JWT_ALG_NONE;
  if (alg == "HS256" && !hs256_secret_.empty()) {
    key = &hs256_secret_;
    expected = JWT_ALG_HS256;
  } else if (alg == "RS256" && !rs256_public_key_.empty()) {
    key = &rs256_public_key_;
    expected = JWT_ALG_RS256;
  } else {
    return Unauthenticated(absl::StrCat("JWT alg ", alg, " is not accepted here"));
  }
  jwt_t* raw = nullptr;
  const std::string token_text(token);
  if (jwt_decode(&raw, token_text.c_str(), reinterpret_cast<const unsigned char*>(key->data()),
                 static_cast<int>(key->size())) != 0 ||
      raw == nullptr) {
    return Unauthenticated("JWT signature does not verify (or the token is malformed)");
  }
  std::unique_ptr<jwt_t, void (*)(jwt_t*)> jwt(raw, jwt_free);
  if (jwt_get_alg(jwt.get()) != expected) return Unauthenticated("JWT alg does not match its key");

  const long now = static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
  const long leeway = static_cast<long>(options_.jwt_leeway.count());
  errno = 0;
  const long exp = jwt_get_grant_int(jwt.get(), "exp");
  if (errno == ENOENT) return Unauthenticated("JWT has no exp");
  if (now > exp + leeway) return Unauthenticated("JWT expired");
  errno = 0;
  const long nbf = jwt_get_grant_int(jwt.get(), "nbf");
  if (errno != ENOENT && now + leeway < nbf) return Unauthenticated("JWT not valid yet (nbf)");
  if (!options_.jwt_issuer.empty()) {
    const char* iss = jwt_get_grant(jwt.get(), "iss");
    if (iss == nullptr || options_.jwt_issuer != iss) return Unauthenticated("JWT issuer mismatch");
  }
  if (!options_.jwt_audience.empty()) {
    bool match = false;
    if (const char* aud = jwt_get_grant(jwt.get(), "aud")) {
      match = options_.jwt_audience == aud;
    } else if (char* json = jwt_get_grants_json(jwt.get(), "aud")) {
      const nlohmann::json list = nlohmann::json::parse(json, nullptr, false);
      free(json);
      if (list.is_array()) {
        for (const auto& a : list) match = match || (a.is_string() && a == options_.jwt_audience);
      }
    }
    if (!match) return Unauthenticated("JWT audience mismatch");
  }
  const char* sub = jwt_get_grant(jwt.get(), "sub");
  if (sub == nullptr || *sub == '\0') return Unauthenticated("JWT has no sub (the principal)");
  return Principal{sub, "jwt"};
}

bool Access::MaySee(const Principal& principal, std::string_view topic) const {
  return Authorize(principal, Right::kPublish, topic).ok() ||
         Authorize(principal, Right::kSubscribe, topic).ok();
}

absl::Status Access::Authorize(const Principal& principal, Right right,
                               std::string_view topic) const {
  std::shared_ptr<const Rules> r = rules();
  if (!r->has_permissions) return absl::OkStatus();
  for (const Rules::Grant& g : r->grants) {
    if (g.principal != "*" && g.principal != principal.name) continue;
    if (right == Right::kPublish ? !g.publish : !g.subscribe) continue;
    for (const std::string& pattern : g.patterns) {
      if (GlobMatch(pattern, topic)) return absl::OkStatus();
    }
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "principal '", principal.name, "' may not ",
      right == Right::kPublish ? "publish to" : "subscribe to", " topic ", AsAbsl(topic)));
}

Access::Usage& Access::UsageOf(const std::string& name) {
  std::unique_ptr<Usage>& u = usage_[name];
  if (!u) u = std::make_unique<Usage>();
  return *u;
}

absl::Status Access::AdmitPublish(const Principal& principal, size_t bytes) {
  std::shared_ptr<const Rules> r = rules();
  const Rules::Limits* limits = r->LimitsFor(principal.name);
  if (limits == nullptr || (limits->messages_per_s <= 0 && limits->bytes_per_s <= 0)) {
    return absl::OkStatus();
  }
  Usage* usage;
  {
    std::lock_guard lock(mu_);
    usage = &UsageOf(principal.name);
  }
  std::lock_guard lock(usage->mu);
  const auto now = std::chrono::steady_clock::now();
  const double elapsed =
      usage->message_tokens < 0 ? 0 : std::chrono::duration<double>(now - usage->refilled).count();
  usage->refilled = now;
  // Buckets hold one second's worth.
  auto refill = [&](double& tokens, double rate) {
    tokens = tokens < 0 ? rate : std::min(rate, tokens + rate * elapsed);
  };
  refill(usage->message_tokens, limits->messages_per_s);
  refill(usage->byte_tokens, limits->bytes_per_s);
  double wait_s = 0;
  std::string what;
  if (limits->messages_per_s > 0 && usage->message_tokens < 1) {
    wait_s = (1 - usage->message_tokens) / limits->messages_per_s;
    what = absl::StrCat(limits->messages_per_s, " messages/s");
  }
  // A message larger than a second's worth of bytes waits for a full bucket.
  const double need = std::min(static_cast<double>(bytes), limits->bytes_per_s);
  if (limits->bytes_per_s > 0 && usage->byte_tokens < need) {
    const double w = (need - usage->byte_tokens) / limits->bytes_per_s;
    if (w > wait_s) {
      wait_s = w;
      what = absl::StrCat(limits->bytes_per_s, " bytes/s");
    }
  }
  if (wait_s > 0) {
    const int64_t ms = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wait_s * 1000)));
    absl::Status s = absl::ResourceExhaustedError(absl::StrCat(
        "quota: principal '", principal.name, "' is over ", what, "; retry after ", ms, " ms"));
    s.SetPayload(kRetryAfterUrl, absl::Cord(absl::StrCat(ms)));
    return s;
  }
  if (limits->messages_per_s > 0) usage->message_tokens -= 1;
  if (limits->bytes_per_s > 0) usage->byte_tokens -= need;
  return absl::OkStatus();
}

absl::StatusOr<Access::StreamTicket> Access::OpenStream(const Principal& principal) {
  std::shared_ptr<const Rules> r = rules();
  const Rules::Limits* limits = r->LimitsFor(principal.name);
  std::lock_guard lock(mu_);
  Usage& usage = UsageOf(principal.name);
  std::lock_guard usage_lock(usage.mu);
  if (limits != nullptr && limits->streams > 0 && usage.streams >= limits->streams) {
    absl::Status s = absl::ResourceExhaustedError(
        absl::StrCat("quota: principal '", principal.name, "' already has ", usage.streams,
                     " open streams (limit ", limits->streams, ")"));
    s.SetPayload(kRetryAfterUrl, absl::Cord("1000"));
    return s;
  }
  ++usage.streams;
  return StreamTicket(this, principal.name);
}

Access::StreamTicket::~StreamTicket() {
  if (owner_ == nullptr) return;
  std::lock_guard lock(owner_->mu_);
  Usage& usage = owner_->UsageOf(name_);
  std::lock_guard usage_lock(usage.mu);
  --usage.streams;
}

}  // namespace messagecorps::gateway
