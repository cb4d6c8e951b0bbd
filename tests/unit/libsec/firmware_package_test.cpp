#include "libsec/firmware_package.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

using namespace sec;
using namespace std::chrono;
using proto::model::Version;

namespace {

Date date(int y, unsigned m, unsigned d) { return Date{year(y), month(m), day(d)}; }

FirmwareManifest sample_manifest() {
  FirmwareManifest manifest;
  manifest.model = "ION7400";
  manifest.firmware_version = Version{4, 6, 0};
  manifest.min_meterctl_version = Version{0, 1, 0};
  manifest.released = date(2025, 4, 1);
  manifest.expires = date(2027, 4, 1);
  manifest.features = {"bacnet", "password_complexity", "modbus_unix_time"};
  return manifest;
}

std::vector<std::byte> bytes_of(std::string_view text) {
  const auto* begin = reinterpret_cast<const std::byte*>(text.data());
  return {begin, begin + text.size()};
}

struct Fixture {
  KeyHandle key = generate_signing_key().value();
  std::vector<SigningPublicKey> keys;
  std::vector<std::byte> payload = bytes_of("#!/bin/sh\necho meterd\n");
  std::vector<std::byte> package;

  Fixture() {
    keys.push_back(public_key_of(key.get(), "test.pub"));
    package = sign_firmware_package(sample_manifest(), payload, key.get()).value();
  }

  static SigningPublicKey public_key_of(EVP_PKEY* key, std::string source) {
    const auto pem = signing_public_key_pem(key).value();
    auto public_key = parse_signing_public_key_pem(pem, source).value();
    return SigningPublicKey{std::move(public_key), signing_key_id(key), std::move(source)};
  }
};

AcceptancePolicy policy_on(Date today) { return AcceptancePolicy{{"ION7400", "ION9000"}, today, Version{0, 1, 0}}; }

// The byte offset of the payload length field in a package whose manifest is `manifest_length` long.
std::size_t payload_length_offset(const std::vector<std::byte>& package) {
  std::size_t manifest_length = 0;
  for (std::size_t i = 8; i < 12; ++i)
    manifest_length = (manifest_length << 8) | std::to_integer<std::size_t>(package[i]);
  return k_package_header_bytes + manifest_length;
}

// A package with a manifest text of our choosing (and a garbage signature): for the
// manifest rules, which apply before any signature is looked at.
std::vector<std::byte> package_with_manifest(const std::string& manifest_text, std::size_t payload_length = 4) {
  std::vector<std::byte> out(k_package_magic.begin(), k_package_magic.end());
  out.push_back(std::byte{k_package_format_version});
  out.insert(out.end(), 3, std::byte{0});
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::byte>((manifest_text.size() >> shift) & 0xFF));
  }
  const auto text = bytes_of(manifest_text);
  out.insert(out.end(), text.begin(), text.end());
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::byte>((payload_length >> shift) & 0xFF));
  out.insert(out.end(), payload_length + k_package_signature_bytes, std::byte{0x5A});
  return out;
}

nlohmann::json manifest_json(const FirmwareManifest& manifest) {
  return nlohmann::json::parse(encode_manifest(manifest).value());
}

FirmwareManifest signed_sample() {
  auto manifest = sample_manifest();
  manifest.key_id = "0123456789abcdef";
  manifest.payload_length = 4;
  return manifest;
}

PackageError decode_error_of(const std::string& manifest_text) {
  const auto package = package_with_manifest(manifest_text);
  const auto decoded = decode_firmware_package(package);
  REQUIRE_FALSE(decoded);
  // The streaming reader refuses it the same way.
  PackageVerifier verifier;
  const auto fed = verifier.update(package);
  REQUIRE_FALSE(fed);
  CHECK(fed.error().error == decoded.error().error);
  return decoded.error().error;
}

}  // namespace

TEST_CASE("A signed package decodes, re-encodes to the same bytes, and verifies", "[libsec][firmware_package]") {
  Fixture fixture;
  const auto decoded = decode_firmware_package(fixture.package);
  REQUIRE(decoded);
  auto expected = sample_manifest();
  expected.key_id = signing_key_id(fixture.key.get());
  expected.payload_length = fixture.payload.size();
  expected.payload_sha256 = decoded->manifest.payload_sha256;
  CHECK(decoded->manifest == expected);
  CHECK(sha256_hex(fixture.payload) == manifest_json(decoded->manifest).at("payload_sha256"));
  CHECK(std::equal(decoded->payload.begin(), decoded->payload.end(), fixture.payload.begin(), fixture.payload.end()));

  const auto encoded = encode_firmware_package(decoded->manifest, decoded->payload, decoded->signature);
  REQUIRE(encoded);
  CHECK(*encoded == fixture.package);

  const auto verified = verify_firmware_package(fixture.package, fixture.keys);
  REQUIRE(verified);
  CHECK(verified->manifest == decoded->manifest);
  CHECK(verified->key_source == "test.pub");
  CHECK(verified->package_length == fixture.package.size());
  CHECK(verified->payload_offset == payload_length_offset(fixture.package) + k_payload_length_bytes);
  CHECK(check_package_acceptance(verified->manifest, policy_on(date(2026, 1, 1))));
}

