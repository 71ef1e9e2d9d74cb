// Resume tokens: where a subscription stands, carried by the client instead of the gateway.
//
// A token holds the next offset to deliver for every partition of a subscription (after the record
// it came with), the topic it belongs to and whether it came from a group subscription, signed
// with HMAC-SHA256 so that a client cannot forge positions. Any gateway replica holding the same
// secret accepts it: no session state lives on a replica, so a stream can continue on another one
// after a disconnect, a restart or a load balancer's choice.
//
// Format (version 1), base64url without padding:
//   0x01 | flags (bit 0: group) | 8-byte topic fingerprint (SHA-256 of the name, truncated) |
//   varint partition count | (varint partition, varint next offset)... | 16-byte HMAC-SHA256 tag
// 12 partitions at offsets below 2^28 take about 100 characters.
//
// Secrets: one or more, each at least 16 bytes. The first signs; every one verifies (so a secret
// can be rotated: add the new one first, remove the old one after the longest resume delay).
// Without a configured secret the gateway draws a random one at start: tokens then only work on
// that process.
//
// Thread-safety: const methods may be called concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace messagecorps::gateway {

struct ResumePosition {
  bool group = false;
  std::map<int32_t, int64_t> next_offsets;  // partition -> next offset to deliver
};

class ResumeTokenCodec {
 public:
  static constexpr size_t kMinSecretBytes = 16;

  // kInvalidArgument when there is no secret or one is shorter than kMinSecretBytes.
  static absl::StatusOr<ResumeTokenCodec> Create(std::vector<std::string> secrets);
  // A codec with one random secret (tokens valid on this process only).
  static ResumeTokenCodec Random();
  // Secrets from a file: one per line (blank lines and '#' comments skipped). kNotFound when the
  // file cannot be read; kInvalidArgument as Create.
  static absl::StatusOr<ResumeTokenCodec> FromFile(const std::string& path);

  std::string Encode(std::string_view topic, const ResumePosition& position) const;

  // The position in `token`. kInvalidArgument naming the problem: not base64url, unknown version,
  // truncated, a token of another topic, or a signature that no secret verifies (forged, damaged,
  // or from a gateway with other secrets).
  absl::StatusOr<ResumePosition> Decode(std::string_view token, std::string_view topic) const;

 private:
  explicit ResumeTokenCodec(std::vector<std::string> secrets) : secrets_(std::move(secrets)) {}
  std::vector<std::string> secrets_;
};

}  // namespace messagecorps::gateway
