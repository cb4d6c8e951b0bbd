#include "cli/package_file.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "cli/upgrade_commands.hpp"
#include "libproto/model/device_model.hpp"

namespace cli {

namespace {

// Large enough to keep read(2) calls few, small enough to show that verification never
// holds a package whole.
constexpr std::size_t k_read_chunk_bytes = 64 * 1024;

std::string hex(std::span<const unsigned char> bytes) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string text;
  text.reserve(bytes.size() * 2);
  for (const auto byte : bytes) {
    text += k_digits[byte >> 4];
    text += k_digits[byte & 0x0f];
  }
  return text;
}

CommandError package_error(const PackageFile& file, const sec::PackageFailure& failure) {
  return {exit_code_for(failure.error),
          file.path().string() + ": " + failure.message + " [" + std::string(sec::to_string(failure.error)) + "]"};
}

}  // namespace

PackageFile::PackageFile(std::filesystem::path path, std::shared_ptr<sec::FileDescriptor> descriptor)
    : path_(std::move(path)), descriptor_(std::move(descriptor)) {}

proto::Result<PackageFile, CommandError> PackageFile::open(const std::filesystem::path& path) {
  // O_NONBLOCK: a FIFO planted in place of the package must not hang the command.
  auto descriptor = std::make_shared<sec::FileDescriptor>(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (descriptor->get() < 0) {
    return proto::unexpected(CommandError{exit_io, "cannot open " + path.string() + ": " + std::strerror(errno)});
  }
  struct stat status {};
  if (::fstat(descriptor->get(), &status) != 0 || !S_ISREG(status.st_mode)) {
    return proto::unexpected(CommandError{exit_io, path.string() + " is not a regular file"});
  }
  return PackageFile(path, std::move(descriptor));
}

proto::Result<std::size_t, CommandError> PackageFile::read_at(std::uint64_t offset, std::span<std::byte> into) const {
  std::size_t filled = 0;
  while (filled < into.size()) {
    const auto got = ::pread(descriptor_->get(), into.data() + filled, into.size() - filled,
                             static_cast<off_t>(offset + filled));
    if (got < 0) {
      if (errno == EINTR) continue;
      return proto::unexpected(CommandError{exit_io, "cannot read " + path_.string() + ": " + std::strerror(errno)});
    }
    if (got == 0) break;
    filled += static_cast<std::size_t>(got);
  }
  return filled;
}

proto::Result<CheckedPackage, CommandError> check_package(const PackageFile& file,
                                                          std::span<const sec::SigningPublicKey> keys,
                                                          const sec::AcceptancePolicy& policy) {
  const sec::DigestContextHandle whole(EVP_MD_CTX_new());
  if (!whole || EVP_DigestInit_ex(whole.get(), EVP_sha256(), nullptr) != 1) {
    return proto::unexpected(CommandError{exit_software, "SHA-256 is not available"});
  }
  sec::PackageVerifier verifier;
  std::vector<std::byte> buffer(k_read_chunk_bytes);
  std::uint64_t offset = 0;
  for (;;) {
    auto got = file.read_at(offset, buffer);
    if (!got) return proto::unexpected(got.error());
    if (*got == 0) break;
    const auto chunk = std::span(buffer).first(*got);
    if (auto fed = verifier.update(chunk); !fed) return proto::unexpected(package_error(file, fed.error()));
    if (EVP_DigestUpdate(whole.get(), chunk.data(), chunk.size()) != 1) {
      return proto::unexpected(CommandError{exit_software, "SHA-256 failed"});
    }
    offset += *got;
  }
  auto verified = verifier.finish(keys);
  if (!verified) return proto::unexpected(package_error(file, verified.error()));
  if (auto accepted = sec::check_package_acceptance(verified->manifest, policy); !accepted) {
    return proto::unexpected(package_error(file, accepted.error()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_length = 0;
  if (EVP_DigestFinal_ex(whole.get(), digest, &digest_length) != 1) {
    return proto::unexpected(CommandError{exit_software, "SHA-256 failed"});
  }
  CheckedPackage checked;
  checked.verified = std::move(*verified);
  checked.length = offset;
  checked.sha256 = hex(std::span<const unsigned char>(digest, digest_length));
  return checked;
}

sec::AcceptancePolicy meterctl_acceptance_policy() {
  sec::AcceptancePolicy policy;
  policy.known_models = proto::model::embedded_model_names();
  policy.today = today_utc();
  policy.running_meterctl_version = meterctl_version();
  return policy;
}

}  // namespace cli
