#pragma once
// The known-meters file: meterctl's record of which TLS public key each meter presented
// the first time the operator accepted it, in the manner of OpenSSH's known_hosts.
//
//   # comment
//   meter-7.site.example:7443 SHA256:2Mj1Cw3b6Zr2mK+...(43 characters of base64)
//   [fd00::7]:7443            SHA256:...
//
// One entry per line: a meter address (see meter_address.hpp) and a fingerprint (see
// fingerprint.hpp), separated by spaces or tabs. Lines whose first non-blank character is
// '#' and blank lines are ignored. Anything else is an error naming file:line, because a
// trust file that is half understood must not be half applied. Each address appears at
// most once: two pins for one meter would leave it unclear which one is trusted.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "libproto/result.hpp"

namespace sec {

// A fleet of 100,000 meters at about 80 bytes a line: 8 MiB leaves room and still bounds
// what a corrupted or hostile file can make meterctl read.
inline constexpr std::size_t k_max_known_meters_file_bytes = 8 * 1024 * 1024;
// An entry (a 253-character name, a port, a 50-character fingerprint) fits in 320 bytes;
// the rest is room for comments.
inline constexpr std::size_t k_max_known_meters_line_bytes = 1024;

struct KnownMeter {
  std::string address;      // canonical "host:port"
  std::string fingerprint;  // "SHA256:..."
  std::size_t line = 0;     // 1-based line in the file it was read from
};

struct KnownMeters {
  std::string file;                 // names the file in messages
  std::vector<KnownMeter> entries;  // in file order

  // The entry for a canonical address, or null.
  const KnownMeter* find(std::string_view canonical_address) const;
};

// Parses the text of a known-meters file; `file` names it in errors ("file:line: ...").
// Addresses are stored in canonical form. Does no I/O, so it can be fuzzed.
proto::Result<KnownMeters, std::string> parse_known_meters(std::string_view text, std::string file);

// One "address fingerprint" line per entry, without comments; parse_known_meters reads it
// back to the same entries.
std::string serialize_known_meters(const KnownMeters& known);

// Reads and parses a known-meters file; a file that does not exist yet is an empty list.
proto::Result<KnownMeters, std::string> load_known_meters(const std::filesystem::path& file);

enum class PinStatus {
  known_match,  // the meter is in the file with this fingerprint: go on
  unknown,      // first contact: the caller decides (ask on a terminal, or --accept-new)
  mismatch,     // the meter is in the file with another key: always a hard failure
};

struct PinCheck {
  PinStatus status = PinStatus::unknown;
  std::string address;                // canonical "host:port"
  std::string presented_fingerprint;  // what the peer presented
  std::string stored_fingerprint;     // what the file holds; empty when unknown
  std::string file;                   // the known-meters file
  std::size_t line = 0;               // the line of the stored entry; 0 when unknown
};

// Compares a presented fingerprint (peer_public_key_fingerprint) with the pin for
// `address` ("host:port" in any spelling canonical_meter_address accepts). An error
// means the address or fingerprint is malformed, never that the check passed.
proto::Result<PinCheck, std::string> verify_pin(const KnownMeters& known, std::string_view address,
                                                std::string_view presented_fingerprint);

// The message for a check, for the operator: for a mismatch it shows both fingerprints and
// the file:line to edit once the new key has been verified out of band.
std::string describe_pin_check(const PinCheck& check);

// Records `fingerprint` for `address`, creating the file (0600) and its directory (0700)
// if needed. Existing lines and comments are kept and the entry is appended; the file is
// replaced atomically (temporary file, fsync, rename) under an exclusive lock, so parallel
// meterctl processes or threads pinning different meters do not lose each other's entries.
// Adding a pin that is already there is a no-op; replacing a different pin is refused:
// changing trust is an operator's deliberate edit of the file, never a side effect.
proto::Result<proto::Ok, std::string> add_pin(const std::filesystem::path& file, std::string_view address,
                                              std::string_view fingerprint);

}  // namespace sec
