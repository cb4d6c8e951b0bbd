#pragma once
// Crash-safe files: read with a size bound, replaced atomically. Files that hold secrets
// or trust decisions (device keys, pinned fingerprints, meter state) are readable by the
// owner only. The temporary name is unique per call, not only per process, because
// several threads may write at once (fleet pinning, the state writer).

#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "libproto/result.hpp"

namespace sec {

// Owner read/write only: other users must neither read a private key nor plant a pin.
inline constexpr int k_private_file_mode = 0600;
inline constexpr int k_private_directory_mode = 0700;

// An open file descriptor, closed when it goes out of scope.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // close(2) can report a delayed write error; callers that wrote must look at it.
  int close() {
    const int result = ::close(fd_);
    fd_ = -1;
    return result;
  }

 private:
  int fd_;
};

// "WHAT PATH: strerror(error)", the message of a failed system call on a file.
std::string describe_errno(std::string_view what, const std::filesystem::path& path, int error);

// The contents of a regular file of at most max_bytes, or nullopt when it does not exist.
// Any other failure (permission denied, a directory or FIFO, too large) is an error
// naming the path.
proto::Result<std::optional<std::string>, std::string> read_file_if_exists(const std::filesystem::path& path,
                                                                           std::size_t max_bytes);

// Replaces `path` with `contents`, mode 0600: a temporary file in the same directory,
// fsync, rename over the target, fsync the directory. A kill -9 or power loss at any
// moment leaves the old or the new contents, never a mix, and never a readable temporary
// file with wider permissions.
proto::Result<proto::Ok, std::string> write_private_file_atomically(const std::filesystem::path& path,
                                                                    std::string_view contents);

// The same crash-safe replacement for a file others may read (`mode`, umask ignored).
proto::Result<proto::Ok, std::string> write_file_atomically(const std::filesystem::path& path, std::string_view contents,
                                                            int mode);

// Creates `directory` and missing parents; a directory this call creates gets mode 0700.
// An existing directory keeps its mode: it may be shared on purpose (for example ~/.config).
proto::Result<proto::Ok, std::string> create_private_directory(const std::filesystem::path& directory);

// Writes all of `contents` to `fd`, retrying short writes and EINTR; false with errno set.
bool write_all(int fd, std::string_view contents);
// Makes renames and file creations inside `directory` durable.

proto::Result<proto::Ok, std::string> sync_directory(const std::filesystem::path& directory);

}  // namespace sec
