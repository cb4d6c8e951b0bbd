#include "libsec/firmware_package.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <cstdio>
#include <set>

#include <nlohmann/json.hpp>

namespace sec {

static_assert(k_signature_domain.size() == 40 && k_signature_domain.back() == '\0',
              "the signed domain string ends with its zero byte");

std::string_view to_string(PackageError error) {
  switch (error) {
    case PackageError::truncated: return "truncated";
    case PackageError::bad_magic: return "bad_magic";
    case PackageError::unsupported_format_version: return "unsupported_format_version";
    case PackageError::reserved_not_zero: return "reserved_not_zero";
    case PackageError::manifest_length_out_of_range: return "manifest_length_out_of_range";
    case PackageError::manifest_not_json: return "manifest_not_json";
    case PackageError::manifest_not_canonical: return "manifest_not_canonical";
    case PackageError::manifest_unknown_key: return "manifest_unknown_key";
    case PackageError::manifest_missing_key: return "manifest_missing_key";
    case PackageError::manifest_bad_value: return "manifest_bad_value";
    case PackageError::version_mismatch: return "version_mismatch";
    case PackageError::payload_too_large: return "payload_too_large";
    case PackageError::payload_length_mismatch: return "payload_length_mismatch";
    case PackageError::payload_hash_mismatch: return "payload_hash_mismatch";
    case PackageError::trailing_bytes: return "trailing_bytes";
    case PackageError::unknown_key: return "unknown_key";
    case PackageError::bad_signature: return "bad_signature";
    case PackageError::unknown_model: return "unknown_model";
    case PackageError::expired: return "expired";
    case PackageError::requires_newer_meterctl: return "requires_newer_meterctl";
    case PackageError::crypto_failure: return "crypto_failure";
  }
  return "unknown";
}

namespace {

class PackageCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sec-firmware-package"; }
  std::string message(int value) const override { return std::string(to_string(static_cast<PackageError>(value))); }
};

template <typename T = proto::Ok>
PackageResult<T> failure(PackageError error, std::string message) {
  return proto::unexpected(PackageFailure{error, std::move(message)});
}

// The manifest keys of format version 1 (meter-firmware-package(5), MANIFEST).
constexpr std::string_view k_key_expires = "expires";
constexpr std::string_view k_key_features = "features";
constexpr std::string_view k_key_firmware_version = "firmware_version";
constexpr std::string_view k_key_firmware_version_vendor = "firmware_version_vendor";
constexpr std::string_view k_key_key_id = "key_id";
constexpr std::string_view k_key_min_meterctl_version = "min_meterctl_version";
constexpr std::string_view k_key_model = "model";
constexpr std::string_view k_key_payload_length = "payload_length";
constexpr std::string_view k_key_payload_sha256 = "payload_sha256";
constexpr std::string_view k_key_released = "released";
constexpr std::array<std::string_view, 10> k_manifest_keys = {k_key_expires,
                                                              k_key_features,
                                                              k_key_firmware_version,
                                                              k_key_firmware_version_vendor,
                                                              k_key_key_id,
                                                              k_key_min_meterctl_version,
                                                              k_key_model,
                                                              k_key_payload_length,
                                                              k_key_payload_sha256,
                                                              k_key_released};

// The years a YYYY-MM-DD date may name: four digits, and nothing before Unix time.
constexpr int k_min_year = 1970;
constexpr int k_max_year = 9999;

std::string hex(std::span<const std::byte> bytes) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string text;
  text.reserve(2 * bytes.size());
  for (const auto byte : bytes) {
    const auto value = std::to_integer<unsigned>(byte);
    text += k_digits[value >> 4];
    text += k_digits[value & 0x0F];
  }
  return text;
}

std::optional<unsigned> hex_digit(char c) {
  if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
  return std::nullopt;  // upper case too: one spelling per value
}

template <std::size_t N>
std::optional<std::array<std::byte, N>> parse_hex(std::string_view text) {
  if (text.size() != 2 * N) return std::nullopt;
  std::array<std::byte, N> bytes{};
  for (std::size_t i = 0; i < N; ++i) {
    const auto high = hex_digit(text[2 * i]);
    const auto low = hex_digit(text[2 * i + 1]);
    if (!high || !low) return std::nullopt;
    bytes[i] = static_cast<std::byte>((*high << 4) | *low);
  }
  return bytes;
}