TEST_CASE("The manifest is canonical JSON: sorted keys, no whitespace", "[libsec][firmware_package]") {
  auto manifest = signed_sample();
  manifest.payload_sha256[0] = std::byte{0xAB};
  const auto text = encode_manifest(manifest);
  REQUIRE(text);
  CHECK(*text ==
        "{\"expires\":\"2027-04-01\",\"features\":[\"bacnet\",\"password_complexity\",\"modbus_unix_time\"],"
        "\"firmware_version\":\"4.6.0\",\"firmware_version_vendor\":\"V004.006.000\",\"key_id\":\"0123456789abcdef\","
        "\"min_meterctl_version\":\"0.1.0\",\"model\":\"ION7400\",\"payload_length\":4,"
        "\"payload_sha256\":\"ab00000000000000000000000000000000000000000000000000000000000000\","
        "\"released\":\"2025-04-01\"}");
  const auto decoded = decode_manifest(*text);
  REQUIRE(decoded);
  CHECK(*decoded == manifest);
}

TEST_CASE("Every single-bit flip of a package is refused", "[libsec][firmware_package]") {
  Fixture fixture;
  REQUIRE(verify_firmware_package(fixture.package, fixture.keys));
  std::size_t refused = 0;
  for (std::size_t bit = 0; bit < fixture.package.size() * 8; ++bit) {
    auto damaged = fixture.package;
    damaged[bit / 8] ^= static_cast<std::byte>(1U << (bit % 8));
    const auto verified = verify_firmware_package(damaged, fixture.keys);
    if (verified) FAIL("flipping bit " << bit << " (byte " << bit / 8 << ") is accepted");
    ++refused;
  }
  CHECK(refused == fixture.package.size() * 8);
}

TEST_CASE("Every truncated prefix is refused as truncated", "[libsec][firmware_package]") {
  Fixture fixture;
  for (std::size_t length = 0; length < fixture.package.size(); ++length) {
    const std::span prefix(fixture.package.data(), length);
    const auto decoded = decode_firmware_package(prefix);
    REQUIRE_FALSE(decoded);
    CHECK(decoded.error().error == PackageError::truncated);
    const auto verified = verify_firmware_package(prefix, fixture.keys);
    REQUIRE_FALSE(verified);
    CHECK(verified.error().error == PackageError::truncated);
  }
}

TEST_CASE("The streaming verifier gives the same answer whatever the chunk sizes", "[libsec][firmware_package]") {
  Fixture fixture;
  const std::span package(fixture.package);
  for (std::size_t split = 0; split <= package.size(); ++split) {
    PackageVerifier verifier;
    REQUIRE(verifier.update(package.first(split)));
    REQUIRE(verifier.update(package.subspan(split)));
    REQUIRE(verifier.finish(fixture.keys));
  }
  PackageVerifier byte_by_byte;
  for (std::size_t i = 0; i < package.size(); ++i) {
    REQUIRE(byte_by_byte.update(package.subspan(i, 1)));
    if (i + 1 == payload_length_offset(fixture.package)) {
      // The manifest is known once its last byte is in, before the payload.
      REQUIRE(byte_by_byte.unverified_manifest() != nullptr);
      CHECK(byte_by_byte.unverified_manifest()->model == "ION7400");
    }
  }
  CHECK(byte_by_byte.finish(fixture.keys));
}

TEST_CASE("The first error is final", "[libsec][firmware_package]") {
  Fixture fixture;
  auto damaged = fixture.package;
  damaged[0] = std::byte{'X'};
  PackageVerifier verifier;
  const auto first = verifier.update(damaged);
  REQUIRE_FALSE(first);
  CHECK(first.error().error == PackageError::bad_magic);
  const auto again = verifier.update(fixture.package);
  REQUIRE_FALSE(again);
  CHECK(again.error().error == PackageError::bad_magic);
  CHECK(verifier.finish(fixture.keys).error().error == PackageError::bad_magic);
}

