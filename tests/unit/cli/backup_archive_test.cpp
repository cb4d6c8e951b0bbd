#include "cli/backup_archive.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <string>

using cli::BackupArchiveError;
using cli::decode_backup_archive;
using cli::encode_backup_archive;
using nlohmann::json;

namespace {

json sample_backup() {
  const json identity = {{"serial_number", "VM0000004711"},
                         {"model", "ION7400"},
                         {"feature_set", "Advanced"},
                         {"firmware", "4.6.0"},
                         {"shipped_firmware", "4.0.0"}};
  const json configuration = {
      {"modbus", {{"access", "read-only"}, {"unit_id", 1}}},
      {"security",
       {{"mode", "legacy"},
        {"users", json::array({{{"name", "User1"},
                                {"password_hash", "$scrypt$ln=4,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"},
                                {"permissions", json::array({"read"})},
                                {"default_credential", true}}})}}},
      {"time_zone", "Europe/Paris"}};
  const json event = {{"number", 7},        {"time", 1763745798.785}, {"utc", "2025-11-21T17:23:18Z"},
                      {"user", "Zoë"},      {"protocol", "native"},   {"connection", "127.0.0.1"},
                      {"type", "login"},    {"priority", 10},         {"severity", "info"},
                      {"detail", "ok \"1\""}};
  return {{"identity", identity},
          {"configuration", configuration},
          {"config_version", 3},
          {"events", json::array({event})},
          {"events_omitted", 0}};
}

std::string sample_archive() { return encode_backup_archive(sample_backup(), "2026-11-21T12:00:00Z", "0.1.0"); }

BackupArchiveError error_of(std::string_view text) {
  const auto decoded = decode_backup_archive(text);
  REQUIRE_FALSE(decoded);
  INFO(decoded.error().message);
  CHECK_FALSE(decoded.error().message.empty());
  return decoded.error().error;
}

// An archive with `edit` made to its members and the digest taken again: what a tool
// that writes archives wrongly, rather than a damaged file, looks like.
std::string resealed(const std::function<void(json&)>& edit) {
  auto document = json::parse(sample_archive());
  document.erase("digest");
  edit(document);
  document["digest"] = cli::backup_archive_digest(document);
  return document.dump(2);
}

}  // namespace

TEST_CASE("A backup archive reads back as written", "[cli][backup]") {
  const auto text = sample_archive();
  CHECK(text.ends_with("}\n"));
  const auto decoded = decode_backup_archive(text);
  REQUIRE(decoded);
  CHECK(decoded->format_version == 1);
  CHECK(decoded->created == "2026-11-21T12:00:00Z");
  CHECK(decoded->meterctl_version == "0.1.0");
  CHECK(decoded->backup == sample_backup());
  CHECK(decoded->meter == sample_backup().at("identity"));
  CHECK(decoded->digest.starts_with("sha256:"));
  CHECK(decoded->digest.size() == 7 + 64);
  // Encoding what was decoded gives the same text: one archive, one encoding.
  CHECK(encode_backup_archive(decoded->backup, decoded->created, decoded->meterctl_version) == text);
  // Whitespace is not covered by the digest; the values are.
  CHECK(decode_backup_archive(json::parse(text).dump()));
}

TEST_CASE("A backup archive is refused for each thing wrong with it, with the reason", "[cli][backup]") {
  CHECK(error_of("") == BackupArchiveError::not_json);
  CHECK(error_of("not json") == BackupArchiveError::not_json);
  CHECK(error_of("[1, 2]") == BackupArchiveError::not_json);
  CHECK(error_of(std::string(100, '[') + std::string(100, ']')) == BackupArchiveError::not_json);
  CHECK(error_of(std::string(cli::k_max_backup_archive_bytes + 1, ' ')) == BackupArchiveError::too_large);
  CHECK(error_of(R"({"format": "meterctl-security"})") == BackupArchiveError::wrong_format);
  CHECK(error_of(resealed([](json& archive) { archive["format"] = "something else"; })) ==
        BackupArchiveError::wrong_format);
  CHECK(error_of(resealed([](json& archive) { archive["format_version"] = 2; })) ==
        BackupArchiveError::unsupported_format_version);
  CHECK(error_of(resealed([](json& archive) { archive["format_version"] = "1"; })) ==
        BackupArchiveError::missing_member);
  CHECK(error_of(resealed([](json& archive) { archive.erase("created"); })) == BackupArchiveError::missing_member);
  CHECK(error_of(resealed([](json& archive) { archive.erase("backup"); })) == BackupArchiveError::missing_member);
  CHECK(error_of(resealed([](json& archive) { archive["backup"].erase("configuration"); })) ==
        BackupArchiveError::missing_member);
  CHECK(error_of(resealed([](json& archive) { archive["meter"] = "ION7400"; })) == BackupArchiveError::wrong_format);
  CHECK(error_of(resealed([](json& archive) { archive["meter"]["model"] = "ION9000"; })) ==
        BackupArchiveError::wrong_format);
  CHECK(error_of(resealed([](json& archive) { archive["comment"] = "extra"; })) == BackupArchiveError::wrong_format);

  auto no_digest = json::parse(sample_archive());
  no_digest.erase("digest");
  CHECK(error_of(no_digest.dump()) == BackupArchiveError::missing_member);
  auto bad_digest = json::parse(sample_archive());
  bad_digest["digest"] = "md5:0123";
  CHECK(error_of(bad_digest.dump()) == BackupArchiveError::wrong_format);
  auto edited = json::parse(sample_archive());
  edited["backup"]["configuration"]["time_zone"] = "UTC";
  CHECK(error_of(edited.dump()) == BackupArchiveError::digest_mismatch);
  auto unsealed = json::parse(sample_archive());
  unsealed.erase("created");
  CHECK(error_of(unsealed.dump()) == BackupArchiveError::digest_mismatch);
}

TEST_CASE("One flipped bit anywhere in a backup archive is refused", "[cli][backup]") {
  const auto text = sample_archive();
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto damaged = text;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x01);
    INFO("byte " << i << " of " << text.size());
    CHECK_FALSE(decode_backup_archive(damaged));
  }
}

TEST_CASE("Every truncation of a backup archive is refused", "[cli][backup]") {
  const auto text = sample_archive();
  // Only the newline at the end carries no value.
  for (std::size_t length = 0; length + 1 < text.size(); ++length) {
    INFO("first " << length << " bytes");
    CHECK_FALSE(decode_backup_archive(std::string_view(text).substr(0, length)));
  }
}

TEST_CASE("Strings that are not UTF-8 are sealed as the archive shows them", "[cli][backup]") {
  auto backup = sample_backup();
  backup["events"][0]["detail"] = std::string("bad \xff byte");
  const auto text = encode_backup_archive(backup, "2026-11-21T12:00:00Z", "0.1.0");
  const auto decoded = decode_backup_archive(text);
  REQUIRE(decoded);
  CHECK(decoded->backup.at("events")[0].at("detail") == "bad \xef\xbf\xbd byte");
}
