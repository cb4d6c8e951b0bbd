#include "libsec/password_hash.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <limits>
#include <memory>
#include <optional>

#include "libsec/openssl_handles.hpp"

namespace sec {

using proto::Result;
using proto::unexpected;

namespace {

using KdfHandle = std::unique_ptr<EVP_KDF, OpensslDeleter<EVP_KDF_free>>;
using KdfContextHandle = std::unique_ptr<EVP_KDF_CTX, OpensslDeleter<EVP_KDF_CTX_free>>;

constexpr std::string_view k_algorithm = "scrypt";
// PHC string format specification: an identifier "MUST NOT exceed 32 characters".
constexpr std::size_t k_max_identifier_length = 32;

// OWASP Password Storage Cheat Sheet, "scrypt": five configurations of equal strength,
// all with r = 8; each trades memory (N) for CPU (p).
struct OwaspVariant {
  std::uint8_t log2_n;
  std::uint32_t p;
};
constexpr std::uint32_t k_owasp_block_size = 8;
constexpr std::array<OwaspVariant, 5> k_owasp_variants{{{17, 1}, {16, 2}, {15, 3}, {14, 5}, {13, 10}}};

// The bounds documented at params_in_bounds() in the header.
constexpr std::uint8_t k_min_log2_n = 1;
constexpr std::uint8_t k_max_log2_n = 20;
constexpr std::uint32_t k_max_block_size = 32;
constexpr std::uint32_t k_max_parallelization = 16;
constexpr std::uint64_t k_max_memory_bytes = std::uint64_t{1} << 30;
// RFC 7914 section 2: N < 2^(128 * r / 8), that is log2_n < 16 * r.
constexpr std::uint32_t k_log2_n_limit_per_block = 16;

// A parameter value is at most this many digits. Every accepted value has at most two;
// the cap only keeps the arithmetic of a long run of digits from overflowing, and a
// longer number is still well-formed decimal, so it is refused as out of bounds.
constexpr std::size_t k_max_decimal_digits = 10;

constexpr std::uint64_t k_kib = 1024;
constexpr std::uint64_t k_mib = 1024 * 1024;

// RFC 4648 section 4, the alphabet the PHC specification's B64 uses.
constexpr std::string_view k_base64_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::uint64_t saturating_multiply(std::uint64_t a, std::uint64_t b) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return std::numeric_limits<std::uint64_t>::max();
  return a * b;
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  if (b > std::numeric_limits<std::uint64_t>::max() - a) return std::numeric_limits<std::uint64_t>::max();
  return a + b;
}

// Wipes a buffer of derived bytes however the function that holds it returns.
class WipeOnExit {
 public:
  explicit WipeOnExit(std::vector<std::uint8_t>& bytes) : bytes_(bytes) {}
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;
  ~WipeOnExit() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

