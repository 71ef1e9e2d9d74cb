#include "gateway/client_certs.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "messagecorps/string_view.h"

namespace messagecorps::gateway {
namespace {

std::string CommonName(X509* cert) {
  X509_NAME* subject = X509_get_subject_name(cert);
  char buffer[256];
  const int n = X509_NAME_get_text_by_NID(subject, NID_commonName, buffer, sizeof buffer);
  return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ClientCertVerifier>> ClientCertVerifier::Create(
    const std::string& ca_file) {
  std::unique_ptr<ClientCertVerifier> v(new ClientCertVerifier());
  v->ca_file_ = ca_file;
  v->store_ = X509_STORE_new();
  if (X509_STORE_load_file(v->store_, ca_file.c_str()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-client-ca ", ca_file, ": no PEM CA certificate could be read"));
  }
  return v;
}

ClientCertVerifier::~ClientCertVerifier() {
  if (store_ != nullptr) X509_STORE_free(store_);
}

namespace {

using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;

std::vector<X509Ptr> ReadPems(std::string_view pem) {
  std::vector<X509Ptr> out;
  if (pem.empty()) return out;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    out.emplace_back(cert, X509_free);
  }
  ERR_clear_error();
  return out;
}

}  // namespace

absl::StatusOr<std::string> ClientCertVerifier::VerifyPem(std::string_view leaf_pem,
                                                          std::string_view chain_pem) const {
  std::vector<X509Ptr> leaf = ReadPems(leaf_pem);
  if (leaf.empty()) return absl::UnauthenticatedError("client certificate: not PEM");
  std::vector<X509Ptr> intermediates = ReadPems(chain_pem);
  std::unique_ptr<STACK_OF(X509), void (*)(STACK_OF(X509)*)> chain(
      sk_X509_new_null(), [](STACK_OF(X509) * s) { sk_X509_free(s); });
  for (const X509Ptr& c : intermediates) sk_X509_push(chain.get(), c.get());
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                      X509_STORE_CTX_free);
  X509_STORE_CTX_init(ctx.get(), store_, leaf[0].get(), chain.get());
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  if (X509_verify_cert(ctx.get()) != 1) {
    return absl::UnauthenticatedError(
        absl::StrCat("client certificate not trusted: ",
                     X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()))));
  }
  return CommonName(leaf[0].get());
}

absl::StatusOr<std::string> ClientCertVerifier::CheckPeer(X509* leaf, long verify_result) {
  if (verify_result != X509_V_OK) {
    return absl::UnauthenticatedError(absl::StrCat("client certificate not trusted: ",
                                                   X509_verify_cert_error_string(verify_result)));
  }
  return CommonName(leaf);
}

}  // namespace messagecorps::gateway
