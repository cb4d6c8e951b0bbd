#pragma once
// Signed packages, trusted keys and state directories for the firmware upgrade tests.

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "firmware/upload_store.hpp"
#include "libproto/model/version.hpp"
#include "libsec/firmware_package.hpp"
#include "libsec/private_file.hpp"
#include "libsec/signing_key.hpp"

namespace upgrade_test {

using Bytes = std::vector<std::byte>;

struct TemporaryDirectory {
  std::filesystem::path path;
  TemporaryDirectory() {
    std::random_device entropy;
    path = std::filesystem::temp_directory_path() / ("meterd-upgrade-" + std::to_string(entropy()));
    std::filesystem::create_directories(path);
  }
  ~TemporaryDirectory() { std::filesystem::remove_all(path); }
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;
};

inline Bytes bytes_of(std::string_view text) {
  const auto* begin = reinterpret_cast<const std::byte*>(text.data());
  return Bytes(begin, begin + text.size());
}

inline std::string text_of(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

inline std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline sec::KeyHandle new_key() {
  auto key = sec::generate_signing_key();
  REQUIRE(key);
  return std::move(*key);
}

// Puts the public half of `key` into <state>/trusted-keys/NAME.pub.
inline void trust(const std::filesystem::path& state_dir, EVP_PKEY* key, const std::string& name = "vendor") {
  const auto pem = sec::signing_public_key_pem(key);
  REQUIRE(pem);
  std::filesystem::create_directories(state_dir / "trusted-keys");
  REQUIRE(sec::write_private_file_atomically(state_dir / "trusted-keys" / (name + ".pub"), *pem));
}

inline sec::Date date(int year, unsigned month, unsigned day) {
  return sec::Date{std::chrono::year(year), std::chrono::month(month), std::chrono::day(day)};
}

inline sec::FirmwareManifest manifest(const std::string& version, const std::string& model = "ION7400") {
  sec::FirmwareManifest manifest;
  manifest.model = model;
  manifest.firmware_version = *proto::model::Version::parse(version);
  manifest.min_meterctl_version = proto::model::Version{0, 1, 0};
  manifest.released = date(2026, 1, 1);
  manifest.expires = date(2028, 1, 1);
  return manifest;
}

inline Bytes sign(const sec::FirmwareManifest& manifest, const Bytes& payload, EVP_PKEY* key) {
  auto package = sec::sign_firmware_package(manifest, payload, key);
  REQUIRE(package);
  return std::move(*package);
}

// Stores `package` as a complete upload (replacing any other), announced with `announced_sha256` (default:
// the package's own).
inline meterd::UploadProgress upload(const std::filesystem::path& state_dir, const Bytes& package,
                                     std::string announced_sha256 = {}) {
  if (announced_sha256.empty()) announced_sha256 = sec::sha256_hex(package);
  meterd::UploadStore store(state_dir);
  REQUIRE(store.discard());
  auto begun = store.begin(package.size(), announced_sha256);
  REQUIRE(begun);
  auto appended = store.append(0, package);
  REQUIRE(appended);
  return *appended;
}

inline unsigned file_mode(const std::filesystem::path& file) {
  struct stat status {};
  REQUIRE(::stat(file.c_str(), &status) == 0);
  return status.st_mode & 07777;
}

}  // namespace upgrade_test
