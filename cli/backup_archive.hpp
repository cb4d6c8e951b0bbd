#pragma once
// The backup archive (FILE.mbak) that `meterctl backup` writes and `meterctl restore`
// reads: one JSON document holding what backup.get returned (meter-native-protocol(7)),
// sealed with a SHA-256 digest so that a damaged or edited archive is refused before it
// reaches a meter.
//
//   {"format": "meterctl-backup", "format_version": 1,
//    "created": "2026-11-21T12:00:00Z", "meterctl_version": "0.1.0",
//    "meter": <backup.identity>, "backup": <backup.get's result>,
//    "digest": "sha256:<hex>"}
//
// The digest is SHA-256 of the canonical JSON of every member but "digest": object keys
// sorted, no whitespace, UTF-8 as is (nlohmann::json's dump()). The file itself is
// indented for people to read; whitespace is not covered, values are. A digest is no
// signature: it finds damage and careless edits, not someone who recomputes it. The
// file holds password hashes, which is why meterctl writes it owner-only (0600).
//
// Pure: no I/O, so the decoder can be fuzzed (tests/fuzz/fuzz_backup_archive.cpp).

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "libproto/result.hpp"

namespace cli {

inline constexpr std::string_view k_backup_archive_format = "meterctl-backup";
inline constexpr int k_backup_archive_format_version = 1;
inline constexpr std::string_view k_backup_archive_extension = ".mbak";
// A backup is backup.get's reply, at most one native body of 256 KiB as CBOR
// (meter-native-protocol(7), limits). As indented JSON it grows, by six bytes for each
// control character it escapes at worst; 4 MiB holds that with room to spare, and
// anything larger is not an archive meterctl wrote.
inline constexpr std::size_t k_max_backup_archive_bytes = 4 * 1024 * 1024;
// nlohmann::json parses recursively; a backup is a few levels deep. Deeper input is
// refused before it is parsed, so a hostile file cannot exhaust the stack.
inline constexpr std::size_t k_max_backup_archive_depth = 32;

struct BackupArchive {
  int format_version = k_backup_archive_format_version;
  std::string created;           // ISO 8601 UTC, "2026-11-21T12:00:00Z"
  std::string meterctl_version;  // of the meterctl that wrote it
  nlohmann::json meter;          // the meter's identity (backup.identity)
  nlohmann::json backup;         // backup.get's result
  std::string digest;            // "sha256:<64 lowercase hex digits>"
};

// Why an archive is refused, each with a message that says where and what to do.
enum class BackupArchiveError {
  too_large,                   // above k_max_backup_archive_bytes
  not_json,                    // not a JSON object (or nested too deeply)
  wrong_format,                // "format" is not meterctl-backup, or a member has the wrong type
  unsupported_format_version,  // a format_version this meterctl does not read
  missing_member,              // a member the format requires is absent
  digest_mismatch,             // the members are not those the digest was taken of
};
std::string_view to_string(BackupArchiveError error);

struct BackupArchiveProblem {
  BackupArchiveError error;
  std::string message;
};

// The archive of `backup` (backup.get's result, which must hold an "identity" object),
// indented, ending in a newline. Strings that are not valid UTF-8 are written with U+FFFD
// in their place, in the text and in what the digest covers alike.
std::string encode_backup_archive(const nlohmann::json& backup, const std::string& created,
                                  const std::string& meterctl_version);

// Reads an archive; the digest is checked before anything in it is believed.
proto::Result<BackupArchive, BackupArchiveProblem> decode_backup_archive(std::string_view text);

// "sha256:<hex>" of the canonical JSON of `members` (an archive without its digest).
std::string backup_archive_digest(const nlohmann::json& members);

}  // namespace cli
