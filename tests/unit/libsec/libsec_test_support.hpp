#pragma once
// Helpers shared by the libsec unit tests: scratch directories, small files, and
// certificates with chosen keys and validity that the production code never makes.

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>

#include "libsec/openssl_handles.hpp"
#include "libsec/pem_files.hpp"

namespace sec::test {

class TemporaryDirectory {
 public:
  explicit TemporaryDirectory(std::string_view purpose) {
    std::random_device entropy;
    path_ = std::filesystem::temp_directory_path() /
            ("libsec-" + std::string(purpose) + "-" + std::to_string(entropy()) + std::to_string(entropy()));
    std::filesystem::create_directories(path_);
  }
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;
  ~TemporaryDirectory() {
    std::error_code error;
    std::filesystem::remove_all(path_, error);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_text(const std::filesystem::path& file, std::string_view text, mode_t mode = 0600) {
  std::filesystem::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
  ::chmod(file.c_str(), mode);
}

inline std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline mode_t file_mode(const std::filesystem::path& file) {
  struct stat status {};
  ::stat(file.c_str(), &status);
  return status.st_mode & 07777;
}

// A self-signed certificate for `key`, valid from now + not_before_days until now +
// not_after_days (negative days lie in the past). Null if OpenSSL fails.
inline CertificateHandle make_test_certificate(EVP_PKEY* key, long not_before_days, long not_after_days,
                                               const char* common_name = "test") {
  CertificateHandle certificate(X509_new());
  X509* x509 = certificate.get();
  X509_NAME* name = X509_get_subject_name(x509);
  const bool built =
      X509_set_version(x509, X509_VERSION_3) == 1 && ASN1_INTEGER_set(X509_get_serialNumber(x509), 1) == 1 &&
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(common_name), -1, -1,
                                 0) == 1 &&
      X509_set_issuer_name(x509, name) == 1 &&
      X509_time_adj_ex(X509_getm_notBefore(x509), static_cast<int>(not_before_days), 0, nullptr) != nullptr &&
      X509_time_adj_ex(X509_getm_notAfter(x509), static_cast<int>(not_after_days), 0, nullptr) != nullptr &&
      X509_set_pubkey(x509, key) == 1 && X509_sign(x509, key, EVP_sha256()) > 0;
  if (!built) return nullptr;
  return certificate;
}

// Writes `certificate` and `key` as PEM files (mode 0600).
inline void write_pair(const std::filesystem::path& certificate_file, X509* certificate,
                       const std::filesystem::path& key_file, EVP_PKEY* key) {
  write_text(certificate_file, certificate_pem(certificate).value());
  write_text(key_file, private_key_pem(key).value());
}

}  // namespace sec::test
