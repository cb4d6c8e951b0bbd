#include "libsec/device_certificate.hpp"

#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "libsec/fingerprint.hpp"
#include "libsec/openssl_handles.hpp"
#include "libsec/pem_files.hpp"
#include "libsec/private_file.hpp"

namespace sec {

namespace {

// Where a generated pair is assembled before one rename makes it the tls directory.
constexpr const char* k_staging_directory_name = ".tls.new";

// Group read is allowed (Debian keeps keys 0640 root:ssl-cert); group write and any
// access by others are not, as OpenSSH and PostgreSQL refuse such keys too.
constexpr mode_t k_forbidden_key_mode_bits = S_IWGRP | S_IRWXO;

bool is_valid_serial_number(std::string_view serial_number) {
  if (serial_number.empty() || serial_number.size() > k_max_serial_number_length) return false;
  for (const char c : serial_number) {
    const bool allowed =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!allowed) return false;
  }
  return true;
}

bool entry_exists(const std::filesystem::path& path) {
  // symlink_status: a dangling symlink is an operator's file too, not an absence to fill.
  std::error_code error;
  return std::filesystem::exists(std::filesystem::symlink_status(path, error));
}

std::string asn1_time_text(const ASN1_TIME* time) {
  const BioHandle bio(BIO_new(BIO_s_mem()));
  if (!bio || ASN1_TIME_print(bio.get(), time) != 1) return "an unreadable date";
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string("an unreadable date");
}

proto::Result<proto::Ok, std::string> add_extension(X509* certificate, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, certificate, certificate, nullptr, nullptr, 0);
  const ExtensionHandle extension(X509V3_EXT_conf_nid(nullptr, &context, nid, value));
  if (!extension || X509_add_ext(certificate, extension.get(), -1) != 1) {
    return proto::unexpected(std::string("cannot add the ") + OBJ_nid2sn(nid) + " extension: " + take_openssl_errors());
  }
  return proto::Ok{};
}

proto::Result<proto::Ok, std::string> set_random_serial(X509* certificate) {
  std::array<unsigned char, k_device_certificate_serial_bytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return proto::unexpected("no random serial number: " + take_openssl_errors());
  }
  bytes[0] &= 0x7f;  // positive, RFC 5280 section 4.1.2.2
  const BignumHandle number(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  if (!number || BN_to_ASN1_INTEGER(number.get(), X509_get_serialNumber(certificate)) == nullptr) {
    return proto::unexpected("cannot set the serial number: " + take_openssl_errors());
  }
  return proto::Ok{};
}

proto::Result<CertificateHandle, std::string> make_self_signed_certificate(EVP_PKEY* key,
                                                                           std::string_view serial_number) {
  CertificateHandle certificate(X509_new());
  if (!certificate) return proto::unexpected("cannot create a certificate: " + take_openssl_errors());
  X509* x509 = certificate.get();
  if (auto serial = set_random_serial(x509); !serial) return proto::unexpected(serial.error());

  X509_NAME* name = X509_get_subject_name(x509);
  const std::string common_name(serial_number);
  const bool named =
      X509_set_version(x509, X509_VERSION_3) == 1 &&
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(common_name.c_str()),
                                 -1, -1, 0) == 1 &&
      X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(k_device_certificate_organization), -1, -1,
                                 0) == 1 &&
      X509_set_issuer_name(x509, name) == 1 && X509_gmtime_adj(X509_getm_notBefore(x509), 0) != nullptr &&
      X509_time_adj_ex(X509_getm_notAfter(x509), static_cast<int>(k_device_certificate_validity_days), 0, nullptr) !=
          nullptr &&
      X509_set_pubkey(x509, key) == 1;
  if (!named) return proto::unexpected("cannot fill in the certificate: " + take_openssl_errors());

  // The key identifier extension needs the public key set above.
  const std::array<std::pair<int, const char*>, 5> extensions{{
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature"},
      {NID_ext_key_usage, "serverAuth"},
      {NID_subject_alt_name, k_device_certificate_subject_alt_name},
      {NID_subject_key_identifier, "hash"},
  }};
  for (const auto& [nid, value] : extensions) {
    if (auto added = add_extension(x509, nid, value); !added) return proto::unexpected(added.error());
  }
  if (X509_sign(x509, key, EVP_sha256()) <= 0) {
    return proto::unexpected("cannot sign the certificate: " + take_openssl_errors());
  }
  return certificate;
}

std::string describe_errno(std::string_view what, const std::filesystem::path& path) {
  std::string text(what);
  text.append(" ").append(path.string()).append(": ").append(std::strerror(errno));
  return text;
}

// Moves a complete staging directory into place as `tls_directory`.
proto::Result<proto::Ok, std::string> install_staged_pair(const std::filesystem::path& staging,
                                                          const std::filesystem::path& tls_directory) {
  // rename(2) replaces a missing or empty directory atomically: the usual first start.
  if (::rename(staging.c_str(), tls_directory.c_str()) == 0) return proto::Ok{};
  if (errno != ENOTEMPTY && errno != EEXIST) return proto::unexpected(describe_errno("cannot create", tls_directory));
  // The operator keeps other files in tls/: move the two files one by one. A crash between
  // the two renames leaves one file, which the next start reports instead of guessing.
  for (const char* name : {k_device_key_file_name, k_device_certificate_file_name}) {
    if (::rename((staging / name).c_str(), (tls_directory / name).c_str()) != 0) {
      return proto::unexpected(describe_errno("cannot move into place", tls_directory / name));
    }
  }
  ::rmdir(staging.c_str());
  return sync_directory(tls_directory);
}

