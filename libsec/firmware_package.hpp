#pragma once
// Signed firmware packages (.upg), specified in man/meter-firmware-package.5.scd: the
// byte layout, the manifest, the signature scheme and the limits live there, and the
// constants below cite it. Pure code over byte spans: no file, socket or clock. The
// caller reads the file (in chunks, if it likes: PackageVerifier) and says what today is.
//
//   offset  size  field
//   0       4     magic "MUPG"
//   4       1     format version (1)
//   5       3     reserved, zero
//   8       4     manifest length M, unsigned big-endian, 1..k_max_manifest_bytes
//   12      M     manifest: canonical JSON (FirmwareManifest)
//   12+M    8     payload length P, unsigned big-endian, 1..k_max_payload_bytes, equal to
//                 the manifest's payload_length
//   20+M    P     payload: the meterd executable for the target
//   20+M+P  64    Ed25519 signature of k_signature_domain || SHA-512(bytes 0 .. 20+M+P)
//
// Nothing may follow the signature. Every accepted package has exactly one encoding:
// decode then encode gives back the same bytes (the fuzz target holds us to it).

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "libproto/model/version.hpp"
#include "libproto/result.hpp"
#include "libsec/signing_key.hpp"

namespace sec {

// meter-firmware-package(5), LAYOUT.
inline constexpr std::array<std::byte, 4> k_package_magic = {std::byte{'M'}, std::byte{'U'}, std::byte{'P'},
                                                             std::byte{'G'}};
inline constexpr std::uint8_t k_package_format_version = 1;
inline constexpr std::size_t k_package_reserved_bytes = 3;
inline constexpr std::size_t k_package_header_bytes = 4 + 1 + k_package_reserved_bytes + 4;
inline constexpr std::size_t k_payload_length_bytes = 8;
inline constexpr std::size_t k_package_signature_bytes = k_ed25519_signature_bytes;

// meter-firmware-package(5), LIMITS. A manifest is a few hundred bytes; 64 KiB leaves room
// for long feature lists without letting a length field make a meter allocate much.
inline constexpr std::size_t k_max_manifest_bytes = 64 * 1024;
// meterd built with sanitizers is about 60 MiB; 256 MiB bounds what a meter must be
// ready to write into a slot and hash.
inline constexpr std::uint64_t k_max_payload_bytes = 256ULL * 1024 * 1024;
inline constexpr std::size_t k_max_features = 64;
inline constexpr std::size_t k_max_feature_name_length = 64;
inline constexpr std::size_t k_max_model_name_length = 64;

// meter-firmware-package(5), SIGNATURE: what precedes the SHA-512 digest in the signed
// message, the terminating zero byte included. It ties a signature to this format and
// version, so a signature the same key makes over anything else (another format, a later
// version of this one) never verifies as a package signature.
inline constexpr std::string_view k_signature_domain{"meter-firmware-package/1 ed25519 sha512", 40};

// Why a package was refused. The values are stable (they travel as std::error_code).
enum class PackageError {
  // The input ended before the structure did: inside the header, the manifest, the
  // payload length, the payload or the signature.
  truncated = 1,
  // The first four bytes are not "MUPG": not a firmware package.
  bad_magic,
  // A format version other than k_package_format_version: a newer meterctl may read it.
  unsupported_format_version,
  // A reserved header byte is not zero. Reserved for later versions of the format, which
  // will change the version byte; a reader of this version accepts only zeros.
  reserved_not_zero,
  // The manifest length is 0 or above k_max_manifest_bytes. Nothing was allocated.
  manifest_length_out_of_range,
  // The manifest is not a JSON object.
  manifest_not_json,
  // The manifest is valid, but not in its canonical form (whitespace, key order,
  // escapes, duplicate keys): two encodings of one manifest would give one package two
  // hashes.
  manifest_not_canonical,
  // The manifest has a key this format version does not define. Refused rather than
  // ignored: a key that restricts where a package may be installed must never be
  // silently dropped by an older reader.
  manifest_unknown_key,
  // A required manifest key is missing.
  manifest_missing_key,
  // A manifest value has the wrong type or form: a date that is no calendar date, an
  // expiry not after the release, a version not in its canonical form, a payload length
  // of 0 or above the limit, a hash or key id that is not lowercase hex, a feature or
  // model name with characters outside the allowed set or above its limits.
  manifest_bad_value,
  // firmware_version_vendor (V004.006.000) and firmware_version (4.6.0) name two versions.
  version_mismatch,
  // The payload length field is above k_max_payload_bytes.
  payload_too_large,
  // The payload length field differs from the manifest's payload_length, or (encoding)
  // the payload given differs in length from the manifest's.
  payload_length_mismatch,
  // The payload's SHA-256 differs from the manifest's payload_sha256.
  payload_hash_mismatch,
  // Bytes follow the signature.
  trailing_bytes,
  // No key offered for verification has the manifest's key_id.
  unknown_key,
  // The signature does not verify with the key the manifest names: the package was
  // changed after signing, or signed by another key with a colliding id.
  bad_signature,
  // check_package_acceptance: the manifest's model is not one this meterctl knows.
  unknown_model,
  // check_package_acceptance: today is after the manifest's expiry date.
  expired,
  // check_package_acceptance: the manifest asks for a newer meterctl than the one running.
  requires_newer_meterctl,
  // OpenSSL failed (out of memory, digest unavailable) or signing failed.
  crypto_failure,
};

// snake_case, as the enumerator.
std::string_view to_string(PackageError error);
const std::error_category& package_category();
std::error_code make_error_code(PackageError error);

// The error and a message for people that names what was found (offsets, values).
struct PackageFailure {
  PackageError error = PackageError::crypto_failure;
  std::string message;
};

template <typename T>
using PackageResult = proto::Result<T, PackageFailure>;

using Date = std::chrono::year_month_day;

// YYYY-MM-DD, a real calendar date (no 2023-02-29), year 1970..9999.
std::optional<Date> parse_date(std::string_view text);
std::string format_date(const Date& date);
// The same day `years` later; 29 February becomes 28 February in a common year.
Date add_years(const Date& date, int years);

struct FirmwareManifest {
  std::string model;                           // "ION7400", as the device model names it
  proto::model::Version firmware_version;      // written as 4.6.0 and as V004.006.000
  proto::model::Version min_meterctl_version;  // the oldest meterctl that may install it
  Date released{};
  Date expires{};                     // the last day the package may be installed
  std::vector<std::string> features;  // the features this version brings, model order
  std::string key_id;                 // signing_key_id of the signing key
  std::uint64_t payload_length = 0;
  std::array<std::byte, 32> payload_sha256{};

