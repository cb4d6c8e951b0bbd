#include "firmware/package_installer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "libproto/model/utc_time.hpp"
#include "libsec/private_file.hpp"

namespace meterd {

namespace {

// The installed payload may be run by the supervisor and read by anyone checking it.
constexpr mode_t k_slot_executable_mode = 0755;
constexpr int k_slot_manifest_mode = 0644;

PackageRefusal refused(std::string message) { return {PackageRefusal::refused, std::move(message)}; }
PackageRefusal failed(std::string message) { return {PackageRefusal::failed, std::move(message)}; }

std::string hex(std::span<const std::byte> bytes) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string text;
  for (const auto byte : bytes) {
    const auto value = std::to_integer<unsigned>(byte);
    text += k_digits[value >> 4];
    text += k_digits[value & 0x0F];
  }
  return text;
}

// read(2) that retries EINTR; the count, 0 at the end, -1 with errno set.
ssize_t read_some(int fd, void* buffer, std::size_t size) {
  for (;;) {
    const auto got = ::read(fd, buffer, size);
    if (got >= 0 || errno != EINTR) return got;
  }
}

// Copies `length` bytes at `offset` of `from` to the start of `to`: copy_file_range
// where the file system offers it (no trip through user space), else read and write.
proto::Result<proto::Ok, std::string> copy_range(int from, std::uint64_t offset, std::uint64_t length, int to,
                                                 const std::filesystem::path& target) {
  auto in_offset = static_cast<off_t>(offset);
  std::uint64_t left = length;
  bool kernel_copy = true;
  std::vector<char> buffer;
  while (left > 0) {
    const auto wanted = static_cast<std::size_t>(std::min<std::uint64_t>(left, k_package_read_block_bytes));
    if (kernel_copy) {
      const auto copied = ::copy_file_range(from, &in_offset, to, nullptr, wanted, 0);
      if (copied > 0) {
        left -= static_cast<std::uint64_t>(copied);
        continue;
      }
      if (copied < 0 && errno == EINTR) continue;
      if (copied < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
        kernel_copy = false;
        continue;
      }
      return proto::unexpected(copied == 0 ? target.string() + ": the package file ended early"
                                           : sec::describe_errno("cannot copy the payload to", target, errno));
    }
    buffer.resize(k_package_read_block_bytes);
    const auto got = ::pread(from, buffer.data(), wanted, in_offset);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      return proto::unexpected(got == 0 ? target.string() + ": the package file ended early"
                                        : sec::describe_errno("cannot read the payload for", target, errno));
    }
    if (!sec::write_all(to, std::string_view(buffer.data(), static_cast<std::size_t>(got)))) {
      return proto::unexpected(sec::describe_errno("cannot write", target, errno));
    }
    in_offset += got;
    left -= static_cast<std::uint64_t>(got);
  }
  return proto::Ok{};
}

// slot-X/meterd and slot-X/manifest.json from the verified package.
proto::Result<proto::Ok, std::string> write_slot(int package_fd, const sec::VerifiedPackage& verified,
                                                 const std::filesystem::path& slot_dir) {
  if (auto created = sec::create_private_directory(slot_dir); !created) return proto::unexpected(created.error());
  const auto executable = slot_dir / k_slot_executable_name;
  auto temporary = executable;
  temporary += ".tmp";
  // A meterd.tmp left by an install killed part way is simply written over.
  sec::FileDescriptor out(
      ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, sec::k_private_file_mode));
  if (out.get() < 0) return proto::unexpected(sec::describe_errno("cannot create", temporary, errno));
  if (auto copied =
          copy_range(package_fd, verified.payload_offset, verified.manifest.payload_length, out.get(), temporary);
      !copied) {
    ::unlink(temporary.c_str());
    return copied;
  }
  if (::fsync(out.get()) != 0 || ::fchmod(out.get(), k_slot_executable_mode) != 0 || out.close() != 0) {
    const auto message = sec::describe_errno("cannot write", temporary, errno);
    ::unlink(temporary.c_str());
    return proto::unexpected(message);
  }
  if (::rename(temporary.c_str(), executable.c_str()) != 0) {
    const auto message = sec::describe_errno("cannot rename " + temporary.string() + " to", executable, errno);
    ::unlink(temporary.c_str());
    return proto::unexpected(message);
  }
  const auto manifest = sec::encode_manifest(verified.manifest);
  if (!manifest) return proto::unexpected(manifest.error().message);
  // write_file_atomically syncs the directory, which makes the rename above durable too.
  return sec::write_file_atomically(slot_dir / k_slot_manifest_name, *manifest + "\n", k_slot_manifest_mode);
}

