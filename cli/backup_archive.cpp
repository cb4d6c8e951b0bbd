#include "cli/backup_archive.hpp"

#include <algorithm>
#include <cstddef>
#include <span>

#include "libsec/firmware_package.hpp"

namespace cli {

using nlohmann::json;

namespace {

constexpr std::string_view k_digest_prefix = "sha256:";
constexpr std::size_t k_sha256_hex_digits = 64;
constexpr const char* k_digest_key = "digest";
// Every member of format_version 1 but the digest; nothing else is allowed, so that what
// the digest covers is exactly what restore reads.
constexpr const char* k_members[] = {"format", "format_version", "created", "meterctl_version", "meter", "backup"};

std::string canonical(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

proto::Unexpected<BackupArchiveProblem> refuse(BackupArchiveError error, std::string message) {
  return proto::unexpected(BackupArchiveProblem{error, std::move(message)});
}

bool is_digest_text(const std::string& text) {
  return text.size() == k_digest_prefix.size() + k_sha256_hex_digits && text.starts_with(k_digest_prefix) &&
         std::all_of(text.begin() + static_cast<std::ptrdiff_t>(k_digest_prefix.size()), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

std::string_view to_string(BackupArchiveError error) {
  switch (error) {
    case BackupArchiveError::too_large: return "too_large";
    case BackupArchiveError::not_json: return "not_json";
    case BackupArchiveError::wrong_format: return "wrong_format";
    case BackupArchiveError::unsupported_format_version: return "unsupported_format_version";
    case BackupArchiveError::missing_member: return "missing_member";
    case BackupArchiveError::digest_mismatch: return "digest_mismatch";
  }
  return "unknown";
}

std::string backup_archive_digest(const json& members) {
  const auto text = canonical(members);
  return std::string(k_digest_prefix) + sec::sha256_hex(std::as_bytes(std::span(text.data(), text.size())));
}

std::string encode_backup_archive(const json& backup, const std::string& created, const std::string& meterctl_version) {
  json archive = {{"format", std::string(k_backup_archive_format)},
                  {"format_version", k_backup_archive_format_version},
                  {"created", created},
                  {"meterctl_version", meterctl_version},
                  {"meter", backup.value("identity", json::object())},
                  {"backup", backup}};
  archive[k_digest_key] = backup_archive_digest(archive);
  return archive.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

proto::Result<BackupArchive, BackupArchiveProblem> decode_backup_archive(std::string_view text) {
  using E = BackupArchiveError;
  if (text.size() > k_max_backup_archive_bytes) {
    return refuse(E::too_large, "the archive is " + std::to_string(text.size()) + " bytes, more than the " +
                                    std::to_string(k_max_backup_archive_bytes) +
                                    " a backup archive can be; it is not one meterctl backup wrote");
  }
  bool too_deep = false;
  auto document = json::parse(
      text,
      [&too_deep](int depth, json::parse_event_t, json&) {
        if (static_cast<std::size_t>(depth) > k_max_backup_archive_depth) too_deep = true;
        return !too_deep;
      },
      false);
  if (too_deep) {
    return refuse(E::not_json, "the archive nests deeper than " + std::to_string(k_max_backup_archive_depth) +
                                   " levels; it is not one meterctl backup wrote");
  }
  if (document.is_discarded() || !document.is_object()) {
    return refuse(E::not_json, "the archive is not a JSON object; a backup archive (.mbak) is written by meterctl backup");
  }
  const auto format = document.value("format", json());
  if (!format.is_string() || format.get<std::string>() != k_backup_archive_format) {
    return refuse(E::wrong_format, "the file is not a meterctl backup archive: its \"format\" is " +
                                       (format.is_null() ? std::string("missing") : canonical(format).substr(0, 64)) +
                                       ", not \"" + std::string(k_backup_archive_format) + "\"");
  }
  const auto version = document.value("format_version", json());
  if (!version.is_number_integer()) {
    return refuse(E::missing_member, "the archive has no whole-number format_version");
  }
  if (version.get<std::int64_t>() != k_backup_archive_format_version) {
    return refuse(E::unsupported_format_version,
                  "the archive has format_version " + canonical(version) + "; this meterctl reads " +
                      std::to_string(k_backup_archive_format_version) +
                      " only: use the meterctl that wrote it, or a newer one");
  }
  if (!document.contains(k_digest_key)) return refuse(E::missing_member, "the archive has no digest");
  const auto& digest = document.at(k_digest_key);
  if (!digest.is_string() || !is_digest_text(digest.get<std::string>())) {
    return refuse(E::wrong_format, "the archive's digest is not sha256: and 64 lowercase hexadecimal digits");
  }
  for (const auto& [key, value] : document.items()) {
    if (key != k_digest_key && std::find(std::begin(k_members), std::end(k_members), key) == std::end(k_members)) {
      return refuse(E::wrong_format, "the archive holds a member format_version 1 does not have: " + key.substr(0, 64));
    }
  }
  json members = document;
  members.erase(k_digest_key);
  if (backup_archive_digest(members) != digest.get<std::string>()) {
    return refuse(E::digest_mismatch,
                  "the archive's digest does not match its contents: it was damaged or edited after meterctl backup "
                  "wrote it. Nothing was restored; use another backup");
  }
  for (const auto* key : k_members) {
    if (!document.contains(key)) return refuse(E::missing_member, std::string("the archive has no ") + key);
  }
  BackupArchive archive;
  archive.format_version = k_backup_archive_format_version;
  archive.digest = digest.get<std::string>();
  const auto& created = document.at("created");
  const auto& meterctl_version = document.at("meterctl_version");
  if (!created.is_string() || !meterctl_version.is_string()) {
    return refuse(E::wrong_format, "the archive's created and meterctl_version must be text");
  }
  archive.created = created.get<std::string>();
  archive.meterctl_version = meterctl_version.get<std::string>();
  archive.meter = document.at("meter");
  archive.backup = document.at("backup");
  if (!archive.meter.is_object() || !archive.backup.is_object()) {
    return refuse(E::wrong_format, "the archive's meter and backup must be objects");
  }
  for (const auto* key : {"identity", "configuration"}) {
    if (!archive.backup.contains(key)) return refuse(E::missing_member, std::string("the archive's backup has no ") + key);
    if (!archive.backup.at(key).is_object()) {
      return refuse(E::wrong_format, std::string("the archive's backup.") + key + " must be an object");
    }
  }
  if (archive.meter != archive.backup.at("identity")) {
    return refuse(E::wrong_format, "the archive's meter differs from its backup.identity");
  }
  return archive;
}

}  // namespace cli
