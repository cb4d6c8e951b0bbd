#pragma once
// A firmware package file (meter-firmware-package(5)) on the machine meterctl runs on:
// opened once, read in chunks through the streaming verifier (never held whole), hashed
// whole for the meter's upload (upgrade.begin names the SHA-256 of the file), and read
// again at any offset while it is sent. `upgrade verify` and `upgrade apply` share it.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "cli/exit_codes.hpp"
#include "libproto/result.hpp"
#include "libsec/firmware_package.hpp"
#include "libsec/private_file.hpp"

namespace cli {

class PackageFile {
 public:
  // Opens a regular file for reading (a FIFO in its place does not hang the command).
  // exit_io when it cannot.
  static proto::Result<PackageFile, CommandError> open(const std::filesystem::path& path);

  // Reads up to into.size() bytes at `offset`; fewer only at the end of the file. Safe
  // from several threads at once (pread(2)).
  proto::Result<std::size_t, CommandError> read_at(std::uint64_t offset, std::span<std::byte> into) const;

  const std::filesystem::path& path() const { return path_; }

 private:
  PackageFile(std::filesystem::path path, std::shared_ptr<sec::FileDescriptor> descriptor);

  std::filesystem::path path_;
  std::shared_ptr<sec::FileDescriptor> descriptor_;
};

// A package that passed every offline check.
struct CheckedPackage {
  sec::VerifiedPackage verified;  // manifest and the key file that verified it
  std::uint64_t length = 0;       // bytes in the file
  std::string sha256;             // of the whole file, lowercase hex
};

// Reads the whole package through sec::PackageVerifier with `keys`, hashes it, and checks
// acceptance (a model meterctl knows, not expired, not for a newer meterctl). Errors
// are "FILE: message [error_name]" with exit_code_for's status (77 signature or key, 65
// anything else about the package) or exit_io for a file that cannot be read.
proto::Result<CheckedPackage, CommandError> check_package(const PackageFile& file,
                                                          std::span<const sec::SigningPublicKey> keys,
                                                          const sec::AcceptancePolicy& policy);

// The acceptance policy of this meterctl today: the models it embeds, today's UTC date,
// its own version.
sec::AcceptancePolicy meterctl_acceptance_policy();

}  // namespace cli