bool valid_model_name(std::string_view name) {
  if (name.empty() || name.size() > k_max_model_name_length) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
}

bool valid_feature_name(std::string_view name) {
  if (name.empty() || name.size() > k_max_feature_name_length) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

bool valid_date(const Date& date) {
  return date.ok() && static_cast<int>(date.year()) >= k_min_year && static_cast<int>(date.year()) <= k_max_year;
}

void put_u32(std::vector<std::byte>& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::byte>((value >> shift) & 0xFF));
}

void put_u64(std::vector<std::byte>& out, std::uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::byte>((value >> shift) & 0xFF));
}

std::uint64_t get_big_endian(std::span<const std::byte> bytes) {
  std::uint64_t value = 0;
  for (const auto byte : bytes) value = (value << 8) | std::to_integer<std::uint64_t>(byte);
  return value;
}

std::span<const std::byte> as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

// The fixed header: magic, format version, reserved bytes, manifest length. Returns the
// manifest length, checked against its limit.
PackageResult<std::size_t> parse_header(std::span<const std::byte> header) {
  if (!std::equal(k_package_magic.begin(), k_package_magic.end(), header.begin())) {
    return failure<std::size_t>(PackageError::bad_magic, "not a firmware package: it does not start with \"MUPG\"");
  }
  const auto version = std::to_integer<unsigned>(header[4]);
  if (version != k_package_format_version) {
    return failure<std::size_t>(PackageError::unsupported_format_version,
                                "package format version " + std::to_string(version) + "; this meterctl reads version " +
                                    std::to_string(k_package_format_version));
  }
  for (std::size_t i = 0; i < k_package_reserved_bytes; ++i) {
    if (header[5 + i] != std::byte{0}) {
      return failure<std::size_t>(PackageError::reserved_not_zero,
                                  "reserved header byte " + std::to_string(5 + i) + " is not zero");
    }
  }
  const auto length = get_big_endian(header.subspan(8, 4));
  if (length == 0 || length > k_max_manifest_bytes) {
    return failure<std::size_t>(
        PackageError::manifest_length_out_of_range,
        "manifest length " + std::to_string(length) + " is not within 1.." + std::to_string(k_max_manifest_bytes));
  }
  return static_cast<std::size_t>(length);
}

PackageResult<std::uint64_t> parse_payload_length(std::span<const std::byte> field, const FirmwareManifest& manifest) {
  const auto length = get_big_endian(field);
  if (length > k_max_payload_bytes) {
    return failure<std::uint64_t>(PackageError::payload_too_large, "payload length " + std::to_string(length) +
                                                                       " is above the limit of " +
                                                                       std::to_string(k_max_payload_bytes) + " bytes");
  }
  if (length != manifest.payload_length) {
    return failure<std::uint64_t>(PackageError::payload_length_mismatch,
                                  "payload length field says " + std::to_string(length) + " bytes, the manifest " +
                                      std::to_string(manifest.payload_length));
  }
  return length;
}

// The message the signature covers: the domain string, then the digest.
std::vector<std::byte> signed_message(std::span<const std::byte> digest) {
  // Sized once and filled with memcpy: GCC 12 at -O2 misreads vector::insert here (-Warray-bounds).
  std::vector<std::byte> message(k_signature_domain.size() + digest.size());
  std::memcpy(message.data(), k_signature_domain.data(), k_signature_domain.size());
  if (!digest.empty()) std::memcpy(message.data() + k_signature_domain.size(), digest.data(), digest.size());
  return message;
}

bool digest_update(EVP_MD_CTX* context, std::span<const std::byte> bytes) {
  return context != nullptr && EVP_DigestUpdate(context, bytes.data(), bytes.size()) == 1;
}

std::optional<std::vector<std::byte>> digest_final(EVP_MD_CTX* context) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (context == nullptr || EVP_DigestFinal_ex(context, digest, &length) != 1) return std::nullopt;
  const auto* begin = reinterpret_cast<const std::byte*>(digest);
  return std::vector<std::byte>(begin, begin + length);
}

