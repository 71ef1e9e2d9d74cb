#include "gateway/resume_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "messagecorps/string_view.h"

namespace messagecorps::gateway {
namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kFingerprintBytes = 8;
constexpr size_t kTagBytes = 16;
constexpr size_t kHeaderBytes = 2 + kFingerprintBytes;

std::array<unsigned char, kFingerprintBytes> Fingerprint(std::string_view topic) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(topic.data()), topic.size(), digest);
  std::array<unsigned char, kFingerprintBytes> out;
  std::copy(digest, digest + kFingerprintBytes, out.begin());
  return out;
}

std::array<unsigned char, kTagBytes> Tag(const std::string& secret, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &size);
  std::array<unsigned char, kTagBytes> out;
  std::copy(digest, digest + kTagBytes, out.begin());
  return out;
}

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view& in, uint64_t* v) {
  uint64_t value = 0;
  for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
    const auto byte = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    value |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) {
      *v = value;
      return true;
    }
  }
  return false;
}

absl::Status Invalid(std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("resume token: ", AsAbsl(why)));
}

}  // namespace

absl::StatusOr<ResumeTokenCodec> ResumeTokenCodec::Create(std::vector<std::string> secrets) {
  if (secrets.empty()) return absl::InvalidArgumentError("resume tokens: no secret given");
  for (size_t i = 0; i < secrets.size(); ++i) {
    if (secrets[i].size() < kMinSecretBytes) {
      return absl::InvalidArgumentError(absl::StrCat("resume tokens: secret ", i + 1, " has ",
                                                     secrets[i].size(), " bytes; at least ",
                                                     kMinSecretBytes, " are needed"));
    }
  }
  return ResumeTokenCodec(std::move(secrets));
}

ResumeTokenCodec ResumeTokenCodec::Random() {
  std::string secret(32, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()), static_cast<int>(secret.size()));
  return ResumeTokenCodec({std::move(secret)});
}

absl::StatusOr<ResumeTokenCodec> ResumeTokenCodec::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("resume secret file ", path, ": cannot read"));
  std::vector<std::string> secrets;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.pop_back();
    }
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    secrets.push_back(line.substr(start));
  }
  absl::StatusOr<ResumeTokenCodec> codec = Create(std::move(secrets));
  if (!codec.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", codec.status().message()));
  }
  return codec;
}

std::string ResumeTokenCodec::Encode(std::string_view topic, const ResumePosition& position) const {
  std::string raw;
  raw.reserve(kHeaderBytes + 2 + position.next_offsets.size() * 6 + kTagBytes);
  raw.push_back(static_cast<char>(kVersion));
  raw.push_back(static_cast<char>(position.group ? 1 : 0));
  const auto fingerprint = Fingerprint(topic);
  raw.append(reinterpret_cast<const char*>(fingerprint.data()), fingerprint.size());
  PutVarint(raw, position.next_offsets.size());
  for (const auto& [partition, offset] : position.next_offsets) {
    PutVarint(raw, static_cast<uint32_t>(partition));
    PutVarint(raw, static_cast<uint64_t>(std::max<int64_t>(offset, 0)));
  }
  const auto tag = Tag(secrets_.front(), raw);
  raw.append(reinterpret_cast<const char*>(tag.data()), tag.size());
  return absl::WebSafeBase64Escape(raw);
}

absl::StatusOr<ResumePosition> ResumeTokenCodec::Decode(std::string_view token,
                                                        std::string_view topic) const {
  std::string raw;
  if (token.empty()) return Invalid("empty");
  if (token.size() > 8192) return Invalid("longer than 8192 characters");
  if (!absl::WebSafeBase64Unescape(AsAbsl(token), &raw)) return Invalid("not base64url");
  if (raw.size() < kHeaderBytes + 1 + kTagBytes) return Invalid("truncated");
  if (static_cast<uint8_t>(raw[0]) != kVersion) {
    return Invalid(
        absl::StrCat("unknown version ", static_cast<int>(static_cast<uint8_t>(raw[0]))));
  }
  const std::string_view signed_part(raw.data(), raw.size() - kTagBytes);
  const unsigned char* tag =
      reinterpret_cast<const unsigned char*>(raw.data() + raw.size() - kTagBytes);
  bool verified = false;
  for (const std::string& secret : secrets_) {
    const auto expected = Tag(secret, signed_part);
    if (CRYPTO_memcmp(expected.data(), tag, kTagBytes) == 0) {
      verified = true;
      break;
    }
  }
  if (!verified) {
    return Invalid("signature does not verify (damaged, forged, or issued with another secret)");
  }
  const auto fingerprint = Fingerprint(topic);
  if (std::memcmp(raw.data() + 2, fingerprint.data(), kFingerprintBytes) != 0) {
    return Invalid(absl::StrCat("issued for another topic than ", AsAbsl(topic)));
  }
  ResumePosition position;
  position.group = (static_cast<uint8_t>(raw[1]) & 1) != 0;
  std::string_view in = signed_part.substr(kHeaderBytes);
  uint64_t count = 0;
  if (!GetVarint(in, &count) || count > 100000) return Invalid("bad partition count");
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t partition = 0, offset = 0;
    if (!GetVarint(in, &partition) || !GetVarint(in, &offset) || partition > INT32_MAX ||
        offset > static_cast<uint64_t>(INT64_MAX)) {
      return Invalid("bad partition entry");
    }
    position.next_offsets[static_cast<int32_t>(partition)] = static_cast<int64_t>(offset);
  }
  if (!in.empty()) return Invalid("trailing bytes");
  return position;
}

}  // namespace messagecorps::gateway
