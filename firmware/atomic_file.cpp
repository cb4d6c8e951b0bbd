#include "firmware/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace meterd {

namespace {

std::string describe_errno(const std::string& what, const std::filesystem::path& path) {
  return what + " " + path.string() + ": " + std::strerror(errno);
}

bool write_all(int fd, std::string_view contents) {
  while (!contents.empty()) {
    const auto written = ::write(fd, contents.data(), contents.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    contents.remove_prefix(static_cast<std::size_t>(written));
  }
  return true;
}

}  // namespace

proto::Result<proto::Ok, std::string> write_file_atomically(const std::filesystem::path& path,
                                                            std::string_view contents, int mode) {
  const auto directory = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  // Appended piece by piece: GCC 12 warns falsely (-Wrestrict, GCC bug 105329) on "." + string.
  std::string temporary_name = ".";
  temporary_name.append(path.filename().string()).append(".tmp.").append(std::to_string(::getpid()));
  const auto temporary = directory / temporary_name;
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return proto::unexpected(describe_errno("cannot create", temporary));
  if (!write_all(fd, contents) || ::fsync(fd) != 0) {
    const auto message = describe_errno("cannot write", temporary);
    ::close(fd);
    ::unlink(temporary.c_str());
    return proto::unexpected(message);
  }
  ::close(fd);
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const auto message = describe_errno("cannot replace", path);
    ::unlink(temporary.c_str());
    return proto::unexpected(message);
  }
  // The rename is durable only once the directory entry is on disk.
  const int directory_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory_fd >= 0) {
    ::fsync(directory_fd);
    ::close(directory_fd);
  }
  return proto::Ok{};
}

proto::Result<std::string, std::string> read_small_file(const std::filesystem::path& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return proto::unexpected("cannot open " + path.string() + ": " + std::strerror(errno));
  std::string contents;
  char buffer[8192];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    contents.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (contents.size() > max_bytes) {
      return proto::unexpected(path.string() + " is larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  return contents;
}

}  // namespace meterd