TEST_CASE("A package is refused with another key, or a key that only claims its id", "[libsec][firmware_package]") {
  Fixture fixture;
  const auto other = generate_signing_key().value();
  std::vector<SigningPublicKey> others;
  others.push_back(Fixture::public_key_of(other.get(), "other.pub"));
  const auto unknown = verify_firmware_package(fixture.package, others);
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().error == PackageError::unknown_key);
  CHECK_THAT(unknown.error().message, Catch::Contains(others[0].id));

  // A key whose id collides with the signer's still has to produce the signature.
  others[0].id = fixture.keys[0].id;
  const auto impostor = verify_firmware_package(fixture.package, others);
  REQUIRE_FALSE(impostor);
  CHECK(impostor.error().error == PackageError::bad_signature);

  CHECK(verify_firmware_package(fixture.package, {}).error().error == PackageError::unknown_key);
  // Among several keys, the one with the manifest's id verifies.
  others.push_back(Fixture::public_key_of(fixture.key.get(), "right.pub"));
  others[0].id = signing_key_id(other.get());
  const auto chosen = verify_firmware_package(fixture.package, others);
  REQUIRE(chosen);
  CHECK(chosen->key_source == "right.pub");
}

TEST_CASE("A verified package for another model is not accepted", "[libsec][firmware_package]") {
  Fixture fixture;
  auto manifest = sample_manifest();
  manifest.model = "ION8650";
  const auto package = sign_firmware_package(manifest, fixture.payload, fixture.key.get()).value();
  const auto verified = verify_firmware_package(package, fixture.keys);
  REQUIRE(verified);
  const auto accepted = check_package_acceptance(verified->manifest, policy_on(date(2026, 1, 1)));
  REQUIRE_FALSE(accepted);
  CHECK(accepted.error().error == PackageError::unknown_model);
  CHECK_THAT(accepted.error().message, Catch::Contains("ION8650") && Catch::Contains("ION7400, ION9000"));
}

TEST_CASE("A package is installable through its expiry date, and not a day later", "[libsec][firmware_package]") {
  const auto manifest = signed_sample();
  CHECK(check_package_acceptance(manifest, policy_on(date(2027, 4, 1))));
  const auto expired = check_package_acceptance(manifest, policy_on(date(2027, 4, 2)));
  REQUIRE_FALSE(expired);
  CHECK(expired.error().error == PackageError::expired);
  CHECK_THAT(expired.error().message, Catch::Contains("2027-04-01") && Catch::Contains("2027-04-02"));
}

TEST_CASE("A package that needs a newer meterctl is refused, naming both versions", "[libsec][firmware_package]") {
  auto manifest = signed_sample();
  manifest.min_meterctl_version = Version{0, 2, 0};
  const auto refused = check_package_acceptance(manifest, policy_on(date(2026, 1, 1)));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().error == PackageError::requires_newer_meterctl);
  CHECK_THAT(refused.error().message, Catch::Contains("0.2.0") && Catch::Contains("0.1.0"));
  manifest.min_meterctl_version = Version{0, 1, 0};
  CHECK(check_package_acceptance(manifest, policy_on(date(2026, 1, 1))));
}

TEST_CASE("A payload longer or shorter than declared is refused", "[libsec][firmware_package]") {
  Fixture fixture;
  const auto decoded = decode_firmware_package(fixture.package).value();
  auto longer = fixture.payload;
  longer.push_back(std::byte{0});
  auto shorter = fixture.payload;
  shorter.pop_back();
  for (const auto* payload : {&longer, &shorter}) {
    const auto encoded = encode_firmware_package(decoded.manifest, *payload, decoded.signature);
    REQUIRE_FALSE(encoded);
    CHECK(encoded.error().error == PackageError::payload_length_mismatch);
  }

  // The length field disagrees with the manifest.
  const auto field = payload_length_offset(fixture.package) + k_payload_length_bytes - 1;
  for (const int delta : {+1, -1}) {
    auto damaged = fixture.package;
    damaged[field] = static_cast<std::byte>(std::to_integer<int>(damaged[field]) + delta);
    CHECK(decode_firmware_package(damaged).error().error == PackageError::payload_length_mismatch);
    CHECK(verify_firmware_package(damaged, fixture.keys).error().error == PackageError::payload_length_mismatch);
  }

  // Both length fields agree, but one more payload byte is there: the signature is read
  // one byte early and a byte trails it.
  auto extra = fixture.package;
  extra.insert(
      extra.begin() + static_cast<std::ptrdiff_t>(payload_length_offset(fixture.package) + k_payload_length_bytes + 1),
      std::byte{0x42});
  CHECK(decode_firmware_package(extra).error().error == PackageError::trailing_bytes);
  CHECK(verify_firmware_package(extra, fixture.keys).error().error == PackageError::trailing_bytes);
  // One payload byte fewer: the package ends inside the signature.
  auto missing = fixture.package;
  missing.erase(missing.begin() +
                static_cast<std::ptrdiff_t>(payload_length_offset(fixture.package) + k_payload_length_bytes));
  CHECK(decode_firmware_package(missing).error().error == PackageError::truncated);
  CHECK(verify_firmware_package(missing, fixture.keys).error().error == PackageError::truncated);
}

