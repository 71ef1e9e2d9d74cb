// TLS client certificates, checked by the gateway itself rather than in the handshake, so that an
// untrusted certificate gets a proper UNAUTHENTICATED / 401 answer instead of a dropped connection:
// the servers request a certificate without letting the TLS layer refuse it, and each call verifies
// what was presented against --tls-client-ca (OpenSSL, the chain up to a CA in that file, validity
// dates, purpose sslclient). The principal of a trusted certificate is its subject common name.
//
// Thread-safety: const methods may be called concurrently (the X509_STORE is only read).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

struct x509_st;
struct x509_store_st;

namespace messagecorps::gateway {

class ClientCertVerifier {
 public:
  // Loads the CA certificates of `ca_file` (PEM). kNotFound / kInvalidArgument naming the file.
  static absl::StatusOr<std::unique_ptr<ClientCertVerifier>> Create(const std::string& ca_file);
  ~ClientCertVerifier();

  // The common name of the PEM certificate `leaf` when it verifies, with the certificates of
  // `chain` (PEM, any order, may repeat the leaf) as untrusted intermediates; kUnauthenticated with
  // OpenSSL's reason otherwise.
  absl::StatusOr<std::string> VerifyPem(std::string_view leaf, std::string_view chain = {}) const;
  // The same for an already parsed leaf (the HTTP server's peer certificate, whose chain the TLS
  // layer verified into `verify_result`, an X509_V_* code).
  static absl::StatusOr<std::string> CheckPeer(x509_st* leaf, long verify_result);

  const std::string& ca_file() const { return ca_file_; }

 private:
  ClientCertVerifier() = default;
  std::string ca_file_;
  x509_store_st* store_ = nullptr;
};

}  // namespace messagecorps::gateway
