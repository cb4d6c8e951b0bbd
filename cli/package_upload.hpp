#pragma once
// Sends a package to a meter with upgrade.begin and upgrade.chunk (meter-native-protocol(7))
// and survives a dropped connection: it reconnects, asks upgrade.begin again, and goes on
// from the offset the meter reports, so the bytes the meter acknowledged are never sent
// twice. No I/O of its own: the link and the package's reader are handed in.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "cli/exit_codes.hpp"
#include "cli/upgrade_link.hpp"
#include "libproto/result.hpp"

namespace cli {

// upgrade.chunk carries 1..196608 bytes (meter-native-protocol(7)): 192 KiB of data and
// its CBOR framing stay within the protocol's 256 KiB body.
inline constexpr std::size_t k_max_chunk_size = 196608;
inline constexpr std::size_t k_default_chunk_size = 128 * 1024;

struct UploadSettings {
  std::size_t chunk_size = k_default_chunk_size;
  // One wait before each new attempt after a lost connection; their number is the number
  // of attempts. Progress between two losses starts the count again: a long transfer
  // over a link that drops now and then still completes.
  std::vector<std::chrono::milliseconds> backoff = {std::chrono::milliseconds(200), std::chrono::milliseconds(500),
                                                    std::chrono::milliseconds(1000), std::chrono::milliseconds(2000),
                                                    std::chrono::milliseconds(4000)};
};

// Reads up to into.size() bytes of the package at `offset`.
using PackageReader = std::function<proto::Result<std::size_t, CommandError>(std::uint64_t offset,
                                                                               std::span<std::byte> into)>;
using Sleeper = std::function<void(std::chrono::milliseconds)>;
// Told the bytes the meter holds after each acknowledged chunk.
using UploadProgress = std::function<void(std::uint64_t acknowledged)>;

struct UploadSummary {
  std::uint64_t resumed_at = 0;  // bytes the meter already held when this run began
  std::uint64_t sent = 0;        // bytes this run sent and the meter acknowledged
  unsigned reconnects = 0;
};

// Uploads `length` bytes whose SHA-256 is `sha256` (lowercase hex). Resumes at the
// meter's offset; a lost connection (exit_unavailable, exit_timeout) is retried as
// UploadSettings says; a chunk the meter refuses for its offset is resent from the
// offset upgrade.begin reports; any other error ends the upload.
proto::Result<UploadSummary, CommandError> upload_package(UpgradeLink& link, const PackageReader& read,
                                                          std::uint64_t length, const std::string& sha256,
                                                          const UploadSettings& settings, const Sleeper& sleep,
                                                          const UploadProgress& progress);

}  // namespace cli
