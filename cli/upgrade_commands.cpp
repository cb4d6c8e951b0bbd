#include "cli/upgrade_commands.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <iostream>
#include <memory>
#include <span>

#include "cli/meter_config.hpp"
#include "cli/native_session.hpp"
#include "cli/package_file.hpp"
#include "cli/upgrade_meter_commands.hpp"
#include "libproto/model/device_model.hpp"
#include "libsec/private_file.hpp"
#include "libsec/signing_key.hpp"

namespace cli {

namespace {

// Packages and public keys are meant to be shared; only the private key is owner-only.
constexpr int k_shared_file_mode = 0644;
// A package lasts two years unless --expires says otherwise: long enough for a fleet's
// roll-out, short enough that a withdrawn release stops being installable on its own.
constexpr int k_default_validity_years = 2;

struct UpgradeOptions {
  std::string out;
  bool force = false;
  std::string key;
  std::string payload;
  std::string file;
  PackRequest pack;
};

std::string joined(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
  return text;
}

std::span<const std::byte> as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

std::string_view as_text(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

Report field_report(std::vector<std::vector<std::string>> rows, nlohmann::json document) {
  Report report;
  report.columns = {"field", "value"};
  report.rows = std::move(rows);
  report.document = std::move(document);
  return report;
}

void write_or_throw(const std::filesystem::path& path, std::string_view contents, bool private_file) {
  auto written = private_file ? sec::write_private_file_atomically(path, contents)
                              : sec::write_file_atomically(path, contents, k_shared_file_mode);
  if (!written) throw CommandError{exit_io, written.error()};
}

int run_keygen(Context& context, const UpgradeOptions& options) {
  const std::filesystem::path private_file = options.out;
  const std::filesystem::path public_file = options.out + ".pub";
  // A check, then an atomic replace: this guards against a slip of the keyboard, not
  // against another process racing for the name (that would need the key directory to be
  // shared with someone untrusted, and then the key is lost anyway).
  if (!options.force) {
    for (const auto& file : {private_file, public_file}) {
      std::error_code ignored;
      if (std::filesystem::exists(std::filesystem::symlink_status(file, ignored))) {
        throw CommandError{exit_usage, file.string() + " exists; --force replaces it (and the key it holds is lost)"};
      }
    }
  }
  const auto key = sec::generate_signing_key();
  if (!key) throw CommandError{exit_software, key.error()};
  const auto private_pem = sec::signing_private_key_pem(key->get());
  const auto public_pem = sec::signing_public_key_pem(key->get());
  if (!private_pem) throw CommandError{exit_software, private_pem.error()};
  if (!public_pem) throw CommandError{exit_software, public_pem.error()};
  // The private key first: a public key without its private key would be a key no one
  // can sign with, trusted by whoever copies it.
  write_or_throw(private_file, *private_pem, true);
  write_or_throw(public_file, *public_pem, false);
  const auto id = sec::signing_key_id(key->get());
  print_confirmation(
      context,
      field_report({{"private_key", private_file.string()}, {"public_key", public_file.string()}, {"key_id", id}},
                   {{"private_key", private_file.string()}, {"public_key", public_file.string()}, {"key_id", id}}));
  return exit_ok;
}

int run_pack(Context& context, const UpgradeOptions& options) {
  const auto today = today_utc();
  auto manifest = unwrap(manifest_for(options.pack, today));
  if (std::chrono::sys_days(manifest.expires) < std::chrono::sys_days(today)) {
    std::cerr << "meterctl: warning: the package expires on " << sec::format_date(manifest.expires)
              << ", in the past: verify will refuse it\n";
  }
  const auto key = sec::load_signing_private_key(options.key);
  if (!key) throw CommandError{exit_io, key.error()};
  auto payload = sec::read_file_if_exists(options.payload, sec::k_max_payload_bytes);
  if (!payload) throw CommandError{exit_io, payload.error()};
  if (!*payload) throw CommandError{exit_io, "cannot read " + options.payload + ": no such file"};
  if ((*payload)->empty()) throw CommandError{exit_data, options.payload + " is empty"};

  const auto package = sec::sign_firmware_package(manifest, as_bytes(**payload), key->get());
  if (!package) throw CommandError{exit_software, package.error().message};
  const auto digest = sec::sha256_hex(*package);
  if (digest.empty()) throw CommandError{exit_software, "SHA-256 failed"};
  const std::filesystem::path out = options.out;
  write_or_throw(out, as_text(*package), false);
  // Written after the package, so a checksum file never names a package not yet there.
  const auto checksum_file = out.string() + ".sha256";
  write_or_throw(checksum_file, sec::sha256sum_line(digest, out.filename().string()), false);

  const auto signed_manifest = sec::decode_firmware_package(*package);
  if (!signed_manifest) throw CommandError{exit_software, signed_manifest.error().message};
  auto rows = manifest_rows(signed_manifest->manifest);
  rows.insert(rows.begin(), {{"file", out.string()}, {"sha256_file", checksum_file}, {"sha256", digest}});
  nlohmann::json document = {{"file", out.string()},
                             {"sha256_file", checksum_file},
                             {"sha256", digest},
                             {"size", package->size()},
                             {"manifest", manifest_document(signed_manifest->manifest)}};
  print_confirmation(context, field_report(std::move(rows), std::move(document)));
  return exit_ok;
}

int run_verify(Context& context, const UpgradeOptions& options) {
  const auto keys = unwrap(verification_keys(options.key));
  const auto file = unwrap(PackageFile::open(options.file));
  const auto checked = unwrap(check_package(file, keys, meterctl_acceptance_policy()));
  const auto& verified = checked.verified;
  const auto& manifest = verified.manifest;
  auto rows = manifest_rows(manifest);
  rows.insert(rows.begin(), {{"file", options.file}, {"verified", "yes"}, {"signed_by", verified.key_source}});
  const nlohmann::json document = {{"file", options.file},
                                   {"verified", true},
                                   {"signed_by", verified.key_source},
                                   {"size", verified.package_length},
                                   {"manifest", manifest_document(manifest)}};
  print(context, field_report(std::move(rows), document));
  return exit_ok;
}

template <typename Options>
void run_command(Context& context, int (*run)(Context&, const Options&), const Options& options) {
  context.exit_code = run(context, options);
}

}  // namespace

std::filesystem::path trusted_keys_directory() { return config_file_path().parent_path() / "trusted-keys"; }

proto::Result<std::vector<sec::SigningPublicKey>, CommandError> load_trusted_keys(
    const std::filesystem::path& directory) {
  const auto none = [&](const std::string& why) {
    return proto::unexpected(CommandError{
        exit_config, why + "; give the public key with --key, or put it (a .pub file) in " + directory.string()});
  };
  std::error_code error;
  if (!std::filesystem::is_directory(directory, error)) return none("no trusted-keys directory " + directory.string());
  std::vector<std::filesystem::path> files;
  for (std::filesystem::directory_iterator it(directory, error), end; !error && it != end; it.increment(error)) {
    if (it->path().extension() != ".pub") continue;
    if (files.size() == k_max_trusted_keys) {
      return proto::unexpected(CommandError{
          exit_config, directory.string() + " holds more than " + std::to_string(k_max_trusted_keys) + " keys"});
    }
    files.push_back(it->path());
  }
  if (error)
    return proto::unexpected(CommandError{exit_config, "cannot list " + directory.string() + ": " + error.message()});
  if (files.empty()) return none("no *.pub key in " + directory.string());
  std::sort(files.begin(), files.end());
  std::vector<sec::SigningPublicKey> keys;
  for (const auto& file : files) {
    auto key = sec::load_signing_public_key(file);
    // A broken file in the trust store is reported, not skipped: it may be the one key
    // the package needs, and a silently shrinking trust store is hard to debug.
    if (!key) return proto::unexpected(CommandError{exit_config, key.error()});
    keys.push_back(std::move(*key));
  }
  return keys;
}

proto::Result<std::vector<sec::SigningPublicKey>, CommandError> verification_keys(const std::string& key_file) {
  if (key_file.empty()) return load_trusted_keys(trusted_keys_directory());
  auto key = sec::load_signing_public_key(key_file);
  if (!key) return proto::unexpected(CommandError{exit_io, key.error()});
  std::vector<sec::SigningPublicKey> keys;
  keys.push_back(std::move(*key));
  return keys;
}

proto::Result<sec::FirmwareManifest, CommandError> manifest_for(const PackRequest& request, const sec::Date& today) {
  const auto data_error = [](std::string message) {
    return proto::unexpected(CommandError{exit_data, std::move(message)});
  };
  const auto names = proto::model::embedded_model_names();
  // Embedded models only, by name: a package names a model that every verifier knows,
  // never a path to a model file on the packing machine.
  const auto name = std::find_if(names.begin(), names.end(), [&](const std::string& candidate) {
    return std::equal(
        candidate.begin(), candidate.end(), request.model.begin(), request.model.end(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        });
  });
  if (name == names.end()) return data_error("unknown model " + request.model + " (known: " + joined(names) + ")");
  const auto model = proto::model::find_device_model(*name);
  if (!model) return data_error("model " + *name + ": " + model.error().message);

  const auto version = proto::model::Version::parse(request.version);
  std::vector<std::string> versions;
  for (const auto& release : model->firmware) versions.push_back(release.version.to_string());
  if (!version) return data_error("'" + request.version + "' is not a version X.Y.Z or VXXX.YYY.ZZZ");
  const auto* release = model->find_firmware(*version);
  if (release == nullptr) {
    return data_error(model->name + " has no firmware " + version->to_string() + " (known: " + joined(versions) + ")");
  }

  sec::FirmwareManifest manifest;
  manifest.model = model->name;
  manifest.firmware_version = *version;
  for (const auto feature : release->brings) manifest.features.emplace_back(proto::model::to_string(feature));
  manifest.released = today;
  if (request.released) {
    const auto released = sec::parse_date(*request.released);
    if (!released) return data_error("--released '" + *request.released + "' is not a date YYYY-MM-DD");
    manifest.released = *released;
  }
  manifest.expires = sec::add_years(manifest.released, k_default_validity_years);
  if (request.expires) {
    const auto expires = sec::parse_date(*request.expires);
    if (!expires) return data_error("--expires '" + *request.expires + "' is not a date YYYY-MM-DD");
    manifest.expires = *expires;
  }
  if (std::chrono::sys_days(manifest.expires) <= std::chrono::sys_days(manifest.released)) {
    return data_error("--expires " + sec::format_date(manifest.expires) + " is not after the release date " +
                      sec::format_date(manifest.released));
  }
  manifest.min_meterctl_version = meterctl_version();
  if (request.min_meterctl) {
    const auto minimum = proto::model::Version::parse(*request.min_meterctl);
    if (!minimum) return data_error("--min-meterctl '" + *request.min_meterctl + "' is not a version X.Y.Z");
    manifest.min_meterctl_version = *minimum;
  }
  return manifest;
}

nlohmann::json manifest_document(const sec::FirmwareManifest& manifest) {
  // The manifest's own keys and values, as meter-firmware-package(5) defines them.
  auto text = sec::encode_manifest(manifest);
  if (text) return nlohmann::json::parse(*text);
  return nlohmann::json::object();
}

std::vector<std::vector<std::string>> manifest_rows(const sec::FirmwareManifest& manifest) {
  std::string hash = manifest_document(manifest).value("payload_sha256", "");
  return {
      {"model", manifest.model},
      {"firmware_version", manifest.firmware_version.to_string()},
      {"firmware_version_vendor", manifest.firmware_version.vendor_form()},
      {"min_meterctl_version", manifest.min_meterctl_version.to_string()},
      {"released", sec::format_date(manifest.released)},
      {"expires", sec::format_date(manifest.expires)},
      {"features", joined(manifest.features)},
      {"key_id", manifest.key_id},
      {"payload_length", std::to_string(manifest.payload_length)},
      {"payload_sha256", hash},
  };
}

ExitCode exit_code_for(sec::PackageError error) {
  switch (error) {
    case sec::PackageError::unknown_key:
    case sec::PackageError::bad_signature: return exit_denied;
    case sec::PackageError::crypto_failure: return exit_software;
    default: return exit_data;
  }
}

sec::Date today_utc() { return sec::Date(std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now())); }

proto::model::Version meterctl_version() {
  // The build sets METERCTL_VERSION from the CMake project version, always X.Y.Z.
  return proto::model::Version::parse(METERCTL_VERSION).value_or(proto::model::Version{});
}

void add_upgrade_commands(CLI::App& app, Context& context) {
  auto options = std::make_shared<UpgradeOptions>();
  auto* upgrade = app.add_subcommand(
      "upgrade", "Firmware: signing keys and signed packages (keygen, pack, verify); status and apply on meters");
  upgrade->require_subcommand(1);
  upgrade->fallthrough();
  const auto command = [&](const std::string& name, const std::string& description,
                           int (*run)(Context&, const UpgradeOptions&)) {
    auto* sub = upgrade->add_subcommand(name, description);
    sub->callback([&context, options, run] { run_command(context, run, *options); });
    return sub;
  };

  auto* keygen =
      command("keygen", "Make an Ed25519 signing key pair: PREFIX (private, 0600) and PREFIX.pub", run_keygen);
  keygen->add_option("--out", options->out, "PREFIX of the two key files")->required();
  keygen->add_flag("--force", options->force, "Replace existing key files");

  auto* pack = command("pack", "Build and sign a firmware package, and its .sha256 file", run_pack);
  pack->add_option("--key", options->key, "The private key file (PREFIX of keygen)")->required();
  pack->add_option("--model", options->pack.model, "The meter model the package is for (ION7400, ...)")->required();
  pack->add_option("--version", options->pack.version, "The firmware version, X.Y.Z, as the model lists it")
      ->required();
  pack->add_option("--payload", options->payload, "The meterd executable built for the target")->required();
  pack->add_option("--out", options->out, "The package file to write (FILE.upg; FILE.upg.sha256 beside it)")
      ->required();
  pack->add_option("--released", options->pack.released, "Release date YYYY-MM-DD (default: today, UTC)");
  pack->add_option("--expires", options->pack.expires,
                   "Last day it may be installed (default: two years after release)");
  pack->add_option("--min-meterctl", options->pack.min_meterctl,
                   "Oldest meterctl that may install it (default: this meterctl's version)");

  auto* verify = command("verify", "Check a package's structure, hash, signature, model and expiry", run_verify);
  verify->add_option("--key", options->key,
                     "The public key file (PREFIX.pub); default: the keys in trusted-keys/ beside the config file");
  verify->add_option("file", options->file, "The package (FILE.upg)")->required();

  add_upgrade_meter_commands(*upgrade, context);
}

}  // namespace cli