proto::Result<DeviceCertificatePaths, std::string> generate(const std::filesystem::path& state_dir,
                                                            std::string_view serial_number,
                                                            DeviceCertificatePaths paths) {
  if (!is_valid_serial_number(serial_number)) {
    return proto::unexpected("serial number \"" + std::string(serial_number) +
                             "\" cannot name a certificate: use 1 to " + std::to_string(k_max_serial_number_length) +
                             " letters, digits, '-', '_' or '.'");
  }
  // ECDSA P-256: the curve every TLS 1.2 and 1.3 client supports, and fast to sign with.
  const KeyHandle key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return proto::unexpected("cannot generate an EC P-256 key: " + take_openssl_errors());
  const auto certificate = make_self_signed_certificate(key.get(), serial_number);
  if (!certificate) return proto::unexpected(certificate.error());
  const auto key_text = private_key_pem(key.get());
  if (!key_text) return proto::unexpected(key_text.error());
  const auto certificate_text = certificate_pem(certificate->get());
  if (!certificate_text) return proto::unexpected(certificate_text.error());

  if (auto created = create_private_directory(state_dir); !created) return proto::unexpected(created.error());
  // A staging directory left by a crash holds nothing anyone relies on: only one meterd
  // runs per state directory (it holds the state directory lock).
  const auto staging = state_dir / k_staging_directory_name;
  std::error_code error;
  std::filesystem::remove_all(staging, error);
  if (error) return proto::unexpected("cannot remove " + staging.string() + ": " + error.message());
  if (::mkdir(staging.c_str(), k_private_directory_mode) != 0) {
    return proto::unexpected(describe_errno("cannot create", staging));
  }
  const auto staged_key = write_private_file_atomically(staging / k_device_key_file_name, *key_text);
  if (!staged_key) return proto::unexpected(staged_key.error());
  const auto staged_certificate =
      write_private_file_atomically(staging / k_device_certificate_file_name, *certificate_text);
  if (!staged_certificate) return proto::unexpected(staged_certificate.error());
  if (auto installed = install_staged_pair(staging, state_dir / k_tls_directory_name); !installed) {
    return proto::unexpected(installed.error());
  }
  if (auto synced = sync_directory(state_dir); !synced) return proto::unexpected(synced.error());

  paths.fingerprint = public_key_fingerprint(certificate->get());
  paths.generated = true;
  return paths;
}

proto::Result<DeviceCertificatePaths, std::string> check_existing(DeviceCertificatePaths paths) {
  const auto remedy_regenerate =
      "; install a matching certificate and key, or move both files away and restart meterd to generate a new "
      "pair (clients that pinned the old key must then accept the new fingerprint)";
  struct stat key_status {};
  if (::stat(paths.key.c_str(), &key_status) != 0) return proto::unexpected(describe_errno("cannot read", paths.key));
  if ((key_status.st_mode & k_forbidden_key_mode_bits) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(key_status.st_mode & 07777));
    return proto::unexpected(paths.key.string() + " has mode " + mode +
                             ": other users could read or replace the private key; run chmod 600 " +
                             paths.key.string());
  }
  const auto key = load_private_key_pem(paths.key);
  if (!key) return proto::unexpected(key.error());
  const auto certificate = load_certificate_pem(paths.certificate);
  if (!certificate) return proto::unexpected(certificate.error());
  X509* x509 = certificate->get();
  if (X509_check_private_key(x509, key->get()) != 1) {
    take_openssl_errors();
    return proto::unexpected(paths.key.string() + " is not the key of " + paths.certificate.string() +
                             remedy_regenerate);
  }
  // X509_cmp_current_time: -1 before now, 1 after now, 0 when the time is malformed.
  if (X509_cmp_current_time(X509_get0_notAfter(x509)) <= 0) {
    return proto::unexpected(paths.certificate.string() + " expired on " + asn1_time_text(X509_get0_notAfter(x509)) +
                             remedy_regenerate);
  }
  if (X509_cmp_current_time(X509_get0_notBefore(x509)) >= 0) {
    return proto::unexpected(paths.certificate.string() + " is not valid before " +
                             asn1_time_text(X509_get0_notBefore(x509)) +
                             "; check the system clock, or install a certificate that is valid now");
  }
  paths.fingerprint = public_key_fingerprint(x509);
  if (paths.fingerprint.empty()) return proto::unexpected("cannot hash the public key: " + take_openssl_errors());
  return paths;
}

}  // namespace

proto::Result<DeviceCertificatePaths, std::string> ensure_device_certificate(const std::filesystem::path& state_dir,
                                                                             std::string_view serial_number) {
  const auto tls_directory = state_dir / k_tls_directory_name;
  DeviceCertificatePaths paths;
  paths.certificate = tls_directory / k_device_certificate_file_name;
  paths.key = tls_directory / k_device_key_file_name;
  const bool have_key = entry_exists(paths.key);
  const bool have_certificate = entry_exists(paths.certificate);
  if (have_key && have_certificate) return check_existing(std::move(paths));
  if (!have_key && !have_certificate) return generate(state_dir, serial_number, std::move(paths));
  const auto& present = have_key ? paths.key : paths.certificate;
  const auto& missing = have_key ? paths.certificate : paths.key;
  return proto::unexpected(present.string() + " exists but " + missing.string() +
                           " does not: a certificate and its key are installed together. Install the missing "
                           "file, or move " +
                           present.string() + " away to let meterd generate a new pair");
}

}  // namespace sec
