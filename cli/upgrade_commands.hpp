#pragma once
// `meterctl upgrade keygen|pack|verify`: signing keys, and signed firmware packages
// (meter-firmware-package(5)) built and checked offline, without a meter; `status` and
// `apply` on meters are in cli/upgrade_meter_commands.hpp. See meterctl-upgrade(1).

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/context.hpp"
#include "cli/exit_codes.hpp"
#include "libproto/result.hpp"
#include "libsec/firmware_package.hpp"

namespace cli {

void add_upgrade_commands(CLI::App& app, Context& context);

// The pure parts, for the tests.

// Where `upgrade verify` finds trusted public keys without --key: trusted-keys/ in the
// directory of the configuration file (see config_file_path()).
std::filesystem::path trusted_keys_directory();

// At most this many keys are read from the trusted-keys directory: a verifier tries one
// per package (by key id), and a directory with more is not a key store someone keeps.
inline constexpr std::size_t k_max_trusted_keys = 256;

// Every *.pub file of `directory`, by name. No directory, no key file, or a file that
// is not an Ed25519 public key is an error (exit_config) naming the file.
proto::Result<std::vector<sec::SigningPublicKey>, CommandError> load_trusted_keys(
    const std::filesystem::path& directory);

// The keys a package is verified with: the public key file `key_file` (--key) when one is
// given (exit_io when it holds no Ed25519 public key), else load_trusted_keys of
// trusted_keys_directory().
proto::Result<std::vector<sec::SigningPublicKey>, CommandError> verification_keys(const std::string& key_file);

// What `upgrade pack` is asked for, as given on the command line.
struct PackRequest {
  std::string model;
  std::string version;
  std::optional<std::string> released;      // default: today
  std::optional<std::string> expires;       // default: two years after released
  std::optional<std::string> min_meterctl;  // default: this meterctl's version
};

// The manifest for a request, its features from the device model's release of that
// version; key and payload fields are left for signing. An unknown model or a version
// the model does not list is an error (exit_data) naming the known ones.
proto::Result<sec::FirmwareManifest, CommandError> manifest_for(const PackRequest& request, const sec::Date& today);

// The manifest as `upgrade verify` prints it: the JSON document and field/value rows.
nlohmann::json manifest_document(const sec::FirmwareManifest& manifest);
std::vector<std::vector<std::string>> manifest_rows(const sec::FirmwareManifest& manifest);

// The exit status for a refused package: exit_denied when the signature or the key
// fails, exit_data for everything else about the package.
ExitCode exit_code_for(sec::PackageError error);

// Today's date in UTC.
sec::Date today_utc();

// The version of this meterctl, as the manifest's min_meterctl_version compares it.
proto::model::Version meterctl_version();

}  // namespace cli