DigestContextHandle new_digest(const EVP_MD* type) {
  DigestContextHandle context(EVP_MD_CTX_new());
  if (context && EVP_DigestInit_ex(context.get(), type, nullptr) != 1) context.reset();
  return context;
}

std::optional<std::vector<std::byte>> one_shot_digest(const EVP_MD* type, std::span<const std::byte> bytes) {
  const auto context = new_digest(type);
  if (!digest_update(context.get(), bytes)) return std::nullopt;
  return digest_final(context.get());
}

std::string describe_stage_end(std::uint64_t have, std::uint64_t need, std::string_view where) {
  return "the package ends inside the " + std::string(where) + " (" + std::to_string(have) + " of " +
         std::to_string(need) + " bytes)";
}

}  // namespace

const std::error_category& package_category() {
  static const PackageCategory category;
  return category;
}

std::error_code make_error_code(PackageError error) { return {static_cast<int>(error), package_category()}; }

std::optional<Date> parse_date(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  int parts[3] = {};
  const std::size_t starts[3] = {0, 5, 8};
  const std::size_t lengths[3] = {4, 2, 2};
  for (int i = 0; i < 3; ++i) {
    for (std::size_t j = 0; j < lengths[i]; ++j) {
      const char c = text[starts[i] + j];
      if (c < '0' || c > '9') return std::nullopt;
      parts[i] = parts[i] * 10 + (c - '0');
    }
  }
  const Date date{std::chrono::year(parts[0]), std::chrono::month(static_cast<unsigned>(parts[1])),
                  std::chrono::day(static_cast<unsigned>(parts[2]))};
  if (!valid_date(date)) return std::nullopt;
  return date;
}

std::string format_date(const Date& date) {
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                static_cast<unsigned>(date.day()));
  return text;
}

Date add_years(const Date& date, int years) {
  const Date moved = date + std::chrono::years(years);
  if (moved.ok()) return moved;
  return std::chrono::year_month_day_last(moved.year(), std::chrono::month_day_last(moved.month()));
}

PackageResult<proto::Ok> validate_manifest(const FirmwareManifest& manifest) {
  using PE = PackageError;
  if (!valid_model_name(manifest.model)) {
    return failure(PE::manifest_bad_value, "model \"" + manifest.model + "\" is not 1.." +
                                               std::to_string(k_max_model_name_length) +
                                               " letters, digits, '-', '_' or '.'");
  }
  if (!valid_date(manifest.released)) return failure(PE::manifest_bad_value, "released is not a date");
  if (!valid_date(manifest.expires)) return failure(PE::manifest_bad_value, "expires is not a date");
  if (std::chrono::sys_days(manifest.expires) <= std::chrono::sys_days(manifest.released)) {
    return failure(PE::manifest_bad_value, "expires (" + format_date(manifest.expires) + ") is not after released (" +
                                               format_date(manifest.released) + ")");
  }
  if (manifest.features.size() > k_max_features) {
    return failure(PE::manifest_bad_value,
                   std::to_string(manifest.features.size()) + " features; at most " + std::to_string(k_max_features));
  }
  std::set<std::string_view> seen;
  for (const auto& feature : manifest.features) {
    if (!valid_feature_name(feature)) {
      return failure(PE::manifest_bad_value, "feature \"" + feature + "\" is not 1.." +
                                                 std::to_string(k_max_feature_name_length) +
                                                 " lowercase letters, digits or '_'");
    }
    if (!seen.insert(feature).second) return failure(PE::manifest_bad_value, "feature " + feature + " is listed twice");
  }
  if (!is_valid_key_id(manifest.key_id)) {
    return failure(PE::manifest_bad_value,
                   "key_id is not " + std::to_string(k_key_id_length) + " lowercase hex digits");
  }
  if (manifest.payload_length == 0 || manifest.payload_length > k_max_payload_bytes) {
    return failure(PE::manifest_bad_value, "payload_length " + std::to_string(manifest.payload_length) +
                                               " is not within 1.." + std::to_string(k_max_payload_bytes));
  }
  // Version::parse bounds each part to 0..999, the vendor form's three digits.
  for (const auto* version : {&manifest.firmware_version, &manifest.min_meterctl_version}) {
    if (!proto::model::Version::parse(version->to_string())) {
      return failure(PE::manifest_bad_value, "version " + version->to_string() + " has a part outside 0..999");
    }
  }
  return proto::Ok{};
}