// The record of a meter that never ran under its boot supervisor: slot a is the running
// executable, as the supervisor records it on its first start.
BootRecord first_boot_record(const InstallTarget& target) {
  BootRecord record;
  record.active = Slot::a;
  SlotRecord factory;
  factory.factory = true;
  factory.executable = target.factory_executable.string();
  factory.installed_at = proto::model::iso_utc(static_cast<double>(target.now));
  record.slot(Slot::a) = std::move(factory);
  return record;
}

}  // namespace

std::filesystem::path trusted_keys_directory(const std::filesystem::path& state_dir) {
  return state_dir / "trusted-keys";
}

proto::Result<std::vector<sec::SigningPublicKey>, std::string> load_trusted_keys(
    const std::filesystem::path& state_dir) {
  const auto directory = trusted_keys_directory(state_dir);
  std::vector<sec::SigningPublicKey> keys;
  std::error_code error;
  if (!std::filesystem::exists(directory, error)) {
    if (error) return proto::unexpected("cannot look at " + directory.string() + ": " + error.message());
    return keys;
  }
  std::vector<std::filesystem::path> files;
  for (std::filesystem::directory_iterator it(directory, error), end; !error && it != end; it.increment(error)) {
    if (it->path().extension() != ".pub") continue;
    if (files.size() == k_max_trusted_keys) {
      return proto::unexpected(directory.string() + " holds more than " + std::to_string(k_max_trusted_keys) +
                               " keys; keep the ones this meter should trust");
    }
    files.push_back(it->path());
  }
  if (error) return proto::unexpected("cannot list " + directory.string() + ": " + error.message());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    auto key = sec::load_signing_public_key(file);
    if (!key) return proto::unexpected(key.error() + "; fix or remove it");
    keys.push_back(std::move(*key));
  }
  return keys;
}

