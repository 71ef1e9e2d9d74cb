// Who is calling, and what they may do: authentication (bearer tokens: JWTs or static tokens;
// TLS client certificates), a permissions file (principal -> publish/subscribe rights per topic,
// wildcards allowed), and per-principal quotas (messages/s, bytes/s, concurrent streams).
//
// Authentication. With no method configured every caller is the anonymous principal "" and may do
// everything. Otherwise a call must present one of:
//   - `Authorization: Bearer <token>` (HTTP header / gRPC metadata `authorization`): a JWT
//     (three dot-separated parts) signed HS256 with --jwt-hs256-secret-file or RS256 with
//     --jwt-rs256-public-key, checked by Debian's libjwt: the header's alg must be one of those two
//     with its key configured (never `none`, never HS256 keyed with the RSA key), signature, `exp`
//     (required) and `nbf` with --jwt-leeway-s, `iss` when --jwt-issuer is set, `aud` (a string or
//     an array) when --jwt-audience is set; the principal is `sub`. Or a static token from
//     --tokens-file (`<token> <principal>` per line; compared by SHA-256, never logged).
//   - a TLS client certificate verified against --tls-client-ca, when --mtls-principal is set: the
//     principal is the certificate's subject common name.
// A failure is kUnauthenticated naming the reason (missing, expired, wrong audience, bad
// signature, ...); the token itself never appears in an error or a log line.
//
// Authorization (--permissions FILE; reloaded on SIGHUP, a file with an error keeps the old rules):
//   <principal|*>  <publish|subscribe|all>[,<right>...]  <topic pattern> [<topic pattern>...]
// `*` in a pattern matches any characters (`sensors.*`, `*`); `#` starts a comment. Without a file
// every authenticated principal may do everything; with one, only what a line grants (kPermission-
// Denied otherwise). ListTopics shows only topics the principal has some right on.
//
// Quotas (--quotas FILE; reloaded on SIGHUP):
//   <principal|*>  [messages_per_s=N] [bytes_per_s=N] [streams=N]
// The principal's own line, else the `*` line, else no limit. Publishes draw from token buckets
// holding one second's worth; over them a publish is kResourceExhausted with a retry-after
// (RetryAfterOf). Streams (publish, subscribe, SSE) count while open; one over the limit is
// refused the same way.
//
// Thread-safety: every method may be called from any thread; Reload swaps the rules atomically.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace messagecorps::gateway {

struct Principal {
  std::string name;    // "" for anonymous
  std::string method;  // "anonymous", "jwt", "token", "mtls"
};

enum class Right { kPublish, kSubscribe };

struct AccessOptions {
  std::string tokens_file;
  std::string jwt_hs256_secret_file;
  std::string jwt_rs256_public_key_file;
  std::string jwt_issuer;
  std::string jwt_audience;
  std::chrono::seconds jwt_leeway{30};
  bool mtls_principal = false;
  std::string permissions_file;
  std::string quotas_file;
};

// The retry-after attached to a kResourceExhausted status by a quota, if any.
std::optional<std::chrono::milliseconds> RetryAfterOf(const absl::Status& status);

class Access {
 public:
  // Reads every configured file. kInvalidArgument / kNotFound naming the file and line.
  static absl::StatusOr<std::unique_ptr<Access>> Create(AccessOptions options);
  ~Access();

  // True when callers must authenticate.
  bool required() const { return required_; }

  // `authorization`: the Authorization header or metadata value ("" when absent); `peer_cn`: the
  // verified TLS client certificate's common name ("" when none).
  absl::StatusOr<Principal> Authenticate(std::string_view authorization,
                                         std::string_view peer_cn) const;

  // kPermissionDenied naming the principal, the right and the topic.
  absl::Status Authorize(const Principal& principal, Right right, std::string_view topic) const;
  bool MaySee(const Principal& principal, std::string_view topic) const;

  // A publish of `bytes` (counted against the principal's buckets when admitted).
  absl::Status AdmitPublish(const Principal& principal, size_t bytes);

  // A stream holds one of these while open.
  class StreamTicket {
   public:
    StreamTicket() = default;
    StreamTicket(StreamTicket&& other) noexcept
        : owner_(other.owner_), name_(std::move(other.name_)) {
      other.owner_ = nullptr;
    }
    StreamTicket& operator=(StreamTicket&&) = delete;
    ~StreamTicket();

   private:
    friend class Access;
    StreamTicket(Access* owner, std::string name) : owner_(owner), name_(std::move(name)) {}
    Access* owner_ = nullptr;
    std::string name_;
  };
  absl::StatusOr<StreamTicket> OpenStream(const Principal& principal);

  // Re-reads the permissions and quotas files (SIGHUP). On an error the old rules stay and the
  // error is returned.
  absl::Status Reload();

  struct Rules;
  struct Usage;

 private:
  explicit Access(AccessOptions options);

  const AccessOptions options_;
  bool required_ = false;
  std::map<std::string, std::string> static_tokens_;  // SHA-256(token) hex -> principal
  std::string hs256_secret_;
  std::string rs256_public_key_;

  mutable std::mutex mu_;
  std::shared_ptr<const Rules> rules_;                   // guarded by mu_ (swapped whole)
  std::map<std::string, std::unique_ptr<Usage>> usage_;  // per principal, guarded by mu_

  std::shared_ptr<const Rules> rules() const;
  Usage& UsageOf(const std::string& name);  // mu_ held
};

}  // namespace messagecorps::gateway