PackageResult<std::string> encode_manifest(const FirmwareManifest& manifest) {
  if (auto valid = validate_manifest(manifest); !valid) return proto::unexpected(valid.error());
  // nlohmann::json keeps object keys sorted and dump() writes no whitespace: together
  // with ASCII-only values, that is the canonical form.
  nlohmann::json document = {
      {k_key_model, manifest.model},
      {k_key_firmware_version, manifest.firmware_version.to_string()},
      {k_key_firmware_version_vendor, manifest.firmware_version.vendor_form()},
      {k_key_min_meterctl_version, manifest.min_meterctl_version.to_string()},
      {k_key_released, format_date(manifest.released)},
      {k_key_expires, format_date(manifest.expires)},
      {k_key_features, manifest.features},
      {k_key_key_id, manifest.key_id},
      {k_key_payload_length, manifest.payload_length},
      {k_key_payload_sha256, hex(manifest.payload_sha256)},
  };
  return document.dump();
}

PackageResult<FirmwareManifest> decode_manifest(std::string_view text) {
  using PE = PackageError;
  using R = FirmwareManifest;
  if (text.size() > k_max_manifest_bytes) {
    return failure<R>(PE::manifest_length_out_of_range, "manifest of " + std::to_string(text.size()) + " bytes");
  }
  const auto document = nlohmann::json::parse(text, nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    return failure<R>(PE::manifest_not_json, "the manifest is not a JSON object");
  }
  for (const auto& [key, value] : document.items()) {
    if (std::find(k_manifest_keys.begin(), k_manifest_keys.end(), key) == k_manifest_keys.end()) {
      return failure<R>(PE::manifest_unknown_key, "the manifest has an unknown key \"" + key + "\"");
    }
  }
  for (const auto key : k_manifest_keys) {
    if (!document.contains(key)) {
      return failure<R>(PE::manifest_missing_key, "the manifest has no \"" + std::string(key) + "\"");
    }
  }
  const auto text_of = [&](std::string_view key) -> std::optional<std::string> {
    const auto& value = document.at(key);
    if (!value.is_string()) return std::nullopt;
    return value.get<std::string>();
  };
  const auto bad = [](std::string_view key, std::string_view why) {
    return failure<R>(PE::manifest_bad_value, "manifest \"" + std::string(key) + "\" " + std::string(why));
  };

  FirmwareManifest manifest;
  const auto model = text_of(k_key_model);
  if (!model) return bad(k_key_model, "is not a string");
  manifest.model = *model;

  const auto canonical_version = [&](std::string_view key) -> std::optional<proto::model::Version> {
    const auto value = text_of(key);
    if (!value) return std::nullopt;
    const auto version = proto::model::Version::parse(*value);
    if (!version || version->to_string() != *value) return std::nullopt;
    return version;
  };
  const auto firmware = canonical_version(k_key_firmware_version);
  if (!firmware) return bad(k_key_firmware_version, "is not a version X.Y.Z (each part 0..999, no leading zero)");
  manifest.firmware_version = *firmware;
  const auto vendor_text = text_of(k_key_firmware_version_vendor);
  const auto vendor = vendor_text ? proto::model::Version::parse(*vendor_text) : std::nullopt;
  if (!vendor || vendor->vendor_form() != *vendor_text) {
    return bad(k_key_firmware_version_vendor, "is not a version in the vendor's form VXXX.YYY.ZZZ");
  }
  if (*vendor != *firmware) {
    return failure<R>(PE::version_mismatch, "firmware_version_vendor " + *vendor_text + " is not firmware_version " +
                                                firmware->to_string() + " (that is " + firmware->vendor_form() + ")");
  }
  const auto minimum = canonical_version(k_key_min_meterctl_version);
  if (!minimum) return bad(k_key_min_meterctl_version, "is not a version X.Y.Z (each part 0..999, no leading zero)");
  manifest.min_meterctl_version = *minimum;

  for (const auto& [key, date] : {std::pair{k_key_released, &manifest.released}, {k_key_expires, &manifest.expires}}) {
    const auto value = text_of(key);
    const auto parsed = value ? parse_date(*value) : std::nullopt;
    if (!parsed) return bad(key, "is not a date YYYY-MM-DD");
    *date = *parsed;
  }

  const auto& features = document.at(k_key_features);
  if (!features.is_array()) return bad(k_key_features, "is not an array");
  if (features.size() > k_max_features) return bad(k_key_features, "has too many entries");
  for (const auto& feature : features) {
    if (!feature.is_string()) return bad(k_key_features, "holds something other than a string");
    manifest.features.push_back(feature.get<std::string>());
  }

  const auto key_id = text_of(k_key_key_id);
  if (!key_id) return bad(k_key_key_id, "is not a string");
  manifest.key_id = *key_id;

  const auto& length = document.at(k_key_payload_length);
  if (!length.is_number_unsigned()) return bad(k_key_payload_length, "is not a non-negative integer");
  manifest.payload_length = length.get<std::uint64_t>();

  const auto hash_text = text_of(k_key_payload_sha256);
  const auto hash = hash_text ? parse_hex<32>(*hash_text) : std::nullopt;
  if (!hash) return bad(k_key_payload_sha256, "is not 64 lowercase hex digits");
  manifest.payload_sha256 = *hash;

  if (auto valid = validate_manifest(manifest); !valid) return proto::unexpected(valid.error());
  const auto canonical = encode_manifest(manifest);
  if (!canonical) return proto::unexpected(canonical.error());
  if (*canonical != text) {
    return failure<R>(PE::manifest_not_canonical,
                      "the manifest is not in canonical form (sorted keys, no whitespace, minimal escapes)");
  }
  return manifest;
}