 private:
  std::vector<std::uint8_t>& bytes_;
};

// A failed OpenSSL call leaves reasons on this thread's error queue. HashError carries no
// detail, so the queue is emptied here rather than reported later against some
// unrelated call.
Result<std::vector<std::uint8_t>, HashError> crypto_failure() {
  ERR_clear_error();
  return unexpected(HashError::crypto_failure);
}

// The data pointer of an OSSL_PARAM octet string. OSSL_PARAM holds non-const pointers,
// but the KDF only copies the password and salt out of them. An empty one gets a pointer
// to a real byte: a null pointer means "no value" to OSSL_PARAM, not "empty".
void* octets(const void* data, std::size_t size) {
  static const std::uint8_t k_empty = 0;
  return const_cast<void*>(size == 0 ? static_cast<const void*>(&k_empty) : data);
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// PHC string format specification, "B64": standard Base64 without padding.
std::string encode_base64(std::span<const std::uint8_t> bytes) {
  std::string text;
  text.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t group = (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    text += k_base64_alphabet[(group >> 18) & 0x3F];
    text += k_base64_alphabet[(group >> 12) & 0x3F];
    text += k_base64_alphabet[(group >> 6) & 0x3F];
    text += k_base64_alphabet[group & 0x3F];
  }
  const std::size_t left = bytes.size() - i;
  if (left == 0) return text;
  std::uint32_t group = std::uint32_t{bytes[i]} << 16;
  if (left == 2) group |= std::uint32_t{bytes[i + 1]} << 8;
  text += k_base64_alphabet[(group >> 18) & 0x3F];
  text += k_base64_alphabet[(group >> 12) & 0x3F];
  if (left == 2) text += k_base64_alphabet[(group >> 6) & 0x3F];
  return text;
}

// The inverse of encode_base64, and only of it: no padding, no whitespace, no length of
// 1 modulo 4, and the bits after the last whole byte must be zero (the specification lets
// consumers reject them; accepting them would give one value several spellings).
std::optional<std::vector<std::uint8_t>> decode_base64(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::vector<std::uint8_t> bytes;
  bytes.reserve(text.size() * 3 / 4);
  std::uint32_t pending = 0;
  int pending_bits = 0;
  for (const char c : text) {
    const int value = base64_value(c);
    if (value < 0) return std::nullopt;
    pending = (pending << 6) | static_cast<std::uint32_t>(value);
    pending_bits += 6;
    if (pending_bits >= 8) {
      pending_bits -= 8;
      bytes.push_back(static_cast<std::uint8_t>(pending >> pending_bits));
      pending &= (std::uint32_t{1} << pending_bits) - 1;
    }
  }
  if (pending != 0) return std::nullopt;
  return bytes;
}

// PHC string format specification: identifiers are [a-z0-9-], at most 32 characters.
bool well_formed_identifier(std::string_view identifier) {
  if (identifier.empty() || identifier.size() > k_max_identifier_length) return false;
  for (const char c : identifier) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

// PHC string format specification, "Decimal Encoding", without the minus sign (no scrypt
// parameter is negative): "0", or digits not starting with 0. A value of more than
// k_max_decimal_digits digits comes back as the largest uint64, which no bound accepts.
std::optional<std::uint64_t> parse_decimal(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (text.size() > 1 && text.front() == '0') return std::nullopt;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  if (text.size() > k_max_decimal_digits) return std::numeric_limits<std::uint64_t>::max();
  std::uint64_t value = 0;
  for (const char c : text) value = value * 10 + static_cast<std::uint64_t>(c - '0');
  return value;
}

// One "name=value" of the parameter list, which must have the expected name.
std::optional<std::uint64_t> parse_named_decimal(std::string_view field, std::string_view name) {
  if (!field.starts_with(name) || field.size() == name.size() || field[name.size()] != '=') return std::nullopt;
  return parse_decimal(field.substr(name.size() + 1));
}

// "ln=<log2 N>,r=<r>,p=<p>", in exactly that order: the deterministic encoding the PHC
// specification asks producers for, so that one value has one spelling.
Result<ScryptParams, PhcError> parse_params(std::string_view field) {
  constexpr std::array<std::string_view, 3> k_names{"ln", "r", "p"};
  std::array<std::uint64_t, 3> values{};
  for (std::size_t i = 0; i < k_names.size(); ++i) {
    const std::size_t comma = field.find(',');
    const bool last = i + 1 == k_names.size();
    // Exactly two commas: the last value runs to the end of the field.
    if (last != (comma == std::string_view::npos)) return unexpected(PhcError::malformed);
    const auto value = parse_named_decimal(field.substr(0, comma), k_names[i]);
    if (!value) return unexpected(PhcError::malformed);
    values[i] = *value;
    if (!last) field.remove_prefix(comma + 1);
  }
  const auto [log2_n, r, p] = values;
  if (log2_n > k_max_log2_n || r > k_max_block_size || p > k_max_parallelization) {
    return unexpected(PhcError::bad_parameters);
  }
  const ScryptParams params{static_cast<std::uint8_t>(log2_n), static_cast<std::uint32_t>(r),
                            static_cast<std::uint32_t>(p)};
  if (!params_in_bounds(params)) return unexpected(PhcError::bad_parameters);
  return params;
}

class PhcCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sec-phc"; }
  std::string message(int value) const override { return std::string(to_string(static_cast<PhcError>(value))); }
};

class HashCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sec-password-hash"; }
  std::string message(int value) const override { return std::string(to_string(static_cast<HashError>(value))); }
};

}  // namespace

bool meets_owasp_minimum(ScryptParams params) {
  if (params.r < k_owasp_block_size) return false;
  for (const OwaspVariant& variant : k_owasp_variants) {
    if (params.log2_n >= variant.log2_n && params.p >= variant.p) return true;
  }
  return false;
}

std::uint64_t scrypt_memory_bytes(ScryptParams params) {
  // OpenSSL's scrypt (crypto/evp/pbe_scrypt.c, and the SCRYPT provider in 3.x) allocates
  // B of p * 128 * r bytes and V of 32 * r * (N + 2) 32-bit words, and refuses to run
  // when B + V exceeds maxmem.
  constexpr std::uint64_t k_block_unit = 128;
  const std::uint64_t n_plus_scratch = params.log2_n >= 63 ? std::numeric_limits<std::uint64_t>::max()
                                                           : (std::uint64_t{1} << params.log2_n) + 2;
  const std::uint64_t block_bytes = saturating_multiply(k_block_unit, params.r);
  const std::uint64_t table_bytes = saturating_multiply(block_bytes, n_plus_scratch);
  const std::uint64_t input_bytes = saturating_multiply(block_bytes, params.p);
  return saturating_add(table_bytes, input_bytes);
}

