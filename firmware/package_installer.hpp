#pragma once
// upgrade.finish's work: checks a complete upload (whole-package SHA-256, signature by a
// key of <state>/trusted-keys, acceptance) and installs its payload into the inactive
// slot, recording it in the boot record. Runs on the password worker: it reads the
// package once, in blocks, and holds nothing of the meter but what it was given.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "firmware/boot_record.hpp"
#include "firmware/package_acceptance.hpp"
#include "firmware/upload_store.hpp"
#include "libproto/model/device_model.hpp"
#include "libproto/result.hpp"
#include "libsec/firmware_package.hpp"
#include "libsec/signing_key.hpp"

namespace meterd {

// A meter tries one key per package (by key id); more keys than this in trusted-keys/ is
// not a key store someone keeps, and each one costs a file read per upgrade.finish.
inline constexpr std::size_t k_max_trusted_keys = 256;
// Reads of the package file: large enough that a 60 MiB package is a few hundred reads.
inline constexpr std::size_t k_package_read_block_bytes = 256 * 1024;

// <state>/trusted-keys
std::filesystem::path trusted_keys_directory(const std::filesystem::path& state_dir);

// Every *.pub file of <state>/trusted-keys, by name; none when the directory does not
// exist. A file that is not an Ed25519 public key is an error naming it: it may be the
// key a package needs, and a trust store that silently shrinks is hard to debug.
proto::Result<std::vector<sec::SigningPublicKey>, std::string> load_trusted_keys(
    const std::filesystem::path& state_dir);

struct PackageRefusal {
  enum Kind {
    refused,  // the package: wrong hash, signature, model, expiry or version (package_refused)
    busy,     // a trial is pending: the slots may not change now
    failed,   // the meter: a file it could not read or write, a broken trusted key
  } kind;
  std::string message;
};

// Streams `package_file` once: its size must be expected.length and its SHA-256
// expected.sha256 (what upgrade.begin announced), and sec::PackageVerifier must accept it
// with one of `keys`.
proto::Result<sec::VerifiedPackage, PackageRefusal> verify_package_file(const std::filesystem::path& package_file,
                                                                        const UploadProgress& expected,
                                                                        std::span<const sec::SigningPublicKey> keys);

// What install_package needs to know of the meter, copied on the I/O thread.
struct InstallTarget {
  std::filesystem::path state_dir;
  proto::model::DeviceModel model;
  proto::model::Version running;
  sec::Date today{};  // the meter clock's date, for the expiry
  // Slot a of a boot record created here, for a meter that never ran under its boot
  // supervisor: the executable running now, as the supervisor would record it.
  std::filesystem::path factory_executable;
  std::int64_t now = 0;  // unix seconds, for installed_at
};

struct InstalledPackage {
  Slot slot = Slot::b;
  sec::FirmwareManifest manifest;
  std::string key_source;  // the trusted key file that verified it
};

// Verifies the upload (verify_package_file with the meter's trusted keys), accepts it
// (package_refusal, with the boot record's rollback floor), then, under the boot record
// lock: clears the inactive slot's record entry, copies the payload to
// slot-X/meterd.tmp, syncs it, makes it 0755 and renames it to slot-X/meterd, writes
// slot-X/manifest.json, and records the slot. A refusal changes nothing; a failure part
// way leaves the slot recorded as empty.
proto::Result<InstalledPackage, PackageRefusal> install_package(const std::filesystem::path& package_file,
                                                                const UploadProgress& expected,
                                                                const InstallTarget& target);

// The payload and manifest file names inside a slot directory.
inline constexpr std::string_view k_slot_executable_name = "meterd";
inline constexpr std::string_view k_slot_manifest_name = "manifest.json";

}  // namespace meterd