PackageResult<DecodedPackage> decode_firmware_package(std::span<const std::byte> package) {
  using PE = PackageError;
  using R = DecodedPackage;
  if (package.size() < k_package_header_bytes) {
    // A short input that already is not a package says so, rather than "truncated".
    const auto compared = std::min(package.size(), k_package_magic.size());
    if (!std::equal(package.begin(), package.begin() + static_cast<std::ptrdiff_t>(compared),
                    k_package_magic.begin())) {
      return failure<R>(PE::bad_magic, "not a firmware package: it does not start with \"MUPG\"");
    }
    return failure<R>(PE::truncated, describe_stage_end(package.size(), k_package_header_bytes, "header"));
  }
  const auto manifest_length = parse_header(package.first(k_package_header_bytes));
  if (!manifest_length) return proto::unexpected(manifest_length.error());
  auto rest = package.subspan(k_package_header_bytes);
  if (rest.size() < *manifest_length) {
    return failure<R>(PE::truncated, describe_stage_end(rest.size(), *manifest_length, "manifest"));
  }
  const std::string_view manifest_text(reinterpret_cast<const char*>(rest.data()), *manifest_length);
  auto manifest = decode_manifest(manifest_text);
  if (!manifest) return proto::unexpected(manifest.error());
  rest = rest.subspan(*manifest_length);
  if (rest.size() < k_payload_length_bytes) {
    return failure<R>(PE::truncated, describe_stage_end(rest.size(), k_payload_length_bytes, "payload length"));
  }
  const auto payload_length = parse_payload_length(rest.first(k_payload_length_bytes), *manifest);
  if (!payload_length) return proto::unexpected(payload_length.error());
  rest = rest.subspan(k_payload_length_bytes);
  // Compared before any arithmetic: payload_length is at most k_max_payload_bytes here.
  if (rest.size() < *payload_length) {
    return failure<R>(PE::truncated, describe_stage_end(rest.size(), *payload_length, "payload"));
  }
  DecodedPackage decoded;
  decoded.payload = rest.first(static_cast<std::size_t>(*payload_length));
  rest = rest.subspan(static_cast<std::size_t>(*payload_length));
  if (rest.size() < k_package_signature_bytes) {
    return failure<R>(PE::truncated, describe_stage_end(rest.size(), k_package_signature_bytes, "signature"));
  }
  if (rest.size() > k_package_signature_bytes) {
    return failure<R>(PE::trailing_bytes,
                      std::to_string(rest.size() - k_package_signature_bytes) + " bytes follow the signature");
  }
  std::copy(rest.begin(), rest.end(), decoded.signature.begin());
  decoded.manifest = std::move(*manifest);
  return decoded;
}

