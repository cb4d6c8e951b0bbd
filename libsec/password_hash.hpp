#pragma once
// Password storage for meter user accounts: scrypt (RFC 7914) through OpenSSL 3's
// EVP_KDF "SCRYPT", stored as PHC strings (PHC string format specification,
// github.com/P-H-C/phc-string-format):
//
//   $scrypt$ln=17,r=8,p=1$<salt>$<hash>
//
// ln is log2 of scrypt's cost N; salt and hash are unpadded standard Base64 (the spec's
// "B64"). This is the layout passlib and other PHC libraries write for scrypt, so a
// store can be moved between them.
//
// Nothing here does I/O. Every function may be called from several threads at once:
// none keeps state between calls, and each derivation has its own OpenSSL context.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "libproto/result.hpp"

namespace sec {

// scrypt's three costs. N = 2^log2_n is the CPU/memory cost, r the block size, p the
// parallelization; memory is about 128 * r * N bytes (see scrypt_memory_bytes).
struct ScryptParams {
  std::uint8_t log2_n = 17;
  std::uint32_t r = 8;
  std::uint32_t p = 1;
  friend bool operator==(const ScryptParams&, const ScryptParams&) = default;
};

// OWASP Password Storage Cheat Sheet, "scrypt": "a minimum CPU/memory cost parameter of
// (2^17), a minimum block size of 8 (1024 bytes), and a parallelization parameter of 1".
// 128 MiB and some hundreds of milliseconds per hash on one core (scripts/bench-login).
inline constexpr ScryptParams k_default_scrypt{17, 8, 1};
// A cheap setting (4 MiB, about 1/32 of the default's time) for large virtual fleets,
// where thousands of simulated meters each hash their users' passwords. Below the OWASP
// minimum: use it only where the meter's configuration asks for it, never as a fallback.
inline constexpr ScryptParams k_fleet_scrypt{12, 8, 1};
// NIST SP 800-132 section 5.1 asks for at least 128 bits of random salt; the PHC string
// format specification recommends 16 bytes too.
inline constexpr std::size_t k_salt_bytes = 16;
// PHC string format specification, "Function Duties": "a default output size of 256
// bits (32 bytes, encoded as 43 characters) is recommended".
inline constexpr std::size_t k_hash_bytes = 32;

// True when the parameters are at least as strong as one of OWASP's equal-strength
// scrypt variants (Password Storage Cheat Sheet, "scrypt"): (N=2^17, r=8, p=1),
// (2^16, 8, 2), (2^15, 8, 3), (2^14, 8, 5), (2^13, 8, 10). That is: r >= 8, and for some
// variant both log2_n and p reach the variant's.
bool meets_owasp_minimum(ScryptParams params);

// The bytes OpenSSL's scrypt allocates for these parameters: 128 * r * (N + 2) for the
// ROMix table (N blocks plus two of scratch) and 128 * r * p for the p input blocks.
// Passed as EVP_KDF's maxmem, so that OpenSSL's 32 MiB default does not refuse N=2^17;
// then the only memory cap is the one params_in_bounds() enforces. Saturates rather than
// overflows for parameters far out of bounds.
std::uint64_t scrypt_memory_bytes(ScryptParams params);

// The parameters we accept anywhere, parsing and hashing alike:
//   - log2_n 1..20: RFC 7914 section 2 needs N > 1; 2^20 is the RFC's own largest example
//     (and 1 GiB at r=8, so the memory cap below refuses it at r=8 anyway).
//   - r 1..32 and p 1..16: four times and sixteen times OWASP's values, room for tuning
//     without letting a stored string ask for absurd work.
//   - log2_n < 16 * r: RFC 7914 section 2, "N ... less than 2^(128 * r / 8)"; OpenSSL
//     refuses anything else, so only r = 1 with log2_n >= 16 is affected.
//   - scrypt_memory_bytes <= 1 GiB: a stored string, read from a file, must not be able to
//     make one login allocate more than that.
// Outside them: PhcError::bad_parameters when parsing, HashError::bad_parameters when
// hashing.
bool params_in_bounds(ScryptParams params);

// One line for logs and tools: "scrypt N=2^17 r=8 p=1 (128 MiB)". The memory is
// scrypt_memory_bytes() rounded to the nearest MiB, or to whole KiB below 1 MiB.
std::string describe(ScryptParams params);

// Why a PHC string was refused. Values start at 1 so that 0 stays "no error" in
// std::error_code.
enum class PhcError {
  // Not a PHC string of the shape $scrypt$ln=..,r=..,p=..$salt$hash: longer than
  // k_max_phc_length, a field missing or extra, parameters missing, misnamed, out of order
  // or not plain decimal (leading zeros, signs, spaces).
  malformed = 1,
  // A well-formed PHC algorithm identifier other than "scrypt" (argon2id, bcrypt, ...).
  unsupported_algorithm,
  // Well-formed decimal parameters outside params_in_bounds().
  bad_parameters,
  // The salt is not canonical unpadded Base64, or decodes to fewer than k_min_salt_bytes
  // or more than k_max_salt_bytes.
  bad_salt,
  // The hash is not canonical unpadded Base64, or decodes to fewer than k_min_hash_bytes
  // or more than k_max_hash_bytes.
  bad_hash,
};

// A sentence saying what is wrong. Never echoes the input, which may be a secret.
std::string_view to_string(PhcError error);
const std::error_category& phc_category();
std::error_code make_error_code(PhcError error);

// The PHC string format specification leaves these ranges to each function ("Function
// Duties"); its Argon2 section takes salts of 8 to 48 bytes and outputs of 12 to 64. We
// take the same floor for salts and allow up to 64 bytes, as some libraries store a whole
// hash block as salt; for outputs we ask for at least 128 bits (the spec: "SHOULD NOT
// allow outputs of less than 80 bits"), so a stored hash is not easy to collide with.
inline constexpr std::size_t k_min_salt_bytes = 8;
inline constexpr std::size_t k_max_salt_bytes = 64;
inline constexpr std::size_t k_min_hash_bytes = 16;
inline constexpr std::size_t k_max_hash_bytes = 64;
// The longest string parse_phc() reads: the longest valid one is 8 ("$scrypt$") + 15
// ("ln=20,r=32,p=16") + 1 + 86 + 1 + 86 = 197 characters; 256 leaves a margin and bounds
// the work spent on anything else.
inline constexpr std::size_t k_max_phc_length = 256;

// A parsed PHC string.
struct PhcHash {
  ScryptParams params;
  std::vector<std::uint8_t> salt;
  std::vector<std::uint8_t> hash;
};

// Parses `text` strictly: the layout above, parameters in exactly the order ln, r, p,
// decimal without leading zeros or signs, salt of 8..64 and hash of 16..64 bytes, canonical
// Base64 (no padding, no non-zero bits after the last byte), at most k_max_phc_length
// characters. So every accepted string is the one format_phc() writes for its value.
// Never throws, and reads no length from the input without checking it first.
proto::Result<PhcHash, PhcError> parse_phc(std::string_view text);

// The PHC string of `hash`. Writes whatever it is given: a value parse_phc() would refuse
// (parameters out of bounds, a salt too short) gives a string parse_phc() refuses too.
std::string format_phc(const PhcHash& hash);

// Why hashing failed. Values start at 1 so that 0 stays "no error" in std::error_code.
enum class HashError {
  // OpenSSL failed: the SCRYPT KDF could not be fetched (a provider configuration
  // without it), RAND_bytes failed, or the derivation itself failed (out of memory).
  // OpenSSL's error queue is cleared, so the failure does not leak into later calls.
  crypto_failure = 1,
  // The parameters are outside params_in_bounds(), or the output length requested from
  // scrypt_derive() is 0 or more than k_max_derived_bytes.
  bad_parameters,
};

std::string_view to_string(HashError error);
const std::error_category& hash_category();
std::error_code make_error_code(HashError error);

// The longest output scrypt_derive() produces. RFC 7914 allows far more, but nothing
// here stores more than k_max_hash_bytes, and a cap keeps a careless caller from asking
// for megabytes of PBKDF2 output.
inline constexpr std::size_t k_max_derived_bytes = 1024;

// Raw scrypt: `length` bytes of scrypt(password, salt, N, r, p). For the RFC 7914
// known-answer tests and for hash_password(); any salt, including an empty one, is
// accepted here (the PHC length rules apply to stored strings).
proto::Result<std::vector<std::uint8_t>, HashError> scrypt_derive(std::string_view password,
                                                                   std::span<const std::uint8_t> salt,
                                                                   ScryptParams params, std::size_t length);

// A new PHC string for `password`: k_salt_bytes random salt bytes from RAND_bytes and a
// k_hash_bytes hash. Takes as long and as much memory as one scrypt with `params`.
//
// The password is bytes, taken as given (no normalization). scrypt keys HMAC-SHA256 with
// it (RFC 7914 section 5, PBKDF2), so it inherits HMAC's key equivalences: a password and
// the same password followed by NUL bytes hash alike up to 64 bytes, and a password of
// more than 64 bytes hashes like its SHA-256. Neither is reachable through the password
// policy (libsec/password_policy.hpp: printable ASCII only, at most 16 characters); a
// caller that skips the policy must keep NULs out itself.
proto::Result<std::string, HashError> hash_password(std::string_view password, ScryptParams params);

// Whether `password` matches the stored PHC string `phc`. The hashes are compared with
// CRYPTO_memcmp. False for a wrong password, and also for a string parse_phc() refuses
// or a derivation that fails; a store that wants to tell these apart calls parse_phc()
// first. A refused string costs no scrypt, so a store must not hold any: it checks
// each string when it loads it.
bool verify_password(std::string_view password, std::string_view phc);

// Whether a stored hash should be replaced on the next successful login: its parameters
// differ from `wanted` (stronger ones too, so lowering the cost in the configuration
// takes effect), or its salt or hash is not the size hash_password() writes, or it does
// not parse at all.
bool needs_rehash(std::string_view phc, ScryptParams wanted);

// A PHC string with the given parameters, a random salt and a random hash, for verifying
// the password of an unknown user name at the same cost as a real one, so that neither
// the answer nor its timing tells which user names exist. Nobody knows a password for it:
// finding one means inverting scrypt. Costs no scrypt itself (only RAND_bytes), is
// thread-safe, and a new string each call. If the random generator fails it returns a
// fixed salt and hash of zeros, which cost the same to verify and are just as unknown.
// For parameters outside params_in_bounds() the string is one verify_password() refuses
// at no cost; hash_password() refuses those parameters too, so there is no real user
// whose cost it would have to match.
std::string unknown_user_hash(ScryptParams params);

}  // namespace sec

template <>
struct std::is_error_code_enum<sec::PhcError> : std::true_type {};
template <>
struct std::is_error_code_enum<sec::HashError> : std::true_type {};
