#pragma once
// The firmware package a meter is receiving (upgrade.begin and upgrade.chunk, FIRMWARE
// UPGRADE in meter-native-protocol(7)). <state>/firmware/upload/ holds package.part, the
// bytes received so far, and upload.json, what the whole package will be:
// {"length": N, "sha256": "<hex>"}. Nothing is kept in memory: a meterd killed in the
// middle of an upload resumes where package.part ends, and a client that lost its
// connection asks upgrade.begin where that is.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "libproto/result.hpp"
#include "libsec/firmware_package.hpp"

namespace meterd {

// meter-firmware-package(5), LAYOUT and LIMITS: the largest package the format allows
// (header, the longest manifest, payload length, the largest payload, signature). An
// upload announcing more is refused before a byte is stored.
inline constexpr std::uint64_t k_max_package_bytes = sec::k_package_header_bytes + sec::k_max_manifest_bytes +
                                                     sec::k_payload_length_bytes + sec::k_max_payload_bytes +
                                                     sec::k_package_signature_bytes;

// meter-native-protocol(7), FIRMWARE UPGRADE: the data of one upgrade.chunk. 192 KiB
// with its CBOR framing stays well inside a frame body (256 KiB), and 1,400 chunks carry
// the largest package.
inline constexpr std::size_t k_max_upload_chunk_bytes = 192 * 1024;

// upload.json is two numbers and a hash; anything larger is not one.
inline constexpr std::size_t k_max_upload_record_bytes = 4 * 1024;

// The upload on disk.
struct UploadProgress {
  std::uint64_t length = 0;  // of the whole package, as upgrade.begin announced it
  std::string sha256;        // of the whole package, lowercase hex
  std::uint64_t offset = 0;  // bytes received: the size of package.part

  friend bool operator==(const UploadProgress&, const UploadProgress&) = default;
};

struct UploadError {
  enum Kind {
    // The request itself is wrong: a length out of range, a hash that is no SHA-256, a
    // chunk at another offset than the end, a chunk past the announced length, no upload.
    invalid_argument,
    // The state directory could not be read or written.
    storage_failed,
  } kind;
  std::string message;
};

// <state>/firmware/upload
std::filesystem::path upload_directory(const std::filesystem::path& state_dir);

// upload.json: {"length": N, "sha256": "<hex>"}. parse_upload_record refuses anything
// else (a length out of 1..k_max_package_bytes, a hash that is not lowercase hex); the
// offset it returns is 0, as the record does not hold it.
std::optional<UploadProgress> parse_upload_record(std::string_view text);
std::string format_upload_record(const UploadProgress& upload);

// 64 lowercase hex digits. Upper case is accepted by parse_sha256_hex and lowered, so a
// hash copied from any tool names the same upload.
bool is_sha256_hex(std::string_view text);
std::optional<std::string> parse_sha256_hex(std::string_view text);

class UploadStore {
 public:
  explicit UploadStore(const std::filesystem::path& state_dir);

  // The upload on disk, if any. A record that cannot be read or makes no sense (a
  // package.part longer than its length) counts as none: begin replaces it.
  std::optional<UploadProgress> current() const;

  // Starts or resumes an upload. The same length and hash as the stored upload: resumes
  // at the bytes already on disk. Anything else: the stored upload is discarded and a
  // new one starts at 0. Refused: a length of 0 or above k_max_package_bytes, a hash that
  // is not 64 hex digits.
  proto::Result<UploadProgress, UploadError> begin(std::uint64_t length, std::string_view sha256);

  // Appends `data` at `offset`, which must be the current end ("expected offset N"
  // otherwise: the client resyncs with begin). Never grows the file past the announced
  // length. A failed write leaves the file as it was before the call.
  proto::Result<UploadProgress, UploadError> append(std::uint64_t offset, std::span<const std::byte> data);

  // Removes the upload; true when there was one.
  proto::Result<bool, std::string> discard();

  const std::filesystem::path& directory() const { return directory_; }
  std::filesystem::path package_file() const;
  std::filesystem::path record_file() const;

 private:
  std::filesystem::path directory_;
};

}  // namespace meterd
