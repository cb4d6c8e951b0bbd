#include "firmware/trusted_key_install.hpp"

#include "firmware/package_installer.hpp"
#include "libsec/private_file.hpp"
#include "libsec/signing_key.hpp"

namespace meterd {

proto::Result<std::vector<std::string>, std::string> install_trusted_keys(const std::filesystem::path& state_dir,
                                                                          std::span<const std::string> key_files) {
  std::vector<std::string> written;
  if (key_files.empty()) return written;
  const auto directory = trusted_keys_directory(state_dir);
  if (auto created = sec::create_private_directory(directory); !created) return proto::unexpected(created.error());
  for (const auto& file : key_files) {
    auto key = sec::load_signing_public_key(file);
    if (!key) return proto::unexpected("--trusted-key " + file + ": " + key.error());
    // Stored in the one PEM form OpenSSL writes, so the same key given again, however
    // its file was formatted, finds itself already there.
    auto pem = sec::signing_public_key_pem(key->key.get());
    if (!pem) return proto::unexpected("--trusted-key " + file + ": " + pem.error());
    const auto target = directory / (key->id + ".pub");
    auto existing = sec::read_file_if_exists(target, sec::k_max_signing_key_file_bytes);
    if (existing && existing->has_value() && **existing == *pem) continue;
    if (auto saved = sec::write_private_file_atomically(target, *pem); !saved) return proto::unexpected(saved.error());
    written.push_back(key->id);
  }
  return written;
}

}  // namespace meterd
