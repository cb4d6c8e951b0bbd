#include "libsec/private_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace sec {

std::string describe_errno(std::string_view what, const std::filesystem::path& path, int error) {
  std::string text(what);
  text.append(" ").append(path.string()).append(": ").append(std::strerror(error));
  return text;
}

namespace {

std::filesystem::path temporary_path_for(const std::filesystem::path& path) {
  // pid + a per-process counter: unique across processes and across threads of one process.
  static std::atomic<unsigned long> counter{0};
  // Appended piece by piece: GCC 12 warns falsely (-Wrestrict, GCC bug 105329) on "." + string.
  std::string name = ".";
  name.append(path.filename().string())
      .append(".tmp.")
      .append(std::to_string(::getpid()))
      .append(".")
      .append(std::to_string(counter.fetch_add(1)));
  return path.parent_path() / name;
}

}  // namespace

proto::Result<std::optional<std::string>, std::string> read_file_if_exists(const std::filesystem::path& path,
                                                                           std::size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO planted in place of the file must not hang the caller.
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::optional<std::string>{};
    return proto::unexpected(describe_errno("cannot open", path, errno));
  }
  struct stat status {};
  if (::fstat(fd.get(), &status) != 0) return proto::unexpected(describe_errno("cannot stat", path, errno));
  if (!S_ISREG(status.st_mode)) return proto::unexpected(path.string() + " is not a regular file");
  std::string contents;
  char buffer[8192];
  for (;;) {
    const auto got = ::read(fd.get(), buffer, sizeof buffer);
    if (got < 0) {
      if (errno == EINTR) continue;
      return proto::unexpected(describe_errno("cannot read", path, errno));
    }
    if (got == 0) break;
    contents.append(buffer, static_cast<std::size_t>(got));
    if (contents.size() > max_bytes) {
      return proto::unexpected(path.string() + " is larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  return std::optional<std::string>(std::move(contents));
}

proto::Result<proto::Ok, std::string> write_private_file_atomically(const std::filesystem::path& path,
                                                                    std::string_view contents) {
  return write_file_atomically(path, contents, k_private_file_mode);
}

proto::Result<proto::Ok, std::string> write_file_atomically(const std::filesystem::path& path, std::string_view contents,
                                                            int mode) {
  const auto temporary = temporary_path_for(path);
  // O_EXCL: never write through a file or symlink someone else put at the temporary name.
  // Created owner-only whatever `mode` is, so no one opens it before it is complete.
  FileDescriptor fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, k_private_file_mode));
  if (fd.get() < 0) return proto::unexpected(describe_errno("cannot create", temporary, errno));
  // The mode given to open() is reduced by the umask; the file gets exactly `mode`.
  if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0 || !write_all(fd.get(), contents) || ::fsync(fd.get()) != 0 ||
      fd.close() != 0) {
    const auto message = describe_errno("cannot write", temporary, errno);
    ::unlink(temporary.c_str());
    return proto::unexpected(message);
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const auto message = describe_errno("cannot replace", path, errno);
    ::unlink(temporary.c_str());
    return proto::unexpected(message);
  }
  return sync_directory(path.has_parent_path() ? path.parent_path() : std::filesystem::path("."));
}

proto::Result<proto::Ok, std::string> create_private_directory(const std::filesystem::path& directory) {
  std::error_code error;
  if (std::filesystem::is_directory(directory, error)) return proto::Ok{};
  if (directory.has_parent_path() && directory.parent_path() != directory) {
    auto parent = create_private_directory(directory.parent_path());
    if (!parent) return parent;
  }
  if (::mkdir(directory.c_str(), k_private_directory_mode) != 0 && errno != EEXIST) {
    return proto::unexpected(describe_errno("cannot create directory", directory, errno));
  }
  if (!std::filesystem::is_directory(directory, error)) {
    return proto::unexpected(directory.string() + " exists and is not a directory");
  }
  return proto::Ok{};
}

proto::Result<proto::Ok, std::string> sync_directory(const std::filesystem::path& directory) {
  FileDescriptor fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return proto::unexpected(describe_errno("cannot open directory", directory, errno));
  if (::fsync(fd.get()) != 0) return proto::unexpected(describe_errno("cannot sync directory", directory, errno));
  return proto::Ok{};
}

bool write_all(int fd, std::string_view contents) {
  while (!contents.empty()) {
    const auto written = ::write(fd, contents.data(), contents.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      // A write that makes no progress would loop for ever; report it as an I/O error.
      if (written == 0) errno = EIO;
      return false;
    }
    contents.remove_prefix(static_cast<std::size_t>(written));
  }
  return true;
}

}  // namespace sec
