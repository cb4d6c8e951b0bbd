#include "libsec/pem_files.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

#include "libsec/private_file.hpp"

namespace sec {

namespace {

// Refuses any passphrase: see load_private_key_pem.
int refuse_passphrase(char*, int, int, void*) { return -1; }

proto::Result<std::string, std::string> read_pem_file(const std::filesystem::path& file) {
  auto contents = read_file_if_exists(file, k_max_pem_file_bytes);
  if (!contents) return proto::unexpected(contents.error());
  if (!contents->has_value()) return proto::unexpected(file.string() + " does not exist");
  return std::move(**contents);
}

BioHandle memory_bio(std::string_view text) {
  // k_max_pem_file_bytes keeps every text we hand over far below INT_MAX.
  return BioHandle(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

proto::Result<std::string, std::string> bio_text(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  if (size < 0 || data == nullptr) return proto::unexpected("cannot read PEM output: " + take_openssl_errors());
  return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace

proto::Result<CertificateHandle, std::string> parse_certificate_pem(std::string_view text, const std::string& file) {
  if (text.size() > k_max_pem_file_bytes) {
    return proto::unexpected(file + " is larger than " + std::to_string(k_max_pem_file_bytes) + " bytes");
  }
  const auto bio = memory_bio(text);
  if (!bio) return proto::unexpected("cannot read " + file + ": " + take_openssl_errors());
  CertificateHandle certificate(PEM_read_bio_X509(bio.get(), nullptr, refuse_passphrase, nullptr));
  if (!certificate) {
    return proto::unexpected(file + " holds no PEM certificate (" + take_openssl_errors() + ")");
  }
  return certificate;
}

proto::Result<CertificateHandle, std::string> load_certificate_pem(const std::filesystem::path& file) {
  auto text = read_pem_file(file);
  if (!text) return proto::unexpected(text.error());
  return parse_certificate_pem(*text, file.string());
}

proto::Result<std::vector<CertificateHandle>, std::string> load_certificate_chain_pem(
    const std::filesystem::path& file) {
  auto text = read_pem_file(file);
  if (!text) return proto::unexpected(text.error());
  const auto bio = memory_bio(*text);
  if (!bio) return proto::unexpected("cannot read " + file.string() + ": " + take_openssl_errors());
  std::vector<CertificateHandle> chain;
  while (CertificateHandle certificate{PEM_read_bio_X509(bio.get(), nullptr, refuse_passphrase, nullptr)}) {
    if (chain.size() == k_max_chain_certificates) {
      return proto::unexpected(file.string() + " holds more than " + std::to_string(k_max_chain_certificates) +
                               " certificates");
    }
    chain.push_back(std::move(certificate));
  }
  // The loop ends at the first block that is not a certificate: the end of the file
  // (PEM_R_NO_START_LINE), or a broken certificate, which must not be skipped silently.
  const unsigned long last_error = ERR_peek_last_error();
  if (chain.empty() || ERR_GET_LIB(last_error) != ERR_LIB_PEM || ERR_GET_REASON(last_error) != PEM_R_NO_START_LINE) {
    return proto::unexpected(file.string() + " holds no readable PEM certificate chain (" + take_openssl_errors() +
                             ")");
  }
  ERR_clear_error();
  return chain;
}

proto::Result<KeyHandle, std::string> load_private_key_pem(const std::filesystem::path& file) {
  auto text = read_pem_file(file);
  if (!text) return proto::unexpected(text.error());
  const auto bio = memory_bio(*text);
  if (!bio) return proto::unexpected("cannot read " + file.string() + ": " + take_openssl_errors());
  KeyHandle key(PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, nullptr));
  if (!key) {
    return proto::unexpected(file.string() + " holds no unencrypted PEM private key (" + take_openssl_errors() +
                             "); meterd cannot ask for a passphrase, so install the key without one");
  }
  return key;
}

proto::Result<std::string, std::string> certificate_pem(X509* certificate) {
  const BioHandle bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), certificate) != 1) {
    return proto::unexpected("cannot encode the certificate as PEM: " + take_openssl_errors());
  }
  return bio_text(bio.get());
}

proto::Result<std::string, std::string> private_key_pem(EVP_PKEY* key) {
  const BioHandle bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return proto::unexpected("cannot encode the private key as PEM: " + take_openssl_errors());
  }
  return bio_text(bio.get());
}

}  // namespace sec