bool params_in_bounds(ScryptParams params) {
  if (params.log2_n < k_min_log2_n || params.log2_n > k_max_log2_n) return false;
  if (params.r < 1 || params.r > k_max_block_size) return false;
  if (params.p < 1 || params.p > k_max_parallelization) return false;
  if (params.log2_n >= k_log2_n_limit_per_block * params.r) return false;
  return scrypt_memory_bytes(params) <= k_max_memory_bytes;
}

std::string describe(ScryptParams params) {
  const std::uint64_t bytes = scrypt_memory_bytes(params);
  std::string memory;
  if (bytes >= k_mib) {
    memory = std::to_string(bytes / k_mib + (bytes % k_mib >= k_mib / 2 ? 1 : 0)) + " MiB";
  } else {
    memory = std::to_string(bytes / k_kib + (bytes % k_kib != 0 ? 1 : 0)) + " KiB";
  }
  std::string text = "scrypt N=2^";
  text.append(std::to_string(params.log2_n));
  text.append(" r=").append(std::to_string(params.r));
  text.append(" p=").append(std::to_string(params.p));
  text.append(" (").append(memory).append(")");
  return text;
}

std::string_view to_string(PhcError error) {
  switch (error) {
    case PhcError::malformed:
      return "the stored password hash is not a PHC string of the form $scrypt$ln=N,r=R,p=P$salt$hash";
    case PhcError::unsupported_algorithm:
      return "the stored password hash uses an algorithm other than scrypt";
    case PhcError::bad_parameters:
      return "the stored password hash has scrypt parameters outside the accepted bounds";
    case PhcError::bad_salt:
      return "the salt of the stored password hash is not canonical unpadded Base64 of 8 to 64 bytes";
    case PhcError::bad_hash:
      return "the hash of the stored password hash is not canonical unpadded Base64 of 16 to 64 bytes";
  }
  return "unknown PHC string error";
}

const std::error_category& phc_category() {
  static const PhcCategory category;
  return category;
}

std::error_code make_error_code(PhcError error) { return {static_cast<int>(error), phc_category()}; }

std::string_view to_string(HashError error) {
  switch (error) {
    case HashError::crypto_failure: return "OpenSSL could not compute scrypt or draw random bytes";
    case HashError::bad_parameters: return "scrypt parameters or output length outside the accepted bounds";
  }
  return "unknown password hashing error";
}

const std::error_category& hash_category() {
  static const HashCategory category;
  return category;
}

std::error_code make_error_code(HashError error) { return {static_cast<int>(error), hash_category()}; }

Result<PhcHash, PhcError> parse_phc(std::string_view text) {
  if (text.size() > k_max_phc_length) return unexpected(PhcError::malformed);
  if (!text.starts_with('$')) return unexpected(PhcError::malformed);
  text.remove_prefix(1);

  const std::size_t identifier_end = text.find('$');
  const std::string_view identifier = text.substr(0, identifier_end);
  if (!well_formed_identifier(identifier)) return unexpected(PhcError::malformed);
  if (identifier != k_algorithm) return unexpected(PhcError::unsupported_algorithm);
  if (identifier_end == std::string_view::npos) return unexpected(PhcError::malformed);
  text.remove_prefix(identifier_end + 1);

  // Exactly three fields after the identifier: parameters, salt, hash. The PHC format
  // also allows a string without hash (or salt), but a store has no use for one.
  const std::size_t params_end = text.find('$');
  if (params_end == std::string_view::npos) return unexpected(PhcError::malformed);
  const std::size_t salt_end = text.find('$', params_end + 1);
  if (salt_end == std::string_view::npos) return unexpected(PhcError::malformed);
  if (text.find('$', salt_end + 1) != std::string_view::npos) return unexpected(PhcError::malformed);
  const std::string_view params_field = text.substr(0, params_end);
  const std::string_view salt_field = text.substr(params_end + 1, salt_end - params_end - 1);
  const std::string_view hash_field = text.substr(salt_end + 1);

  auto params = parse_params(params_field);
  if (!params) return unexpected(params.error());

  auto salt = decode_base64(salt_field);
  if (!salt || salt->size() < k_min_salt_bytes || salt->size() > k_max_salt_bytes) {
    return unexpected(PhcError::bad_salt);
  }
  auto hash = decode_base64(hash_field);
  if (!hash || hash->size() < k_min_hash_bytes || hash->size() > k_max_hash_bytes) {
    return unexpected(PhcError::bad_hash);
  }
  return PhcHash{*params, std::move(*salt), std::move(*hash)};
}