namespace {

// verify_package_file on an open descriptor, read from its start: install_package copies
// the payload from the same open file it verified.
proto::Result<sec::VerifiedPackage, PackageRefusal> verify_open_package(const sec::FileDescriptor& fd,
                                                                        const std::filesystem::path& package_file,
                                                                        const UploadProgress& expected,
                                                                        std::span<const sec::SigningPublicKey> keys) {
  struct stat status {};
  if (::fstat(fd.get(), &status) != 0) {
    return proto::unexpected(failed(sec::describe_errno("cannot stat", package_file, errno)));
  }
  if (static_cast<std::uint64_t>(status.st_size) != expected.length) {
    return proto::unexpected(refused("the upload holds " + std::to_string(status.st_size) + " bytes; upgrade.begin " +
                                     "announced " + std::to_string(expected.length)));
  }
  sec::DigestContextHandle whole(EVP_MD_CTX_new());
  if (!whole || EVP_DigestInit_ex(whole.get(), EVP_sha256(), nullptr) != 1) {
    return proto::unexpected(failed("cannot set up SHA-256"));
  }
  sec::PackageVerifier verifier;
  std::optional<sec::PackageFailure> structure_failure;
  std::vector<std::byte> block(k_package_read_block_bytes);
  for (;;) {
    const auto got = read_some(fd.get(), block.data(), block.size());
    if (got < 0) return proto::unexpected(failed(sec::describe_errno("cannot read", package_file, errno)));
    if (got == 0) break;
    const auto bytes = std::span<const std::byte>(block).first(static_cast<std::size_t>(got));
    if (EVP_DigestUpdate(whole.get(), bytes.data(), bytes.size()) != 1) {
      return proto::unexpected(failed("SHA-256 failed"));
    }
    // After the first error the verifier only repeats it; the hash still needs every byte.
    if (!structure_failure) {
      if (auto fed = verifier.update(bytes); !fed) structure_failure = fed.error();
    }
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_length = 0;
  if (EVP_DigestFinal_ex(whole.get(), digest, &digest_length) != 1) return proto::unexpected(failed("SHA-256 failed"));
  const auto actual = hex(std::span(reinterpret_cast<const std::byte*>(digest), digest_length));
  // A transfer that went wrong, before any question of signatures: upload it again.
  if (actual != expected.sha256) {
    return proto::unexpected(refused("the upload's SHA-256 is " + actual + ", upgrade.begin announced " +
                                     expected.sha256 + "; upload the package again"));
  }
  if (structure_failure) return proto::unexpected(refused(structure_failure->message));
  auto verified = verifier.finish(keys);
  if (!verified) {
    auto message = verified.error().message;
    if (verified.error().error == sec::PackageError::unknown_key) {
      message += "; a meter trusts the .pub keys in its trusted-keys directory";
    }
    if (verified.error().error == sec::PackageError::crypto_failure) return proto::unexpected(failed(message));
    return proto::unexpected(refused(message));
  }
  return std::move(*verified);
}

sec::FileDescriptor open_package(const std::filesystem::path& package_file) {
  return sec::FileDescriptor(::open(package_file.c_str(), O_RDONLY | O_CLOEXEC));
}

}  // namespace

proto::Result<sec::VerifiedPackage, PackageRefusal> verify_package_file(const std::filesystem::path& package_file,
                                                                        const UploadProgress& expected,
                                                                        std::span<const sec::SigningPublicKey> keys) {
  const auto fd = open_package(package_file);
  if (fd.get() < 0) return proto::unexpected(failed(sec::describe_errno("cannot open", package_file, errno)));
  return verify_open_package(fd, package_file, expected, keys);
}

proto::Result<InstalledPackage, PackageRefusal> install_package(const std::filesystem::path& package_file,
                                                                const UploadProgress& expected,
                                                                const InstallTarget& target) {
  auto keys = load_trusted_keys(target.state_dir);
  if (!keys) return proto::unexpected(failed(keys.error()));
  const auto fd = open_package(package_file);
  if (fd.get() < 0) return proto::unexpected(failed(sec::describe_errno("cannot open", package_file, errno)));
  auto verified = verify_open_package(fd, package_file, expected, *keys);
  if (!verified) return proto::unexpected(verified.error());
  const auto& manifest = verified->manifest;

  auto lock = lock_boot_record(target.state_dir);
  if (!lock) return proto::unexpected(failed(lock.error()));
  auto loaded = load_boot_record(target.state_dir);
  if (!loaded) return proto::unexpected(failed(loaded.error()));
  BootRecord record = *loaded ? std::move(**loaded) : first_boot_record(target);
  if (record.trial) {
    return proto::unexpected(PackageRefusal{
        PackageRefusal::busy, "slot " + std::string(to_string(record.trial->slot)) +
                                  " is on trial; install another package once it committed or fell back"});
  }
  const FirmwareSituation situation{target.running, record.rollback_floor, target.today};
  if (auto refusal = package_refusal(manifest, target.model, situation)) return proto::unexpected(refused(*refusal));

  const auto slot = other_slot(record.active);
  // The record forgets the slot before its files change: a kill part way leaves an empty
  // slot, never a record describing bytes that are no longer there.
  if (record.slot(slot)) {
    record.slot(slot).reset();
    if (auto saved = save_boot_record(target.state_dir, record); !saved) {
      return proto::unexpected(failed(saved.error()));
    }
  }
  const auto slot_dir = std::filesystem::absolute(slot_directory(target.state_dir, slot));
  if (auto written = write_slot(fd.get(), *verified, slot_dir); !written) {
    return proto::unexpected(failed(written.error()));
  }
  SlotRecord installed;
  installed.factory = false;
  installed.version = manifest.firmware_version;
  installed.executable = (slot_dir / k_slot_executable_name).string();
  installed.installed_at = proto::model::iso_utc(static_cast<double>(target.now));
  installed.key_id = manifest.key_id;
  installed.payload_sha256 = hex(manifest.payload_sha256);
  record.slot(slot) = std::move(installed);
  if (auto saved = save_boot_record(target.state_dir, record); !saved) return proto::unexpected(failed(saved.error()));
  return InstalledPackage{slot, manifest, verified->key_source};
}

}  // namespace meterd