  friend bool operator==(const FirmwareManifest&, const FirmwareManifest&) = default;
};

// Every rule a manifest must meet, except that its key_id and payload fields match a key
// and a payload (the verifier checks those).
PackageResult<proto::Ok> validate_manifest(const FirmwareManifest& manifest);
// The canonical JSON of a valid manifest; invalid manifests are refused.
PackageResult<std::string> encode_manifest(const FirmwareManifest& manifest);
// Strict: unknown and missing keys, bad values and non-canonical text are errors.
PackageResult<FirmwareManifest> decode_manifest(std::string_view text);

// The structure of a package, neither hash nor signature checked.
struct DecodedPackage {
  FirmwareManifest manifest;
  std::span<const std::byte> payload;  // points into the decoded input
  Ed25519Signature signature{};
};

// Structure only: see the layout above. Never reads outside `package`, never trusts a
// length before comparing it with its limit and with the bytes present.
PackageResult<DecodedPackage> decode_firmware_package(std::span<const std::byte> package);

// The bytes of a package with a signature made elsewhere (the inverse of decode). The
// payload's length must equal the manifest's; the hash is not checked.
PackageResult<std::vector<std::byte>> encode_firmware_package(const FirmwareManifest& manifest,
                                                              std::span<const std::byte> payload,
                                                              const Ed25519Signature& signature);

// A complete signed package: sets the manifest's key_id, payload_length and
// payload_sha256 from `private_key` and `payload`, and signs.
PackageResult<std::vector<std::byte>> sign_firmware_package(FirmwareManifest manifest,
                                                            std::span<const std::byte> payload, EVP_PKEY* private_key);

struct VerifiedPackage {
  FirmwareManifest manifest;
  std::string key_source;  // the SigningPublicKey::source that verified it
  std::uint64_t package_length = 0;
  std::uint64_t payload_offset = 0;
};

// Verifies a package as it streams past, holding only the header, the manifest and the
// signature, never the payload: a meter receiving a 16 MiB package checks it while
// writing it to its inactive slot. That is why the signature covers a SHA-512 digest
// rather than the package itself: pure Ed25519 (RFC 8032 5.1.7) hashes R and the public
// key before the message, and OpenSSL 3.0 takes the message in one call, so signing the
// raw package would need it whole in memory. The domain string in front of the digest
// keeps this prehash from meaning anything outside this format.
//
// Feed the package in chunks of any size to update(), then call finish(). The first
// error is final: every later call returns it.
class PackageVerifier {
 public:
  PackageVerifier();
  PackageVerifier(const PackageVerifier&) = delete;
  PackageVerifier& operator=(const PackageVerifier&) = delete;
  PackageVerifier(PackageVerifier&&) = default;
  PackageVerifier& operator=(PackageVerifier&&) = default;
  ~PackageVerifier();