TEST_CASE("Bytes after the signature are refused", "[libsec][firmware_package]") {
  Fixture fixture;
  for (const std::size_t extra : {1U, 64U, 4096U}) {
    auto package = fixture.package;
    package.insert(package.end(), extra, std::byte{0});
    CHECK(decode_firmware_package(package).error().error == PackageError::trailing_bytes);
    CHECK(verify_firmware_package(package, fixture.keys).error().error == PackageError::trailing_bytes);
  }
}

TEST_CASE("A damaged payload is refused by its hash", "[libsec][firmware_package]") {
  Fixture fixture;
  auto damaged = fixture.package;
  damaged[payload_length_offset(fixture.package) + k_payload_length_bytes] ^= std::byte{0x80};
  const auto verified = verify_firmware_package(damaged, fixture.keys);
  REQUIRE_FALSE(verified);
  CHECK(verified.error().error == PackageError::payload_hash_mismatch);
  // Structure alone does not look at the hash.
  CHECK(decode_firmware_package(damaged));
}

TEST_CASE("Header fields are checked before anything is allocated", "[libsec][firmware_package]") {
  Fixture fixture;
  const auto with = [&](std::size_t offset, std::byte value) {
    auto package = fixture.package;
    package[offset] = value;
    return decode_firmware_package(package).error().error;
  };
  CHECK(with(0, std::byte{'m'}) == PackageError::bad_magic);
  CHECK(with(4, std::byte{2}) == PackageError::unsupported_format_version);
  CHECK(with(4, std::byte{0}) == PackageError::unsupported_format_version);
  CHECK(with(6, std::byte{1}) == PackageError::reserved_not_zero);

  auto zero = fixture.package;
  std::fill(zero.begin() + 8, zero.begin() + 12, std::byte{0});
  CHECK(decode_firmware_package(zero).error().error == PackageError::manifest_length_out_of_range);
  // 0xFFFFFFFF bytes of manifest announced in a short input: refused on the number alone.
  auto huge = fixture.package;
  std::fill(huge.begin() + 8, huge.begin() + 12, std::byte{0xFF});
  CHECK(decode_firmware_package(huge).error().error == PackageError::manifest_length_out_of_range);
  PackageVerifier verifier;
  CHECK(verifier.update(std::span(huge).first(k_package_header_bytes)).error().error ==
        PackageError::manifest_length_out_of_range);

  auto large_payload = fixture.package;
  const auto field = payload_length_offset(fixture.package);
  std::fill(large_payload.begin() + static_cast<std::ptrdiff_t>(field),
            large_payload.begin() + static_cast<std::ptrdiff_t>(field + k_payload_length_bytes), std::byte{0xFF});
  CHECK(decode_firmware_package(large_payload).error().error == PackageError::payload_too_large);

  CHECK(decode_firmware_package(bytes_of("PK\x03\x04")).error().error == PackageError::bad_magic);
}

