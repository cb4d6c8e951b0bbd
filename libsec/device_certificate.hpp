#pragma once
// The device certificate of meterd's TLS ports: generated on first start (ECDSA P-256,
// self-signed, naming the meter's serial number), or installed by an operator.
//
// Files, in <state_dir>/tls/:
//   device-key.pem   the private key, PKCS#8 PEM, unencrypted, mode 0600
//   device-cert.pem  the certificate (an installed one may be followed by its chain), 0600
// Both exist or neither does; exactly one of them is an error, never a reason to generate
// a new key over an operator's file.

#include <filesystem>
#include <string>
#include <string_view>

#include "libproto/result.hpp"

namespace sec {

inline constexpr const char* k_tls_directory_name = "tls";
inline constexpr const char* k_device_key_file_name = "device-key.pem";
inline constexpr const char* k_device_certificate_file_name = "device-cert.pem";

// What a generated certificate says.
inline constexpr const char* k_device_certificate_organization = "meterd";
// Clients reach a meter by many names; they verify it by pin (fingerprint.hpp), so the
// names in a generated certificate only serve --ca-file users who trust it directly.
inline constexpr const char* k_device_certificate_subject_alt_name = "DNS:localhost,IP:127.0.0.1";
// Ten years: a meter's service life between commissioning and a planned replacement. A
// self-signed certificate is trusted by its key, so a long validity costs nothing there.
inline constexpr long k_device_certificate_validity_days = 3650;
// RFC 5280 section 4.1.2.2: a positive serial of at most 20 octets; 16 random octets with
// the top bit cleared give 127 bits of entropy (the CA/Browser Forum asks for 64).
inline constexpr int k_device_certificate_serial_bytes = 16;
// RFC 5280 Appendix A, ub-common-name: a common name is at most 64 characters.
inline constexpr std::size_t k_max_serial_number_length = 64;

struct DeviceCertificatePaths {
  std::filesystem::path certificate;  // <state_dir>/tls/device-cert.pem
  std::filesystem::path key;          // <state_dir>/tls/device-key.pem
  // public_key_fingerprint of the certificate: meterd logs it so an operator can compare it
  // with what meterctl shows on first contact.
  std::string fingerprint;
  bool generated = false;  // true when this call created both files
};

// Makes sure <state_dir>/tls holds a usable certificate and key, and returns their paths.
//
// - Neither file exists: generates an ECDSA P-256 key and a self-signed certificate
//   (CN = serial_number, O = meterd, subjectAltName DNS:localhost, IP:127.0.0.1, key usage
//   digitalSignature, extended key usage serverAuth, random serial, valid for ten years).
//   Both files are written into a staging directory and moved into place with one rename,
//   so a crash during generation leaves no half pair behind.
// - Both exist: loads and checks them: the key is unencrypted and matches the certificate,
//   the certificate is valid now, and the key file is not readable by other users (mode
//   0600, or 0640 for a group such as Debian's ssl-cert). Errors say what to do.
// - One exists: an error naming both files.
//
// serial_number must be 1-64 characters of letters, digits, '-', '_' and '.'; it is only
// used when generating.
proto::Result<DeviceCertificatePaths, std::string> ensure_device_certificate(const std::filesystem::path& state_dir,
                                                                             std::string_view serial_number);

}  // namespace sec
