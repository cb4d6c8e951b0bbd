#include "firmware/upload_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "libsec/private_file.hpp"

namespace meterd {

namespace {

constexpr std::string_view k_package_file_name = "package.part";
constexpr std::string_view k_record_file_name = "upload.json";
constexpr std::size_t k_sha256_hex_length = 64;

UploadError storage_error(std::string message) { return {UploadError::storage_failed, std::move(message)}; }
UploadError invalid(std::string message) { return {UploadError::invalid_argument, std::move(message)}; }

// The size of package.part; 0 when it does not exist (a meterd killed between writing
// upload.json and creating it).
proto::Result<std::uint64_t, std::string> bytes_on_disk(const std::filesystem::path& file) {
  struct stat status {};
  if (::stat(file.c_str(), &status) != 0) {
    if (errno == ENOENT) return std::uint64_t{0};
    return proto::unexpected(sec::describe_errno("cannot stat", file, errno));
  }
  if (!S_ISREG(status.st_mode)) return proto::unexpected(file.string() + " is not a regular file");
  return static_cast<std::uint64_t>(status.st_size);
}

}  // namespace

std::filesystem::path upload_directory(const std::filesystem::path& state_dir) {
  return state_dir / "firmware" / "upload";
}

std::optional<UploadProgress> parse_upload_record(std::string_view text) {
  const auto document = nlohmann::json::parse(text, nullptr, false);
  if (document.is_discarded() || !document.is_object()) return std::nullopt;
  const auto length = document.find("length");
  const auto sha256 = document.find("sha256");
  if (length == document.end() || !length->is_number_unsigned() || sha256 == document.end() || !sha256->is_string()) {
    return std::nullopt;
  }
  UploadProgress progress;
  progress.length = length->get<std::uint64_t>();
  progress.sha256 = sha256->get<std::string>();
  if (progress.length == 0 || progress.length > k_max_package_bytes || !is_sha256_hex(progress.sha256)) {
    return std::nullopt;
  }
  return progress;
}

std::string format_upload_record(const UploadProgress& upload) {
  return nlohmann::json{{"length", upload.length}, {"sha256", upload.sha256}}.dump() + "\n";
}

bool is_sha256_hex(std::string_view text) {
  return text.size() == k_sha256_hex_length &&
         std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::optional<std::string> parse_sha256_hex(std::string_view text) {
  std::string lowered(text);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](char c) { return c >= 'A' && c <= 'F' ? static_cast<char>(c - 'A' + 'a') : c; });
  if (!is_sha256_hex(lowered)) return std::nullopt;
  return lowered;
}

UploadStore::UploadStore(const std::filesystem::path& state_dir) : directory_(upload_directory(state_dir)) {}

std::filesystem::path UploadStore::package_file() const { return directory_ / k_package_file_name; }
std::filesystem::path UploadStore::record_file() const { return directory_ / k_record_file_name; }

std::optional<UploadProgress> UploadStore::current() const {
  const auto text = sec::read_file_if_exists(record_file(), k_max_upload_record_bytes);
  if (!text || !*text) return std::nullopt;
  auto progress = parse_upload_record(**text);
  if (!progress) return std::nullopt;
  const auto size = bytes_on_disk(package_file());
  if (!size || *size > progress->length) return std::nullopt;
  progress->offset = *size;
  return progress;
}

proto::Result<UploadProgress, UploadError> UploadStore::begin(std::uint64_t length, std::string_view sha256) {
  if (length == 0 || length > k_max_package_bytes) {
    return proto::unexpected(invalid("length " + std::to_string(length) + " is not within 1.." +
                                     std::to_string(k_max_package_bytes) +
                                     " bytes, the sizes a firmware package can have"));
  }
  const auto hash = parse_sha256_hex(sha256);
  if (!hash) return proto::unexpected(invalid("sha256 is not 64 hex digits (the SHA-256 of the whole package)"));
  if (auto stored = current(); stored && stored->length == length && stored->sha256 == *hash) return *stored;

  if (auto discarded = discard(); !discarded) return proto::unexpected(storage_error(discarded.error()));
  if (auto created = sec::create_private_directory(directory_); !created) {
    return proto::unexpected(storage_error(created.error()));
  }
  // The record first: a kill before package.part exists leaves an upload at offset 0.
  const UploadProgress fresh{length, *hash, 0};
  if (auto written = sec::write_private_file_atomically(record_file(), format_upload_record(fresh)); !written) {
    return proto::unexpected(storage_error(written.error()));
  }
  const auto part = package_file();
  sec::FileDescriptor fd(::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, sec::k_private_file_mode));
  if (fd.get() < 0) return proto::unexpected(storage_error(sec::describe_errno("cannot create", part, errno)));
  if (fd.close() != 0) return proto::unexpected(storage_error(sec::describe_errno("cannot create", part, errno)));
  return fresh;
}

proto::Result<UploadProgress, UploadError> UploadStore::append(std::uint64_t offset, std::span<const std::byte> data) {
  auto progress = current();
  if (!progress) return proto::unexpected(invalid("no firmware upload is in progress; start one with upgrade.begin"));
  if (offset != progress->offset) {
    return proto::unexpected(invalid("expected offset " + std::to_string(progress->offset) + ", not " +
                                     std::to_string(offset) + "; upgrade.begin tells where the upload stands"));
  }
  if (data.size() > progress->length - progress->offset) {
    return proto::unexpected(invalid(std::to_string(data.size()) + " bytes at offset " + std::to_string(offset) +
                                     " run past the announced length of " + std::to_string(progress->length)));
  }
  const auto part = package_file();
  // O_CREAT: a meterd killed between writing upload.json and creating package.part.
  sec::FileDescriptor fd(::open(part.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, sec::k_private_file_mode));
  if (fd.get() < 0) return proto::unexpected(storage_error(sec::describe_errno("cannot open", part, errno)));
  std::size_t written = 0;
  while (written < data.size()) {
    const auto count =
        ::pwrite(fd.get(), data.data() + written, data.size() - written, static_cast<off_t>(offset + written));
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) {
      const int error = count == 0 ? EIO : errno;
      // A partial chunk would make the next offset a surprise; the client sends it again.
      (void)::ftruncate(fd.get(), static_cast<off_t>(offset));
      return proto::unexpected(storage_error(sec::describe_errno("cannot write", part, error)));
    }
    written += static_cast<std::size_t>(count);
  }
  if (fd.close() != 0) {
    const int error = errno;
    (void)::truncate(part.c_str(), static_cast<off_t>(offset));
    return proto::unexpected(storage_error(sec::describe_errno("cannot write", part, error)));
  }
  // No fsync per chunk: after a power cut the file may be shorter than acknowledged, and
  // upgrade.begin then reports the shorter offset; a torn tail fails the whole-package
  // SHA-256 that upgrade.finish checks.
  progress->offset += data.size();
  return *progress;
}

proto::Result<bool, std::string> UploadStore::discard() {
  std::error_code error;
  if (!std::filesystem::exists(directory_, error)) {
    if (error) return proto::unexpected("cannot look at " + directory_.string() + ": " + error.message());
    return false;
  }
  std::filesystem::remove_all(directory_, error);
  if (error) return proto::unexpected("cannot remove " + directory_.string() + ": " + error.message());
  return true;
}

}  // namespace meterd
