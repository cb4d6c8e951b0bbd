#pragma once
// meterd --trusted-key: puts the public keys a meter accepts firmware packages from into
// its trust store (<state>/trusted-keys, read by upgrade.finish), so a fleet started from
// a script trusts its vendor's key without anyone copying files into every state directory.

#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "libproto/result.hpp"

namespace meterd {

// Each file must be an Ed25519 public key (PEM, as `meterctl upgrade keygen` writes it);
// it is stored as <state>/trusted-keys/<key id>.pub, owner-only. A key already there is
// left as it is, so starting meterd again with the same flags changes nothing. Returns
// the ids of the keys written now; an error names the file and what is wrong with it.
proto::Result<std::vector<std::string>, std::string> install_trusted_keys(const std::filesystem::path& state_dir,
                                                                          std::span<const std::string> key_files);

}  // namespace meterd