namespace {

PackageResult<std::vector<std::byte>> encode_unsigned(const FirmwareManifest& manifest,
                                                      std::span<const std::byte> payload) {
  const auto manifest_text = encode_manifest(manifest);
  if (!manifest_text) return proto::unexpected(manifest_text.error());
  if (manifest_text->size() > k_max_manifest_bytes) {
    return failure<std::vector<std::byte>>(PackageError::manifest_length_out_of_range,
                                           "the manifest would be " + std::to_string(manifest_text->size()) +
                                               " bytes; at most " + std::to_string(k_max_manifest_bytes));
  }
  if (payload.size() != manifest.payload_length) {
    return failure<std::vector<std::byte>>(PackageError::payload_length_mismatch,
                                           "payload of " + std::to_string(payload.size()) + " bytes, manifest says " +
                                               std::to_string(manifest.payload_length));
  }
  std::vector<std::byte> out;
  out.reserve(k_package_header_bytes + manifest_text->size() + k_payload_length_bytes + payload.size() +
              k_package_signature_bytes);
  out.insert(out.end(), k_package_magic.begin(), k_package_magic.end());
  out.push_back(std::byte{k_package_format_version});
  out.insert(out.end(), k_package_reserved_bytes, std::byte{0});
  put_u32(out, static_cast<std::uint32_t>(manifest_text->size()));
  const auto manifest_bytes = as_bytes(*manifest_text);
  out.insert(out.end(), manifest_bytes.begin(), manifest_bytes.end());
  put_u64(out, payload.size());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

}  // namespace

PackageResult<std::vector<std::byte>> encode_firmware_package(const FirmwareManifest& manifest,
                                                              std::span<const std::byte> payload,
                                                              const Ed25519Signature& signature) {
  auto out = encode_unsigned(manifest, payload);
  if (!out) return out;
  out->insert(out->end(), signature.begin(), signature.end());
  return out;
}

PackageResult<std::vector<std::byte>> sign_firmware_package(FirmwareManifest manifest,
                                                            std::span<const std::byte> payload, EVP_PKEY* private_key) {
  using R = std::vector<std::byte>;
  manifest.key_id = signing_key_id(private_key);
  if (manifest.key_id.empty()) return failure<R>(PackageError::crypto_failure, "the signing key is not Ed25519");
  manifest.payload_length = payload.size();
  const auto payload_hash = one_shot_digest(EVP_sha256(), payload);
  if (!payload_hash || payload_hash->size() != manifest.payload_sha256.size()) {
    return failure<R>(PackageError::crypto_failure, "SHA-256 failed: " + take_openssl_errors());
  }
  std::copy(payload_hash->begin(), payload_hash->end(), manifest.payload_sha256.begin());
  auto out = encode_unsigned(manifest, payload);
  if (!out) return out;
  const auto digest = one_shot_digest(EVP_sha512(), *out);
  if (!digest) return failure<R>(PackageError::crypto_failure, "SHA-512 failed: " + take_openssl_errors());
  const auto signature = ed25519_sign(private_key, signed_message(*digest));
  if (!signature) return failure<R>(PackageError::crypto_failure, signature.error());
  out->insert(out->end(), signature->begin(), signature->end());
  return out;
}

PackageVerifier::PackageVerifier()
    : signed_digest_(new_digest(EVP_sha512())), payload_digest_(new_digest(EVP_sha256())) {
  if (!signed_digest_ || !payload_digest_) {
    failure_ =
        PackageFailure{PackageError::crypto_failure, "cannot set up SHA-512 and SHA-256: " + take_openssl_errors()};
  }
}

PackageVerifier::~PackageVerifier() = default;

PackageResult<proto::Ok> PackageVerifier::fail(PackageError error, std::string message) {
  failure_ = PackageFailure{error, std::move(message)};
  pending_.clear();
  return proto::unexpected(*failure_);
}

std::optional<std::uint64_t> PackageVerifier::payload_offset() const {
  if (!manifest_) return std::nullopt;
  return k_package_header_bytes + manifest_length_ + k_payload_length_bytes;
}

// Called when pending_ holds all wanted_ bytes of the current fixed-size field.
PackageResult<proto::Ok> PackageVerifier::complete_stage() {
  const auto field = as_bytes(pending_);
  switch (stage_) {
    case Stage::header: {
      const auto length = parse_header(field);
      if (!length) return fail(length.error().error, length.error().message);
      manifest_length_ = *length;
      stage_ = Stage::manifest;
      wanted_ = *length;
      break;
    }
    case Stage::manifest: {
      auto manifest = decode_manifest(pending_);
      if (!manifest) return fail(manifest.error().error, manifest.error().message);
      manifest_ = std::move(*manifest);
      stage_ = Stage::payload_length;
      wanted_ = k_payload_length_bytes;
      break;
    }
    case Stage::payload_length: {
      const auto length = parse_payload_length(field, *manifest_);
      if (!length) return fail(length.error().error, length.error().message);
      payload_remaining_ = *length;
      stage_ = Stage::payload;
      wanted_ = 0;
      break;
    }
    case Stage::signature:
      std::copy(field.begin(), field.end(), signature_.begin());
      stage_ = Stage::complete;
      wanted_ = 0;
      break;
    case Stage::payload:
    case Stage::complete: break;
  }
  pending_.clear();
  return proto::Ok{};
}

PackageResult<proto::Ok> PackageVerifier::update(std::span<const std::byte> bytes) {
  if (failure_) return proto::unexpected(*failure_);
  while (!bytes.empty()) {
    if (stage_ == Stage::complete) {
      return fail(PackageError::trailing_bytes, "bytes follow the signature at offset " + std::to_string(consumed_));
    }
    std::span<const std::byte> taken;
    if (stage_ == Stage::payload) {
      const auto count = static_cast<std::size_t>(std::min<std::uint64_t>(payload_remaining_, bytes.size()));
      taken = bytes.first(count);
      if (!digest_update(payload_digest_.get(), taken)) {
        return fail(PackageError::crypto_failure, "SHA-256 failed: " + take_openssl_errors());
      }
      payload_remaining_ -= count;
    } else {
      // At most wanted_ (the manifest length, bounded by parse_header) is ever buffered.
      const auto count = std::min(wanted_ - pending_.size(), bytes.size());
      taken = bytes.first(count);
      pending_.append(reinterpret_cast<const char*>(taken.data()), taken.size());
    }
    if (stage_ != Stage::signature && !digest_update(signed_digest_.get(), taken)) {
      return fail(PackageError::crypto_failure, "SHA-512 failed: " + take_openssl_errors());
    }
    consumed_ += taken.size();
    bytes = bytes.subspan(taken.size());
    if (stage_ == Stage::payload) {
      if (payload_remaining_ == 0) {
        stage_ = Stage::signature;
        wanted_ = k_package_signature_bytes;
      }
    } else if (pending_.size() == wanted_) {
      if (auto done = complete_stage(); !done) return done;
    }
  }
  // An empty payload never reaches here: the manifest refuses payload_length 0.
  return proto::Ok{};
}

PackageResult<VerifiedPackage> PackageVerifier::finish(std::span<const SigningPublicKey> keys) {
  using R = VerifiedPackage;
  if (failure_) return proto::unexpected(*failure_);
  const auto truncated = [&](std::uint64_t have, std::uint64_t need, std::string_view where) {
    failure_ = PackageFailure{PackageError::truncated, describe_stage_end(have, need, where)};
    return proto::unexpected(*failure_);
  };
  switch (stage_) {
    case Stage::header:
      if (!std::equal(pending_.begin(),
                      pending_.begin() +
                          static_cast<std::ptrdiff_t>(std::min<std::size_t>(pending_.size(), k_package_magic.size())),
                      reinterpret_cast<const char*>(k_package_magic.data()))) {
        failure_ = PackageFailure{PackageError::bad_magic, "not a firmware package: it does not start with \"MUPG\""};
        return proto::unexpected(*failure_);
      }
      return truncated(pending_.size(), wanted_, "header");
    case Stage::manifest: return truncated(pending_.size(), wanted_, "manifest");
    case Stage::payload_length: return truncated(pending_.size(), wanted_, "payload length");
    case Stage::payload:
      return truncated(manifest_->payload_length - payload_remaining_, manifest_->payload_length, "payload");
    case Stage::signature: return truncated(pending_.size(), wanted_, "signature");
    case Stage::complete: break;
  }
  const auto fail_with = [&](PackageError error, std::string message) {
    failure_ = PackageFailure{error, std::move(message)};
    return proto::unexpected(*failure_);
  };
  const auto payload_hash = digest_final(payload_digest_.get());
  const auto digest = digest_final(signed_digest_.get());
  if (!payload_hash || !digest)
    return fail_with(PackageError::crypto_failure, "digest failed: " + take_openssl_errors());
  if (!std::equal(payload_hash->begin(), payload_hash->end(), manifest_->payload_sha256.begin(),
                  manifest_->payload_sha256.end())) {
    return fail_with(PackageError::payload_hash_mismatch, "the payload's SHA-256 is " + hex(*payload_hash) +
                                                              ", the manifest says " + hex(manifest_->payload_sha256));
  }
  const auto key = std::find_if(keys.begin(), keys.end(),
                                [&](const SigningPublicKey& candidate) { return candidate.id == manifest_->key_id; });
  if (key == keys.end()) {
    std::string offered;
    for (const auto& candidate : keys) offered += (offered.empty() ? "" : ", ") + candidate.id;
    return fail_with(PackageError::unknown_key, "signed with key " + manifest_->key_id +
                                                    ", which is not among the keys offered (" +
                                                    (offered.empty() ? std::string("none") : offered) + ")");
  }
  if (!ed25519_verify(key->key.get(), signed_message(*digest), signature_)) {
    return fail_with(PackageError::bad_signature,
                     "the signature does not verify with key " + key->id + " (" + key->source + ")");
  }
  R verified;
  verified.manifest = *manifest_;
  verified.key_source = key->source;
  verified.package_length = consumed_;
  verified.payload_offset = *payload_offset();
  return verified;
}

PackageResult<VerifiedPackage> verify_firmware_package(std::span<const std::byte> package,
                                                       std::span<const SigningPublicKey> keys) {
  PackageVerifier verifier;
  if (auto fed = verifier.update(package); !fed) return proto::unexpected(fed.error());
  return verifier.finish(keys);
}

PackageResult<proto::Ok> check_package_acceptance(const FirmwareManifest& manifest, const AcceptancePolicy& policy) {
  using PE = PackageError;
  if (std::find(policy.known_models.begin(), policy.known_models.end(), manifest.model) == policy.known_models.end()) {
    std::string known;
    for (const auto& model : policy.known_models) known += (known.empty() ? "" : ", ") + model;
    return failure(PE::unknown_model, "the package is for model " + manifest.model +
                                          ", which this meterctl does not know (known: " + known + ")");
  }
  if (manifest.min_meterctl_version > policy.running_meterctl_version) {
    return failure(PE::requires_newer_meterctl,
                   "the package needs meterctl " + manifest.min_meterctl_version.to_string() +
                       " or later; this is meterctl " + policy.running_meterctl_version.to_string());
  }
  if (std::chrono::sys_days(policy.today) > std::chrono::sys_days(manifest.expires)) {
    return failure(PE::expired, "the package expired on " + format_date(manifest.expires) + " (today is " +
                                    format_date(policy.today) + ")");
  }
  return proto::Ok{};
}

std::string sha256_hex(std::span<const std::byte> bytes) {
  const auto digest = one_shot_digest(EVP_sha256(), bytes);
  if (!digest) {
    take_openssl_errors();
    return {};
  }
  return hex(*digest);
}

std::string sha256sum_line(std::string_view hex_digest, std::string_view file_name) {
  // GNU coreutils: a name with a backslash or a line break is escaped, and the line then
  // starts with a backslash so that `sha256sum -c` knows to unescape it.
  std::string escaped;
  bool escaping = false;
  for (const char c : file_name) {
    if (c == '\\') {
      escaped += "\\\\";
      escaping = true;
    } else if (c == '\n') {
      escaped += "\\n";
      escaping = true;
    } else {
      escaped += c;
    }
  }
  // Appended piece by piece: GCC 12 at -O2 misreads `"..." + std::string&&` (-Wrestrict).
  std::string line;
  if (escaping) line += '\\';
  line.append(hex_digest).append("  ").append(escaped).append("\n");
  return line;
}

}  // namespace sec
