#pragma once
// Crash-safe file replacement: write a temporary file in the same directory, fsync it,
// rename it over the target and fsync the directory. A kill -9 or power loss at any
// moment leaves either the old or the new contents, never a mix.

#include <filesystem>
#include <string>
#include <string_view>

#include "libproto/result.hpp"

namespace meterd {

proto::Result<proto::Ok, std::string> write_file_atomically(const std::filesystem::path& path,
                                                            std::string_view contents, int mode = 0600);

proto::Result<std::string, std::string> read_small_file(const std::filesystem::path& path, std::size_t max_bytes);

}  // namespace meterd