TEST_CASE("Manifest rules: keys, types, canonical form, versions, dates", "[libsec][firmware_package]") {
  const auto json = manifest_json(signed_sample());
  const auto changed = [&](const char* key, nlohmann::json value) {
    auto copy = json;
    copy[key] = std::move(value);
    return decode_error_of(copy.dump());
  };
  REQUIRE(decode_firmware_package(package_with_manifest(json.dump())));

  auto unknown = json;
  unknown["install_anywhere"] = true;
  CHECK(decode_error_of(unknown.dump()) == PackageError::manifest_unknown_key);
  auto missing = json;
  missing.erase("expires");
  CHECK(decode_error_of(missing.dump()) == PackageError::manifest_missing_key);
  CHECK(decode_error_of(json.dump(1)) == PackageError::manifest_not_canonical);
  CHECK(decode_error_of("{\"model\":\"ION7400\"," + json.dump().substr(1)) == PackageError::manifest_not_canonical);
  CHECK(decode_error_of("[]") == PackageError::manifest_not_json);
  CHECK(decode_error_of("{\"expires\":") == PackageError::manifest_not_json);

  CHECK(changed("firmware_version_vendor", "V004.007.000") == PackageError::version_mismatch);
  CHECK(changed("firmware_version_vendor", "V4.6.0") == PackageError::manifest_bad_value);
  CHECK(changed("firmware_version_vendor", "004.006.000") == PackageError::manifest_bad_value);
  CHECK(changed("firmware_version", "04.6.0") == PackageError::manifest_bad_value);
  CHECK(changed("firmware_version", "V004.006.000") == PackageError::manifest_bad_value);
  CHECK(changed("firmware_version", 4) == PackageError::manifest_bad_value);
  CHECK(changed("min_meterctl_version", "1.0") == PackageError::manifest_bad_value);
  CHECK(changed("released", "2025-02-29") == PackageError::manifest_bad_value);
  CHECK(changed("released", "2025-4-01") == PackageError::manifest_bad_value);
  CHECK(changed("expires", "2025-04-01") == PackageError::manifest_bad_value);
  CHECK(changed("payload_length", 0) == PackageError::manifest_bad_value);
  CHECK(changed("payload_length", -4) == PackageError::manifest_bad_value);
  CHECK(changed("payload_length", 4.0) == PackageError::manifest_bad_value);
  CHECK(changed("payload_sha256", std::string(64, 'A')) == PackageError::manifest_bad_value);
  CHECK(changed("payload_sha256", std::string(62, 'a')) == PackageError::manifest_bad_value);
  CHECK(changed("key_id", "0123456789ABCDEF") == PackageError::manifest_bad_value);
  CHECK(changed("model", "") == PackageError::manifest_bad_value);
  CHECK(changed("model", "ION 7400") == PackageError::manifest_bad_value);
  CHECK(changed("features", {"bacnet", "bacnet"}) == PackageError::manifest_bad_value);
  CHECK(changed("features", {"BACnet"}) == PackageError::manifest_bad_value);
  CHECK(changed("features", {1}) == PackageError::manifest_bad_value);
  CHECK(changed("features", std::vector<std::string>(k_max_features + 1, "x")) == PackageError::manifest_bad_value);
  auto no_features = json;
  no_features["features"] = nlohmann::json::array();
  CHECK(decode_firmware_package(package_with_manifest(no_features.dump())));
}

TEST_CASE("Encoding refuses what decoding would refuse", "[libsec][firmware_package]") {
  auto manifest = signed_sample();
  const std::vector<std::byte> payload(4, std::byte{1});
  CHECK(encode_firmware_package(manifest, payload, {}));
  manifest.expires = manifest.released;
  CHECK(encode_firmware_package(manifest, payload, {}).error().error == PackageError::manifest_bad_value);
  manifest = signed_sample();
  manifest.firmware_version = Version{1000, 0, 0};
  CHECK(encode_firmware_package(manifest, payload, {}).error().error == PackageError::manifest_bad_value);
  manifest = signed_sample();
  manifest.key_id = "";
  CHECK(encode_firmware_package(manifest, payload, {}).error().error == PackageError::manifest_bad_value);
}

TEST_CASE("Package errors are std::error_codes with their names", "[libsec][firmware_package]") {
  const std::error_code code = PackageError::bad_signature;
  CHECK(code.category().name() == std::string("sec-firmware-package"));
  CHECK(code.message() == "bad_signature");
  CHECK(code.value() == static_cast<int>(PackageError::bad_signature));
  CHECK(to_string(PackageError::truncated) == "truncated");
}

TEST_CASE("Dates are strict YYYY-MM-DD, and two years after 29 February is 28 February", "[libsec][firmware_package]") {
  CHECK(parse_date("2024-02-29") == date(2024, 2, 29));
  CHECK_FALSE(parse_date("2023-02-29"));
  CHECK_FALSE(parse_date("2024-13-01"));
  CHECK_FALSE(parse_date("2024-1-01"));
  CHECK_FALSE(parse_date("2024-01-01 "));
  CHECK_FALSE(parse_date("+024-01-01"));
  CHECK_FALSE(parse_date("1969-12-31"));
  CHECK(format_date(date(2024, 2, 29)) == "2024-02-29");
  CHECK(add_years(date(2024, 2, 29), 2) == date(2026, 2, 28));
  CHECK(add_years(date(2025, 4, 1), 2) == date(2027, 4, 1));
}

TEST_CASE("sha256sum lines are what sha256sum writes", "[libsec][firmware_package]") {
  CHECK(sha256_hex(bytes_of("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256sum_line("ab", "fw.upg") == "ab  fw.upg\n");
  CHECK(sha256sum_line("ab", "a\\b\nc") == "\\ab  a\\\\b\\nc\n");
}