std::string format_phc(const PhcHash& hash) {
  // Appended piece by piece: GCC 12 at -O2 reports a false -Wrestrict for
  // "literal" + std::string&& (GCC bug 105329).
  std::string text = "$";
  text.append(k_algorithm);
  text.append("$ln=").append(std::to_string(hash.params.log2_n));
  text.append(",r=").append(std::to_string(hash.params.r));
  text.append(",p=").append(std::to_string(hash.params.p));
  text.append("$").append(encode_base64(hash.salt));
  text.append("$").append(encode_base64(hash.hash));
  return text;
}

Result<std::vector<std::uint8_t>, HashError> scrypt_derive(std::string_view password,
                                                           std::span<const std::uint8_t> salt, ScryptParams params,
                                                           std::size_t length) {
  if (!params_in_bounds(params) || length == 0 || length > k_max_derived_bytes) {
    return unexpected(HashError::bad_parameters);
  }
  // Fetched per call rather than cached: a fetch is microseconds against milliseconds of
  // scrypt, and nothing shared means nothing to synchronize or to free at exit.
  const KdfHandle kdf(EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_SCRYPT, nullptr));
  if (!kdf) return crypto_failure();
  const KdfContextHandle context(EVP_KDF_CTX_new(kdf.get()));
  if (!context) return crypto_failure();

  std::uint64_t n = std::uint64_t{1} << params.log2_n;
  std::uint32_t r = params.r;
  std::uint32_t p = params.p;
  std::uint64_t max_memory = scrypt_memory_bytes(params);
  const OSSL_PARAM settings[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, octets(password.data(), password.size()),
                                        password.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, octets(salt.data(), salt.size()), salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
      // Without it OpenSSL caps scrypt at 32 MiB and refuses the OWASP minimum (128 MiB);
      // params_in_bounds() has already capped the memory at 1 GiB.
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &max_memory),
      OSSL_PARAM_construct_end(),
  };
  std::vector<std::uint8_t> derived(length);
  if (EVP_KDF_derive(context.get(), derived.data(), derived.size(), settings) != 1) {
    OPENSSL_cleanse(derived.data(), derived.size());
    return crypto_failure();
  }
  return derived;
}

Result<std::string, HashError> hash_password(std::string_view password, ScryptParams params) {
  if (!params_in_bounds(params)) return unexpected(HashError::bad_parameters);
  PhcHash phc{params, std::vector<std::uint8_t>(k_salt_bytes), {}};
  if (RAND_bytes(phc.salt.data(), static_cast<int>(phc.salt.size())) != 1) {
    ERR_clear_error();
    return unexpected(HashError::crypto_failure);
  }
  auto derived = scrypt_derive(password, phc.salt, params, k_hash_bytes);
  if (!derived) return unexpected(derived.error());
  phc.hash = std::move(*derived);
  const WipeOnExit wipe(phc.hash);
  return format_phc(phc);
}

bool verify_password(std::string_view password, std::string_view phc) {
  const auto stored = parse_phc(phc);
  if (!stored) return false;
  auto derived = scrypt_derive(password, stored->salt, stored->params, stored->hash.size());
  if (!derived) return false;
  const WipeOnExit wipe(*derived);
  return CRYPTO_memcmp(derived->data(), stored->hash.data(), stored->hash.size()) == 0;
}

bool needs_rehash(std::string_view phc, ScryptParams wanted) {
  const auto stored = parse_phc(phc);
  if (!stored) return true;
  return !(stored->params == wanted) || stored->salt.size() != k_salt_bytes || stored->hash.size() != k_hash_bytes;
}

std::string unknown_user_hash(ScryptParams params) {
  PhcHash decoy{params, std::vector<std::uint8_t>(k_salt_bytes), std::vector<std::uint8_t>(k_hash_bytes)};
  const bool drawn = RAND_bytes(decoy.salt.data(), static_cast<int>(decoy.salt.size())) == 1 &&
                     RAND_bytes(decoy.hash.data(), static_cast<int>(decoy.hash.size())) == 1;
  if (!drawn) {
    // Zeros cost exactly as much to verify, and no password is known to hash to them
    // either; failing here instead would make an unknown user cheaper than a real one.
    ERR_clear_error();
    std::fill(decoy.salt.begin(), decoy.salt.end(), 0);
    std::fill(decoy.hash.begin(), decoy.hash.end(), 0);
  }
  return format_phc(decoy);
}

}  // namespace sec
