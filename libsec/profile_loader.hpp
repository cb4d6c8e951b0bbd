#pragma once
// Loads a profile file the way `meterctl config` reads it: the file, then the chain of
// files it `extends` (each path relative to the file that names it), composed base first
// (meter_profile.hpp: overlay). Password files named by users are resolved relative to
// the file that names them, never read here. Files are read through the reader handed in,
// so tests and fuzzers need no disk.

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "libproto/result.hpp"
#include "libsec/meter_profile.hpp"

namespace sec {

// The file's text, or an error that names the file and why it cannot be read.
using ProfileFileReader = std::function<proto::Result<std::string, std::string>(const std::filesystem::path&)>;

// Reads from disk, refusing anything over proto::model::k_max_yaml_bytes.
proto::Result<std::string, std::string> read_profile_file(const std::filesystem::path& path);

struct LoadedProfile {
  MeterProfile profile;                        // composed; `extends` empty
  std::vector<std::filesystem::path> files;    // the file and its bases, the file first
};

// Errors are "file:line:col: message" (a cycle names the chain of files). Every
// DocumentUser::password_file of the result is the path resolved against the directory of
// the file that named it (lexically normal, absolute when that file's path was).
proto::Result<LoadedProfile, std::string> load_profile(const std::filesystem::path& file,
                                                       const ProfileFileReader& reader = read_profile_file);

}  // namespace sec