  PackageResult<proto::Ok> update(std::span<const std::byte> bytes);

  // The manifest once its bytes went through update(). Not yet authenticated: use it to
  // pick a key, or to refuse early (a wrong model), never to trust anything.
  const FirmwareManifest* unverified_manifest() const { return manifest_ ? &*manifest_ : nullptr; }
  // Where the payload starts, once the manifest is known.
  std::optional<std::uint64_t> payload_offset() const;

  // Checks that the package is complete, the payload hash, and the signature with the key
  // of `keys` whose id is the manifest's key_id.
  PackageResult<VerifiedPackage> finish(std::span<const SigningPublicKey> keys);

 private:
  enum class Stage { header, manifest, payload_length, payload, signature, complete };

  PackageResult<proto::Ok> fail(PackageError error, std::string message);
  PackageResult<proto::Ok> complete_stage();

  Stage stage_ = Stage::header;
  std::string pending_;  // the part of the current fixed-size field read so far
  std::size_t wanted_ = k_package_header_bytes;
  std::uint64_t payload_remaining_ = 0;
  std::uint64_t consumed_ = 0;
  std::size_t manifest_length_ = 0;
  std::optional<FirmwareManifest> manifest_;
  Ed25519Signature signature_{};
  std::optional<PackageFailure> failure_;
  DigestContextHandle signed_digest_;   // SHA-512 of everything before the signature
  DigestContextHandle payload_digest_;  // SHA-256 of the payload
};

// verify in one call, for a package already in memory.
PackageResult<VerifiedPackage> verify_firmware_package(std::span<const std::byte> package,
                                                       std::span<const SigningPublicKey> keys);

// What a verified package must also meet to be installable here and now.
struct AcceptancePolicy {
  std::vector<std::string> known_models;  // exact names
  Date today{};
  proto::model::Version running_meterctl_version;
};

// unknown_model, requires_newer_meterctl (the message names both versions) or expired.
PackageResult<proto::Ok> check_package_acceptance(const FirmwareManifest& manifest, const AcceptancePolicy& policy);

// Lowercase hex of SHA-256 of `bytes`; empty only if OpenSSL fails.
std::string sha256_hex(std::span<const std::byte> bytes);

// One line of sha256sum(1) output for a file named `file_name` (no directory) with the
// given lowercase hex digest: "HEX  NAME\n", with GNU coreutils' escaping of a name
// holding a backslash or a line break.
std::string sha256sum_line(std::string_view hex_digest, std::string_view file_name);

}  // namespace sec

template <>
struct std::is_error_code_enum<sec::PackageError> : std::true_type {};
